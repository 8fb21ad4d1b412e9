#include "control/neighbor_discovery.h"

#include <cstring>

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "control/neighbor_resolver.h"
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

NeighborDiscovery::NeighborDiscovery(NeighborTable6& table, const std::vector<PortRuntime>& ports,
                                     rte_ring* transmit_ring)
    : table_(table), ports_(ports), transmit_ring_(transmit_ring) {}

NeighborDiscovery::~NeighborDiscovery() {
    for (auto& [address, pending] : pending_) {
        for (rte_mbuf* packet : pending.held) rte_pktmbuf_free(packet);
    }
}

bool NeighborDiscovery::takes(const rte_mbuf* packet) noexcept {
    return ipv6_offset(packet) != 0 && (packet->hash.usr == kPuntNdMessage || packet->hash.usr == kPuntHeldIpv6);
}

uint16_t NeighborDiscovery::port_index_of(uint16_t port_id) const noexcept {
    for (uint16_t i = 0; i < ports_.size(); ++i) {
        if (ports_[i].port_id == port_id) return i;
    }
    return 0;
}

void NeighborDiscovery::transmit(rte_mbuf* packet) {
    if (rte_ring_mp_enqueue(transmit_ring_, packet) != 0) rte_pktmbuf_free(packet);
}

void NeighborDiscovery::handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    if (packet->hash.usr == kPuntHeldIpv6) {
        hold(packet, snapshot, now_ms);
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
    const uint16_t port_index = port_index_of(packet->port);
    const PortIdentity& port = snapshot.ports[port_index];
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
        if (!rte_is_same_ether_addr(&sender_mac, &port.mac)) {
            ++statistics_.conflicts;
            defend(snapshot, port_index, *claimed, now_ms);
        }
        rte_pktmbuf_free(packet);
        return;
    }
    const bool for_us = solicitation && owned(snapshot, message.target);
    if (solicitation && !for_us) {
        ++statistics_.not_ours;
        rte_pktmbuf_free(packet);
        return;
    }
    if (solicitation && is_unspecified(message.source)) {
        // Duplicate address detection of an address we hold: answered to all nodes (7.2.4).
        ++statistics_.conflicts;
        answer(packet, snapshot, port_index, message);
        return;
    }
    const Ipv6Bytes& neighbor = solicitation ? message.source : message.target;
    if (message.has_link_layer) {
        rte_ether_addr existing;
        const bool in_table = table_.lookup(neighbor.data(), existing);
        const bool asked = asking_for(neighbor);
        if (in_table && !rte_is_same_ether_addr(&existing, &message.link_layer) && !(asked && !solicitation)) {
            ++statistics_.updates_refused;
            verify(snapshot, neighbor, now_ms);
        } else if (in_table || asked || for_us) {
            learn(neighbor, message.link_layer, port_index, now_ms);
        }
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
    rte_mbuf* reply = rte_pktmbuf_alloc(ports_[port_index].pool);
    if (reply == nullptr) return;
    reply->port = ports_[port_index].port_id;
    if (!write_nd_message(reply, frame)) {
        rte_pktmbuf_free(reply);
        return;
    }
    ++statistics_.advertisements_sent;
    transmit(reply);
}

// An unsolicited advertisement of our address to all nodes, override set (RFC 4861 7.2.6), at
// most once per NeighborResolver::kDefendIntervalMs per address (RFC 5227's DEFEND_INTERVAL).
void NeighborDiscovery::defend(const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& address,
                               uint64_t now_ms) {
    auto [entry, first] = last_defended_ms_.try_emplace(address, now_ms);
    if (!first && now_ms - entry->second < NeighborResolver::kDefendIntervalMs) return;
    entry->second = now_ms;
    NdFrame frame;
    frame.type = kNdNeighborAdvertisement;
    frame.flags = kNaRouter | kNaOverride;
    frame.ethernet_destination = multicast_mac(kAllNodes);
    frame.our_mac = snapshot.ports[port_index].mac;
    frame.vlan = snapshot.ports[port_index].vlan;
    frame.source = address;
    frame.destination = kAllNodes;
    frame.target = address;
    rte_mbuf* advertisement = rte_pktmbuf_alloc(ports_[port_index].pool);
    if (advertisement == nullptr) return;
    advertisement->port = ports_[port_index].port_id;
    if (!write_nd_message(advertisement, frame)) {
        rte_pktmbuf_free(advertisement);
        return;
    }
    spdlog::warn("ND: another host claims {} on port {}; advertised it as ours", config::format_ipv6(address),
                 ports_[port_index].name);
    ++statistics_.advertisements_sent;
    transmit(advertisement);
}

bool NeighborDiscovery::asking_for(const Ipv6Bytes& address) const {
    if (pending_.count(address) != 0) return true;
    auto learnt = learnt_.find(address);
    return learnt != learnt_.end() && learnt->second.probes > 0;
}

void NeighborDiscovery::verify(const Snapshot& snapshot, const Ipv6Bytes& address, uint64_t now_ms) {
    auto learnt = learnt_.find(address);
    if (learnt == learnt_.end() || learnt->second.probes > 0) return;
    learnt->second.probes = 1;
    learnt->second.last_probe_ms = now_ms;
    solicit(snapshot, learnt->second.port_index, address);
}

