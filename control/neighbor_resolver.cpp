#include "control/neighbor_resolver.h"

#include <rte_arp.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "dataplane/packet_parser.h"
#include "dataplane/packet_responses.h"

namespace vipgate {

std::string ArpFamily::text(uint32_t address) {
    return config::format_ipv4(rte_be_to_cpu_32(address));
}

bool ArpFamily::lookup(const NeighborTable& table, const Snapshot&, uint16_t, uint32_t address, rte_ether_addr& mac) {
    return table.lookup(address, mac);
}

bool ArpFamily::write_request(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, uint32_t target) {
    const PortIdentity& port = snapshot.ports[port_index];
    return write_arp_request(packet, port.mac, port.primary_address, target, port.vlan);
}

// RFC 5227 2.4 (c): a broadcast announcement, an ARP request whose sender and target are the address.
bool ArpFamily::write_defence(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, uint32_t address) {
    const PortIdentity& port = snapshot.ports[port_index];
    return write_arp_request(packet, port.mac, address, address, port.vlan);
}

NeighborResolver::NeighborResolver(NeighborTable& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring)
    : cache_(table, ports, transmit_ring) {}

void NeighborResolver::set_static(const std::vector<std::pair<uint32_t, rte_ether_addr>>& entries) {
    NeighborTable& table = cache_.table();
    std::set<uint32_t> configured;
    for (const auto& entry : entries) configured.insert(entry.first);
    for (uint32_t address : static_addresses_) {
        if (configured.count(address) == 0) table.remove_static(address);
    }
    static_addresses_ = std::move(configured);
    for (const auto& [address, mac] : entries) {
        if (table.learn(address, mac, true) == NeighborTable::LearnResult::Full) {
            spdlog::warn("neighbor table full: static entry {} not added", ArpFamily::text(address));
        }
        cache_.forget(address);
    }
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
        cache_.hold(packet, snapshot, cache_.port_index_of(packet->port), packet->hash.usr, now_ms);
    }
}

void NeighborResolver::handle_arp(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms) {
    const uint16_t port_index = cache_.port_index_of(packet->port);
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
        cache_.claim(snapshot, port_index, message.sender_addr, message.sender_mac, now_ms);
        rte_pktmbuf_free(packet);
        return;
    }
    const bool for_us = snapshot.address_kind(message.target_addr) != AddressKind::None;
    if (message.sender_addr != 0) {
        cache_.consider(snapshot, port_index, message.sender_addr, message.sender_mac,
                        message.operation == RTE_ARP_OP_REPLY, for_us, now_ms);
    }
    if (message.operation == RTE_ARP_OP_REQUEST && for_us && make_arp_reply(packet, parsed, port.mac)) {
        ++cache_.statistics().arp_replies_sent;
        cache_.transmit(packet);
        return;
    }
    rte_pktmbuf_free(packet);
}

void NeighborResolver::resolve(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms) {
    cache_.resolve(snapshot, port_index, address, now_ms);
}

NeighborCounts NeighborResolver::counts() const noexcept {
    const NeighborStatistics& s = cache_.statistics();
    return NeighborCounts{s.arp_requests_sent,
                          s.arp_replies_sent + s.announcements_sent,
                          s.learnt,
                          cache_.held_count(),
                          s.held_sent,
                          s.held_dropped,
                          s.conflicts,
                          s.updates_refused};
}

}  // namespace vipgate
