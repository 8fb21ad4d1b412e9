// libFuzzer target: arbitrary frames through process_burst on the realistic snapshot of
// pipeline_topology.h, with every packet's fate and the counters checked after every burst.
//
// Input: byte 0 picks the NAT mode (bit 0: 0 full-NAT, 1 DNAT-only). Then records, each a
// control byte, a 2-byte big-endian length and that many frame bytes (fewer at the end):
//   bit 0     arriving port: 0 clients, 1 endpoints
//   bit 1     receiving worker (0 or 1)
//   bit 2     the burst ends after this frame (a burst also ends at 32 frames or another worker)
//   bit 3     two segments: the first holds half the frame (frames over one buffer always split)
//   bit 4     a reload happened before this burst: the mode's `reloaded` snapshot from now on
//   bits 5-7  clock advance before this burst: 0, 1 ms, 100 ms, 1 s, 10 s, 60 s, 600 s, 3600 s
// A burst's first frame decides its clock advance and reload; a burst runs (then its hand-offs on
// their owner) before the next one's mbufs are allocated. Each input starts from empty
// connection and affinity tables of both families (so a crash reproduces from its input alone).
//
// After each process_burst, as the worker's poll loop would see it:
//   fates     every packet, and every IPv4 fragment that waited in the worker's fragment table
//             (W before the burst, W' after), is in exactly one of: this worker's TX buffers (T),
//             its hand-off arrays (H), the punt ring (P), the fragment table, freed
//             (F = n + W - W' - T - H - P >= 0); no mbuf is held twice, every held one passes
//             rte_mbuf_check, and the mempool's in-use count equals the segments of the mbufs
//             held here and in every worker's fragment table (nothing leaked, nothing freed twice);
//   counters  rx_packets (handoffs_in for handed-off bursts) = n, handoffs_out = H, punted = P,
//             and, since refuse() and ttl_expired() count a drop for a packet they answer while
//             an echo reply counts none: drops = F + resets_sent + icmp_sent - echo replies in T;
//             DNS answers sent back (D: counted by rcode, or as TCP control segments) are neither
//             drops nor answers: answers + D <= T (no DNS answer exceeds the 1500-byte MTU: UDP
//             ones are at most 1232 bytes, TCP ones one 1460-byte segment); every other
//             transmitted packet was counted forwarded (forwarded_to_endpoint +
//             forwarded_to_client + icmp_errors_translated + fragments_forwarded
//             >= T - answers - D; more when a counted
//             packet then expired its TTL, had no route or waited for ARP); DNS answers by rcode
//             <= DNS queries (UDP and complete TCP ones), truncated >= slipped;
//   frames    every transmitted or punted IPv4 packet carries a correct header checksum.
// Hand-offs are then run on their owner (from_handoff), which hands nothing off again but IPv4
// fragments (their home passes them to the connection's owner), and those run there in turn,
// which hands nothing off. Each input ends by expiring every fragment still waiting (both families).
// A burst never exceeds 32 frames, so TX buffers (64) and hand-off arrays (32) cannot fill:
// their overflow drops are not reached here.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/dns_rate_limiter.h"
#include "dataplane/icmp6_responses.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/pipeline.h"
#include "dataplane/worker_context.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_eal.h"
#include "tests/fuzz/pipeline_topology.h"

