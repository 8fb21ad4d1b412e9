// Pipeline stages for one burst:
//   1. parse every packet (prefetching kPrefetchDistance packets ahead) and pick its
//      connection-table key: the 5-tuple, or for an ICMP error the reversed quoted tuple;
//   2. one batched connection-table lookup for the whole burst;
//   3. one batched VIP-table lookup for the misses;
//   4. per packet: translate a tracked flow, start a new one (Maglev on the 5-tuple, or for
//      sessionAffinity ClientIP on the client address with the affinity table), answer (ping,
//      RST, ICMP), hand it to the worker that owns it, or drop it with a reason.
// Translations are written from the connection entry: the entry keeps both directions' keys,
// so the rewrite for either direction is a copy of four fields.
//
// MTU: a packet is routed before it is rewritten, so one larger than its egress port's MTU is
// refused while it is still the packet the sender sent: with DF, the ICMP "fragmentation
// needed" (RFC 1191) quotes the sender's own flow (client -> VIP, or endpoint -> its peer),
// which is what its path-MTU cache is keyed by. Without DF the packet is dropped and counted
// (mtu_exceeded), not fragmented: fragmenting on the worker needs two more mempools per worker
// (direct mbufs for each fragment's headers, indirect ones for its payload) and two mbuf
// allocations and a header copy per fragment (seven of each for a 9000-byte datagram into a
// 1500-byte MTU), on the path that otherwise never allocates; senders with path-MTU discovery
// (Linux TCP always, UDP by default) set DF, and a whole oversized datagram without DF only
// comes from a jumbo link whose MTU the operator can match (README, MTU).
//
// Fragments (fragment_table.h, fragment_path.h): every fragment of a TCP or UDP datagram first
// meets on its home worker (fragment_home); the first fragment then takes the normal path, and
// what became of it (translated, handed to the connection's owner, dropped) is what its later
// fragments get. On the owner the datagram is tracked again, so later fragments there take the
// translation.
//
// Answers (ICMP errors, RSTs, ABORTs) and punts to the control thread are rate-limited per
// worker by token buckets (token_bucket.h): past the budget the packet is dropped with its own
// reason instead. Echo replies are not limited: like Linux (icmp_ratemask leaves type 0 out),
// a reply is the request's size, so it amplifies nothing.
#include "dataplane/pipeline.h"

#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "dataplane/connection_steps.h"
#include "dataplane/dns_path.h"
#include "dataplane/fragment_path.h"
#include "dataplane/kernel_output.h"
#include "dataplane/nat_rewrite.h"
#include "dataplane/packet_parser.h"
#include "dataplane/packet_responses.h"
#include "dataplane/pipeline6.h"
#include "dataplane/worker_output.h"

namespace vipgate {
namespace {

constexpr uint16_t kPrefetchDistance = 4;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpDestinationUnreachable = 3;
constexpr uint8_t kIcmpPortUnreachable = 3;
constexpr uint8_t kIcmpFragmentationNeeded = 4;
constexpr uint8_t kIcmpTimeExceeded = 11;

// Storage for N objects of an implicit-lifetime type that skips their default member
// initialisers (per-burst scratch space).
template <typename T, size_t N>
union Uninitialized {
    Uninitialized() {}
    T items[N];
};

struct PacketState {
    ParsedPacket parsed;
    uint16_t port_index;
    bool needs_lookup;              // a connection-table lookup applies
    bool fragment_owner_known;      // first fragments: handed here by their home, so this worker owns them
    FragmentEntry* fragment_entry;  // first fragments: their datagram's entry
};

// One burst's working set, on the worker's stack: what each step of run() leaves for the next.
// States are left uninitialised: their type has default member initialisers, and zeroing ~3 KiB
// per burst is pure overhead. Every element is written before it is read.
struct Burst {
    Uninitialized<PacketState, kBurstSize> state_storage;
    rte_mbuf* kept[kBurstSize];  // the packets classify() kept, in order
    uint16_t kept_count = 0;
    uint16_t lookup_index[kBurstSize];  // connection lookup l is for kept packet lookup_index[l]
    uint16_t lookup_count = 0;
    ConnLookupResult results[kBurstSize];  // by lookup
    ConnLookupResult hit_of[kBurstSize];   // by kept packet
    int32_t service_port_of[kBurstSize];   // by kept packet; -1: none (or not looked up)
    PacketState* states() noexcept { return state_storage.items; }
};

class BurstProcessor {
public:
    BurstProcessor(WorkerContext& context, const Snapshot& snapshot, bool from_handoff)
        : context_(context),
          snapshot_(snapshot),
          counters_(context.counters),
          dns_zone_(snapshot.dns.get()),
          from_handoff_(from_handoff),
          ownership_(from_handoff) {}

