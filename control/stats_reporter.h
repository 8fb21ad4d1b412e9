// StatsReporter: sums the workers' counters on the control thread and turns them into the
// periodic one-line summary, the per-endpoint spread table and the final report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

namespace vipgate {

WorkerCounters sum_counters(const std::vector<WorkerContext*>& workers);
std::vector<EndpointCounters> sum_endpoint_counters(const std::vector<WorkerContext*>& workers, size_t slots);

class StatsReporter {
public:
    explicit StatsReporter(std::vector<WorkerContext*> workers) : workers_(std::move(workers)) {}

    // One line: rates since the previous call, active connections, drops.
    std::string interval_line(uint64_t now_ms);
    // Call with every snapshot before it is published: an endpoint slot reused for a new endpoint
    // (new generation) starts its counts from zero. Exact because no worker counts on a slot
    // while it is free.
    void note_snapshot(const Snapshot& snapshot);
    // Connections and packets per endpoint, per service port, with each endpoint's share.
    std::string endpoint_table(const Snapshot& snapshot) const;
    // Every non-zero counter and drop reason.
    std::string final_report(double elapsed_seconds) const;

private:
    std::vector<WorkerContext*> workers_;
    WorkerCounters previous_{};
    std::vector<uint32_t> slot_generation_;           // generation each slot's baseline belongs to
    std::vector<EndpointCounters> slot_baseline_;     // worker sums when that generation began
    uint64_t previous_ms_ = 0;
};

}  // namespace vipgate
