// StatsReporter's per-endpoint and per-service-port counts, which the metrics export as
// Prometheus counters: they must never go down while the endpoint or service port exists.
// Endpoints leave and slots are reused across hand-built snapshots; workers' counts are written
// directly.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <vector>

#include "control/stats_reporter.h"

namespace vipgate {
namespace {

constexpr uint32_t kSlots = 8;

struct Endpoint {
    uint32_t slot;
    uint32_t generation;
    uint32_t service_port;
};

struct Port {
    uint32_t id;
    uint32_t incarnation;
    std::vector<uint32_t> slots;
};

std::unique_ptr<Snapshot> snapshot_of(const std::vector<Port>& ports, const std::vector<Endpoint>& endpoints) {
    auto snapshot = std::make_unique<Snapshot>();
    snapshot->endpoints.mutable_entry(kSlots - 1);  // capacity for every slot
    for (const Port& port : ports) {
        ServicePort& entry = snapshot->service_ports.mutable_entry(port.id);
        entry.incarnation = port.incarnation;
        entry.endpoint_slots = port.slots;
        entry.service_name = "default/svc" + std::to_string(port.id) + ":80";
    }
    for (const Endpoint& endpoint : endpoints) {
        EndpointSlot& entry = snapshot->endpoints.mutable_entry(endpoint.slot);
        entry.generation = endpoint.generation;
        entry.service_port = endpoint.service_port;
    }
    return snapshot;
}

class StatsReporterCounts : public ::testing::Test {
protected:
    StatsReporterCounts() {
        for (size_t w = 0; w < workers_.size(); ++w) {
            workers_[w].worker_index = static_cast<uint16_t>(w);
            workers_[w].endpoint_counters = counters_[w].data();
            workers_[w].endpoint_counter_slots = kSlots;
        }
    }

    // A connection of `packets` packets on `slot`, counted by worker `worker`.
    void count(size_t worker, uint32_t slot, uint64_t packets) {
        counters_[worker][slot].connections += 1;
        counters_[worker][slot].packets += packets;
        counters_[worker][slot].bytes += packets * 100;
    }

    std::vector<WorkerContext*> contexts() { return {&workers_[0], &workers_[1]}; }

    std::array<WorkerContext, 2> workers_;
    std::array<std::array<EndpointCounters, kSlots>, 2> counters_{};
};

TEST_F(StatsReporterCounts, ServicePortsKeepTheCountsOfEndpointsThatLeft) {
    StatsReporter reporter(contexts());
    auto first = snapshot_of({{0, 1, {0, 1}}}, {{0, 1, 0}, {1, 1, 0}});
    reporter.note_snapshot(*first);
    count(0, 0, 10);
    count(1, 0, 10);
    count(1, 1, 5);
    EXPECT_EQ(reporter.service_port_counts(*first, 0, reporter.endpoint_counts(*first)).connections, 3u);

    // The endpoint of slot 1 leaves: the service port's counts stay.
    auto second = snapshot_of({{0, 1, {0}}}, {{0, 1, 0}});
    reporter.note_snapshot(*second);
    EndpointCounters total = reporter.service_port_counts(*second, 0, reporter.endpoint_counts(*second));
    EXPECT_EQ(total.connections, 3u);
    EXPECT_EQ(total.packets, 25u);
    EXPECT_EQ(total.bytes, 2500u);

    // Slot 1 is reused by a new endpoint of another service port: it starts from zero there,
    // and the first service port keeps what the old endpoint counted.
    auto third = snapshot_of({{0, 1, {0}}, {1, 1, {1}}}, {{0, 1, 0}, {1, 2, 1}});
    reporter.note_snapshot(*third);
    std::vector<EndpointCounters> endpoints = reporter.endpoint_counts(*third);
    EXPECT_EQ(endpoints[1].connections, 0u);
    EXPECT_EQ(reporter.service_port_counts(*third, 1, endpoints).connections, 0u);
    count(0, 1, 7);
    endpoints = reporter.endpoint_counts(*third);
    EXPECT_EQ(endpoints[1].packets, 7u);
    EXPECT_EQ(reporter.service_port_counts(*third, 1, endpoints).packets, 7u);
    EXPECT_EQ(reporter.service_port_counts(*third, 0, endpoints).packets, 25u);
}

TEST_F(StatsReporterCounts, AServicePortIdReusedStartsFromZero) {
    StatsReporter reporter(contexts());
    auto first = snapshot_of({{0, 1, {0}}}, {{0, 1, 0}});
    reporter.note_snapshot(*first);
    count(0, 0, 4);
    // Service port 0 is deleted and its id handed to a new one (incarnation 2) with slot 2.
    auto second = snapshot_of({{0, 2, {2}}}, {{2, 1, 0}});
    reporter.note_snapshot(*second);
    EXPECT_EQ(reporter.service_port_counts(*second, 0, reporter.endpoint_counts(*second)).connections, 0u)
        << "the counts of the deleted service port must not carry over";
    count(1, 2, 3);
    EXPECT_EQ(reporter.service_port_counts(*second, 0, reporter.endpoint_counts(*second)).packets, 3u);
}

}  // namespace
}  // namespace vipgate
