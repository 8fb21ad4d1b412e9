#include "control/neighbor_resolver.h"

#include <rte_arp.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "dataplane/packet_parser.h"
#include "dataplane/packet_responses.h"

namespace vipgate {
namespace {

std::string address_text(uint32_t network_order) {
    return config::format_ipv4(rte_be_to_cpu_32(network_order));
}

}  // namespace

NeighborResolver::NeighborResolver(NeighborTable& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring)
    : table_(table), ports_(ports), transmit_ring_(transmit_ring) {}

NeighborResolver::~NeighborResolver() {
    for (auto& [address, pending] : pending_) {
        for (rte_mbuf* packet : pending.held) rte_pktmbuf_free(packet);
    }
}

void NeighborResolver::set_static(const std::vector<std::pair<uint32_t, rte_ether_addr>>& entries) {
    std::set<uint32_t> configured;
    for (const auto& entry : entries) configured.insert(entry.first);
    for (uint32_t address : static_addresses_) {
        if (configured.count(address) == 0) table_.remove_static(address);
    }
    static_addresses_ = std::move(configured);
    for (const auto& [address, mac] : entries) {
        if (table_.learn(address, mac, true) == NeighborTable::LearnResult::Full) {
            spdlog::warn("neighbor table full: static entry {} not added", address_text(address));
        }
        learnt_.erase(address);
    }
}

uint16_t NeighborResolver::port_index_of(uint16_t port_id) const noexcept {
    for (uint16_t i = 0; i < ports_.size(); ++i) {
        if (ports_[i].port_id == port_id) return i;
    }
    return 0;
}

// packet->port names the output port.
void NeighborResolver::transmit(rte_mbuf* packet) {
    if (rte_ring_mp_enqueue(transmit_ring_, packet) != 0) rte_pktmbuf_free(packet);
}

void NeighborResolver::handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const auto* ethernet = rte_pktmbuf_mtod(packet, const rte_ether_hdr*);
    uint16_t ether_type = rte_be_to_cpu_16(ethernet->ether_type);
    if (ether_type == RTE_ETHER_TYPE_VLAN) {
        ether_type = rte_be_to_cpu_16(reinterpret_cast<const rte_vlan_hdr*>(ethernet + 1)->eth_proto);
    }
    if (ether_type == RTE_ETHER_TYPE_ARP) {
        handle_arp(packet, snapshot, now_ms);
    } else {
        hold(packet, snapshot, now_ms);
    }
}

void NeighborResolver::handle_arp(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    uint16_t port_index = port_index_of(packet->port);
    const PortIdentity& port = snapshot.ports[port_index];
    ParsedPacket parsed{};
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    ParseOutcome outcome =
        parse_packet(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), port.vlan, false, parsed);
    ArpMessage message{};
    if (outcome.kind != PacketKind::Arp || !parse_arp(frame, rte_pktmbuf_data_len(packet), parsed, message)) {
        rte_pktmbuf_free(packet);
        return;
    }
    if (message.sender_addr != 0 && snapshot.address_kind(message.sender_addr) != AddressKind::None) {
        // A claim on one of our addresses (or our own announcement coming back).
        if (!rte_is_same_ether_addr(&message.sender_mac, &port.mac)) {
            ++statistics_.conflicts;
            defend(snapshot, port_index, message.sender_addr, now_ms);
        }
        rte_pktmbuf_free(packet);
        return;
    }
    const bool for_us = snapshot.address_kind(message.target_addr) != AddressKind::None;
    if (message.sender_addr != 0) {
        rte_ether_addr existing;
        const bool in_table = table_.lookup(message.sender_addr, existing);
        const bool asked = asking_for(message.sender_addr);
        if (in_table && !rte_is_same_ether_addr(&existing, &message.sender_mac) &&
            !(asked && message.operation == RTE_ARP_OP_REPLY)) {
            ++statistics_.updates_refused;
            verify(snapshot, message.sender_addr, now_ms);
        } else if (in_table || asked || (for_us && message.operation == RTE_ARP_OP_REQUEST)) {
            learn(message.sender_addr, message.sender_mac, port_index, now_ms);
        }
    }
    if (message.operation == RTE_ARP_OP_REQUEST && for_us && make_arp_reply(packet, parsed, port.mac)) {
        ++statistics_.arp_replies_sent;
        transmit(packet);
        return;
    }
    rte_pktmbuf_free(packet);
}

// RFC 5227 2.4 (c): a broadcast announcement (an ARP request whose sender and target are the
// address) restates who owns it, at most once per kDefendIntervalMs.
void NeighborResolver::defend(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms) {
    auto [entry, first] = last_defended_ms_.try_emplace(address, now_ms);
    if (!first && now_ms - entry->second < kDefendIntervalMs) return;
    entry->second = now_ms;
    const PortRuntime& runtime = ports_[port_index];
    const PortIdentity& port = snapshot.ports[port_index];
    rte_mbuf* announcement = rte_pktmbuf_alloc(runtime.pool);
    if (announcement == nullptr) return;
    announcement->port = runtime.port_id;
    if (!write_arp_request(announcement, port.mac, address, address, port.vlan)) {
        rte_pktmbuf_free(announcement);
        return;
    }
    spdlog::warn("ARP: another host claims {} on port {}; announced it as ours", address_text(address), runtime.name);
    ++statistics_.announcements_sent;
    transmit(announcement);
}