    void run(rte_mbuf** packets, uint16_t count) noexcept;

private:
    void classify_burst(rte_mbuf** packets, uint16_t count, Burst& burst) noexcept;
    void look_up_connections(Burst& burst) noexcept;
    uint16_t look_up_services(Burst& burst) noexcept;
    void dispatch(rte_mbuf* packet, PacketState& state, ConnLookupResult hit, int32_t service_port) noexcept;
    bool classify(rte_mbuf* packet, PacketState& state) noexcept;
    bool answer_dns(rte_mbuf* packet, PacketState& state) noexcept;
    void handle_tracked(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit) noexcept;
    void handle_untracked(rte_mbuf* packet, PacketState& state, int32_t service_port) noexcept;
    void handle_new_flow(rte_mbuf* packet, PacketState& state, uint32_t service_port) noexcept;
    uint32_t choose_with_affinity(uint32_t client, uint32_t service_port_index,
                                  const ServicePort& service_port) noexcept;
    void handle_not_a_service(rte_mbuf* packet, PacketState& state) noexcept;
    void handle_icmp_error(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit) noexcept;
    void refuse(rte_mbuf* packet, PacketState& state, DropReason reason) noexcept;
    void answer(rte_mbuf* packet, const PacketState& state, DropReason reason, uint64_t& sent) noexcept;
    void translate_and_forward(rte_mbuf* packet, PacketState& state, const Ipv4Rewrite& rewrite) noexcept;
    bool ttl_expired(rte_mbuf* packet, PacketState& state) noexcept;
    bool too_big(rte_mbuf* packet, PacketState& state, const NextHop& next_hop) noexcept;
    const NextHop* egress(rte_mbuf* packet, PacketState& state, uint32_t destination) noexcept;
    ConnLookupResult revalidate(const PacketState& state) noexcept;
    void forward(rte_mbuf* packet, PacketState& state, uint32_t destination) noexcept;
    void send_to(rte_mbuf* packet, const PacketState& state, const NextHop& next_hop, uint32_t destination) noexcept;
    void send_back(rte_mbuf* packet, const PacketState& state, uint64_t* sent) noexcept;
    void punt(rte_mbuf* packet) noexcept;
    bool to_kernel(rte_mbuf* packet, const PacketState& state) noexcept;
    void emit(rte_mbuf* packet, uint16_t port_index) noexcept;
    void drop(rte_mbuf* packet, DropReason reason) noexcept;
    bool owned_elsewhere(rte_mbuf* packet, uint16_t owner) noexcept;
    FlowKey4 new_flow_reply_key(const FlowKey4& key, uint32_t endpoint_address, uint16_t endpoint_port,
                                uint32_t flow_hash) const noexcept;
    void warm_new_flows(const PacketState* states, const int32_t* service_port_of, const ConnLookupResult* hit_of,
                        uint16_t count) noexcept;
    bool classify_fragment(rte_mbuf* packet, PacketState& state) noexcept;
    void handle_first_fragment(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit,
                               int32_t service_port) noexcept;
    void send_later_fragment(rte_mbuf* packet, PacketState& state, const FragmentEntry& entry) noexcept;
    void forward_fragment(rte_mbuf* packet, PacketState& state, const FragmentEntry& entry) noexcept;

