// Speed benchmark of the control path: service changes from the store to every worker.
//
// Not a test: run it by hand (tests/bench/README.md). It builds the real ServiceStore,
// SnapshotBuilder, Publisher and ControlPlane, with reader threads standing in for workers (they
// load the published snapshot, look a VIP up in it, report the generation they use and a QSBR
// quiescent state, as worker loops do), and measures:
//   1. bulk: 10,000 services x 10 endpoints (selected pods) applied to an empty gateway;
//   2. one change: one pod of one service rescheduled (a new address), repeated, with 10,000
//      services installed: validation, then build + publication until every reader uses it;
//   3. the baseline for 2, measured in the same run: the same change compiled by a fresh
//      builder from the whole state (what a full rebuild per change costs).
// The fourth argument gives the bulk apply that many CPUs (0, 1, ...) for its Maglev tables
// (control/maglev_batch.h); the last lines build the same tables alone on 1..all CPUs.
// Times are wall clock on a shared machine: medians and p99 over many repetitions.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <malloc.h>
#include <pthread.h>
#include <sched.h>

#include <rte_eal.h>
#include <rte_rcu_qsbr.h>

#include "config/config.h"
#include "config/service_store.h"
#include "control/control_plane.h"
#include "control/heap_pages.h"
#include "control/maglev_batch.h"
#include "control/publisher.h"
#include "control/snapshot_builder.h"

namespace vipgate {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of the calling thread: on a shared machine, what the work cost whoever else runs.
double thread_cpu_ms() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

struct Percentiles {
    double p50 = 0;
    double p99 = 0;
    double max = 0;
};

Percentiles percentiles(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    auto at = [&](double q) { return values[std::min(values.size() - 1, static_cast<size_t>(q * values.size()))]; };
    return {at(0.5), at(0.99), values.back()};
}

config::Config base_settings() {
    config::Config settings;
    settings.dataplane.worker_lcores = {1};
    config::PortConfig port;
    port.name = "p0";
    port.device = "net_null0";
    port.addresses = {{0xC6120001, 24}};  // 198.18.0.1/24
    settings.ports.push_back(port);
    settings.snat.addresses = {0xC6120001};
    settings.cluster.service_cidr = config::Ipv4Prefix{0xC613C000, 18};  // 198.19.192.0/18
    settings.source = "control_bench";
    return settings;
}

// Addresses, all inside 198.18.0.0/15: the gateway in 198.18.0.0/24, pods from 198.18.1.0
// (100k of them reach 198.19.135.x), rescheduled pods from 198.19.160.0, ClusterIPs from
// 198.19.192.0/18.
constexpr uint32_t kFirstPod = 0xC6120100;
constexpr uint32_t kFirstMovedPod = 0xC613A000;

config::PodConfig pod_of(uint32_t service, uint32_t replica, uint32_t endpoints) {
    config::PodConfig pod;
    pod.name = "svc" + std::to_string(service) + "-" + std::to_string(replica);
    pod.address = kFirstPod + service * endpoints + replica;
    pod.labels = {{"app", "svc" + std::to_string(service)}, {"tier", "backend"}};
    pod.ports = {{"http", config::Protocol::Tcp, 8080}};
    return pod;
}

config::ObjectSet cluster_objects(uint32_t services, uint32_t endpoints) {
    config::ObjectSet objects;
    for (uint32_t s = 0; s < services; ++s) {
        config::ServiceConfig service;
        service.name = "svc" + std::to_string(s);
        service.selector = config::Labels{{"app", service.name}, {"tier", "backend"}};
        service.ports = {{"http", config::Protocol::Tcp, 80, 0, "http"}};
        objects.services.push_back(std::move(service));
        for (uint32_t e = 0; e < endpoints; ++e) objects.pods.push_back(pod_of(s, e, endpoints));
    }
    return objects;
}

// Stand-ins for workers: poll the published snapshot like a worker loop does.
class Readers {
public:
    Readers(Publisher& publisher, unsigned count) : publisher_(publisher), generations_(count) {
        for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this, i] { run(i); });
    }
    ~Readers() {
        stop_.store(true);
        for (auto& thread : threads_) thread.join();
    }
    bool all_at(uint64_t generation) const {
        for (const auto& seen : generations_) {
            if (seen.value.load(std::memory_order_acquire) < generation) return false;
        }
        return true;
    }