namespace vipgate::fuzz {
namespace {

constexpr uint32_t kConntrackCapacity = 64;  // small, so one input can fill it and evict
constexpr uint32_t kAffinityCapacity = 64;
constexpr uint32_t kTableSeed = 0x600d5eed;
constexpr uint32_t kEndpointCounterSlots = 64;
constexpr uint32_t kServicePortSlots = 64;
constexpr uint32_t kExpireBudget = 64;
constexpr uint32_t kPoolSize = 1023;
constexpr uint32_t kPuntRingSize = 256;
constexpr uint32_t kStartTimeMs = 1'000'000;
constexpr uint32_t kClockSteps[8] = {0, 1, 100, 1'000, 10'000, 60'000, 600'000, 3'600'000};
constexpr uint8_t kIcmpEchoReply = 0;
constexpr SipHashKey kDnsTcpKey{0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL};  // make_seeds.py computes ISNs with it

struct Worker {
    WorkerContext context;
    ConnTable* connections = nullptr;
    ConnTable6* connections6 = nullptr;
    AffinityTable* affinity = nullptr;
    AffinityTable6* affinity6 = nullptr;
    std::vector<EndpointCounters> endpoint_counters = std::vector<EndpointCounters>(kEndpointCounterSlots);
    std::vector<EndpointHandshakes> endpoint_handshakes = std::vector<EndpointHandshakes>(kEndpointCounterSlots);
    std::vector<uint64_t> refusals = std::vector<uint64_t>(kServicePortSlots);
    DnsRateLimiter* dns_rate_limiter = nullptr;
};

struct Harness {
    std::unique_ptr<Topology> topology;
    rte_mempool* pool = nullptr;
    rte_ring* punt_ring = nullptr;
    std::unique_ptr<Worker> workers[kWorkers];
};

Harness* harness = nullptr;

void reset_worker(Worker& worker, uint16_t index) {
    ConnTable::destroy(worker.connections);
    ConnTable6::destroy(worker.connections6);
    AffinityTable::destroy(worker.affinity);
    AffinityTable6::destroy(worker.affinity6);
    worker.connections = ConnTable::create(kConntrackCapacity, kTableSeed, SOCKET_ID_ANY);
    worker.connections6 = ConnTable6::create(kConntrackCapacity, kTableSeed, SOCKET_ID_ANY);
    worker.affinity = AffinityTable::create(kAffinityCapacity, kTableSeed, SOCKET_ID_ANY);
    worker.affinity6 = AffinityTable6::create(kAffinityCapacity, kTableSeed, SOCKET_ID_ANY);
    DnsRateLimiter::destroy(worker.dns_rate_limiter);
    worker.dns_rate_limiter = DnsRateLimiter::create(SOCKET_ID_ANY);
    if (worker.connections == nullptr || worker.connections6 == nullptr || worker.affinity == nullptr ||
        worker.affinity6 == nullptr || worker.dns_rate_limiter == nullptr) {
        fail("cannot create the worker's tables");
    }
    std::fill(worker.endpoint_counters.begin(), worker.endpoint_counters.end(), EndpointCounters{});
    std::fill(worker.endpoint_handshakes.begin(), worker.endpoint_handshakes.end(), EndpointHandshakes{});
    std::fill(worker.refusals.begin(), worker.refusals.end(), 0);
    WorkerContext& context = worker.context;
    context = WorkerContext{};
    context.worker_index = index;
    context.worker_count = kWorkers;
    context.port_count = kPorts;
    for (uint16_t port = 0; port < kPorts; ++port) {
        context.port_ids[port] = port;
        context.tx_queue[port] = index;
    }
    context.now_ms = kStartTimeMs;
    context.now_us = kStartTimeMs * 1000;
    context.connections = worker.connections;
    context.connections6 = worker.connections6;
    context.affinity = worker.affinity;
    context.affinity6 = worker.affinity6;
    context.neighbors = &harness->topology->neighbors;
    context.punt_ring = harness->punt_ring;
    context.endpoint_counters = worker.endpoint_counters.data();
    context.endpoint_handshakes = worker.endpoint_handshakes.data();
    context.endpoint_counter_slots = kEndpointCounterSlots;
    context.service_port_refusals = worker.refusals.data();
    context.service_port_slots = kServicePortSlots;
    context.dns_rate_limiter = worker.dns_rate_limiter;
    context.dns_tcp_key = kDnsTcpKey;
    worker.connections->set_unanswered_counters(context.endpoint_counters, kEndpointCounterSlots);
    worker.connections6->set_unanswered_counters(context.endpoint_counters, kEndpointCounterSlots);
}

uint32_t segments(const std::vector<rte_mbuf*>& packets) {
    uint32_t total = 0;
    for (const rte_mbuf* packet : packets) total += packet->nb_segs;
    return total;
}

// The IPv4 header behind the Ethernet (and VLAN) header, when the first segment holds it.
const rte_ipv4_hdr* ipv4_header(const rte_mbuf* packet) {
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    const uint32_t length = rte_pktmbuf_data_len(packet);
    if (length < sizeof(rte_ether_hdr)) return nullptr;
    uint32_t offset = sizeof(rte_ether_hdr);
    uint16_t ether_type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
    if (ether_type == RTE_ETHER_TYPE_VLAN) {
        if (length < offset + sizeof(rte_vlan_hdr)) return nullptr;
        ether_type = static_cast<uint16_t>(frame[16] << 8 | frame[17]);
        offset += sizeof(rte_vlan_hdr);
    }
    if (ether_type != RTE_ETHER_TYPE_IPV4 || length < offset + sizeof(rte_ipv4_hdr)) return nullptr;
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + offset);
    if (length < offset + rte_ipv4_hdr_len(ip)) return nullptr;
    return ip;
}

bool header_checksum_ok(const rte_ipv4_hdr* ip) {
    return rte_raw_cksum(ip, rte_ipv4_hdr_len(ip)) == 0xffff;
}

// The parser's reading of an IPv6 packet (behind one optional VLAN tag); false for anything else.
bool parse_ipv6_packet(const rte_mbuf* packet, ParsedIpv6& parsed) {
    const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
    const uint32_t length = rte_pktmbuf_data_len(packet);
    if (length < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)) return false;
    const bool tagged = (frame[12] << 8 | frame[13]) == RTE_ETHER_TYPE_VLAN;
    const uint16_t l3 = tagged ? sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr) : sizeof(rte_ether_hdr);
    return parse_ipv6(frame, length, rte_pktmbuf_pkt_len(packet), l3, parsed).kind == PacketKind::Ipv6;
}

