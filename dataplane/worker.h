// The worker poll loop: the thin I/O layer around the pipeline. One per worker lcore.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_rcu_qsbr;

namespace vipgate {

struct WorkerLaunch {
    WorkerContext* context = nullptr;
    const std::atomic<const Snapshot*>* snapshot = nullptr;
    rte_rcu_qsbr* qsbr = nullptr;
    const std::atomic<bool>* stop = nullptr;
    uint32_t expire_budget = 64;          // connection entries examined for expiry per loop
    uint32_t affinity_expire_budget = 2;  // affinity buckets examined for expiry per loop
};

// rte_eal_remote_launch entry point; `argument` is a WorkerLaunch*.
int run_worker(void* argument);

// Transmit the context's TX buffers and pass its hand-offs to their owners' rings.
void flush_outputs(WorkerContext& context) noexcept;

}  // namespace vipgate
