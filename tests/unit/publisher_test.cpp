// Publisher: one atomic publish, QSBR reclaim. The property under test: a snapshot is freed only
// after every online reader has passed a quiescent state since it was replaced, and then it is
// freed (nothing leaks, nothing waits forever).
//
// Frees are observed, not inferred: every test snapshot holds the only reference to its own
// MaglevTable, whose deleter records the snapshot's generation, so `freed(g)` turns true exactly
// when snapshot g is destroyed. Every field of snapshot g also encodes g, so a reader that reads
// a recycled allocation sees inconsistent values; under AddressSanitizer (the asan build) the
// read itself is reported.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <rte_rcu_qsbr.h>

#include "control/publisher.h"
#include "dataplane/maglev.h"
#include "dataplane/snapshot.h"

namespace vipgate {
namespace {

constexpr uint32_t kMaglevSize = 101;  // prime
constexpr uint32_t kEndpointsPerSnapshot = 4;

class FreeTracker {
public:
    explicit FreeTracker(size_t generations) : freed_(generations + 1) {}

    // A snapshot whose every field is derived from `generation`.
    std::unique_ptr<Snapshot> make(uint64_t generation) {
        auto snapshot = std::make_unique<Snapshot>();
        const auto tag = static_cast<uint32_t>(generation);
        snapshot->generation = generation;
        snapshot->hash_seed = tag;
        std::vector<MaglevBackend> backends;
        for (uint32_t i = 0; i < kEndpointsPerSnapshot; ++i) {
            EndpointSlot endpoint;
            endpoint.address = tag;
            endpoint.port = static_cast<uint16_t>(i);
            endpoint.generation = tag;
            snapshot->endpoints.mutable_entry(i) = endpoint;
            backends.push_back({uint64_t(tag) << 16 | i, i, 1});
        }
        std::atomic<bool>* flag = &freed_.at(generation);
        ServicePort service_port;
        service_port.vip = tag;
        service_port.maglev = std::shared_ptr<const MaglevTable>(
            new MaglevTable(MaglevTable::build(backends, kMaglevSize, tag)), [flag](const MaglevTable* table) {
                delete table;
                // Release: a reader that sees the flag set also sees that the table is gone.
                flag->store(true, std::memory_order_release);
            });
        for (uint32_t i = 0; i < kEndpointsPerSnapshot; ++i) service_port.endpoint_slots.push_back(i);
        service_port.service_name = "generation " + std::to_string(generation);
        snapshot->service_ports.mutable_entry(0) = std::move(service_port);
        snapshot->ports.resize(2);
        for (auto& port : snapshot->ports) port.primary_address = tag;
        auto routes = std::make_shared<RouteTable>();
        routes->next_hops.push_back({0, tag});
        snapshot->routes = std::move(routes);
        snapshot->snat_addresses.push_back(tag);
        return snapshot;
    }