// An ICMP echo reply, or an ICMPv6 one (built in place from the request, extension headers kept).
bool is_echo_reply(const rte_mbuf* packet) {
    const rte_ipv4_hdr* ip = ipv4_header(packet);
    if (ip != nullptr) {
        if (ip->next_proto_id != IPPROTO_ICMP) return false;
        const auto* icmp = reinterpret_cast<const uint8_t*>(ip) + rte_ipv4_hdr_len(ip);
        return icmp < rte_pktmbuf_mtod(packet, const uint8_t*) + rte_pktmbuf_data_len(packet) &&
               *icmp == kIcmpEchoReply;
    }
    ParsedIpv6 parsed;
    return parse_ipv6_packet(packet, parsed) && parsed.key.protocol == kProtoIcmpv6 &&
           parsed.fragment == FragmentKind::None && parsed.icmp_type == kIcmp6EchoReply;
}

struct Outputs {
    std::vector<rte_mbuf*> transmitted;
    std::vector<rte_mbuf*> handed_off[kWorkers];
    std::vector<rte_mbuf*> punted;
};

// Takes what one process_burst left in `worker`'s buffers and in the punt ring.
Outputs collect(Worker& worker) {
    Outputs outputs;
    WorkerContext& context = worker.context;
    for (uint16_t port = 0; port < kPorts; ++port) {
        TxBuffer& buffer = context.tx[port];
        outputs.transmitted.insert(outputs.transmitted.end(), buffer.packets, buffer.packets + buffer.count);
        buffer.count = 0;
    }
    for (uint16_t owner = 0; owner < kMaxWorkers; ++owner) {
        const uint16_t count = context.handoff_count[owner];
        if (count != 0 && (owner >= kWorkers || owner == context.worker_index))
            fail("hand-off to a worker that does not exist or to itself");
        if (count != 0)
            outputs.handed_off[owner].assign(context.handoff[owner].begin(), context.handoff[owner].begin() + count);
        context.handoff_count[owner] = 0;
    }
    void* packet = nullptr;
    while (rte_ring_sc_dequeue(harness->punt_ring, &packet) == 0)
        outputs.punted.push_back(static_cast<rte_mbuf*>(packet));
    return outputs;
}