private:
    struct alignas(64) Seen {
        std::atomic<uint64_t> value{0};
    };
    void run(unsigned index) {
        // Like a worker lcore: pinned to a CPU of its own (the last ones), away from the control thread on CPU 0.
        const unsigned cpus = std::max(2u, std::thread::hardware_concurrency());
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus - 1 - index % (cpus - 1), &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        rte_rcu_qsbr_thread_register(publisher_.qsbr(), index);
        rte_rcu_qsbr_thread_online(publisher_.qsbr(), index);
        uint64_t sink = 0;
        while (!stop_.load(std::memory_order_relaxed)) {
            rte_rcu_qsbr_quiescent(publisher_.qsbr(), index);
            const Snapshot* snapshot = publisher_.current();
            if (snapshot == nullptr) continue;
            sink += static_cast<uint64_t>(snapshot->find_service_port(VipKey::ipv4(0x010014C6, 0x5000, kProtoTcp)) + 1);
            generations_[index].value.store(snapshot->generation, std::memory_order_release);
        }
        rte_rcu_qsbr_thread_offline(publisher_.qsbr(), index);
        rte_rcu_qsbr_thread_unregister(publisher_.qsbr(), index);
        if (sink == 42) std::puts("");
    }

    Publisher& publisher_;
    std::vector<Seen> generations_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
};

