// IPv6 ClusterIP service: the IPv4 pipeline's stages (pipeline.cpp) over ParsedIpv6, FlowKey6
// and ConnTable6, for one burst's IPv6 packets:
//   1. parse each (ipv6_parser.h); Neighbor Discovery goes to nd_path.h; keep TCP, UDP and SCTP
//      packets to our MAC, and other ICMPv6 (answered or translated in burst order by
//      handle_icmp6, which looks its quoted flow up itself); fragments of TCP and UDP go to
//      fragment_path.h (first fragments are kept, later ones follow them); drop the rest with
//      the parser's reason, `fragment` or ipv6_not_served;
//   2. one batched ConnTable6 lookup, then one batched VIP-table lookup of the misses (the VIP
//      table is shared with IPv4: VipKey carries the family);
//   3. per packet: translate a tracked flow, start a new one (Maglev on the 5-tuple), hand it to
//      the worker that owns it, or drop it with a reason.
//
// Answers as IPv4's (icmp6_responses.h), within the same per-worker answer budget and counters:
// refusals get a TCP RST, an SCTP ABORT or ICMPv6 port unreachable; a hop limit that would reach
// 0 gets Time Exceeded, a packet over the egress MTU Packet Too Big with that MTU (an IPv6 router
// never fragments), both from the ingress port's first IPv6 address; echo requests to the
// gateway's IPv6 addresses (ports, SNAT6) and IPv6 cluster IPs get echo replies (not limited,
// as IPv4's). ICMPv6 errors about tracked flows are translated (icmp6_translate.h).
// Next hops are the ports' on-link prefixes or IPv6 routes (rte_lpm6), their MACs static or
// learnt by Neighbor Discovery (nd_path.h: a next hop without one waits in the control thread).
// sessionAffinity ClientIP as IPv4's: the client's address picks on the Maglev table, and the
// worker's IPv6 affinity table remembers the choice while it is fresh (affinity_table.h).
// [cluster] client_ranges take both families; a new IPv6 flow from outside them is
// source_not_allowed.
#include "dataplane/pipeline6.h"

#include <cstring>

#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/affinity_table.h"
#include "dataplane/connection_steps.h"
#include "dataplane/fragment_path.h"
#include "dataplane/icmp6_responses.h"
#include "dataplane/icmp6_translate.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/kernel_output.h"
#include "dataplane/nat_rewrite6.h"
#include "dataplane/nd_packets.h"
#include "dataplane/nd_path.h"
#include "dataplane/pipeline.h"
#include "dataplane/worker_output.h"

namespace vipgate {
namespace {

struct Packet6 {
    rte_mbuf* mbuf;
    ParsedIpv6 parsed;
    uint16_t port_index;
    uint16_t vlan_id;
    bool icmp6;                      // ICMPv6 other than Neighbor Discovery: handle_icmp6, in burst order
    bool fragment_owner_known;       // first fragments: handed here by their home, so this worker owns them
    FragmentEntry6* fragment_entry;  // first fragments: their datagram's entry
};

class Ipv6Processor {
public:
    Ipv6Processor(WorkerContext& context, const Snapshot& snapshot, bool from_handoff)
        : context_(context),
          snapshot_(snapshot),
          counters_(context.counters),
          table_(*context.connections6),
          from_handoff_(from_handoff),
          ownership_(from_handoff) {}

    void run(rte_mbuf** packets, const uint16_t* l3_offsets, uint16_t count) noexcept;

private:
    bool classify(rte_mbuf* packet, uint16_t l3_offset, Packet6& out) noexcept;
    void warm_new_flows(const Packet6* packets, const FlowKey6* keys, const int32_t* service_port_of,
                        const ConnLookupResult6* hits, uint16_t count) noexcept;
    void dispatch(Packet6& packet, ConnLookupResult6 hit, int32_t service_port) noexcept;
    void handle_tracked(Packet6& packet, const ConnLookupResult6& hit) noexcept;
    void handle_untracked(Packet6& packet, int32_t service_port) noexcept;
    void handle_new_flow(Packet6& packet, uint32_t service_port_index) noexcept;
    uint32_t choose_with_affinity(const FlowKey6& key, uint32_t service_port_index,
                                  const ServicePort& service_port) noexcept;
    void translate_and_forward(Packet6& packet, const Ipv6Rewrite& rewrite) noexcept;
    const Ipv6OnLink* egress(Packet6& packet, const uint8_t destination[16]) noexcept;
    void send_out(Packet6& packet, const Ipv6OnLink& link, const uint8_t destination[16]) noexcept;
    void handle_icmp6(Packet6& packet) noexcept;
    void handle_icmp6_error(Packet6& packet) noexcept;
    void answer_echo(Packet6& packet) noexcept;
    void refuse(Packet6& packet, DropReason reason) noexcept;
    void hop_limit_exceeded(Packet6& packet) noexcept;
    void answer(Packet6& packet, DropReason reason, uint64_t& sent) noexcept;
    void send_back(Packet6& packet, uint64_t* sent) noexcept;
    bool owned_elsewhere(Packet6& packet, uint16_t owner) noexcept;
    int32_t find_service_port(const FlowKey6& key) const noexcept {
        return snapshot_.find_service_port(VipKey::ipv6(key.dst_addr, key.dst_port, key.protocol));
    }
    void drop(rte_mbuf* packet, DropReason reason) noexcept { drop_packet(context_, packet, reason); }
    bool classify_fragment(Packet6& packet) noexcept;
    void handle_first_fragment(Packet6& packet, const ConnLookupResult6& hit, int32_t service_port) noexcept;
    void send_later_fragment(Packet6& packet, const FragmentEntry6& entry) noexcept;
    void forward_fragment(Packet6& packet, const FragmentEntry6& entry) noexcept;

