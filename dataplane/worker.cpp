// Poll loop. Each iteration: report quiescent (QSBR), load the current snapshot, poll every
// port's RX queue of this worker, drain the hand-off ring, transmit, and age a few connection
// entries; in adaptive idle mode, sleep a little when the queues stay empty (idle_backoff.h).
// The snapshot pointer is not held across iterations, which is what lets the control thread
// free old snapshots.
#include "dataplane/worker.h"

#include <sys/prctl.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dataplane/pipeline.h"

namespace vipgate {

// Fragment-table entries aged per poll loop (none while the table is empty): the whole table in
// 64 loops, microseconds apart, far within its timeout.
constexpr uint32_t kFragmentExpireBudget = FragmentTable::kCapacity / 64;

void flush_outputs(WorkerContext& context) noexcept {
    for (uint16_t port = 0; port < context.port_count; ++port) {
        TxBuffer& buffer = context.tx[port];
        if (buffer.count == 0) continue;
        uint16_t sent = rte_eth_tx_burst(context.port_ids[port], context.tx_queue[port], buffer.packets, buffer.count);
        for (uint16_t i = 0; i < sent; ++i) {
            ++context.counters.tx_packets;
            context.counters.tx_bytes += rte_pktmbuf_pkt_len(buffer.packets[i]);
        }
        if (sent < buffer.count) {
            context.counters.drops[static_cast<size_t>(DropReason::TxQueueFull)] += buffer.count - sent;
            rte_pktmbuf_free_bulk(buffer.packets + sent, buffer.count - sent);
        }
        buffer.count = 0;
    }
    for (uint16_t owner = 0; owner < context.worker_count; ++owner) {
        uint16_t count = context.handoff_count[owner];
        if (count == 0) continue;
        unsigned queued =
            rte_ring_mp_enqueue_burst(context.handoff_rings[owner],
                                      reinterpret_cast<void* const*>(context.handoff[owner].data()), count, nullptr);
        if (queued < count) {
            // Counted as handed off when staged; these never reached the owner.
            context.counters.handoffs_out -= count - queued;
            context.counters.drops[static_cast<size_t>(DropReason::HandoffRingFull)] += count - queued;
            rte_pktmbuf_free_bulk(context.handoff[owner].data() + queued, count - queued);
        }
        context.handoff_count[owner] = 0;
    }
}

// The control thread owns no TX queue (some devices have one per worker at most); what it sends
// (ARP, packets that waited for a neighbor, the kernel's frames) goes out through worker 0.
// `sent` counts what is queued for transmission. A frame whose port is kRefusedFromKernel is
// one the control thread would not send (kernel_path.h): counted here, with the other drops.
void transmit_control_packets(WorkerContext& context, rte_ring* ring, uint64_t* sent) noexcept {
    rte_mbuf* packets[kBurstSize];
    unsigned taken = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(packets), kBurstSize, nullptr);
    if (taken == 0) return;
    for (unsigned i = 0; i < taken; ++i) {
        if (unlikely(packets[i]->port == kRefusedFromKernel)) {
            ++context.counters.drops[static_cast<size_t>(DropReason::KernelFrameRefused)];
            rte_pktmbuf_free(packets[i]);
            continue;
        }
        TxBuffer& buffer = context.tx[port_index_of(context, packets[i]->port)];
        if (buffer.count == kTxBufferSize) {
            ++context.counters.drops[static_cast<size_t>(DropReason::TxQueueFull)];
            rte_pktmbuf_free(packets[i]);
            continue;
        }
        buffer.packets[buffer.count++] = packets[i];
        if (sent != nullptr) ++*sent;
    }
    flush_outputs(context);
}

int run_worker(void* argument) {
    const WorkerLaunch& launch = *static_cast<const WorkerLaunch*>(argument);
    WorkerContext& context = *launch.context;
    const uint64_t cycles_per_ms = rte_get_tsc_hz() / 1000;
    const uint64_t cycles_per_us = cycles_per_ms / 1000 > 0 ? cycles_per_ms / 1000 : 1;
    rte_ring* own_ring = context.handoff_rings[context.worker_index];
    rte_mbuf* packets[kBurstSize];
    IdleBackoff idle;
    // Sleeps of a few microseconds would otherwise last the default 50 us timer slack.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

    rte_rcu_qsbr_thread_register(launch.qsbr, context.worker_index);
    rte_rcu_qsbr_thread_online(launch.qsbr, context.worker_index);
    while (!launch.stop->load(std::memory_order_relaxed)) {
        // Top of the loop: this worker holds no snapshot reference.
        rte_rcu_qsbr_quiescent(launch.qsbr, context.worker_index);
        // Acquire pairs with the publisher's release store.
        const Snapshot* snapshot = launch.snapshot->load(std::memory_order_acquire);
        const uint64_t cycles = rte_get_tsc_cycles();
        context.now_ms = static_cast<uint32_t>(cycles / cycles_per_ms);
        context.now_us = static_cast<uint32_t>(cycles / cycles_per_us);
        context.counters.snapshot_generation = snapshot->generation;
        ++context.counters.loops;

        bool busy = false;
        for (uint16_t port = 0; port < context.port_count; ++port) {
            uint16_t received = rte_eth_rx_burst(context.port_ids[port], context.worker_index, packets, kBurstSize);
            if (received == 0) continue;
            busy = true;
            process_burst(context, *snapshot, packets, received, false);
            flush_outputs(context);
        }
        if (context.worker_count > 1) {
            unsigned taken =
                rte_ring_sc_dequeue_burst(own_ring, reinterpret_cast<void**>(packets), kBurstSize, nullptr);
            if (taken > 0) {
                busy = true;
                process_burst(context, *snapshot, packets, static_cast<uint16_t>(taken), true);
                flush_outputs(context);
            }
        }
        // busy_loops / loops is the share of polls that found work (README, Metrics).
        context.counters.busy_loops += busy;
        if (context.control_tx_ring != nullptr) transmit_control_packets(context, context.control_tx_ring, nullptr);
        if (context.kernel_tx_ring != nullptr) {
            transmit_control_packets(context, context.kernel_tx_ring, &context.counters.from_kernel);
        }
        context.counters.conntrack_expired += context.connections->expire(context.now_ms, launch.expire_budget);
        uint32_t active = context.connections->size();
        if (context.connections6 != nullptr) {
            context.counters.conntrack_expired += context.connections6->expire(context.now_ms, launch.expire_budget);
            active += context.connections6->size();
        }
        context.counters.active_connections = active;
        context.affinity->expire(context.now_ms, launch.affinity_expire_budget);
        if (context.affinity6 != nullptr) context.affinity6->expire(context.now_ms, launch.affinity_expire_budget);
        context.fragments.expire(context.now_ms, kFragmentExpireBudget, context.counters);
        context.fragments6.expire(context.now_ms, kFragmentExpireBudget, context.counters);
        const IdlePolicy policy = snapshot->idle;
        if (const uint32_t sleep_us = idle.after_poll(busy, policy); sleep_us > 0) {
            ++context.counters.idle_sleeps;
            context.counters.idle_sleep_us += sleep_us;
            rte_delay_us_sleep(sleep_us);
        }
    }
    rte_rcu_qsbr_thread_offline(launch.qsbr, context.worker_index);
    rte_rcu_qsbr_thread_unregister(launch.qsbr, context.worker_index);
    return 0;
}

}  // namespace vipgate