    bool freed(uint64_t generation) const {
        // Acquire pairs with the deleter's release store.
        return freed_.at(generation).load(std::memory_order_acquire);
    }

private:
    std::vector<std::atomic<bool>> freed_;
};

// Reads every field of the snapshot; false when any field does not belong to generation g.
bool consistent(const Snapshot& snapshot, uint64_t generation) {
    const auto tag = static_cast<uint32_t>(generation);
    bool ok = snapshot.hash_seed == tag && snapshot.endpoints.contains(kEndpointsPerSnapshot - 1) &&
              snapshot.service_ports.contains(0) && snapshot.ports.size() == 2 &&
              snapshot.routes->next_hops.size() == 1 && snapshot.snat_addresses.size() == 1 &&
              snapshot.snat_addresses[0] == tag && snapshot.routes->next_hops[0].gateway == tag;
    for (uint32_t slot = 0; slot < kEndpointsPerSnapshot; ++slot) {
        ok = ok && snapshot.endpoints[slot].address == tag && snapshot.endpoints[slot].generation == tag;
    }
    for (const auto& port : snapshot.ports) ok = ok && port.primary_address == tag;
    if (!ok) return false;
    const ServicePort& service_port = snapshot.service_ports[0];
    if (service_port.vip != tag || !service_port.maglev || service_port.maglev->size() != kMaglevSize) return false;
    if (service_port.service_name != "generation " + std::to_string(generation)) return false;
    for (uint32_t slot : service_port.maglev->slots()) {
        if (slot >= kEndpointsPerSnapshot) return false;
    }
    return service_port.endpoint_slots.size() == kEndpointsPerSnapshot;
}

struct ReaderReport {
    std::atomic<uint64_t> loads{0};
    std::atomic<uint64_t> latest{0};  // generation of the last load
    uint64_t generations_seen = 0;    // distinct generations, counted on change
    uint64_t went_backwards = 0;
    uint64_t freed_while_held = 0;
    uint64_t inconsistent = 0;
};

// A worker's poll loop, reduced to its snapshot handling (as in dataplane/worker.cpp).
void run_reader(const Publisher& publisher, const FreeTracker& tracker, uint32_t reader_id,
                const std::atomic<bool>& stop, ReaderReport& report) {
    rte_rcu_qsbr* qsbr = publisher.qsbr();
    rte_rcu_qsbr_thread_register(qsbr, reader_id);
    rte_rcu_qsbr_thread_online(qsbr, reader_id);
    uint64_t last = 0;
    while (!stop.load(std::memory_order_relaxed)) {
        // Top of the loop: no snapshot reference is held.
        rte_rcu_qsbr_quiescent(qsbr, reader_id);
        const Snapshot* snapshot = publisher.current();
        const uint64_t generation = snapshot->generation;
        if (generation < last) ++report.went_backwards;
        if (generation != last) ++report.generations_seen;
        last = generation;
        report.latest.store(generation, std::memory_order_relaxed);
        // The freed check comes first so that a broken publisher fails the test instead of
        // sending the reader through freed memory.
        if (tracker.freed(generation))
            ++report.freed_while_held;
        else if (!consistent(*snapshot, generation))
            ++report.inconsistent;
        // Hold the reference across a reschedule now and then, so the publisher gets to run
        // (and would free the snapshot, if it did not wait for us).
        const uint64_t loads = report.loads.fetch_add(1, std::memory_order_relaxed) + 1;
        if (loads % 4 == 0) std::this_thread::yield();
        if (tracker.freed(generation))
            ++report.freed_while_held;
        else if (!consistent(*snapshot, generation))
            ++report.inconsistent;
    }
    rte_rcu_qsbr_thread_offline(qsbr, reader_id);
    rte_rcu_qsbr_thread_unregister(qsbr, reader_id);
}

TEST(Publisher, ReadersNeverSeeAFreedSnapshotAndEveryRetiredOneIsFreed) {
    constexpr uint32_t kReaders = 3;
    constexpr uint64_t kPublishes = 300;
    FreeTracker tracker(kPublishes);
    std::atomic<bool> stop{false};
    std::vector<ReaderReport> reports(kReaders);
    std::vector<std::thread> readers;
    size_t freed_while_running = 0;
    {
        Publisher publisher(kReaders);
        publisher.publish(tracker.make(1));
        for (uint32_t id = 0; id < kReaders; ++id) {
            readers.emplace_back(run_reader, std::cref(publisher), std::cref(tracker), id, std::cref(stop),
                                 std::ref(reports[id]));
        }
        for (const auto& report : reports) {
            while (report.loads.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
        }
        for (uint64_t generation = 2; generation <= kPublishes; ++generation) {
            publisher.publish(tracker.make(generation));
            freed_while_running += publisher.reclaim();
            // Let the readers move on to the new snapshot before the next one is published.
            const uint64_t target = reports[0].loads.load(std::memory_order_relaxed) + 1;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
            while (reports[0].loads.load(std::memory_order_relaxed) < target &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::yield();
            }
        }
        // Once a reader has loaded the last generation and gone round its loop once more, it has
        // been quiescent since every retirement: everything retired must then be reclaimable.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        const auto wait_for = [&](auto&& condition) {
            while (!condition()) {
                if (std::chrono::steady_clock::now() > deadline) return false;
                std::this_thread::yield();
            }
            return true;
        };
        std::vector<uint64_t> loads_at_last(kReaders);
        for (uint32_t id = 0; id < kReaders; ++id) {
            EXPECT_TRUE(wait_for([&] { return reports[id].latest.load(std::memory_order_relaxed) == kPublishes; }))
                << "reader " << id << " never saw the last snapshot";
            loads_at_last[id] = reports[id].loads.load(std::memory_order_relaxed);
        }
        for (uint32_t id = 0; id < kReaders; ++id) {
            EXPECT_TRUE(
                wait_for([&] { return reports[id].loads.load(std::memory_order_relaxed) > loads_at_last[id] + 1; }));
        }
        freed_while_running += publisher.reclaim();
        EXPECT_EQ(publisher.retired_count(), 0u) << "every reader moved on, yet retired snapshots were kept";
        EXPECT_EQ(freed_while_running, kPublishes - 1);

        stop.store(true, std::memory_order_relaxed);
        for (auto& reader : readers) reader.join();
        publisher.synchronize();
        EXPECT_EQ(publisher.retired_count(), 0u);
        for (uint64_t generation = 1; generation < kPublishes; ++generation) {
            ASSERT_TRUE(tracker.freed(generation)) << "retired snapshot " << generation << " was never freed";
        }
        EXPECT_FALSE(tracker.freed(kPublishes)) << "the current snapshot was freed";
        EXPECT_EQ(publisher.current()->generation, kPublishes);
    }
    EXPECT_TRUE(tracker.freed(kPublishes)) << "the publisher leaked its current snapshot";

    for (uint32_t id = 0; id < kReaders; ++id) {
        SCOPED_TRACE("reader " + std::to_string(id));
        const ReaderReport& report = reports[id];
        EXPECT_EQ(report.went_backwards, 0u);
        EXPECT_EQ(report.freed_while_held, 0u) << "a snapshot was freed while a reader still held it";
        EXPECT_EQ(report.inconsistent, 0u) << "a reader read a snapshot that was being reused";
        EXPECT_GT(report.generations_seen, 1u) << "the reader never saw a publish";
    }
}

TEST(Publisher, ReaderThatHasNotBeenQuiescentHoldsBackReclaim) {
    FreeTracker tracker(4);
    Publisher publisher(2);  // reader 1 never registers: it does not hold anything back
    rte_rcu_qsbr* qsbr = publisher.qsbr();
    publisher.publish(tracker.make(1));
    EXPECT_EQ(publisher.retired_count(), 0u);

    ASSERT_EQ(rte_rcu_qsbr_thread_register(qsbr, 0), 0);
    rte_rcu_qsbr_thread_online(qsbr, 0);
    const Snapshot* held = publisher.current();

    publisher.publish(tracker.make(2));
    EXPECT_EQ(publisher.current()->generation, 2u);
    EXPECT_EQ(publisher.retired_count(), 1u);
    EXPECT_EQ(publisher.reclaim(), 0u);
    ASSERT_FALSE(tracker.freed(1)) << "freed while reader 0 may still use it";
    EXPECT_TRUE(consistent(*held, 1));

    publisher.publish(tracker.make(3));
    EXPECT_EQ(publisher.reclaim(), 0u);
    EXPECT_EQ(publisher.retired_count(), 2u);

    rte_rcu_qsbr_quiescent(qsbr, 0);  // reader 0 drops every reference
    EXPECT_EQ(publisher.reclaim(), 2u);
    EXPECT_EQ(publisher.retired_count(), 0u);
    EXPECT_TRUE(tracker.freed(1));
    EXPECT_TRUE(tracker.freed(2));
    EXPECT_FALSE(tracker.freed(3));

    // An offline reader (a stopped worker) holds nothing back.
    rte_rcu_qsbr_thread_offline(qsbr, 0);
    publisher.publish(tracker.make(4));
    EXPECT_EQ(publisher.reclaim(), 1u);
    EXPECT_TRUE(tracker.freed(3));
    rte_rcu_qsbr_thread_unregister(qsbr, 0);
}

}  // namespace
}  // namespace vipgate
