#include "control/neighbor_discovery.h"

#include <cstring>

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "dataplane/packet_parser.h"

namespace vipgate {
namespace {

Ipv6Bytes to_bytes(const uint8_t* address) {
    Ipv6Bytes bytes;
    std::memcpy(bytes.data(), address, bytes.size());
    return bytes;
}

// Where the IPv6 header starts (after a tag), or 0 when the frame is not IPv6.
uint16_t ipv6_offset(const rte_mbuf* packet) {
    if (rte_pktmbuf_data_len(packet) < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr) + 40) return 0;
    const auto* ethernet = rte_pktmbuf_mtod(packet, const rte_ether_hdr*);
    uint16_t ether_type = rte_be_to_cpu_16(ethernet->ether_type);
    uint16_t offset = sizeof(rte_ether_hdr);
    if (ether_type == RTE_ETHER_TYPE_VLAN) {
        ether_type = rte_be_to_cpu_16(reinterpret_cast<const rte_vlan_hdr*>(ethernet + 1)->eth_proto);
        offset += sizeof(rte_vlan_hdr);
    }
    return ether_type == RTE_ETHER_TYPE_IPV6 ? offset : 0;
}

}  // namespace

std::string NdFamily::text(const Ipv6Bytes& address) {
    return config::format_ipv6(address);
}

bool NdFamily::lookup(const NeighborTable6& table, const Snapshot& snapshot, uint16_t port_index,
                      const Ipv6Bytes& address, rte_ether_addr& mac) {
    const rte_ether_addr* configured = snapshot.neighbor6(address.data(), port_index);
    if (configured != nullptr) {
        mac = *configured;
        return true;
    }
    return table.lookup(address.data(), mac);
}

// To the target's solicited-node group, from the port's first IPv6 address, with our MAC as the
// source link-layer option.
bool NdFamily::write_request(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& target) {
    const PortIdentity& port = snapshot.ports[port_index];
    if (is_unspecified(port.primary_address6)) return false;
    NdFrame frame;
    frame.type = kNdNeighborSolicitation;
    frame.source = port.primary_address6;
    frame.destination = solicited_node_group(target);
    frame.ethernet_destination = multicast_mac(frame.destination);
    frame.our_mac = port.mac;
    frame.vlan = port.vlan;
    frame.target = target;
    return write_nd_message(packet, frame);
}

// An unsolicited advertisement of our address to all nodes, override set (RFC 4861 7.2.6).
bool NdFamily::write_defence(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index,
                             const Ipv6Bytes& address) {
    NdFrame frame;
    frame.type = kNdNeighborAdvertisement;
    frame.flags = kNaRouter | kNaOverride;
    frame.ethernet_destination = multicast_mac(kAllNodes);
    frame.our_mac = snapshot.ports[port_index].mac;
    frame.vlan = snapshot.ports[port_index].vlan;
    frame.source = address;
    frame.destination = kAllNodes;
    frame.target = address;
    return write_nd_message(packet, frame);
}

NeighborDiscovery::NeighborDiscovery(NeighborTable6& table, const std::vector<PortRuntime>& ports,
                                     rte_ring* transmit_ring)
    : cache_(table, ports, transmit_ring) {}

bool NeighborDiscovery::takes(const rte_mbuf* packet) noexcept {
    return ipv6_offset(packet) != 0 && (packet->hash.usr == kPuntNdMessage || packet->hash.usr == kPuntHeldIpv6 ||
                                        packet->hash.usr == kPuntRouterAdvertisement);
}

void NeighborDiscovery::handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    if (packet->hash.usr == kPuntHeldIpv6) {
        hold(packet, snapshot, now_ms);
    } else if (packet->hash.usr == kPuntRouterAdvertisement) {
        handle_router_advertisement(packet, snapshot, now_ms);
    } else {
        handle_message(packet, snapshot, now_ms);
    }
}

