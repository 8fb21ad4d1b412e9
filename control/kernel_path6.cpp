// The IPv6 half of the kernel exception path (kernel_path.h): the kernel's IPv6 frames on a tap.
//
// Design note: Neighbor Discovery stays vipgate's, as ARP does. The kernel's neighbor
// solicitations are answered here with a solicited advertisement carrying the MAC vipgate knows
// (static, then learnt by NeighborDiscovery), so the kernel's neighbor cache and vipgate's table
// never disagree and nothing the kernel says about neighbors reaches the wire. For a neighbor
// vipgate does not know yet, the kernel's solicitation is made unicast to its target and handed
// to NeighborDiscovery as a held packet: NeighborDiscovery solicits the target on the wire as it
// does for the workers' packets, and once it answers the held solicitation goes to it (an
// ordinary unicast probe from the gateway's address); the kernel's retry a second later is
// answered from the table. The kernel's duplicate address detection (from ::) and solicitations
// for the gateway's own addresses need no answer. Other ND (its advertisements, router
// solicitations) and multicast (MLD) are refused and counted.
#include <cstring>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "control/kernel_path.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/nd_packets.h"

namespace vipgate {
namespace {

constexpr uint16_t kIpv6Offset = sizeof(rte_ether_hdr);  // the tap's frames are untagged
constexpr size_t kIpv6DestinationOffset = 24;            // in the IPv6 header

bool is_multicast(const uint8_t address[16]) {
    return address[0] == 0xff;
}

// The gateway's own IPv6 addresses: its ports', its SNAT6 addresses, its IPv6 cluster IPs.
bool owned_by_gateway(const Snapshot& snapshot, const uint8_t address[16]) {
    return snapshot.is_local6(address) || snapshot.snat6_slot_of(address) >= 0 || snapshot.is_vip6(address);
}

}  // namespace

bool KernelPath::neighbor_mac6(const Snapshot& snapshot, uint16_t port_index, const uint8_t address[16],
                               rte_ether_addr& mac) const {
    if (const rte_ether_addr* configured = snapshot.neighbor6(address, port_index); configured != nullptr) {
        mac = *configured;
        return true;
    }
    return neighbors6_.lookup(address, mac);
}

void KernelPath::read_ipv6(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms) {
    ParsedIpv6 parsed;
    const ParseOutcome outcome = parse_ipv6(rte_pktmbuf_mtod(frame, const uint8_t*), rte_pktmbuf_data_len(frame),
                                            rte_pktmbuf_pkt_len(frame), kIpv6Offset, parsed);
    if (outcome.kind == PacketKind::Invalid) {
        refuse(frame);
        return;
    }
    if (parsed.key.protocol == kProtoIcmpv6 && is_nd_type(parsed.icmp_type)) {
        if (parsed.icmp_type == kNdNeighborSolicitation) {
            answer_solicitation(tap, frame, parsed, snapshot, now_ms);
        } else {
            refuse(frame);  // its advertisements, router solicitations, redirects
        }
        return;
    }
    if (is_multicast(parsed.key.dst_addr)) {
        refuse(frame);  // MLD reports, a routing daemon's multicast
        return;
    }
    send_out6(tap, frame, parsed.key.dst_addr, snapshot, now_ms);
}

// The kernel asks for a neighbor's MAC: answered with the MAC vipgate knows, as if the neighbor
// had (solicited, override: the kernel's cache takes it at once).
void KernelPath::answer_solicitation(const Tap& tap, rte_mbuf* frame, const ParsedIpv6& parsed,
                                     const Snapshot& snapshot, uint64_t now_ms) {
    NdMessage solicitation;
    if (!parse_nd(rte_pktmbuf_mtod(frame, const uint8_t*), rte_pktmbuf_data_len(frame), parsed, solicitation)) {
        refuse(frame);
        return;
    }
    if (is_unspecified(solicitation.source) || owned_by_gateway(snapshot, solicitation.target.data())) {
        rte_pktmbuf_free(frame);  // its duplicate address detection, or about our own addresses
        return;
    }
    const uint16_t port_index = tap.port_index;
    rte_ether_addr mac;
    if (!neighbor_mac6(snapshot, port_index, solicitation.target.data(), mac)) {
        ++statistics_.nd_resolving;
        // Unicast to the target (checksum over the new pseudo-header), from the port, held by
        // NeighborDiscovery until the target answers its own solicitation.
        auto* bytes = rte_pktmbuf_mtod(frame, uint8_t*);
        std::memcpy(bytes + kIpv6Offset + kIpv6DestinationOffset, solicitation.target.data(), 16);
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(bytes + kIpv6Offset);
        auto* checksum = reinterpret_cast<uint16_t*>(bytes + parsed.l4_offset + 2);
        *checksum = 0;
        *checksum = rte_ipv6_udptcp_cksum(ip, bytes + parsed.l4_offset);
        send_out6(tap, frame, solicitation.target.data(), snapshot, now_ms);
        return;
    }
    NdFrame answer;
    answer.type = kNdNeighborAdvertisement;
    answer.flags = kNaSolicited | kNaOverride;
    answer.ethernet_destination = rte_pktmbuf_mtod(frame, const rte_ether_hdr*)->src_addr;
    answer.our_mac = mac;
    answer.source = solicitation.target;
    answer.destination = solicitation.source;
    answer.target = solicitation.target;
    rte_mbuf* advertisement = rte_pktmbuf_alloc(ports_[port_index].pool);
    rte_pktmbuf_free(frame);
    if (advertisement == nullptr) return;
    if (!write_nd_message(advertisement, answer)) {
        rte_pktmbuf_free(advertisement);
        return;
    }
    if (write_to_tap(tap, advertisement)) ++statistics_.nd_answered;
}

// An IPv6 frame the kernel sends: out of the tap's port to the next hop vipgate routes the
// destination to (on that port), with the MACs vipgate knows; an unknown next hop is resolved
// by NeighborDiscovery, which holds the frame meanwhile (as IPv4's resolver does).
void KernelPath::send_out6(const Tap& tap, rte_mbuf* frame, const uint8_t destination[16], const Snapshot& snapshot,
                           uint64_t now_ms) {
    const Ipv6OnLink* link = snapshot.route6(destination);
    const uint8_t* neighbor =
        link != nullptr && link->port_index == tap.port_index ? link->next_hop(destination) : destination;
    rte_ether_hdr* ethernet = frame_for_port(tap, frame, snapshot);
    if (ethernet == nullptr) return;
    if (neighbor_mac6(snapshot, tap.port_index, neighbor, ethernet->dst_addr)) {
        pass_to_worker(frame);
        return;
    }
    if (link == nullptr) {
        refuse(frame);  // no route: NeighborDiscovery could not hold it either
        return;
    }
    frame->hash.usr = kPuntHeldIpv6;
    discovery_.handle(frame, snapshot, now_ms);
}

}  // namespace vipgate