void NeighborDiscovery::learn(const Ipv6Bytes& address, const rte_ether_addr& mac, uint16_t port_index,
                              uint64_t now_ms) {
    const NeighborTable6::LearnResult result = table_.learn(address.data(), mac);
    if (result == NeighborTable6::LearnResult::Full) {
        spdlog::warn("IPv6 neighbor table full ({} entries): cannot learn {}", NeighborTable6::kCapacity,
                     config::format_ipv6(address));
        return;
    }
    if (result == NeighborTable6::LearnResult::Added) {
        ++statistics_.learnt;
        spdlog::debug("IPv6 neighbor {} learnt on port {}", config::format_ipv6(address), ports_[port_index].name);
    }
    learnt_[address] = Learnt{port_index, now_ms, 0, 0};
    auto pending = pending_.find(address);
    if (pending == pending_.end()) return;
    held_total_ -= pending->second.held.size();
    for (rte_mbuf* held : pending->second.held) {
        rte_pktmbuf_mtod(held, rte_ether_hdr*)->dst_addr = mac;
        transmit(held);
        ++statistics_.held_sent;
    }
    pending_.erase(pending);
}

// A translated packet waiting for its next hop: its destination on a port's prefix, or its route's
// gateway (routed again here, as the worker did).
void NeighborDiscovery::hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const uint16_t port_index = port_index_of(packet->port);
    const uint8_t* destination = rte_pktmbuf_mtod(packet, const uint8_t*) + ipv6_offset(packet) + 24;
    const Ipv6OnLink* route = snapshot.route6(destination);
    if (route == nullptr) {  // the routes changed meanwhile
        rte_pktmbuf_free(packet);
        ++statistics_.held_dropped;
        return;
    }
    const Ipv6Bytes neighbor = to_bytes(route->next_hop(destination));
    rte_ether_addr mac;
    const rte_ether_addr* configured = snapshot.neighbor6(neighbor.data(), port_index);
    if (configured != nullptr || table_.lookup(neighbor.data(), mac)) {  // resolved while in the ring
        rte_pktmbuf_mtod(packet, rte_ether_hdr*)->dst_addr = configured != nullptr ? *configured : mac;
        transmit(packet);
        ++statistics_.held_sent;
        return;
    }
    if (held_total_ >= NeighborResolver::kMaxHeldTotal ||
        (pending_.count(neighbor) == 0 && pending_.size() >= NeighborResolver::kMaxPending)) {
        rte_pktmbuf_free(packet);
        ++statistics_.held_dropped;
        return;
    }
    auto [entry, inserted] = pending_.try_emplace(neighbor);
    Pending& pending = entry->second;
    if (pending.held.size() >= NeighborResolver::kMaxHeldPerNeighbor) {
        rte_pktmbuf_free(packet);
        ++statistics_.held_dropped;
    } else {
        pending.held.push_back(packet);
        ++held_total_;
    }
    if (inserted) {
        pending.port_index = port_index;
        pending.probes = 1;
        pending.last_probe_ms = now_ms;
        solicit(snapshot, port_index, neighbor);
    }
}

// To the target's solicited-node group, from the port's first IPv6 address, with our MAC as the
// source link-layer option.
void NeighborDiscovery::solicit(const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& target) {
    if (port_index >= snapshot.ports.size() || is_unspecified(snapshot.ports[port_index].primary_address6)) return;
    NdFrame frame;
    frame.type = kNdNeighborSolicitation;
    frame.source = snapshot.ports[port_index].primary_address6;
    frame.destination = solicited_node_group(target);
    frame.ethernet_destination = multicast_mac(frame.destination);
    frame.our_mac = snapshot.ports[port_index].mac;
    frame.vlan = snapshot.ports[port_index].vlan;
    frame.target = target;
    rte_mbuf* request = rte_pktmbuf_alloc(ports_[port_index].pool);
    if (request == nullptr) return;
    request->port = ports_[port_index].port_id;
    if (!write_nd_message(request, frame)) {
        rte_pktmbuf_free(request);
        return;
    }
    ++statistics_.solicitations_sent;
    transmit(request);
}

void NeighborDiscovery::tick(const Snapshot& snapshot, uint64_t now_ms) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        Pending& pending = it->second;
        if (now_ms - pending.last_probe_ms < NeighborResolver::kProbeIntervalMs) {
            ++it;
            continue;
        }
        if (pending.probes >= NeighborResolver::kMaxProbes) {
            spdlog::warn("IPv6 neighbor {} did not answer {} solicitations; dropping {} waiting packets",
                         config::format_ipv6(it->first), NeighborResolver::kMaxProbes, pending.held.size());
            for (rte_mbuf* packet : pending.held) rte_pktmbuf_free(packet);
            statistics_.held_dropped += pending.held.size();
            held_total_ -= pending.held.size();
            it = pending_.erase(it);
            continue;
        }
        ++pending.probes;
        pending.last_probe_ms = now_ms;
        solicit(snapshot, pending.port_index, it->first);
        ++it;
    }
    for (auto it = learnt_.begin(); it != learnt_.end();) {
        Learnt& entry = it->second;
        if (now_ms - entry.confirmed_ms < NeighborResolver::kReachableMs ||
            now_ms - entry.last_probe_ms < NeighborResolver::kProbeIntervalMs) {
            ++it;
            continue;
        }
        if (entry.probes >= NeighborResolver::kMaxProbes) {
            spdlog::info("IPv6 neighbor {} stopped answering solicitations; entry removed",
                         config::format_ipv6(it->first));
            table_.invalidate(it->first.data());
            it = learnt_.erase(it);
            continue;
        }
        ++entry.probes;
        entry.last_probe_ms = now_ms;
        solicit(snapshot, entry.port_index, it->first);
        ++it;
    }
}

}  // namespace vipgate