// The gateway's own IPv6 addresses, SNAT6 addresses and IPv6 VIPs, gathered once per snapshot.
bool NeighborDiscovery::owned(const Snapshot& snapshot, const Ipv6Bytes& address) {
    if (owned_generation_ != snapshot.generation) {
        owned_.clear();
        owned_.insert(snapshot.ipv6.local.begin(), snapshot.ipv6.local.end());
        owned_.insert(snapshot.ipv6.snat_slots.begin(), snapshot.ipv6.snat_slots.end());
        for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
            const ServicePort& port = snapshot.service_ports[id];
            if (port.incarnation != 0 && port.ipv6) owned_.insert(to_bytes(port.vip6));
        }
        owned_generation_ = snapshot.generation;
    }
    return owned_.count(address) != 0;
}

void NeighborDiscovery::handle_message(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const uint16_t port_index = cache_.port_index_of(packet->port);
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    ParsedIpv6 parsed;
    NdMessage message;
    const uint16_t l3_offset = ipv6_offset(packet);
    if (l3_offset == 0 ||
        parse_ipv6(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), l3_offset, parsed).kind !=
            PacketKind::Ipv6 ||
        !parse_nd(frame, rte_pktmbuf_data_len(packet), parsed, message)) {
        rte_pktmbuf_free(packet);
        return;
    }
    const rte_ether_addr sender_mac = rte_pktmbuf_mtod(packet, const rte_ether_hdr*)->src_addr;
    const bool solicitation = message.type == kNdNeighborSolicitation;
    // A claim on one of our addresses (or our own message coming back).
    const Ipv6Bytes* claimed = nullptr;
    if (!solicitation && owned(snapshot, message.target)) {
        claimed = &message.target;
    } else if (solicitation && !is_unspecified(message.source) && owned(snapshot, message.source)) {
        claimed = &message.source;
    }
    if (claimed != nullptr) {
        cache_.claim(snapshot, port_index, *claimed, sender_mac, now_ms);
        rte_pktmbuf_free(packet);
        return;
    }
    const bool for_us = solicitation && owned(snapshot, message.target);
    if (solicitation && !for_us) {
        ++cache_.statistics().not_ours;
        rte_pktmbuf_free(packet);
        return;
    }
    if (solicitation && is_unspecified(message.source)) {
        // Duplicate address detection of an address we hold: answered to all nodes (7.2.4).
        ++cache_.statistics().conflicts;
        answer(packet, snapshot, port_index, message);
        return;
    }
    if (message.has_link_layer) {
        cache_.consider(snapshot, port_index, solicitation ? message.source : message.target, message.link_layer,
                        !solicitation, for_us, now_ms);
    }
    if (for_us) {
        answer(packet, snapshot, port_index, message);
        return;
    }
    rte_pktmbuf_free(packet);
}

// A solicited advertisement (router, solicited, override; target link-layer option) to the
// solicitation's sender, or to all nodes for one from the unspecified address.
void NeighborDiscovery::answer(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index,
                               const NdMessage& message) {
    const bool duplicate_detection = is_unspecified(message.source);
    NdFrame frame;
    frame.type = kNdNeighborAdvertisement;
    frame.flags = duplicate_detection ? kNaRouter | kNaOverride : kNaRouter | kNaSolicited | kNaOverride;
    frame.ethernet_destination = duplicate_detection      ? multicast_mac(kAllNodes)
                                 : message.has_link_layer ? message.link_layer
                                                          : rte_pktmbuf_mtod(packet, const rte_ether_hdr*)->src_addr;
    frame.our_mac = snapshot.ports[port_index].mac;
    frame.vlan = snapshot.ports[port_index].vlan;
    frame.source = message.target;
    frame.destination = duplicate_detection ? kAllNodes : message.source;
    frame.target = message.target;
    rte_pktmbuf_free(packet);
    if (cache_.send(snapshot, port_index, [&](rte_mbuf* reply) { return write_nd_message(reply, frame); })) {
        ++cache_.statistics().advertisements_sent;
    }
}