    WorkerContext& context_;
    const Snapshot& snapshot_;
    WorkerCounters& counters_;
    ConnTable6& table_;
    const bool from_handoff_;
    PacketOwnership<std::array<uint8_t, 16>> ownership_;  // as pipeline.cpp's
    bool table_changed_ = false;  // as in pipeline.cpp: hits looked up before are looked up again
};

bool Ipv6Processor::classify(rte_mbuf* packet, uint16_t l3_offset, Packet6& out) noexcept {
    out.mbuf = packet;
    out.port_index = port_index_of(context_, packet->port);
    const PortIdentity& port = snapshot_.ports[out.port_index];
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    const ParseOutcome outcome =
        parse_ipv6(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), l3_offset, out.parsed);
    if (unlikely(outcome.kind == PacketKind::Invalid)) {
        drop(packet, outcome.reason);
        return false;
    }
    if (out.parsed.key.protocol == kProtoIcmpv6 && is_nd_type(out.parsed.icmp_type)) {
        handle_nd_frame(context_, snapshot_, packet, out.parsed, port);
        return false;
    }
    const auto* ethernet = reinterpret_cast<const rte_ether_hdr*>(frame);
    if (!rte_is_same_ether_addr(&ethernet->dst_addr, &port.mac)) {
        // 33:33:...: IPv6 multicast (MLD, and ICMPv6 that is not served).
        const bool multicast = ethernet->dst_addr.addr_bytes[0] == 0x33 && ethernet->dst_addr.addr_bytes[1] == 0x33;
        drop(packet, multicast ? DropReason::Ipv6NotServed : DropReason::NotForUs);
        return false;
    }
    out.vlan_id = l3_offset == sizeof(rte_ether_hdr)
                      ? 0
                      : static_cast<uint16_t>(
                            rte_be_to_cpu_16(reinterpret_cast<const rte_vlan_hdr*>(ethernet + 1)->vlan_tci) & 0x0FFF);
    const uint8_t protocol = out.parsed.key.protocol;
    out.icmp6 = protocol == kProtoIcmpv6 && out.parsed.fragment == FragmentKind::None;  // ND left above
    if (out.icmp6) return true;
    if (unlikely(out.parsed.fragment != FragmentKind::None)) {
        if (protocol == kProtoTcp || protocol == kProtoUdp) return classify_fragment(out);
        drop(packet, DropReason::Fragment);
        return false;
    }
    if (unlikely(protocol != kProtoTcp && protocol != kProtoUdp && protocol != kProtoSctp)) {
        drop(packet, DropReason::Ipv6NotServed);
        return false;
    }
    return true;
}

void Ipv6Processor::run(rte_mbuf** packets, const uint16_t* l3_offsets, uint16_t count) noexcept {
    // New SNAT6 slots since the last burst (they only grow: snapshot.h).
    const auto& snat_slots = snapshot_.ipv6.snat_slots;
    while (unlikely(context_.snat6_slots_known < snat_slots.size())) {
        const uint32_t slot = context_.snat6_slots_known++;
        uint8_t address[16];
        std::memcpy(address, snat_slots[slot].data(), sizeof(address));
        table_.set_snat_address(static_cast<uint8_t>(slot), address);
    }
    Packet6 kept[kBurstSize];
    FlowKey6 keys[kBurstSize];
    uint16_t kept_count = 0;
    for (uint16_t i = 0; i < count; ++i) {
        if (classify(packets[i], l3_offsets[i], kept[kept_count])) {
            keys[kept_count] = kept[kept_count].parsed.key;
            ++kept_count;
        }
    }
    if (kept_count == 0) return;
    ConnLookupResult6 hits[kBurstSize];
    table_.lookup_bulk(keys, kept_count, hits);

    VipKey vip_keys[kBurstSize];
    const void* vip_key_pointers[kBurstSize];
    uint16_t vip_index[kBurstSize];
    int32_t service_port_of[kBurstSize];
    uint16_t vip_count = 0;
    for (uint16_t k = 0; k < kept_count; ++k) {
        service_port_of[k] = -1;
        if (hits[k].connection != nullptr) {
            // handle_tracked reads the pinned endpoint and bumps its counters (as pipeline.cpp).
            const uint32_t endpoint_slot = hits[k].connection->endpoint_slot;
            if (snapshot_.endpoints.contains(endpoint_slot)) rte_prefetch0(&snapshot_.endpoints[endpoint_slot]);
            if (endpoint_slot < context_.endpoint_counter_slots) {
                rte_prefetch0(&context_.endpoint_counters[endpoint_slot]);
            }
            continue;
        }
        if (unlikely(kept[k].icmp6)) continue;
        const FlowKey6& key = keys[k];
        vip_keys[vip_count] = VipKey::ipv6(key.dst_addr, key.dst_port, key.protocol);
        vip_key_pointers[vip_count] = &vip_keys[vip_count];
        vip_index[vip_count++] = k;
    }
    if (vip_count > 0) {
        uint64_t hit_mask = 0;
        void* data[kBurstSize];
        rte_hash_lookup_bulk_data(snapshot_.lookup->vip_table, vip_key_pointers, vip_count, &hit_mask, data);
        for (uint16_t v = 0; v < vip_count; ++v) {
            if (hit_mask & (uint64_t(1) << v)) service_port_of[vip_index[v]] = snapshot_.resolve_service_port(data[v]);
        }
    }
    if (vip_count > 0) warm_new_flows(kept, keys, service_port_of, hits, kept_count);
    for (uint16_t k = 0; k < kept_count; ++k) dispatch(kept[k], hits[k], service_port_of[k]);
}

// As pipeline.cpp's warm_new_flows: the Maglev slot, the endpoint it names and the reply key's
// index bucket (SNAT port check, then insert) of every new flow of the burst, fetched stage by
// stage so the misses overlap. Only caches are affected; handle_new_flow decides.
void Ipv6Processor::warm_new_flows(const Packet6* packets, const FlowKey6* keys, const int32_t* service_port_of,
                                   const ConnLookupResult6* hits, uint16_t count) noexcept {
    uint16_t index[kBurstSize];
    uint32_t flow_hash[kBurstSize];
    uint32_t slot[kBurstSize];
    uint16_t n = 0;
    const bool may_hand_off = !from_handoff_ && context_.worker_count > 1;
    for (uint16_t k = 0; k < count; ++k) {
        if (hits[k].connection != nullptr || service_port_of[k] < 0) continue;
        const FlowKey6& key = keys[k];
        if (may_hand_off &&
            connection_owner6(key.src_addr, key.src_port, context_.worker_count) != context_.worker_index) {
            continue;
        }
        const ServicePort& service_port = snapshot_.service_ports[static_cast<uint32_t>(service_port_of[k])];
        if (service_port.maglev->empty()) continue;
        flow_hash[n] = hash_flow_key(key, snapshot_.hash_seed);
        if (service_port.affinity_timeout_ms == 0) {
            slot[n] = service_port.maglev->lookup(flow_hash[n]);
        } else {
            // choose_with_affinity reads the client's affinity entry, which usually names the
            // client's hashed endpoint.
            context_.affinity6->prefetch(affinity_client6(key.src_addr), static_cast<uint32_t>(service_port_of[k]));
            slot[n] = service_port.maglev->lookup(affinity_hash6(key.src_addr, snapshot_.hash_seed));
        }
        index[n++] = k;
    }
    if (n == 0) return;
    for (uint16_t j = 0; j < n; ++j) rte_prefetch0(&snapshot_.endpoints[slot[j]]);
    const bool full_nat = snapshot_.nat_mode == NatMode::FullNat;
    const auto& active = snapshot_.ipv6.snat_active;
    if (full_nat && active.empty()) return;
    FlowKey6 reply_keys[kBurstSize];
    for (uint16_t j = 0; j < n; ++j) {
        const EndpointSlot& endpoint = snapshot_.endpoints[slot[j]];
        const FlowKey6& key = packets[index[j]].parsed.key;
        FlowKey6& reply = reply_keys[j];
        std::memcpy(reply.src_addr, endpoint.address6, sizeof(reply.src_addr));
        reply.src_port = endpoint.port;
        reply.protocol = key.protocol;
        if (full_nat) {
            std::memcpy(reply.dst_addr, snapshot_.ipv6.snat_slots[active[flow_hash[j] % active.size()]].data(),
                        sizeof(reply.dst_addr));
            // The port allocate_snat_port will try first (the counter moves once per new flow).
            reply.dst_port = rte_cpu_to_be_16(
                snapshot_.snat_ports.candidate(context_.worker_index, flow_hash[j], context_.snat_cursor + j, 0));
        } else {
            std::memcpy(reply.dst_addr, key.src_addr, sizeof(reply.dst_addr));
            reply.dst_port = key.src_port;
        }
    }
    ConnLookupResult6 ignored[kBurstSize];
    table_.lookup_bulk(reply_keys, n, ignored);
}

void Ipv6Processor::dispatch(Packet6& packet, ConnLookupResult6 hit, int32_t service_port) noexcept {
    if (unlikely(packet.icmp6)) {
        handle_icmp6(packet);
        return;
    }
    if (unlikely(table_changed_)) {
        const bool was_hit = hit.connection != nullptr;
        hit = table_.lookup(packet.parsed.key);
        if (was_hit && hit.connection == nullptr) service_port = find_service_port(packet.parsed.key);
    }
    if (unlikely(packet.parsed.fragment == FragmentKind::First)) {
        handle_first_fragment(packet, hit, service_port);
    } else if (hit.connection != nullptr) {
        handle_tracked(packet, hit);
    } else {
        handle_untracked(packet, service_port);
    }
}

bool Ipv6Processor::owned_elsewhere(Packet6& packet, uint16_t owner) noexcept {
    return ownership_.hand_off_elsewhere(context_, packet.mbuf, owner);
}

void Ipv6Processor::handle_tracked(Packet6& packet, const ConnLookupResult6& hit) noexcept {
    Connection6* connection = hit.connection;
    const ParsedIpv6& parsed = packet.parsed;
    if (unlikely(!snapshot_.endpoint_alive(connection->endpoint_slot, connection->endpoint_generation))) {
        const bool can_reschedule =
            hit.direction == FlowDirection::Original &&
            (parsed.key.protocol == kProtoUdp ||
             (uses_tcp_state(parsed.key.protocol) && (parsed.tcp_flags & (kTcpFlagSyn | kTcpFlagAck)) == kTcpFlagSyn));
        table_.remove(connection);
        table_changed_ = true;
        if (can_reschedule) {
            const int32_t service_port = find_service_port(parsed.key);
            if (service_port >= 0) {
                ++counters_.rescheduled;
                handle_new_flow(packet, static_cast<uint32_t>(service_port));
                return;
            }
        }
        if (hit.direction == FlowDirection::Original && uses_tcp_state(parsed.key.protocol)) {
            refuse(packet, DropReason::EndpointGone);
        } else {
            drop(packet.mbuf, DropReason::EndpointGone);
        }
        return;
    }
    ++counters_.conntrack_hits;
    if (unlikely(parsed.hop_limit <= 1)) {
        hop_limit_exceeded(packet);
        return;
    }
    const TcpState state_before = connection->tcp_state;
    table_.update(connection, hit.direction, parsed.tcp_flags, context_.now_ms, snapshot_.timeouts);
    if (unlikely(connection->tcp_state != state_before)) note_handshake(context_, *connection, state_before);
    if (hit.direction == FlowDirection::Original) {
        const bool full_nat = connection->snat_slot != Connection6::kDnatOnly;
        const uint8_t* source =
            full_nat ? snapshot_.ipv6.snat_slots[connection->snat_slot].data() : connection->original.src_addr;
        const uint16_t source_port = full_nat ? connection->reply_dst_port : connection->original.src_port;
        count_to_endpoint(context_, connection->endpoint_slot, rte_pktmbuf_pkt_len(packet.mbuf), false);
        translate_and_forward(packet, {source, connection->endpoint_addr, source_port, connection->endpoint_port});
    } else {
        ++counters_.forwarded_to_client;
        translate_and_forward(packet, {connection->original.dst_addr, connection->original.src_addr,
                                       connection->original.dst_port, connection->original.src_port});
    }
}

// A packet to no IPv6 service port: a reply whose entry lives on another worker (to an SNAT6
// address: the port's slice names it; DNAT-only: the client's worker), a refusal (a VIP's port
// not served, the gateway's own address: answered as IPv4's), or nothing we serve.
void Ipv6Processor::handle_untracked(Packet6& packet, int32_t service_port) noexcept {
    const FlowKey6& key = packet.parsed.key;
    if (service_port >= 0) {
        if (unlikely(!snapshot_.client_allowed6(key.src_addr))) {
            drop(packet.mbuf, DropReason::SourceNotAllowed);
            return;
        }
        if (owned_elsewhere(packet, connection_owner6(key.src_addr, key.src_port, context_.worker_count))) return;
        handle_new_flow(packet, static_cast<uint32_t>(service_port));
        return;
    }
    if (snapshot_.is_vip6(key.dst_addr)) {
        // A VIP's port or protocol not served: refused as IPv4 refuses it (vip_port_refused).
        if (unlikely(!snapshot_.client_allowed6(key.src_addr))) {
            drop(packet.mbuf, DropReason::SourceNotAllowed);
        } else {
            refuse(packet, DropReason::VipPortRefused);
        }
        return;
    }
    if (snapshot_.snat6_slot_of(key.dst_addr) >= 0) {
        const uint16_t port = rte_be_to_cpu_16(key.dst_port);
        if (snapshot_.snat_ports.contains(port) && owned_elsewhere(packet, snapshot_.snat_ports.owner(port))) return;
    } else if (snapshot_.is_local6(key.dst_addr)) {
        if (pass_to_kernel(context_, snapshot_, packet.mbuf, packet.port_index)) {
            ownership_.decision.action = FragmentAction::Kernel;  // a first fragment's later ones follow it there
            return;
        }
        refuse(packet, DropReason::NoService);
        return;
    } else if (snapshot_.nat_mode == NatMode::DnatOnly) {
        if (owned_elsewhere(packet, connection_owner6(key.dst_addr, key.dst_port, context_.worker_count))) return;
    }
    drop(packet.mbuf, DropReason::NoService);
}

// sessionAffinity: ClientIP, as BurstProcessor::choose_with_affinity (pipeline.cpp) for IPv4:
// the remembered endpoint while the affinity is fresh and the endpoint may take new
// connections, else the client's own Maglev choice, remembered from now on.
uint32_t Ipv6Processor::choose_with_affinity(const FlowKey6& key, uint32_t service_port_index,
                                             const ServicePort& service_port) noexcept {
    const uint32_t hashed_slot = service_port.maglev->lookup(affinity_hash6(key.src_addr, snapshot_.hash_seed));
    const AffinityClient6 client = affinity_client6(key.src_addr);
    const uint32_t now = context_.now_ms;
    AffinityEntry6* remembered = context_.affinity6->find(client, service_port_index, now);
    if (remembered != nullptr && remembered_endpoint_usable(snapshot_, *remembered, service_port_index, hashed_slot)) {
        AffinityTable6::refresh(*remembered, now, service_port.affinity_timeout_ms);
        ++counters_.affinity_hits;
        return remembered->endpoint_slot;
    }
    if (!context_.affinity6->insert(client, service_port_index, hashed_slot,
                                    snapshot_.endpoints[hashed_slot].generation, now,
                                    service_port.affinity_timeout_ms)) {
        ++counters_.affinity_table_full;
    }
    return hashed_slot;
}

void Ipv6Processor::handle_new_flow(Packet6& packet, uint32_t service_port_index) noexcept {
    const ParsedIpv6& parsed = packet.parsed;
    const FlowKey6& key = parsed.key;
    const ServicePort& service_port = snapshot_.service_ports[service_port_index];
    if (uses_tcp_state(key.protocol) && (parsed.tcp_flags & kTcpFlagRst)) {
        drop(packet.mbuf, DropReason::NotSyn);
        return;
    }
    if (service_port.maglev->empty()) {
        if (service_port_index < context_.service_port_slots) ++context_.service_port_refusals[service_port_index];
        refuse(packet, DropReason::NoEndpoint);
        return;
    }
    const bool full_nat = snapshot_.nat_mode == NatMode::FullNat;
    TcpState initial_state = TcpState::None;
    if (uses_tcp_state(key.protocol)) {
        const bool syn = (parsed.tcp_flags & (kTcpFlagSyn | kTcpFlagAck)) == kTcpFlagSyn;
        if (!syn && full_nat) {
            refuse(packet, DropReason::NotSyn);
            return;
        }
        initial_state = syn                                ? TcpState::SynSent
                        : (parsed.tcp_flags & kTcpFlagFin) ? TcpState::Closing
                                                           : TcpState::SynReceived;
    }
    if (unlikely(parsed.hop_limit <= 1)) {
        hop_limit_exceeded(packet);
        return;
    }
    const uint32_t flow_hash = hash_flow_key(key, snapshot_.hash_seed);
    const uint32_t slot = service_port.affinity_timeout_ms == 0
                              ? service_port.maglev->lookup(flow_hash)
                              : choose_with_affinity(key, service_port_index, service_port);
    const EndpointSlot& endpoint = snapshot_.endpoints[slot];

    ReplySide6 reply;
    std::memcpy(reply.endpoint_addr, endpoint.address6, sizeof(reply.endpoint_addr));
    reply.endpoint_port = endpoint.port;
    if (full_nat) {
        const auto& active = snapshot_.ipv6.snat_active;
        if (unlikely(active.empty())) {
            drop(packet.mbuf, DropReason::SnatPortsExhausted);
            return;
        }
        reply.snat_slot = active[flow_hash % active.size()];
        FlowKey6 reply_key;
        std::memcpy(reply_key.src_addr, endpoint.address6, sizeof(reply_key.src_addr));
        std::memcpy(reply_key.dst_addr, snapshot_.ipv6.snat_slots[reply.snat_slot].data(), sizeof(reply_key.dst_addr));
        reply_key.src_port = endpoint.port;
        reply_key.protocol = key.protocol;
        if (!allocate_snat_port(context_, snapshot_, table_, reply_key, flow_hash)) {
            drop(packet.mbuf, DropReason::SnatPortsExhausted);
            return;
        }
        reply.dst_port = reply_key.dst_port;
    } else {
        reply.dst_port = key.src_port;
    }

    InsertResult6 inserted = table_.insert(key, reply, initial_state, context_.now_ms, snapshot_.timeouts);
    if (inserted.status == InsertStatus::Exists) {
        if (inserted.connection->original == key) {
            handle_tracked(packet, {inserted.connection, FlowDirection::Original});
        } else {
            drop(packet.mbuf, DropReason::ReplyTupleInUse);
        }
        return;
    }
    table_changed_ = true;
    if (inserted.connection == nullptr) {
        // Refused in both modes: IPv4's DNAT-only mode forwards statelessly here because its
        // replies have a stateless way back (the endpoint table); IPv6 replies have none yet, so
        // a flow forwarded untracked would reach its pod and never get an answer back.
        drop(packet.mbuf, inserted.status == InsertStatus::HalfOpenProtected ? DropReason::HalfOpenProtected
                                                                             : DropReason::ConntrackFull);
        return;
    }
    pin_new_connection(context_, *inserted.connection, inserted.status, slot, endpoint.generation);
    count_to_endpoint(context_, slot, rte_pktmbuf_pkt_len(packet.mbuf), true);
    const uint8_t* source = full_nat ? snapshot_.ipv6.snat_slots[reply.snat_slot].data() : key.src_addr;
    translate_and_forward(packet, {source, endpoint.address6, full_nat ? reply.dst_port : key.src_port, endpoint.port});
}

// Routed (on-link prefix or IPv6 route) and checked against the egress MTU before the
// rewrite, as the IPv4 path does: a packet too big is answered with Packet Too Big quoting the
// flow as its sender sent it (what its path-MTU cache is keyed by), from the ingress port's
// address, like a router's. nullptr when the packet was dropped or answered instead.
const Ipv6OnLink* Ipv6Processor::egress(Packet6& packet, const uint8_t destination[16]) noexcept {
    const Ipv6OnLink* link = snapshot_.route6(destination);
    if (unlikely(link == nullptr)) {
        drop(packet.mbuf, DropReason::NoRoute);
        return nullptr;
    }
    const uint16_t mtu = snapshot_.ports[link->port_index].mtu;
    if (unlikely(packet.parsed.payload_length + sizeof(rte_ipv6_hdr) > mtu)) {
        if (make_icmp6_error(packet.mbuf, packet.parsed, kIcmp6PacketTooBig, 0,
                             snapshot_.ports[packet.port_index].primary_address6.data(), mtu)) {
            answer(packet, DropReason::MtuExceeded, counters_.icmp_sent);
        } else {
            drop(packet.mbuf, DropReason::MtuExceeded);
        }
        return nullptr;
    }
    return link;
}

// A next hop without a MAC yet (static or learnt) waits in the control thread (nd_path.h).
void Ipv6Processor::send_out(Packet6& packet, const Ipv6OnLink& link, const uint8_t destination[16]) noexcept {
    const PortIdentity& out_port = snapshot_.ports[link.port_index];
    if (unlikely(!set_egress_vlan(packet.mbuf, packet.vlan_id, packet.parsed.l3_offset, out_port.vlan))) {
        drop(packet.mbuf, DropReason::VlanInsertFailed);
        return;
    }
    auto* ethernet = rte_pktmbuf_mtod(packet.mbuf, rte_ether_hdr*);
    ethernet->src_addr = out_port.mac;
    if (unlikely(
            !next_hop_mac6(context_, snapshot_, link.next_hop(destination), link.port_index, ethernet->dst_addr))) {
        hold_for_neighbor6(context_, snapshot_, packet.mbuf, out_port.port_id);
        return;
    }
    emit_packet(context_, packet.mbuf, link.port_index);
}

void Ipv6Processor::translate_and_forward(Packet6& packet, const Ipv6Rewrite& rewrite) noexcept {
    const Ipv6OnLink* link = egress(packet, rewrite.dst_addr);
    if (link == nullptr) return;
    if (unlikely(packet.parsed.fragment != FragmentKind::None)) {
        ownership_.decision.action = FragmentAction::Translate;
        std::memcpy(ownership_.decision.new_src_addr.data(), rewrite.src_addr, 16);
        std::memcpy(ownership_.decision.new_dst_addr.data(), rewrite.dst_addr, 16);
    }
    rewrite_ipv6_packet(rte_pktmbuf_mtod(packet.mbuf, uint8_t*), packet.parsed, rewrite);
    send_out(packet, *link, rewrite.dst_addr);
}

// As BurstProcessor::send_back and answer (pipeline.cpp): out of the port and VLAN the packet
// came in on, never larger than that port's MTU; answers within the worker's answer budget.
void Ipv6Processor::send_back(Packet6& packet, uint64_t* sent) noexcept {
    if (unlikely(rte_pktmbuf_pkt_len(packet.mbuf) - packet.parsed.l3_offset > snapshot_.ports[packet.port_index].mtu)) {
        drop(packet.mbuf, DropReason::MtuExceeded);
        return;
    }
    if (sent != nullptr) ++*sent;
    emit_packet(context_, packet.mbuf, packet.port_index);
}

void Ipv6Processor::answer(Packet6& packet, DropReason reason, uint64_t& sent) noexcept {
    if (unlikely(!context_.answer_bucket.take(context_.now_ms, snapshot_.rate_limits.answers))) {
        drop(packet.mbuf, DropReason::AnswerRateLimited);
        return;
    }
    counters_.drop(reason);
    send_back(packet, &sent);
}

// As BurstProcessor::refuse: TCP RST (never to a RST), SCTP ABORT, UDP port unreachable from
// the address the client tried.
void Ipv6Processor::refuse(Packet6& packet, DropReason reason) noexcept {
    const ParsedIpv6& parsed = packet.parsed;
    bool built = false;
    uint64_t* sent = &counters_.resets_sent;
    if (parsed.key.protocol == kProtoTcp) {
        built = make_tcp_reset6(packet.mbuf, parsed);
    } else if (parsed.key.protocol == kProtoSctp) {
        built = make_sctp_abort6(packet.mbuf, parsed);
    } else if (parsed.key.protocol == kProtoUdp) {
        built = make_icmp6_error(packet.mbuf, parsed, kIcmp6DestinationUnreachable, kIcmp6PortUnreachable,
                                 parsed.key.dst_addr);
        sent = &counters_.icmp_sent;
    }
    if (built) {
        answer(packet, reason, *sent);
    } else {
        drop(packet.mbuf, reason);
    }
}

// A packet that would leave with hop limit 0: Time Exceeded from the ingress port's address.
void Ipv6Processor::hop_limit_exceeded(Packet6& packet) noexcept {
    const uint8_t* source = snapshot_.ports[packet.port_index].primary_address6.data();
    if (make_icmp6_error(packet.mbuf, packet.parsed, kIcmp6TimeExceeded, kIcmp6HopLimitExceeded, source)) {
        answer(packet, DropReason::Ipv6HopLimitExceeded, counters_.icmp_sent);
    } else {
        drop(packet.mbuf, DropReason::Ipv6HopLimitExceeded);
    }
}

// ICMPv6 that is not Neighbor Discovery: errors about flows, echo requests, and the rest
// (echo replies, MLD, router renumbering...), which the gateway does not serve.
void Ipv6Processor::handle_icmp6(Packet6& packet) noexcept {
    const uint8_t type = packet.parsed.icmp_type;
    if (is_icmp6_error(type)) {
        handle_icmp6_error(packet);
    } else if (type == kIcmp6EchoRequest) {
        answer_echo(packet);
    } else if (!snapshot_.is_local6(packet.parsed.key.dst_addr) ||
               !pass_to_kernel(context_, snapshot_, packet.mbuf, packet.port_index)) {
        drop(packet.mbuf, DropReason::IcmpUnsupported);
    }
}

// As IPv4: the gateway's own addresses and the cluster IPs answer; a cluster IP does not exist
// for a source outside the client ranges.
void Ipv6Processor::answer_echo(Packet6& packet) noexcept {
    const uint8_t* destination = packet.parsed.key.dst_addr;
    const bool vip = snapshot_.is_vip6(destination);
    if (!vip && !snapshot_.is_local6(destination) && snapshot_.snat6_slot_of(destination) < 0) {
        drop(packet.mbuf, DropReason::NoService);
        return;
    }
    if (vip && unlikely(!snapshot_.client_allowed6(packet.parsed.key.src_addr))) {
        drop(packet.mbuf, DropReason::SourceNotAllowed);
        return;
    }
    if (make_icmp6_echo_reply(packet.mbuf, packet.parsed)) {
        send_back(packet, &counters_.icmp_sent);
    } else {
        drop(packet.mbuf, DropReason::IcmpUnsupported);
    }
}

// As BurstProcessor::handle_icmp_error: the connection is found by the quoted flow reversed.
// About a packet sent to the endpoint (a Reply-direction hit) it goes to the client as if about
// its own packet to the VIP (an endpoint's own address as the source becomes the VIP); about a
// reply sent to the client (Original) it goes to the endpoint about its flow (from the SNAT6
// address under full-NAT). Untracked here: to the worker that would own the quoted flow (as
// IPv4 picks it), else dropped.
void Ipv6Processor::handle_icmp6_error(Packet6& packet) noexcept {
    Icmp6Quote quote;
    rte_mbuf* mbuf = packet.mbuf;
    if (!parse_icmp6_quote(rte_pktmbuf_mtod(mbuf, const uint8_t*), rte_pktmbuf_data_len(mbuf), packet.parsed, quote)) {
        drop(mbuf, quote.later_fragment ? DropReason::Icmp6ErrorLaterFragment : DropReason::Icmp6ErrorUnmatched);
        return;
    }
    const FlowKey6& inner = quote.inner_key;
    const ConnLookupResult6 hit = table_.lookup(inner.reversed());
    Connection6* connection = hit.connection;
    if (connection == nullptr) {
        const uint16_t owner = snapshot_.snat6_slot_of(inner.src_addr) >= 0
                                   ? snapshot_.snat_ports.owner(rte_be_to_cpu_16(inner.src_port))
                               : snapshot_.is_vip6(inner.src_addr)
                                   ? connection_owner6(inner.dst_addr, inner.dst_port, context_.worker_count)
                                   : connection_owner6(inner.src_addr, inner.src_port, context_.worker_count);
        if (owned_elsewhere(packet, owner)) return;
        if (snapshot_.is_local6(packet.parsed.key.dst_addr) &&
            pass_to_kernel(context_, snapshot_, mbuf, packet.port_index)) {
            return;  // about the kernel's own flow (a Packet Too Big for its TCP)
        }
        drop(mbuf, DropReason::Icmp6ErrorUnmatched);
        return;
    }
    if (!snapshot_.endpoint_alive(connection->endpoint_slot, connection->endpoint_generation)) {
        drop(mbuf, DropReason::EndpointGone);
        return;
    }
    // The hop limit is decremented; no ICMPv6 error is sent about an ICMPv6 error (RFC 4443).
    if (unlikely(packet.parsed.hop_limit <= 1)) {
        drop(mbuf, DropReason::Ipv6HopLimitExceeded);
        return;
    }
    const FlowKey6 reply = table_.reply_key(*connection);
    const FlowKey6& original = connection->original;
    const uint8_t* outer_source = packet.parsed.key.src_addr;
    const uint8_t* outer_destination;
    Ipv6Rewrite rewrite;
    if (hit.direction == FlowDirection::Reply) {
        if (std::memcmp(outer_source, reply.src_addr, 16) == 0) outer_source = original.dst_addr;
        outer_destination = original.src_addr;
        rewrite = {original.src_addr, original.dst_addr, original.src_port, original.dst_port};
    } else {
        if (snapshot_.nat_mode == NatMode::FullNat) outer_source = reply.dst_addr;
        outer_destination = reply.src_addr;
        rewrite = {reply.src_addr, reply.dst_addr, reply.src_port, reply.dst_port};
    }
    const Ipv6OnLink* link = egress(packet, outer_destination);
    if (link == nullptr) return;
    rewrite_icmp6_error(rte_pktmbuf_mtod(mbuf, uint8_t*), packet.parsed, quote, outer_source, outer_destination,
                        rewrite);
    ++counters_.icmp_errors_translated;
    send_out(packet, *link, outer_destination);
}

// ---------------------------------------------------------------------------------------------
// IPv6 fragments (fragment_path.h)

// At its home, a first fragment is kept for the normal path; a later one follows its first's
// decision, waits for it, or was dropped (fragment_path.h).
bool Ipv6Processor::classify_fragment(Packet6& packet) noexcept {
    packet.fragment_entry =
        admit_fragment(context_, snapshot_, packet.mbuf, packet.parsed, from_handoff_, packet.fragment_owner_known,
                       [&](const FragmentEntry6& entry) { send_later_fragment(packet, entry); });
    return packet.fragment_entry != nullptr;
}

// The first fragment takes the normal path, deciding for its owner unless its home already did;
// then the fragments that waited for it follow, parsed again (the Ethernet header for its VLAN).
void Ipv6Processor::handle_first_fragment(Packet6& packet, const ConnLookupResult6& hit,
                                          int32_t service_port) noexcept {
    FragmentEntry6& entry = *packet.fragment_entry;
    ownership_.take_first_fragment(
        context_, context_.fragments6, entry, packet.fragment_owner_known,
        [&] {
            if (hit.connection != nullptr) {
                handle_tracked(packet, hit);
            } else {
                handle_untracked(packet, service_port);
            }
        },
        [&](rte_mbuf* mbuf) {
            Packet6 held;
            held.mbuf = mbuf;
            held.port_index = port_index_of(context_, mbuf->port);
            ParsedPacket outer;
            parse_packet(rte_pktmbuf_mtod(mbuf, const uint8_t*), rte_pktmbuf_data_len(mbuf), rte_pktmbuf_pkt_len(mbuf),
                         snapshot_.ports[held.port_index].vlan, false, outer);
            parse_ipv6(rte_pktmbuf_mtod(mbuf, const uint8_t*), rte_pktmbuf_data_len(mbuf), rte_pktmbuf_pkt_len(mbuf),
                       outer.l3_offset, held.parsed);
            held.vlan_id = outer.vlan_id;
            send_later_fragment(held, entry);
        });
}

void Ipv6Processor::send_later_fragment(Packet6& packet, const FragmentEntry6& entry) noexcept {
    vipgate::send_later_fragment(context_, snapshot_, packet.mbuf, packet.port_index, entry,
                                 [&] { forward_fragment(packet, entry); });
}

// The first fragment's route and addresses; the ports and the L4 checksum, in the first fragment
// only, are not here.
void Ipv6Processor::forward_fragment(Packet6& packet, const FragmentEntry6& entry) noexcept {
    if (unlikely(packet.parsed.hop_limit <= 1)) {
        hop_limit_exceeded(packet);
        return;
    }
    const Ipv6OnLink* link = egress(packet, entry.new_dst_addr.data());
    if (link == nullptr) return;
    rewrite_fragment6_addresses(rte_pktmbuf_mtod(packet.mbuf, uint8_t*), packet.parsed, entry.new_src_addr.data(),
                                entry.new_dst_addr.data());
    ++counters_.fragments_forwarded;
    send_out(packet, *link, entry.new_dst_addr.data());
}

}  // namespace