// True while a request of ours for `address` is unanswered: it is unresolved, or a learnt entry
// is being probed.
bool NeighborResolver::asking_for(uint32_t address) const {
    if (pending_.count(address) != 0) return true;
    auto learnt = learnt_.find(address);
    return learnt != learnt_.end() && learnt->second.probes > 0;
}

// Probe a learnt neighbor now (unless a probe is already out): its answer settles its MAC.
void NeighborResolver::verify(const Snapshot& snapshot, uint32_t address, uint64_t now_ms) {
    auto learnt = learnt_.find(address);
    if (learnt == learnt_.end() || learnt->second.probes > 0) return;
    learnt->second.probes = 1;
    learnt->second.last_probe_ms = now_ms;
    send_request(snapshot, learnt->second.port_index, address);
}

void NeighborResolver::learn(uint32_t address, const rte_ether_addr& mac, uint16_t port_index, uint64_t now_ms) {
    NeighborTable::LearnResult result = table_.learn(address, mac, false);
    if (result == NeighborTable::LearnResult::Full) {
        spdlog::warn("neighbor table full ({} entries): cannot learn {}", NeighborTable::kCapacity,
                     address_text(address));
        return;
    }
    if (table_.is_static(address)) return;
    if (result == NeighborTable::LearnResult::Added) {
        ++statistics_.learnt;
        spdlog::debug("neighbor {} learnt on port {}", address_text(address), ports_[port_index].name);
    }
    learnt_[address] = Learnt{port_index, now_ms, 0, 0};
    auto pending = pending_.find(address);
    if (pending == pending_.end()) return;
    held_total_ -= pending->second.held.size();
    for (rte_mbuf* held : pending->second.held) {
        rte_ether_hdr* ethernet = rte_pktmbuf_mtod(held, rte_ether_hdr*);
        ethernet->dst_addr = mac;
        transmit(held);
        ++statistics_.held_sent;
    }
    pending_.erase(pending);
}

void NeighborResolver::hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    uint32_t neighbor = packet->hash.usr;
    uint16_t port_index = port_index_of(packet->port);
    rte_ether_addr mac;
    if (table_.lookup(neighbor, mac)) {  // resolved while the packet was in the ring
        rte_pktmbuf_mtod(packet, rte_ether_hdr*)->dst_addr = mac;
        transmit(packet);
        ++statistics_.held_sent;
        return;
    }
    if (held_total_ >= kMaxHeldTotal || (pending_.count(neighbor) == 0 && pending_.size() >= kMaxPending)) {
        rte_pktmbuf_free(packet);
        ++statistics_.held_dropped;
        return;
    }
    auto [entry, inserted] = pending_.try_emplace(neighbor);
    Pending& pending = entry->second;
    if (pending.held.size() >= kMaxHeldPerNeighbor) {
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
        send_request(snapshot, port_index, neighbor);
    }
}

void NeighborResolver::resolve(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms) {
    if (pending_.count(address) != 0 || pending_.size() >= kMaxPending) return;
    Pending& pending = pending_[address];
    pending.port_index = port_index;
    pending.probes = 1;
    pending.last_probe_ms = now_ms;
    send_request(snapshot, port_index, address);
}

void NeighborResolver::send_request(const Snapshot& snapshot, uint16_t port_index, uint32_t target) {
    const PortRuntime& runtime = ports_[port_index];
    const PortIdentity& port = snapshot.ports[port_index];
    rte_mbuf* request = rte_pktmbuf_alloc(runtime.pool);
    if (request == nullptr) return;
    request->port = runtime.port_id;
    if (!write_arp_request(request, port.mac, port.primary_address, target, port.vlan)) {
        rte_pktmbuf_free(request);
        return;
    }
    ++statistics_.arp_requests_sent;
    transmit(request);
}

void NeighborResolver::tick(const Snapshot& snapshot, uint64_t now_ms) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        Pending& pending = it->second;
        if (now_ms - pending.last_probe_ms < kProbeIntervalMs) {
            ++it;
            continue;
        }
        if (pending.probes >= kMaxProbes) {
            spdlog::warn("neighbor {} did not answer {} ARP requests; dropping {} waiting packets",
                         address_text(it->first), kMaxProbes, pending.held.size());
            for (rte_mbuf* packet : pending.held) rte_pktmbuf_free(packet);
            statistics_.held_dropped += pending.held.size();
            held_total_ -= pending.held.size();
            it = pending_.erase(it);
            continue;
        }
        ++pending.probes;
        pending.last_probe_ms = now_ms;
        send_request(snapshot, pending.port_index, it->first);
        ++it;
    }
    for (auto it = learnt_.begin(); it != learnt_.end();) {
        Learnt& entry = it->second;
        if (now_ms - entry.confirmed_ms < kReachableMs || now_ms - entry.last_probe_ms < kProbeIntervalMs) {
            ++it;
            continue;
        }
        if (entry.probes >= kMaxProbes) {
            spdlog::info("neighbor {} stopped answering ARP; entry removed", address_text(it->first));
            table_.invalidate(it->first);
            it = learnt_.erase(it);
            continue;
        }
        ++entry.probes;
        entry.last_probe_ms = now_ms;
        send_request(snapshot, entry.port_index, it->first);
        ++it;
    }
}

}  // namespace vipgate