int run(unsigned services, unsigned endpoints, unsigned changes, unsigned build_cpus, unsigned readers_count) {
    cpu_set_t control_cpu;
    CPU_ZERO(&control_cpu);
    CPU_SET(0, &control_cpu);
    pthread_setaffinity_np(pthread_self(), sizeof(control_cpu), &control_cpu);
    Publisher publisher(readers_count);
    Readers readers(publisher, readers_count);
    auto publish = [&](std::unique_ptr<Snapshot> snapshot) {
        const uint64_t generation = snapshot->generation;
        const auto start = Clock::now();
        publisher.publish(std::move(snapshot));
        while (!readers.all_at(generation)) std::this_thread::yield();
        publisher.reclaim();
        return Publication{static_cast<uint64_t>(ms_since(start) * 1000)};
    };
    SnapshotBuilder builder(static_cast<uint16_t>(readers_count), {PortIdentity{}});
    builder.set_readers(publisher.qsbr());
    std::vector<unsigned> cpus;
    for (unsigned cpu = 0; cpu < build_cpus; ++cpu) cpus.push_back(cpu);
    builder.set_build_cpus(cpus);
    ControlPlane control(base_settings(), builder, publish);

    const config::ObjectSet objects = cluster_objects(services, endpoints);
    // The API's request: parsed, then moved into the store.
    config::ObjectSet request = objects;
    const auto bulk_start = Clock::now();
    const double bulk_cpu_start = thread_cpu_ms();
    UpdateOutcome bulk = control.apply(std::move(request), "bench");
    const double bulk_ms = ms_since(bulk_start);
    const double bulk_cpu_ms = thread_cpu_ms() - bulk_cpu_start;
    if (!bulk.result.ok()) {
        std::fprintf(stderr, "bulk apply refused: %s\n", bulk.result.errors[0].to_string().c_str());
        return 1;
    }
    std::printf(
        "bulk: %u services x %u endpoints (%zu pods, selectors) applied in %.1f ms (control thread CPU time "
        "%.1f ms): validate+resolve %.1f ms, "
        "build %.1f ms (Maglev tables on %u CPU(s)), publication %.3f ms; Maglev tables built %u\n",
        services, endpoints, objects.pods.size(), bulk_ms, bulk_cpu_ms, bulk.timing.validate_ms, bulk.timing.build_ms,
        std::max(1u, build_cpus), bulk.timing.publish_us / 1000.0, bulk.statistics.maglev_built);

    std::vector<double> validate;
    std::vector<double> to_workers;  // build + publication: "after validation"
    std::vector<double> build;
    std::vector<double> publication;
    uint32_t other_tables_rebuilt = 0;
    for (unsigned i = 0; i < changes; ++i) {
        const uint32_t service = (i * 7919u) % services;
        config::ObjectSet change;
        config::PodConfig moved = pod_of(service, i % endpoints, endpoints);
        moved.address = kFirstMovedPod + i;
        change.pods.push_back(std::move(moved));
        UpdateOutcome outcome = control.apply(change, "bench");
        if (!outcome.result.ok() || !outcome.published) {
            std::fprintf(stderr, "change %u refused or not published\n", i);
            return 1;
        }
        validate.push_back(outcome.timing.validate_ms);
        to_workers.push_back(outcome.timing.build_ms + outcome.timing.publish_us / 1000.0);
        build.push_back(outcome.timing.build_ms);
        publication.push_back(outcome.timing.publish_us / 1000.0);
        other_tables_rebuilt += outcome.statistics.maglev_built - 1;
    }
    const Percentiles v = percentiles(validate);
    const Percentiles w = percentiles(to_workers);
    std::printf("one change (a pod of one service moves), %u times with %u services installed:\n", changes, services);
    std::printf("  validate+resolve   p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", v.p50, v.p99, v.max);
    std::printf("  build+publication  p50 %.3f ms  p99 %.3f ms  max %.3f ms  (goal < 1 ms: %s)\n", w.p50, w.p99, w.max,
                w.p99 < 1.0 ? "PASS" : "MISS");
    const Percentiles b = percentiles(build);
    const Percentiles p = percentiles(publication);
    std::printf("    of which build    p50 %.3f ms  p99 %.3f ms;  publication p50 %.3f ms  p99 %.3f ms\n", b.p50, b.p99,
                p.p50, p.p99);
    std::printf("  Maglev tables of other services rebuilt: %u (goal 0: %s)\n", other_tables_rebuilt,
                other_tables_rebuilt == 0 ? "PASS" : "MISS");

    // Baseline in the same run: the whole state compiled again for one change.
    config::Config whole = control.running_config();
    std::vector<double> full;
    for (unsigned i = 0; i < 3; ++i) {
        SnapshotBuilder fresh(static_cast<uint16_t>(readers_count), {PortIdentity{}});
        const auto start = Clock::now();
        std::unique_ptr<Snapshot> snapshot = fresh.build(whole);
        full.push_back(ms_since(start));
    }
    const double full_ms = percentiles(full).p50;
    std::printf("baseline: full rebuild of the same state p50 %.1f ms; one change costs %.4f of it (%.0fx faster)\n",
                full_ms, w.p50 / full_ms, full_ms / w.p50);
    std::printf("bulk goals for %u x %u: validate+resolve < 100 ms: %s, whole apply < 400 ms: %s\n", services,
                endpoints, bulk.timing.validate_ms < 100 ? "PASS" : "MISS", bulk_ms < 400 ? "PASS" : "MISS");
    return 0;
}