// Answers the DNS path sent back (dns_path.cpp counts each by its rcode, or as a TCP control
// segment; its RSTs count as resets_sent and a drop, like refuse()'s).
uint64_t dns_sent(const WorkerCounters& counters) {
    return counters.dns_noerror + counters.dns_nodata + counters.dns_nxdomain + counters.dns_refused +
           counters.dns_formerr + counters.dns_notimp + counters.dns_badvers + counters.dns_tcp_control_sent;
}

uint64_t dns_answered(const WorkerCounters& counters) {
    return dns_sent(counters) - counters.dns_tcp_control_sent;
}

// The fragments waiting in the worker's fragment tables (IPv4 and IPv6).
std::vector<rte_mbuf*> waiting_fragments(const Worker& worker) {
    std::vector<rte_mbuf*> waiting;
    worker.context.fragments.for_each_held([&](rte_mbuf* packet) { waiting.push_back(packet); });
    worker.context.fragments6.for_each_held([&](rte_mbuf* packet) { waiting.push_back(packet); });
    return waiting;
}

uint32_t waiting_segments() {
    uint32_t total = 0;
    for (const auto& worker : harness->workers) total += segments(waiting_fragments(*worker));
    return total;
}

// An IPv4 fragment, or an IPv6 one (the parser's reading: a fragment header that is not atomic).
bool is_fragment(const rte_mbuf* packet) {
    const rte_ipv4_hdr* ip = ipv4_header(packet);
    if (ip != nullptr) {
        return (rte_be_to_cpu_16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
    }
    ParsedIpv6 parsed;
    return parse_ipv6_packet(packet, parsed) && parsed.fragment != FragmentKind::None;
}

uint64_t sum_drops(const WorkerCounters& counters) {
    uint64_t total = 0;
    for (uint64_t drops : counters.drops) total += drops;
    return total;
}

// One process_burst on `worker` and every invariant of the header comment.
// Returns the hand-offs (still in use: the caller runs them on their owner).
std::vector<rte_mbuf*> run_burst(Worker& worker, const Snapshot& snapshot, std::vector<rte_mbuf*> packets,
                                 bool from_handoff) {
    const WorkerCounters before = worker.context.counters;
    uint64_t bytes = 0;
    for (const rte_mbuf* packet : packets) bytes += rte_pktmbuf_pkt_len(packet);
    const uint64_t count = packets.size();
    const std::vector<rte_mbuf*> waiting_before = waiting_fragments(worker);
    process_burst(worker.context, snapshot, packets.data(), static_cast<uint16_t>(count), from_handoff);
    Outputs outputs = collect(worker);

    std::vector<rte_mbuf*> held = outputs.transmitted;
    held.insert(held.end(), outputs.punted.begin(), outputs.punted.end());
    std::vector<rte_mbuf*> handed_off;
    for (const auto& for_owner : outputs.handed_off)
        handed_off.insert(handed_off.end(), for_owner.begin(), for_owner.end());
    held.insert(held.end(), handed_off.begin(), handed_off.end());
    const std::vector<rte_mbuf*> waiting_after = waiting_fragments(worker);
    std::vector<rte_mbuf*> sorted = held;
    sorted.insert(sorted.end(), waiting_after.begin(), waiting_after.end());
    std::sort(sorted.begin(), sorted.end());
    FUZZ_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());  // none held twice
    for (rte_mbuf* packet : held) {
        const char* reason = nullptr;
        if (rte_mbuf_check(packet, 1, &reason) != 0) {
            fail("an output mbuf is inconsistent", reason);
        }
    }
    FUZZ_CHECK(rte_mempool_in_use_count(harness->pool) == segments(held) + waiting_segments());

    const uint64_t transmitted = outputs.transmitted.size();
    const uint64_t punted = outputs.punted.size();
    const uint64_t arrived = count + waiting_before.size();
    FUZZ_CHECK(transmitted + handed_off.size() + punted + waiting_after.size() <= arrived);
    const uint64_t freed = arrived - transmitted - handed_off.size() - punted - waiting_after.size();
    const WorkerCounters& after = worker.context.counters;
    FUZZ_CHECK(after.rx_packets - before.rx_packets == (from_handoff ? 0 : count));
    FUZZ_CHECK(after.rx_bytes - before.rx_bytes == (from_handoff ? 0 : bytes));
    FUZZ_CHECK(after.handoffs_in - before.handoffs_in == (from_handoff ? count : 0));
    FUZZ_CHECK(after.handoffs_out - before.handoffs_out == handed_off.size());
    for (const rte_mbuf* packet : handed_off) FUZZ_CHECK(!from_handoff || is_fragment(packet));
    FUZZ_CHECK(after.punted - before.punted == punted);
    uint64_t echo_replies = 0;
    for (const rte_mbuf* packet : outputs.transmitted) echo_replies += is_echo_reply(packet) ? 1 : 0;
    const uint64_t answers = (after.resets_sent - before.resets_sent) + (after.icmp_sent - before.icmp_sent);
    const uint64_t dns_answers = dns_sent(after) - dns_sent(before);
    FUZZ_CHECK(answers + dns_answers <= transmitted);
    FUZZ_CHECK(sum_drops(after) - sum_drops(before) + echo_replies == freed + answers);
    const uint64_t counted_forwarded = (after.forwarded_to_endpoint - before.forwarded_to_endpoint) +
                                       (after.forwarded_to_client - before.forwarded_to_client) +
                                       (after.icmp_errors_translated - before.icmp_errors_translated) +
                                       (after.fragments_forwarded - before.fragments_forwarded);
    FUZZ_CHECK(counted_forwarded + dns_answers >= transmitted - answers);
    FUZZ_CHECK(dns_answered(after) - dns_answered(before) <=
               (after.dns_queries_udp - before.dns_queries_udp) + (after.dns_queries_tcp - before.dns_queries_tcp));
    FUZZ_CHECK(after.dns_truncated - before.dns_truncated >= after.dns_slipped - before.dns_slipped);
    for (const auto* list : {&outputs.transmitted, &outputs.punted}) {
        for (const rte_mbuf* packet : *list) {
            const rte_ipv4_hdr* ip = ipv4_header(packet);
            FUZZ_CHECK(ip == nullptr || header_checksum_ok(ip));
        }
    }
    for (rte_mbuf* packet : outputs.transmitted) rte_pktmbuf_free(packet);
    for (rte_mbuf* packet : outputs.punted) rte_pktmbuf_free(packet);
    return handed_off;
}

