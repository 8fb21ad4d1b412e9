// StatsReporter: sums the workers' counters on the control thread and turns them into the
// periodic one-line summary, the per-endpoint spread table and the final report, and keeps the
// per-endpoint and per-service-port counts the metrics export (counts that never go down while
// the endpoint or service port exists, as Prometheus counters must: an endpoint slot reused by
// a new endpoint starts from zero, and a service port keeps the counts of endpoints that left).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/connect_latency.h"
#include "dataplane/counters.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

namespace vipgate {

WorkerCounters sum_counters(const std::vector<WorkerContext*>& workers);
std::vector<EndpointCounters> sum_endpoint_counters(const std::vector<WorkerContext*>& workers, size_t slots);
// New connections refused for want of a usable endpoint, per service port id.
std::vector<uint64_t> sum_service_port_refusals(const std::vector<WorkerContext*>& workers, size_t ids);

class StatsReporter {
public:
    explicit StatsReporter(std::vector<WorkerContext*> workers) : workers_(std::move(workers)) {}

    // One line: rates since the previous call, active connections, drops.
    std::string interval_line(uint64_t now_ms);
    // Call with every snapshot before it is published: an endpoint slot reused for a new endpoint
    // (new generation) starts its counts from zero, and what an endpoint that left counted stays
    // with its service port. Exact because no worker counts on a slot while it is free.
    void note_snapshot(const Snapshot& snapshot);
    // Per endpoint slot: the counts of the endpoint that holds it, since it took the slot.
    std::vector<EndpointCounters> endpoint_counts(const Snapshot& snapshot) const;
    // A service port's counts since it appeared: its endpoints' (from endpoint_counts) plus those
    // of endpoints that have left it.
    EndpointCounters service_port_counts(const Snapshot& snapshot, uint32_t id,
                                         const std::vector<EndpointCounters>& endpoints) const;
    // Connect latencies per endpoint slot since its endpoint took it, and per service port since
    // it appeared (endpoints that left included), like the counts above.
    std::vector<ConnectLatency> endpoint_latencies(const Snapshot& snapshot) const;
    // Refusals of each service port since it appeared (its id may have served another before).
    std::vector<uint64_t> service_port_refusals(const Snapshot& snapshot) const;
    ConnectLatency service_port_latency(const Snapshot& snapshot, uint32_t id,
                                        const std::vector<ConnectLatency>& endpoints) const;
    // Connections and packets per endpoint, per service port, with each endpoint's share.
    std::string endpoint_table(const Snapshot& snapshot) const;
    // Every non-zero counter and drop reason.
    std::string final_report(double elapsed_seconds) const;

private:
    std::vector<WorkerContext*> workers_;
    WorkerCounters previous_{};
    std::vector<uint32_t> slot_generation_;        // generation each slot's baseline belongs to
    std::vector<EndpointCounters> slot_baseline_;  // worker sums when that generation began
    std::vector<ConnectLatency> slot_latency_baseline_;
    struct Owner {
        uint32_t id = 0;  // service port id
        uint32_t incarnation = 0;
    };
    std::vector<Owner> slot_owner_;  // service port of each slot's endpoint
    struct Retired {
        uint32_t incarnation = 0;  // of the service port these counts belong to
        EndpointCounters counts;
        ConnectLatency latency;
    };
    std::vector<Retired> retired_;               // by service port id: endpoints that left
    std::vector<uint32_t> refusal_incarnation_;  // by service port id: whose baseline this is
    std::vector<uint64_t> refusal_baseline_;     // worker sums when that incarnation appeared
    uint64_t previous_ms_ = 0;
};

}  // namespace vipgate
