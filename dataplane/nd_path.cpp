#include "dataplane/nd_path.h"

#include <rte_mbuf.h>

#include "dataplane/nd_packets.h"
#include "dataplane/worker_output.h"

namespace vipgate {

void handle_nd_frame(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet, const ParsedIpv6& parsed,
                     const PortIdentity& port) noexcept {
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    const auto* ethernet = reinterpret_cast<const rte_ether_hdr*>(frame);
    const bool multicast = ethernet->dst_addr.addr_bytes[0] == 0x33 && ethernet->dst_addr.addr_bytes[1] == 0x33;
    if (!multicast && !rte_is_same_ether_addr(&ethernet->dst_addr, &port.mac)) {
        drop_packet(context, packet, DropReason::NotForUs);
        return;
    }
    if (parsed.icmp_type == kNdRouterAdvertisement && port.accept_router_advertisements) {
        packet->hash.usr = kPuntRouterAdvertisement;  // checked there (RFC 4861 6.1.2)
        punt_packet(context, snapshot.rate_limits.punts, packet);
        return;
    }
    if (parsed.icmp_type != kNdNeighborSolicitation && parsed.icmp_type != kNdNeighborAdvertisement) {
        drop_packet(context, packet, DropReason::NdIgnored);
        return;
    }
    NdMessage message;
    if (!parse_nd(frame, rte_pktmbuf_data_len(packet), parsed, message)) {
        drop_packet(context, packet, DropReason::NdInvalid);
        return;
    }
    packet->hash.usr = kPuntNdMessage;
    punt_packet(context, snapshot.rate_limits.punts, packet);
}

bool next_hop_mac6(const WorkerContext& context, const Snapshot& snapshot, const uint8_t next_hop[16],
                   uint16_t port_index, rte_ether_addr& mac) noexcept {
    if (const rte_ether_addr* configured = snapshot.neighbor6(next_hop, port_index)) {
        mac = *configured;
        return true;
    }
    return context.neighbors6 != nullptr && context.neighbors6->lookup(next_hop, mac);
}

void hold_for_neighbor6(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet,
                        uint16_t out_port_id) noexcept {
    packet->hash.usr = kPuntHeldIpv6;
    packet->port = out_port_id;
    punt_packet(context, snapshot.rate_limits.punts, packet);
}

}  // namespace vipgate
