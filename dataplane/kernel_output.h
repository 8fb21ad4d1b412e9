// To a port's kernel interface (control/kernel_path.h): what the gateway does not serve at its
// own addresses, IPv4 (pipeline.cpp) and IPv6 (pipeline6.cpp) alike, within the worker's one
// kernel budget and counted by the same counters. A flood at the gateway's own addresses costs
// the workers one token check per packet and the control thread and kernel at most the budget.
#pragma once

#include <cstdint>

#include <rte_branch_prediction.h>
#include <rte_ring.h>

#include "dataplane/snapshot.h"
#include "dataplane/worker_output.h"

namespace vipgate {

// False (the packet untouched) when the in-port has no kernel interface; true when the packet
// was taken: queued for the kernel, or dropped as kernel_rate_limited / kernel_ring_full.
inline bool pass_to_kernel(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet,
                           uint16_t port_index) noexcept {
    if (likely(!snapshot.ports[port_index].kernel_interface) || context.kernel_ring == nullptr) return false;
    if (unlikely(!context.kernel_bucket.take(context.now_ms, snapshot.rate_limits.kernel))) {
        drop_packet(context, packet, DropReason::KernelRateLimited);
        return true;
    }
    if (rte_ring_mp_enqueue(context.kernel_ring, packet) != 0) {
        drop_packet(context, packet, DropReason::KernelRingFull);
        return true;
    }
    ++context.counters.to_kernel;
    return true;
}

}  // namespace vipgate
