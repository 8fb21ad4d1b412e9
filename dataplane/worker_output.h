// Where a worker's packets end, shared by the IPv4 pipeline (pipeline.cpp) and the IPv6 one
// (pipeline6.cpp): counted and freed, buffered for a TX queue, queued for the owning worker,
// and the egress VLAN fix-up. One implementation, so both families count the same way.
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/worker_context.h"

namespace vipgate {

inline void drop_packet(WorkerContext& context, rte_mbuf* packet, DropReason reason) noexcept {
    context.counters.drop(reason);
    rte_pktmbuf_free(packet);
}

inline void emit_packet(WorkerContext& context, rte_mbuf* packet, uint16_t port_index) noexcept {
    TxBuffer& buffer = context.tx[port_index];
    if (unlikely(buffer.count == kTxBufferSize)) {
        drop_packet(context, packet, DropReason::TxQueueFull);
        return;
    }
    buffer.packets[buffer.count++] = packet;
}

// To the control thread (ARP, Neighbor Discovery, packets waiting for their next hop's MAC),
// within the worker's punt budget: a flood cannot fill the ring and starve the control thread.
inline void punt_packet(WorkerContext& context, const RateLimit& budget, rte_mbuf* packet) noexcept {
    if (unlikely(!context.punt_bucket.take(context.now_ms, budget))) {
        drop_packet(context, packet, DropReason::PuntRateLimited);
        return;
    }
    if (rte_ring_mp_enqueue(context.punt_ring, packet) != 0) {
        drop_packet(context, packet, DropReason::PuntRingFull);
        return;
    }
    ++context.counters.punted;
}

inline void hand_off_packet(WorkerContext& context, rte_mbuf* packet, uint16_t owner) noexcept {
    uint16_t& count = context.handoff_count[owner];
    if (unlikely(count == kBurstSize)) {
        drop_packet(context, packet, DropReason::HandoffRingFull);
        return;
    }
    context.handoff[owner][count++] = packet;
    ++context.counters.handoffs_out;
}

// Gives the frame the egress port's tag: inserts one into an untagged frame, removes it for an
// untagged port, or rewrites it (a priority tag, VLAN id 0, is rewritten too). `packet` may
// change (rte_vlan_insert); false when there is no headroom (the caller drops it).
inline bool set_egress_vlan(rte_mbuf*& packet, uint16_t in_vlan, uint16_t l3_offset, uint16_t out_vlan) noexcept {
    if (likely(in_vlan == out_vlan)) return true;
    if (l3_offset == sizeof(rte_ether_hdr)) {
        if (rte_vlan_insert(&packet) != 0) return false;
    } else if (out_vlan == 0) {
        auto* ethernet = rte_pktmbuf_mtod(packet, uint8_t*);
        memmove(ethernet + sizeof(rte_vlan_hdr), ethernet, 2 * RTE_ETHER_ADDR_LEN);
        rte_pktmbuf_adj(packet, sizeof(rte_vlan_hdr));
    }
    if (out_vlan != 0) {
        auto* vlan = reinterpret_cast<rte_vlan_hdr*>(rte_pktmbuf_mtod(packet, uint8_t*) + sizeof(rte_ether_hdr));
        vlan->vlan_tci = rte_cpu_to_be_16(out_vlan);
    }
    return true;
}

}  // namespace vipgate