// The bulk apply's steps on the calling thread's CPU time (the machine may be shared), each the
// median of `runs` fresh runs: the store transaction (validation, ClusterIP allocation, selector
// resolution, the builder's admission), then the builder's prepare (Maglev tables on this thread) and after_publish.
void bulk_steps(unsigned services, unsigned endpoints, unsigned runs) {
    const config::Config settings = base_settings();
    const config::ObjectSet objects = cluster_objects(services, endpoints);
    std::vector<double> store_ms;
    std::vector<double> build_ms;
    std::vector<double> whole_ms;
    for (unsigned run = 0; run < runs; ++run) {
        config::ServiceStore store(settings.cluster, {0xC6120001});
        SnapshotBuilder builder(1, {PortIdentity{}});
        store.set_admission(
            [&](const auto& resolved, const auto& changed) { return builder.admits(resolved, changed); });
        config::ObjectSet request = objects;  // the API's request, moved into the store
        const double start = thread_cpu_ms();
        config::StoreResult result = store.apply(std::move(request), "bench");
        const double stored = thread_cpu_ms();
        if (!result.ok()) {
            std::fprintf(stderr, "bulk apply refused: %s\n", result.errors[0].to_string().c_str());
            return;
        }
        std::unique_ptr<Snapshot> snapshot = builder.prepare(settings, store.resolved(), result.changed_services);
        builder.before_publish();
        builder.after_publish();
        const double built = thread_cpu_ms();
        store_ms.push_back(stored - start);
        build_ms.push_back(built - stored);
        whole_ms.push_back(built - start);
    }
    const double store_p50 = percentiles(store_ms).p50;
    const double whole_p50 = percentiles(whole_ms).p50;
    std::printf(
        "bulk steps, CPU time, median of %u: store transaction %.1f ms (goal < 100 ms: %s), build %.1f ms, "
        "whole %.1f ms (goal < 400 ms: %s)\n",
        runs, store_p50, store_p50 < 100 ? "PASS" : "MISS", percentiles(build_ms).p50, whole_p50,
        whole_p50 < 400 ? "PASS" : "MISS");
}

// The bulk apply's Maglev tables alone, on 1..all CPUs (no stand-in worker running): how
// MaglevBatch scales where a gateway has control CPUs to spare.
void maglev_scaling(unsigned services, unsigned endpoints) {
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned used = 1; used <= cpus; ++used) {
        MaglevBatch batch;
        for (uint32_t s = 0; s < services; ++s) {
            std::vector<MaglevBackend> backends;
            for (uint32_t e = 0; e < endpoints; ++e) {
                const uint32_t address = kFirstPod + s * endpoints + e;
                backends.push_back({(uint64_t(address) << 16) | 8080, s * endpoints + e, 1});
            }
            const uint32_t size = maglev_table_size(backends.size(), 65537);
            batch.add(std::move(backends), size, 42);
        }
        std::vector<unsigned> list;
        for (unsigned cpu = 0; cpu < used; ++cpu) list.push_back(cpu);
        const auto start = Clock::now();
        batch.run(list);
        std::printf("Maglev tables alone: %u tables on %u CPU(s) in %.1f ms\n", services, used, ms_since(start));
    }
}

}  // namespace
}  // namespace vipgate

int main(int argc, char** argv) {
    // The daemon's heap: on huge pages, one arena (control/heap_pages.h, control/daemon.cpp).
    vipgate::put_heap_on_huge_pages(argv);
    mallopt(M_ARENA_MAX, 1);
    unsigned services = 10000;
    unsigned endpoints = 10;
    unsigned changes = 2000;  // at most 8192: each moved pod takes a fresh address
    unsigned build_cpus = 1;
    if (argc > 1) services = static_cast<unsigned>(std::atoi(argv[1]));
    if (argc > 2) endpoints = static_cast<unsigned>(std::atoi(argv[2]));
    if (argc > 3) changes = static_cast<unsigned>(std::atoi(argv[3]));
    if (argc > 4) build_cpus = static_cast<unsigned>(std::atoi(argv[4]));
    std::vector<std::string> eal_args = {argv[0],         "--no-huge",     "-m", "1024", "--no-pci",    "--no-shconf",
                                         "--file-prefix", "control_bench", "-l", "0",    "--log-level", "warning"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    // No changes: the bulk apply's steps and the Maglev tables alone (a quiet profile of the store and builder).
    const int status = changes == 0 ? 0 : vipgate::run(services, endpoints, changes, build_cpus, 1);
    if (status == 0) vipgate::bulk_steps(services, endpoints, 5);
    if (status == 0) vipgate::maglev_scaling(services, endpoints);
    rte_eal_cleanup();
    return status;
}