rte_mbuf* make_mbuf(const uint8_t* frame, uint16_t length, uint16_t port, bool split) {
    const uint16_t room = static_cast<uint16_t>(RTE_MBUF_DEFAULT_DATAROOM);
    uint16_t first = split ? static_cast<uint16_t>(length / 2) : length;
    if (first > room) first = room;
    rte_mbuf* head = rte_pktmbuf_alloc(harness->pool);
    if (head == nullptr) fail("fuzz mempool exhausted (an earlier input leaked)");
    std::memcpy(rte_pktmbuf_append(head, first), frame, first);
    if (first < length) {
        rte_mbuf* tail = rte_pktmbuf_alloc(harness->pool);
        if (tail == nullptr) fail("fuzz mempool exhausted (an earlier input leaked)");
        std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(length - first)), frame + first, length - first);
        if (rte_pktmbuf_chain(head, tail) != 0) fail("cannot chain two segments");
    }
    head->port = port;
    return head;
}

struct Burst {
    uint16_t worker = 0;
    uint8_t clock_step = 0;
    bool reload = false;
    std::vector<rte_mbuf*> packets;
};

void advance_clock(uint32_t step_ms) {
    for (auto& worker : harness->workers) {
        WorkerContext& context = worker->context;
        context.now_ms += step_ms;
        context.now_us += step_ms * 1000;
        if (step_ms == 0) continue;
        context.counters.conntrack_expired += context.connections->expire(context.now_ms, kExpireBudget);
        context.affinity->expire(context.now_ms, kExpireBudget);
        context.fragments.expire(context.now_ms, kExpireBudget, context.counters);
        context.fragments6.expire(context.now_ms, kExpireBudget, context.counters);
    }
}

}  // namespace
}  // namespace vipgate::fuzz