// A translated packet waiting for its next hop: its destination on a port's prefix, or its route's
// gateway (routed again here, as the worker did).
void NeighborDiscovery::hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const uint8_t* destination = rte_pktmbuf_mtod(packet, const uint8_t*) + ipv6_offset(packet) + 24;
    const Ipv6OnLink* route = snapshot.route6(destination);
    if (route == nullptr) {  // the routes changed meanwhile
        cache_.drop(packet);
        return;
    }
    cache_.hold(packet, snapshot, cache_.port_index_of(packet->port), to_bytes(route->next_hop(destination)), now_ms);
}

void NeighborDiscovery::tick(const Snapshot& snapshot, uint64_t now_ms) {
    cache_.tick(snapshot, now_ms);
    for (const LearntRouter& router : routers_.expire(now_ms)) {
        ++ra_counts_.expired;
        spdlog::info("ND: default router {} on port {} expired (no router advertisement within its lifetime)",
                     NdFamily::text(router.address), router.port_index);
    }
}

// RFC 4861 6.1.2, then 6.3.4: the router's link-layer address, and its lifetime as a default
// router. A port without accept_router_advertisements never punts one; a reload cannot change
// that (the option is restart-only), but a snapshot is checked all the same.
void NeighborDiscovery::handle_router_advertisement(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const uint16_t port_index = cache_.port_index_of(packet->port);
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    const uint16_t l3_offset = ipv6_offset(packet);
    ParsedIpv6 parsed;
    RouterAdvertisement advertisement;
    RaCheck check = RaCheck::Fragmented;
    if (l3_offset != 0 &&
        parse_ipv6(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), l3_offset, parsed).kind ==
            PacketKind::Ipv6) {
        check = parse_router_advertisement(frame, rte_pktmbuf_data_len(packet), parsed, advertisement);
    }
    rte_pktmbuf_free(packet);
    if (port_index >= snapshot.ports.size() || !snapshot.ports[port_index].accept_router_advertisements) {
        ++ra_counts_.refused;
        return;
    }
    if (check != RaCheck::Valid) {
        ++ra_counts_.refused;
        spdlog::debug("ND: router advertisement refused on port {}: {}", port_index, ra_check_name(check));
        return;
    }
    ++ra_counts_.accepted;
    if (advertisement.has_link_layer) {
        cache_.consider(snapshot, port_index, advertisement.source, advertisement.link_layer, false, true, now_ms);
    }
    const std::string router = NdFamily::text(advertisement.source);
    switch (routers_.advertised(advertisement.source, port_index, advertisement.lifetime_s, advertisement.preference,
                                now_ms)) {
    case DefaultRouters::Outcome::Added:
        spdlog::info("ND: default router {} on port {} (lifetime {} s, preference {})", router, port_index,
                     advertisement.lifetime_s, int{advertisement.preference});
        break;
    case DefaultRouters::Outcome::Withdrawn:
        ++ra_counts_.withdrawn;
        spdlog::info("ND: default router {} on port {} withdrawn (router lifetime 0)", router, port_index);
        break;
    case DefaultRouters::Outcome::Full:
        ++ra_counts_.refused;
        // Only a link full of routers (or of spoofed ones) gets here, at the punt rate: counted, not logged at
        // every advertisement.
        spdlog::debug("ND: router advertisement from {} on port {} refused: {} default routers known already", router,
                      port_index, DefaultRouters::kMaxRouters);
        break;
    case DefaultRouters::Outcome::Refreshed:
    case DefaultRouters::Outcome::NotKnown:
        break;
    }
}

RouterAdvertisementView NeighborDiscovery::router_advertisements(uint64_t now_ms) const {
    return RouterAdvertisementView{ra_counts_, routers_.routers(), now_ms};
}

NeighborCounts NeighborDiscovery::counts() const noexcept {
    const NdStatistics& s = cache_.statistics();
    return NeighborCounts{s.solicitations_sent, s.advertisements_sent, s.learnt,    cache_.held_count(),
                          s.held_sent,          s.held_dropped,        s.conflicts, s.updates_refused};
}

}  // namespace vipgate