    WorkerContext& context_;
    const Snapshot& snapshot_;
    WorkerCounters& counters_;
    const DnsZone* const dns_zone_;  // null: the gateway serves no names
    const bool from_handoff_;
    PacketOwnership<uint32_t> ownership_;  // who owns the packet in hand; a first fragment's decision
    // Set once this burst inserted or removed a connection: a hit looked up before that may now
    // point at an evicted or reused entry, so it is looked up again (see revalidate()).
    bool table_changed_ = false;
    // The burst's IPv6 packets, for process_ipv6_burst once the IPv4 ones are done.
    rte_mbuf* ipv6_packets_[kBurstSize];
    uint16_t ipv6_l3_offsets_[kBurstSize];
    uint16_t ipv6_count_ = 0;
};

void BurstProcessor::drop(rte_mbuf* packet, DropReason reason) noexcept {
    drop_packet(context_, packet, reason);
}

void BurstProcessor::emit(rte_mbuf* packet, uint16_t port_index) noexcept {
    emit_packet(context_, packet, port_index);
}

bool BurstProcessor::owned_elsewhere(rte_mbuf* packet, uint16_t owner) noexcept {
    return ownership_.hand_off_elsewhere(context_, packet, owner);
}

// Answers (RST, ICMP errors, echo replies) go back out of the port they came in on, to the MAC
// they came from: the packet builders swap the Ethernet addresses and keep the VLAN tag. None
// leaves larger than that port's MTU (an echo request can arrive larger on a device that does
// not enforce its MTU, such as net_pcap; the other answers are at most 56 bytes of IPv4).
// `sent` is bumped when the answer leaves (nullptr: the caller counts it, as the DNS path does).
void BurstProcessor::send_back(rte_mbuf* packet, const PacketState& state, uint64_t* sent) noexcept {
    if (unlikely(rte_pktmbuf_pkt_len(packet) - state.parsed.l3_offset > snapshot_.ports[state.port_index].mtu)) {
        drop(packet, DropReason::MtuExceeded);
        return;
    }
    if (sent != nullptr) ++*sent;
    emit(packet, state.port_index);
}

// An answer built in `packet` (the refused packet `reason` names) leaves only while the
// worker's answer budget lasts; past it the packet is dropped as answer_rate_limited instead.
void BurstProcessor::answer(rte_mbuf* packet, const PacketState& state, DropReason reason, uint64_t& sent) noexcept {
    if (unlikely(!context_.answer_bucket.take(context_.now_ms, snapshot_.rate_limits.answers))) {
        drop(packet, DropReason::AnswerRateLimited);
        return;
    }
    counters_.drop(reason);
    send_back(packet, state, &sent);
}

void BurstProcessor::punt(rte_mbuf* packet) noexcept {
    punt_packet(context_, snapshot_.rate_limits.punts, packet);
}

// To the in-port's kernel interface (kernel_output.h). False (the packet untouched) when the
// port has no kernel interface.
bool BurstProcessor::to_kernel(rte_mbuf* packet, const PacketState& state) noexcept {
    if (!pass_to_kernel(context_, snapshot_, packet, state.port_index)) return false;
    ownership_.decision.action = FragmentAction::Kernel;  // a first fragment's later ones follow it there
    return true;
}

// A packet larger than its egress port's MTU, refused before any rewrite (see the note at the
// top): with DF it is answered with "fragmentation needed" carrying that MTU, from the ingress
// port's address, like a router's; without DF (or when no ICMP error may be sent about it) it
// is dropped. Both count as mtu_exceeded (answer_rate_limited past the answer budget).
bool BurstProcessor::too_big(rte_mbuf* packet, PacketState& state, const NextHop& next_hop) noexcept {
    const uint16_t mtu = snapshot_.ports[next_hop.port_index].mtu;
    if (likely(state.parsed.ip_total_length <= mtu)) return false;
    const auto* ip = rte_pktmbuf_mtod_offset(packet, const rte_ipv4_hdr*, state.parsed.l3_offset);
    const bool dont_fragment = (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0;
    if (dont_fragment && make_icmp_error(packet, state.parsed, kIcmpDestinationUnreachable, kIcmpFragmentationNeeded,
                                         snapshot_.ports[state.port_index].primary_address, mtu)) {
        answer(packet, state, DropReason::MtuExceeded, counters_.icmp_sent);
    } else {
        drop(packet, DropReason::MtuExceeded);
    }
    return true;
}

// The next hop to `destination` when the packet fits its port's MTU; null when the packet was
// dropped (no route) or refused as too big (too_big).
const NextHop* BurstProcessor::egress(rte_mbuf* packet, PacketState& state, uint32_t destination) noexcept {
    const NextHop* next_hop = snapshot_.route(destination);
    if (unlikely(next_hop == nullptr)) {
        drop(packet, DropReason::NoRoute);
        return nullptr;
    }
    if (unlikely(too_big(packet, state, *next_hop))) return nullptr;
    return next_hop;
}

// Route `destination` and send the packet there unchanged (a translated ICMP error).
void BurstProcessor::forward(rte_mbuf* packet, PacketState& state, uint32_t destination) noexcept {
    const NextHop* next_hop = egress(packet, state, destination);
    if (next_hop != nullptr) send_to(packet, state, *next_hop, destination);
}

// Resolve the next hop and fix up the Ethernet header for the output port.
void BurstProcessor::send_to(rte_mbuf* packet, const PacketState& state, const NextHop& next_hop,
                             uint32_t destination) noexcept {
    const PortIdentity& out_port = snapshot_.ports[next_hop.port_index];
    if (unlikely(!set_egress_vlan(packet, state.parsed.vlan_id, state.parsed.l3_offset, out_port.vlan))) {
        drop(packet, DropReason::VlanInsertFailed);
        return;
    }
    auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
    ethernet->src_addr = out_port.mac;
    uint32_t neighbor = next_hop.gateway != 0 ? next_hop.gateway : destination;
    if (unlikely(!context_.neighbors->lookup(neighbor, ethernet->dst_addr))) {
        // The control thread holds the packet, resolves the neighbor with ARP and sends it.
        packet->hash.usr = neighbor;
        packet->port = out_port.port_id;
        punt(packet);
        return;
    }
    emit(packet, next_hop.port_index);
}

// A packet that would leave with TTL 0 is answered with ICMP time exceeded instead.
bool BurstProcessor::ttl_expired(rte_mbuf* packet, PacketState& state) noexcept {
    if (likely(state.parsed.ttl > 1)) return false;
    const PortIdentity& port = snapshot_.ports[state.port_index];
    if (make_icmp_error(packet, state.parsed, kIcmpTimeExceeded, 0, port.primary_address)) {
        answer(packet, state, DropReason::TtlExceeded, counters_.icmp_sent);
    } else {
        drop(packet, DropReason::TtlExceeded);
    }
    return true;
}

// Routed before the rewrite, so that a packet too big for its egress port is refused as the
// sender sent it (see the note at the top).
void BurstProcessor::translate_and_forward(rte_mbuf* packet, PacketState& state, const Ipv4Rewrite& rewrite) noexcept {
    if (ttl_expired(packet, state)) return;
    const NextHop* next_hop = egress(packet, state, rewrite.dst_addr);
    if (next_hop == nullptr) return;
    if (unlikely(state.parsed.fragment != FragmentKind::None)) {
        ownership_.decision = {FragmentAction::Translate, 0, rewrite.src_addr, rewrite.dst_addr};
    }
    rewrite_ipv4_packet(rte_pktmbuf_mtod(packet, uint8_t*), state.parsed, rewrite);
    send_to(packet, state, *next_hop, rewrite.dst_addr);
}

void BurstProcessor::refuse(rte_mbuf* packet, PacketState& state, DropReason reason) noexcept {
    const ParsedPacket& parsed = state.parsed;
    if (parsed.key.protocol == kProtoTcp) {
        // Never answer a RST with a RST.
        if ((parsed.tcp_flags & kTcpFlagRst) == 0 && make_tcp_reset(packet, parsed)) {
            answer(packet, state, reason, counters_.resets_sent);
            return;
        }
    } else if (parsed.key.protocol == kProtoSctp) {
        // ABORT, not ICMP: Linux treats port unreachable as a soft error for SCTP and keeps
        // retransmitting its INIT, while an ABORT fails the association at once, like a RST.
        if (make_sctp_abort(packet, parsed)) {
            answer(packet, state, reason, counters_.resets_sent);
            return;
        }
    } else if (parsed.key.protocol == kProtoUdp) {
        if (make_icmp_error(packet, parsed, kIcmpDestinationUnreachable, kIcmpPortUnreachable, parsed.key.dst_addr)) {
            answer(packet, state, reason, counters_.icmp_sent);
            return;
        }
    }
    drop(packet, reason);
}

bool BurstProcessor::classify(rte_mbuf* packet, PacketState& state) noexcept {
    state.port_index = port_index_of(context_, packet->port);
    const PortIdentity& port = snapshot_.ports[state.port_index];
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    bool verify_checksum = (packet->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    ParseOutcome outcome = parse_packet(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), port.vlan,
                                        verify_checksum, state.parsed);
    if (unlikely(outcome.kind == PacketKind::Invalid)) {
        drop(packet, outcome.reason);
        return false;
    }
    if (unlikely(outcome.kind == PacketKind::Ipv6)) {
        // Served after this burst's IPv4 packets (pipeline6.h).
        ipv6_packets_[ipv6_count_] = packet;
        ipv6_l3_offsets_[ipv6_count_++] = state.parsed.l3_offset;
        return false;
    }
    const auto* ethernet = reinterpret_cast<const rte_ether_hdr*>(frame);
    if (outcome.kind == PacketKind::Arp) {
        if (!rte_is_same_ether_addr(&ethernet->dst_addr, &port.mac) &&
            !rte_is_broadcast_ether_addr(&ethernet->dst_addr)) {
            drop(packet, DropReason::NotForUs);
        } else {
            punt(packet);
        }
        return false;
    }
    if (unlikely(!rte_is_same_ether_addr(&ethernet->dst_addr, &port.mac))) {
        drop(packet, DropReason::NotForUs);
        return false;
    }
    const ParsedPacket& parsed = state.parsed;
    state.needs_lookup = parsed.key.protocol != kProtoIcmp || parsed.icmp_error;
    if (unlikely(parsed.fragment != FragmentKind::None)) return classify_fragment(packet, state);
    // A packet handed off by another worker was already judged there (it continued to a service).
    if (dns_zone_ != nullptr && !from_handoff_ && is_dns_query_packet(*dns_zone_, parsed))
        return answer_dns(packet, state);
    return true;
}

// Cluster DNS (dns_path.h): answered here, before any table lookup, unless the name is outside
// the zone and goes on to the upstreams like a packet to any UDP service.
bool BurstProcessor::answer_dns(rte_mbuf* packet, PacketState& state) noexcept {
    const DnsPathResult result = handle_dns_packet(context_, snapshot_, *dns_zone_, packet, state.parsed);
    switch (result.action) {
    case DnsPathAction::SendBack:
        send_back(packet, state, nullptr);
        return false;
    case DnsPathAction::Drop:
        drop(packet, result.reason);
        return false;
    case DnsPathAction::Continue:
        break;
    }
    return true;
}

// run() in four steps over one burst: classify every packet (parse, answer or drop what is not
// for the tables), look the flows up in the connection table in one batch, look the misses up in
// the VIP table in one batch (warming what their new flows will read), then handle each packet.
void BurstProcessor::run(rte_mbuf** packets, uint16_t count) noexcept {
    Burst burst;
    classify_burst(packets, count, burst);
    if (from_handoff_) counters_.handoffs_in += count;
    look_up_connections(burst);
    if (look_up_services(burst) > 0) {
        warm_new_flows(burst.states(), burst.service_port_of, burst.hit_of, burst.kept_count);
    }
    for (uint16_t k = 0; k < burst.kept_count; ++k) {
        dispatch(burst.kept[k], burst.states()[k], burst.hit_of[k], burst.service_port_of[k]);
    }
    if (unlikely(ipv6_count_ > 0)) {
        process_ipv6_burst(context_, snapshot_, ipv6_packets_, ipv6_l3_offsets_, ipv6_count_, from_handoff_);
        ipv6_count_ = 0;
    }
}

void BurstProcessor::classify_burst(rte_mbuf** packets, uint16_t count, Burst& burst) noexcept {
    for (uint16_t i = 0; i < count && i < kPrefetchDistance; ++i) {
        rte_prefetch0(rte_pktmbuf_mtod(packets[i], void*));
    }
    for (uint16_t i = 0; i < count; ++i) {
        if (i + kPrefetchDistance < count) {
            rte_prefetch0(rte_pktmbuf_mtod(packets[i + kPrefetchDistance], void*));
        }
        rte_mbuf* packet = packets[i];
        counters_.rx_packets += from_handoff_ ? 0 : 1;
        counters_.rx_bytes += from_handoff_ ? 0 : rte_pktmbuf_pkt_len(packet);
        PacketState& state = burst.states()[burst.kept_count];
        if (!classify(packet, state)) continue;
        burst.kept[burst.kept_count++] = packet;
    }
}

void BurstProcessor::look_up_connections(Burst& burst) noexcept {
    // Keys are gathered in a second pass: the parser has just written each key field by field,
    // and copying it at once with one 16-byte load stalls on store forwarding.
    Uninitialized<FlowKey4, kBurstSize> key_storage;
    FlowKey4* keys = key_storage.items;
    for (uint16_t k = 0; k < burst.kept_count; ++k) {
        const PacketState& state = burst.states()[k];
        if (!state.needs_lookup) continue;
        keys[burst.lookup_count] = state.parsed.icmp_error ? state.parsed.inner_key.reversed() : state.parsed.key;
        burst.lookup_index[burst.lookup_count++] = k;
    }
    context_.connections->lookup_bulk(keys, burst.lookup_count, burst.results);
}

// Spreads the connection lookups over the kept packets, and looks the misses that are not ICMP
// errors up in the VIP table in one batch. Returns how many it looked up.
uint16_t BurstProcessor::look_up_services(Burst& burst) noexcept {
    const void* vip_key_pointers[kBurstSize];
    Uninitialized<VipKey, kBurstSize> vip_key_storage;
    VipKey* vip_keys = vip_key_storage.items;
    uint16_t vip_index[kBurstSize];
    uint16_t vip_count = 0;
    for (uint16_t k = 0; k < burst.kept_count; ++k) {
        burst.service_port_of[k] = -1;
        burst.hit_of[k] = {nullptr, FlowDirection::Original};
    }
    for (uint16_t l = 0; l < burst.lookup_count; ++l) {
        const uint16_t k = burst.lookup_index[l];
        const ConnLookupResult& result = burst.results[l];
        burst.hit_of[k] = result;
        if (result.connection != nullptr) {
            // handle_tracked reads the pinned endpoint (is it alive?) and bumps its counters:
            // two scattered lines per packet with many endpoints. Start both now.
            const uint32_t endpoint_slot = result.connection->endpoint_slot;
            if (snapshot_.endpoints.contains(endpoint_slot)) rte_prefetch0(&snapshot_.endpoints[endpoint_slot]);
            if (endpoint_slot < context_.endpoint_counter_slots) {
                rte_prefetch0(&context_.endpoint_counters[endpoint_slot]);
            }
        } else if (!burst.states()[k].parsed.icmp_error) {
            const FlowKey4& key = burst.states()[k].parsed.key;
            vip_keys[vip_count] = VipKey::ipv4(key.dst_addr, key.dst_port, key.protocol);
            vip_key_pointers[vip_count] = &vip_keys[vip_count];
            vip_index[vip_count++] = k;
        }
    }
    if (vip_count == 0) return 0;
    uint64_t hit_mask = 0;
    void* data[kBurstSize];
    rte_hash_lookup_bulk_data(snapshot_.lookup->vip_table, vip_key_pointers, vip_count, &hit_mask, data);
    for (uint16_t v = 0; v < vip_count; ++v) {
        if (hit_mask & (uint64_t(1) << v))
            burst.service_port_of[vip_index[v]] = snapshot_.resolve_service_port(data[v]);
    }
    return vip_count;
}

void BurstProcessor::dispatch(rte_mbuf* packet, PacketState& state, ConnLookupResult hit,
                              int32_t service_port) noexcept {
    if (unlikely(table_changed_) && state.needs_lookup) {
        // A miss may have become a hit (an earlier packet of this burst opened the flow)
        // and a hit a miss (its entry was removed or evicted).
        const bool was_hit = hit.connection != nullptr;
        hit = revalidate(state);
        if (was_hit && hit.connection == nullptr && !state.parsed.icmp_error) {
            const FlowKey4& key = state.parsed.key;
            service_port = snapshot_.find_service_port(VipKey::ipv4(key.dst_addr, key.dst_port, key.protocol));
        }
    }
    if (unlikely(state.parsed.fragment == FragmentKind::First)) {
        handle_first_fragment(packet, state, hit, service_port);
    } else if (hit.connection != nullptr) {
        if (state.parsed.icmp_error) {
            handle_icmp_error(packet, state, hit);
        } else {
            handle_tracked(packet, state, hit);
        }
    } else {
        handle_untracked(packet, state, service_port);
    }
}

// This burst changed the table after the batched lookup: the entry behind a hit may have been
// removed or evicted (and even reused; a freed entry still holds its old keys), and a miss may
// now be tracked. Look the key up again.
ConnLookupResult BurstProcessor::revalidate(const PacketState& state) noexcept {
    const FlowKey4 key = state.parsed.icmp_error ? state.parsed.inner_key.reversed() : state.parsed.key;
    return context_.connections->lookup(key);
}

void BurstProcessor::handle_tracked(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit) noexcept {
    Connection* connection = hit.connection;
    const ParsedPacket& parsed = state.parsed;
    if (unlikely(!snapshot_.endpoint_alive(connection->endpoint_slot, connection->endpoint_generation))) {
        // The pinned endpoint is gone from the current snapshot: never send to a dead address.
        bool can_reschedule =
            hit.direction == FlowDirection::Original &&
            (parsed.key.protocol == kProtoUdp ||
             (uses_tcp_state(parsed.key.protocol) && (parsed.tcp_flags & (kTcpFlagSyn | kTcpFlagAck)) == kTcpFlagSyn));
        context_.connections->remove(connection);
        table_changed_ = true;
        if (can_reschedule) {
            int32_t service_port = snapshot_.find_service_port(
                VipKey::ipv4(parsed.key.dst_addr, parsed.key.dst_port, parsed.key.protocol));
            if (service_port >= 0) {
                ++counters_.rescheduled;
                handle_new_flow(packet, state, static_cast<uint32_t>(service_port));
                return;
            }
        }
        if (hit.direction == FlowDirection::Original && uses_tcp_state(parsed.key.protocol)) {
            refuse(packet, state, DropReason::EndpointGone);
        } else {
            drop(packet, DropReason::EndpointGone);
        }
        return;
    }
    ++counters_.conntrack_hits;
    if (ttl_expired(packet, state)) return;
    const TcpState state_before = connection->tcp_state;
    context_.connections->update(connection, hit.direction, parsed.tcp_flags, context_.now_ms, snapshot_.timeouts);
    // Established traffic keeps its state: one compare of a byte already loaded.
    if (unlikely(connection->tcp_state != state_before)) note_handshake(context_, *connection, state_before);
    Ipv4Rewrite rewrite;
    if (hit.direction == FlowDirection::Original) {
        rewrite = {connection->reply.dst_addr, connection->reply.src_addr, connection->reply.dst_port,
                   connection->reply.src_port};
        count_to_endpoint(context_, connection->endpoint_slot, rte_pktmbuf_pkt_len(packet), false);
    } else {
        rewrite = {connection->original.dst_addr, connection->original.src_addr, connection->original.dst_port,
                   connection->original.src_port};
        ++counters_.forwarded_to_client;
    }
    translate_and_forward(packet, state, rewrite);
}

void BurstProcessor::handle_icmp_error(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit) noexcept {
    const Connection* connection = hit.connection;
    if (!snapshot_.endpoint_alive(connection->endpoint_slot, connection->endpoint_generation)) {
        drop(packet, DropReason::EndpointGone);
        return;
    }
    // rewrite_icmp_error decrements the TTL; no ICMP error is sent about an ICMP error (RFC 1122).
    if (unlikely(state.parsed.ttl <= 1)) {
        drop(packet, DropReason::TtlExceeded);
        return;
    }
    const FlowKey4& outer = state.parsed.key;
    uint32_t outer_source = outer.src_addr;
    uint32_t outer_destination;
    Ipv4Rewrite inner;
    if (hit.direction == FlowDirection::Reply) {
        // About a packet we sent to the endpoint: report it to the client as if about the VIP.
        if (outer_source == connection->reply.src_addr) outer_source = connection->original.dst_addr;
        outer_destination = connection->original.src_addr;
        inner = {connection->original.src_addr, connection->original.dst_addr, connection->original.src_port,
                 connection->original.dst_port};
    } else {
        // About a reply we sent to the client: report it to the endpoint about its own flow.
        if (snapshot_.nat_mode == NatMode::FullNat) outer_source = connection->reply.dst_addr;
        outer_destination = connection->reply.src_addr;
        inner = {connection->reply.src_addr, connection->reply.dst_addr, connection->reply.src_port,
                 connection->reply.dst_port};
    }
    rewrite_icmp_error(rte_pktmbuf_mtod(packet, uint8_t*), state.parsed, outer_source, outer_destination, inner);
    ++counters_.icmp_errors_translated;
    forward(packet, state, outer_destination);
}

// Client ranges are checked here and in handle_not_a_service, on packets to a VIP that no
// connection tracks: tracked flows never pay for the check, and a connection tracked before the
// ranges shrank continues until it ends (or its endpoint goes).
void BurstProcessor::handle_untracked(rte_mbuf* packet, PacketState& state, int32_t service_port) noexcept {
    const FlowKey4& key = state.parsed.key;
    if (service_port >= 0) {
        if (unlikely(!snapshot_.client_allowed(key.src_addr))) {
            drop(packet, DropReason::SourceNotAllowed);
            return;
        }
        if (owned_elsewhere(packet, connection_owner(key.src_addr, key.src_port, context_.worker_count))) return;
        handle_new_flow(packet, state, static_cast<uint32_t>(service_port));
        return;
    }
    handle_not_a_service(packet, state);
}

void BurstProcessor::handle_not_a_service(rte_mbuf* packet, PacketState& state) noexcept {
    const ParsedPacket& parsed = state.parsed;
    const FlowKey4& key = parsed.key;
    AddressKind kind = snapshot_.address_kind(key.dst_addr);
    // A ClusterIP (and a DNS address, which is one) does not exist for other sources: no echo
    // reply, no refusal. ICMP errors are exempt: they are about a flow (a router on the path
    // reports on a reply) and its owner judges them by the flow they quote.
    const bool cluster_address = kind == AddressKind::Vip || kind == AddressKind::Dns;
    if (cluster_address && !parsed.icmp_error && !snapshot_.client_allowed(key.src_addr)) {
        drop(packet, DropReason::SourceNotAllowed);
        return;
    }
    if (key.protocol == kProtoIcmp) {
        if (parsed.icmp_error) {
            // About a flow another worker may own: route it by the quoted flow's owner.
            const FlowKey4& inner = parsed.inner_key;
            AddressKind inner_source = snapshot_.address_kind(inner.src_addr);
            uint16_t owner = inner_source == AddressKind::Snat
                                 ? snapshot_.snat_ports.owner(rte_be_to_cpu_16(inner.src_port))
                             : inner_source == AddressKind::Vip || inner_source == AddressKind::Dns
                                 ? connection_owner(inner.dst_addr, inner.dst_port, context_.worker_count)
                                 : connection_owner(inner.src_addr, inner.src_port, context_.worker_count);
            if (owned_elsewhere(packet, owner)) return;
            if (kind == AddressKind::Local && to_kernel(packet, state)) return;
            drop(packet, DropReason::IcmpUnsupported);
        } else if (parsed.icmp_type == kIcmpEchoRequest && kind != AddressKind::None) {
            if (make_icmp_echo_reply(packet, parsed)) {
                send_back(packet, state, &counters_.icmp_sent);
            } else {
                drop(packet, DropReason::IcmpUnsupported);
            }
        } else if (kind != AddressKind::Local || !to_kernel(packet, state)) {
            drop(packet, kind == AddressKind::None ? DropReason::NoService : DropReason::IcmpUnsupported);
        }
        return;
    }
    switch (kind) {
    case AddressKind::Vip:
    case AddressKind::Dns:
        refuse(packet, state, DropReason::VipPortRefused);
        return;
    case AddressKind::Snat: {
        const uint16_t port = rte_be_to_cpu_16(key.dst_port);
        if (snapshot_.snat_ports.contains(port) && owned_elsewhere(packet, snapshot_.snat_ports.owner(port))) {
            return;
        }
        drop(packet, DropReason::NoService);
        return;
    }
    case AddressKind::None:
        if (snapshot_.nat_mode == NatMode::DnatOnly) {
            // DNAT-only replies are addressed to the client; their owner is the client's worker.
            if (owned_elsewhere(packet, connection_owner(key.dst_addr, key.dst_port, context_.worker_count))) return;
            // No entry (the flow was forwarded statelessly when the table was full): an endpoint
            // that serves one service port answers as that port's VIP.
            const int32_t service_port =
                snapshot_.service_port_of_endpoint(EndpointKey{key.src_addr, key.src_port, key.protocol, 0});
            if (service_port >= 0) {
                const ServicePort& port = snapshot_.service_ports[static_cast<uint32_t>(service_port)];
                ++counters_.stateless_replies;
                ++counters_.forwarded_to_client;
                translate_and_forward(packet, state, Ipv4Rewrite{port.vip, key.dst_addr, port.port, key.dst_port});
                return;
            }
        }
        drop(packet, DropReason::NoService);
        return;
    case AddressKind::Local:
        if (to_kernel(packet, state)) return;
        refuse(packet, state, DropReason::NoService);
        return;
    }
}

// The reply tuple of a new flow of `key` to the endpoint: from the endpoint back to the client
// (DNAT-only), or to the flow's SNAT address (full-NAT; the port is allocate_snat_port's).
FlowKey4 BurstProcessor::new_flow_reply_key(const FlowKey4& key, uint32_t endpoint_address, uint16_t endpoint_port,
                                            uint32_t flow_hash) const noexcept {
    FlowKey4 reply;
    reply.src_addr = endpoint_address;
    reply.src_port = endpoint_port;
    reply.protocol = key.protocol;
    if (snapshot_.nat_mode == NatMode::FullNat) {
        reply.dst_addr = snapshot_.snat_addresses[flow_hash % snapshot_.snat_addresses.size()];
    } else {
        reply.dst_addr = key.src_addr;
        reply.dst_port = key.src_port;
    }
    return reply;
}

// The first packet of a connection reads three things that are cache misses in a large
// configuration, each depending on the one before: the service's Maglev slot, the endpoint it
// names, and the index bucket of the reply tuple (SNAT port check, then insert). Fetched one
// packet at a time they serialise; here they are fetched for the whole burst first, each stage
// a loop of independent loads, so the misses overlap. Only caches are affected:
// handle_new_flow still decides everything (a predicted SNAT port that turns out wrong costs a
// wasted lookup, nothing else).
void BurstProcessor::warm_new_flows(const PacketState* states, const int32_t* service_port_of,
                                    const ConnLookupResult* hit_of, uint16_t count) noexcept {
    uint16_t index[kBurstSize];
    uint32_t flow_hash[kBurstSize];
    uint32_t slot[kBurstSize];
    uint16_t n = 0;
    const bool may_hand_off = !from_handoff_ && context_.worker_count > 1;
    for (uint16_t k = 0; k < count; ++k) {
        if (hit_of[k].connection != nullptr || service_port_of[k] < 0) continue;
        const FlowKey4& key = states[k].parsed.key;
        // A flow another worker owns is handed off to it (handle_untracked); the owner warms it.
        if (may_hand_off &&
            connection_owner(key.src_addr, key.src_port, context_.worker_count) != context_.worker_index) {
            continue;
        }
        const ServicePort& service_port = snapshot_.service_ports[service_port_of[k]];
        const MaglevTable& maglev = *service_port.maglev;
        if (maglev.empty()) continue;
        flow_hash[n] = hash_flow_key(key, snapshot_.hash_seed);
        if (service_port.affinity_timeout_ms == 0) {
            slot[n] = maglev.lookup(flow_hash[n]);
        } else {
            // choose_with_affinity reads the client's affinity entry, which usually names the
            // client's hashed endpoint.
            context_.affinity->prefetch(key.src_addr, static_cast<uint32_t>(service_port_of[k]));
            slot[n] = maglev.lookup(affinity_hash(key.src_addr, snapshot_.hash_seed));
        }
        index[n++] = k;
    }
    if (n == 0) return;
    uint32_t endpoint_address[kBurstSize];
    uint16_t endpoint_port[kBurstSize];
    for (uint16_t j = 0; j < n; ++j) {
        const EndpointSlot& endpoint = snapshot_.endpoints[slot[j]];
        endpoint_address[j] = endpoint.address;
        endpoint_port[j] = endpoint.port;
    }
    Uninitialized<FlowKey4, kBurstSize> reply_storage;
    FlowKey4* reply_keys = reply_storage.items;
    const bool full_nat = snapshot_.nat_mode == NatMode::FullNat;
    for (uint16_t j = 0; j < n; ++j) {
        FlowKey4& reply = reply_keys[j];
        reply = new_flow_reply_key(states[index[j]].parsed.key, endpoint_address[j], endpoint_port[j], flow_hash[j]);
        if (full_nat) {
            // The port allocate_snat_port will try first (the counter moves once per new flow).
            reply.dst_port = rte_cpu_to_be_16(
                snapshot_.snat_ports.candidate(context_.worker_index, flow_hash[j], context_.snat_cursor + j, 0));
        }
    }
    ConnLookupResult ignored[kBurstSize];
    context_.connections->lookup_bulk(reply_keys, n, ignored);
}

// sessionAffinity: ClientIP (see affinity_table.h). The endpoint this worker remembers for the
// client while the affinity is fresh and the endpoint may take new connections; otherwise the
// client's own Maglev choice (the same on every worker), remembered from now on. Existing
// connections never consult this: conntrack pins them.
uint32_t BurstProcessor::choose_with_affinity(uint32_t client, uint32_t service_port_index,
                                              const ServicePort& service_port) noexcept {
    const uint32_t hashed_slot = service_port.maglev->lookup(affinity_hash(client, snapshot_.hash_seed));
    const uint32_t now = context_.now_ms;
    AffinityEntry* remembered = context_.affinity->find(client, service_port_index, now);
    if (remembered != nullptr && remembered_endpoint_usable(snapshot_, *remembered, service_port_index, hashed_slot)) {
        AffinityTable::refresh(*remembered, now, service_port.affinity_timeout_ms);
        ++counters_.affinity_hits;
        return remembered->endpoint_slot;
    }
    if (!context_.affinity->insert(client, service_port_index, hashed_slot, snapshot_.endpoints[hashed_slot].generation,
                                   now, service_port.affinity_timeout_ms)) {
        ++counters_.affinity_table_full;
    }
    return hashed_slot;
}

void BurstProcessor::handle_new_flow(rte_mbuf* packet, PacketState& state, uint32_t service_port_index) noexcept {
    const ParsedPacket& parsed = state.parsed;
    const FlowKey4& key = parsed.key;
    const ServicePort& service_port = snapshot_.service_ports[service_port_index];
    if (uses_tcp_state(key.protocol) && (parsed.tcp_flags & kTcpFlagRst)) {
        drop(packet, DropReason::NotSyn);
        return;
    }
    if (service_port.maglev->empty()) {
        if (service_port_index < context_.service_port_slots) ++context_.service_port_refusals[service_port_index];
        refuse(packet, state, DropReason::NoEndpoint);
        return;
    }
    TcpState initial_state = TcpState::None;
    if (uses_tcp_state(key.protocol)) {
        // SCTP: an INIT reads as a SYN, an ABORT or SHUTDOWN COMPLETE as a RST (sctp.h).
        const bool syn = (parsed.tcp_flags & (kTcpFlagSyn | kTcpFlagAck)) == kTcpFlagSyn;
        if (!syn && snapshot_.nat_mode == NatMode::FullNat) {
            // Mid-stream under full-NAT (e.g. after a restart): a new SNAT port would be a
            // connection (association) the endpoint never saw. Reset (ABORT) it now rather than
            // let the client hang.
            refuse(packet, state, DropReason::NotSyn);
            return;
        }
        // DNAT-only picks a flow up mid-stream: the consistent hash gives the endpoint it had
        // before. It starts half-open (evictable, short timeout) so a flood of stray segments
        // cannot pin entries; the client's next segment makes it established.
        initial_state = syn                                ? TcpState::SynSent
                        : (parsed.tcp_flags & kTcpFlagFin) ? TcpState::Closing
                                                           : TcpState::SynReceived;
    }
    if (ttl_expired(packet, state)) return;
    const uint32_t flow_hash = hash_flow_key(key, snapshot_.hash_seed);
    const uint32_t slot = service_port.affinity_timeout_ms == 0
                              ? service_port.maglev->lookup(flow_hash)
                              : choose_with_affinity(key.src_addr, service_port_index, service_port);
    const EndpointSlot& endpoint = snapshot_.endpoints[slot];

    FlowKey4 reply_key = new_flow_reply_key(key, endpoint.address, endpoint.port, flow_hash);
    if (snapshot_.nat_mode == NatMode::FullNat &&
        !allocate_snat_port(context_, snapshot_, *context_.connections, reply_key, flow_hash)) {
        drop(packet, DropReason::SnatPortsExhausted);
        return;
    }

    InsertResult inserted =
        context_.connections->insert(key, reply_key, initial_state, context_.now_ms, snapshot_.timeouts);
    if (inserted.status == InsertStatus::Exists) {
        if (inserted.connection->original == key) {
            // An earlier packet of the same burst created the flow after the batched lookup.
            handle_tracked(packet, state, {inserted.connection, FlowDirection::Original});
        } else {
            // Another connection already uses this reply tuple (DNAT-only: the same client port
            // reaching the same endpoint through two VIPs); its replies would be ambiguous.
            drop(packet, DropReason::ReplyTupleInUse);
        }
        return;
    }
    table_changed_ = true;
    if (inserted.connection == nullptr) {
        if (snapshot_.nat_mode == NatMode::FullNat) {
            // Without an entry the reply to the SNAT port could not be translated back.
            drop(packet, inserted.status == InsertStatus::HalfOpenProtected ? DropReason::HalfOpenProtected
                                                                            : DropReason::ConntrackFull);
            return;
        }
        ++counters_.stateless_forwards;
    } else {
        pin_new_connection(context_, *inserted.connection, inserted.status, slot, endpoint.generation);
    }
    count_to_endpoint(context_, slot, rte_pktmbuf_pkt_len(packet), true);
    Ipv4Rewrite rewrite{reply_key.dst_addr, reply_key.src_addr, reply_key.dst_port, reply_key.src_port};
    translate_and_forward(packet, state, rewrite);
}

// ---------------------------------------------------------------------------------------------
// IPv4 fragments (see the note at the top and fragment_table.h)

// Every fragment goes to its home first (fragment_path.h): the first goes on to the normal path
// (true), a later one follows the first's decision or waits for it.
bool BurstProcessor::classify_fragment(rte_mbuf* packet, PacketState& state) noexcept {
    state.fragment_entry =
        admit_fragment(context_, snapshot_, packet, state.parsed, from_handoff_, state.fragment_owner_known,
                       [&](const FragmentEntry& entry) { send_later_fragment(packet, state, entry); });
    return state.fragment_entry != nullptr;
}

// The first fragment takes the normal path, deciding for its owner unless its home already did;
// then the fragments that waited for it follow.
void BurstProcessor::handle_first_fragment(rte_mbuf* packet, PacketState& state, const ConnLookupResult& hit,
                                           int32_t service_port) noexcept {
    FragmentEntry& entry = *state.fragment_entry;
    ownership_.take_first_fragment(
        context_, context_.fragments, entry, state.fragment_owner_known,
        [&] {
            if (hit.connection != nullptr) {
                handle_tracked(packet, state, hit);
            } else {
                handle_untracked(packet, state, service_port);
            }
        },
        [&](rte_mbuf* held) {
            PacketState held_state;
            held_state.port_index = port_index_of(context_, held->port);
            parse_packet(rte_pktmbuf_mtod(held, const uint8_t*), rte_pktmbuf_data_len(held), rte_pktmbuf_pkt_len(held),
                         snapshot_.ports[held_state.port_index].vlan, false, held_state.parsed);
            send_later_fragment(held, held_state, entry);
        });
}

void BurstProcessor::send_later_fragment(rte_mbuf* packet, PacketState& state, const FragmentEntry& entry) noexcept {
    vipgate::send_later_fragment(context_, snapshot_, packet, state.port_index, entry,
                                 [&] { forward_fragment(packet, state, entry); });
}

// The first fragment's route and addresses; the ports, in the first fragment only, are not here.
void BurstProcessor::forward_fragment(rte_mbuf* packet, PacketState& state, const FragmentEntry& entry) noexcept {
    if (ttl_expired(packet, state)) return;
    const NextHop* next_hop = egress(packet, state, entry.new_dst_addr);
    if (next_hop == nullptr) return;
    rewrite_fragment_addresses(rte_pktmbuf_mtod(packet, uint8_t*), state.parsed, entry.new_src_addr,
                               entry.new_dst_addr);
    ++counters_.fragments_forwarded;
    send_to(packet, state, *next_hop, entry.new_dst_addr);
}

}  // namespace

void process_burst(WorkerContext& context, const Snapshot& snapshot, rte_mbuf** packets, uint16_t count,
                   bool from_handoff) noexcept {
    BurstProcessor processor(context, snapshot, from_handoff);
    while (count > 0) {
        uint16_t chunk = count < kBurstSize ? count : kBurstSize;
        processor.run(packets, chunk);
        packets += chunk;
        count -= chunk;
    }
}

}  // namespace vipgate