using namespace vipgate;
using namespace vipgate::fuzz;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** argv) {
    init_eal((*argv)[0]);
    harness = new Harness;
    harness->topology = build_topology();
    harness->pool =
        rte_pktmbuf_pool_create("fuzz_pipeline_pool", kPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    harness->punt_ring = rte_ring_create("fuzz_punt", kPuntRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (harness->pool == nullptr || harness->punt_ring == nullptr) fail("cannot create the mempool or the punt ring");
    for (auto& worker : harness->workers) worker = std::make_unique<Worker>();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    for (uint16_t index = 0; index < kWorkers; ++index) reset_worker(*harness->workers[index], index);
    const ModeSnapshots& mode = (data[0] & 1) == 0 ? harness->topology->full_nat : harness->topology->dnat_only;
    const Snapshot* snapshot = mode.initial.get();

    Burst burst;
    auto run = [&] {
        if (burst.packets.empty()) return;
        advance_clock(kClockSteps[burst.clock_step]);
        if (burst.reload) snapshot = mode.reloaded.get();
        std::vector<rte_mbuf*> handed_off =
            run_burst(*harness->workers[burst.worker], *snapshot, std::move(burst.packets), false);
        // To the other worker: a fragment's home, then perhaps back to its connection's owner.
        uint16_t at = burst.worker;
        for (int level = 0; !handed_off.empty(); ++level) {
            FUZZ_CHECK(level < 2);
            at = static_cast<uint16_t>(1 - at);
            handed_off = run_burst(*harness->workers[at], *snapshot, std::move(handed_off), true);
        }
        burst.packets.clear();
    };
    bool burst_open = false;
    size_t offset = 1;
    while (offset + 3 <= size) {
        const uint8_t control = data[offset];
        size_t length = size_t{data[offset + 1]} << 8 | data[offset + 2];
        offset += 3;
        length = std::min({length, size - offset, size_t{2} * RTE_MBUF_DEFAULT_DATAROOM});
        const uint16_t worker = (control >> 1) & 1;
        if (!burst_open || burst.worker != worker || burst.packets.size() == kBurstSize) {
            run();
            burst.worker = worker;
            burst.clock_step = static_cast<uint8_t>(control >> 5);
            burst.reload = (control & 0x10) != 0;
        }
        burst.packets.push_back(
            make_mbuf(data + offset, static_cast<uint16_t>(length), control & 1, (control & 0x08) != 0));
        burst_open = (control & 0x04) == 0;
        offset += length;
    }
    run();
    for (auto& worker : harness->workers) {
        WorkerContext& context = worker->context;
        context.fragments.expire(context.now_ms + FragmentTable::kTimeoutMs, FragmentTable::kCapacity,
                                 context.counters);
        context.fragments6.expire(context.now_ms + FragmentTable6::kTimeoutMs, FragmentTable6::kCapacity,
                                  context.counters);
        FUZZ_CHECK(context.fragments.size() == 0);
        FUZZ_CHECK(context.fragments6.size() == 0);
    }
    FUZZ_CHECK(rte_mempool_in_use_count(harness->pool) == 0);
    return 0;
}