void process_ipv6_burst(WorkerContext& context, const Snapshot& snapshot, rte_mbuf** packets,
                        const uint16_t* l3_offsets, uint16_t count, bool from_handoff) noexcept {
    if (context.connections6 == nullptr) {
        // No port has an IPv6 address: nothing IPv6 can be served (as before step 3).
        for (uint16_t i = 0; i < count; ++i) {
            const auto* ethernet = rte_pktmbuf_mtod(packets[i], const rte_ether_hdr*);
            const PortIdentity& port = snapshot.ports[port_index_of(context, packets[i]->port)];
            ParsedIpv6 parsed;
            const ParseOutcome outcome =
                parse_ipv6(rte_pktmbuf_mtod(packets[i], const uint8_t*), rte_pktmbuf_data_len(packets[i]),
                           rte_pktmbuf_pkt_len(packets[i]), l3_offsets[i], parsed);
            const bool ours = rte_is_same_ether_addr(&ethernet->dst_addr, &port.mac) ||
                              (ethernet->dst_addr.addr_bytes[0] == 0x33 && ethernet->dst_addr.addr_bytes[1] == 0x33);
            drop_packet(context, packets[i],
                        outcome.kind == PacketKind::Invalid ? outcome.reason
                        : ours                              ? DropReason::Ipv6NotServed
                                                            : DropReason::NotForUs);
        }
        return;
    }
    Ipv6Processor(context, snapshot, from_handoff).run(packets, l3_offsets, count);
}

}  // namespace vipgate
