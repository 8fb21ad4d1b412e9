// Per-worker counters. Each worker owns one WorkerCounters and writes it with plain stores;
// the control thread reads and sums them. A torn read of a 64-bit counter cannot happen on
// x86-64 and a slightly stale sum is fine for statistics, so no atomics are needed.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vipgate {

// Why a packet was dropped (or consumed without forwarding). Every drop has exactly one reason.
enum class DropReason : uint8_t {
    TruncatedEthernet,
    TruncatedVlan,
    VlanMismatch,        // tag absent/present/different from the port's configured VLAN
    UnknownEthertype,
    NotForUs,            // destination MAC neither ours nor broadcast
    TruncatedIpv4,
    BadIpVersion,
    BadIhl,
    IpOptions,
    BadIpLength,         // total length disagrees with the frame
    BadIpChecksum,
    Fragment,
    TruncatedL4,
    UnsupportedProtocol,
    MalformedSctp,       // bad first chunk length, or a verification tag RFC 9260 8.5.1 discards
    MalformedArp,
    ArpNotForUs,
    NoService,           // destination is not a VIP and not ours: nothing to do with it
    SourceNotAllowed,    // to a VIP from a source outside the cluster's client ranges (not tracked)
    VipPortRefused,      // VIP known but port/protocol not served: refused (RST / unreachable)
    NoEndpoint,          // service port has no usable endpoint: refused (RST / unreachable)
    NotSyn,              // TCP segment without SYN for an untracked flow that cannot be recovered
    EndpointGone,        // tracked flow's endpoint removed: flow reset or dropped
    ConntrackFull,       // no room for a new connection and none evictable
    ReplyTupleInUse,     // DNAT-only: another connection already owns the same reply tuple
    SnatPortsExhausted,
    TtlExceeded,         // answered with ICMP time exceeded
    NoRoute,
    HandoffRingFull,
    PuntRingFull,
    TxQueueFull,
    IcmpUnsupported,     // ICMP type we do not translate (to an address we own)
    MtuExceeded,         // larger than the egress port's MTU (answered with fragmentation needed when DF)
    AnswerRateLimited,   // would have been answered (ICMP error, RST, ABORT): the worker's answer budget is spent
    PuntRateLimited,     // would have gone to the control thread: the worker's punt budget is spent
    Count,
};

constexpr std::string_view drop_reason_name(DropReason reason) {
    switch (reason) {
    case DropReason::TruncatedEthernet: return "truncated_ethernet";
    case DropReason::TruncatedVlan: return "truncated_vlan";
    case DropReason::VlanMismatch: return "vlan_mismatch";
    case DropReason::UnknownEthertype: return "unknown_ethertype";
    case DropReason::NotForUs: return "not_for_us";
    case DropReason::TruncatedIpv4: return "truncated_ipv4";
    case DropReason::BadIpVersion: return "bad_ip_version";
    case DropReason::BadIhl: return "bad_ihl";
    case DropReason::IpOptions: return "ip_options";
    case DropReason::BadIpLength: return "bad_ip_length";
    case DropReason::BadIpChecksum: return "bad_ip_checksum";
    case DropReason::Fragment: return "fragment";
    case DropReason::TruncatedL4: return "truncated_l4";
    case DropReason::UnsupportedProtocol: return "unsupported_protocol";
    case DropReason::MalformedSctp: return "malformed_sctp";
    case DropReason::MalformedArp: return "malformed_arp";
    case DropReason::ArpNotForUs: return "arp_not_for_us";
    case DropReason::NoService: return "no_service";
    case DropReason::SourceNotAllowed: return "source_not_allowed";
    case DropReason::VipPortRefused: return "vip_port_refused";
    case DropReason::NoEndpoint: return "no_endpoint";
    case DropReason::NotSyn: return "not_syn";
    case DropReason::EndpointGone: return "endpoint_gone";
    case DropReason::ConntrackFull: return "conntrack_full";
    case DropReason::ReplyTupleInUse: return "reply_tuple_in_use";
    case DropReason::SnatPortsExhausted: return "snat_ports_exhausted";
    case DropReason::TtlExceeded: return "ttl_exceeded";
    case DropReason::NoRoute: return "no_route";
    case DropReason::HandoffRingFull: return "handoff_ring_full";
    case DropReason::PuntRingFull: return "punt_ring_full";
    case DropReason::TxQueueFull: return "tx_queue_full";
    case DropReason::IcmpUnsupported: return "icmp_unsupported";
    case DropReason::MtuExceeded: return "mtu_exceeded";
    case DropReason::AnswerRateLimited: return "answer_rate_limited";
    case DropReason::PuntRateLimited: return "punt_rate_limited";
    case DropReason::Count: break;
    }
    return "unknown";
}

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::Count);

struct alignas(64) WorkerCounters {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t forwarded_to_endpoint = 0;  // client -> endpoint direction
    uint64_t forwarded_to_client = 0;    // endpoint -> client direction (replies)
    uint64_t new_connections = 0;
    uint64_t conntrack_hits = 0;
    uint64_t rescheduled = 0;            // flows moved because their endpoint disappeared
    uint64_t resets_sent = 0;            // TCP RST, SCTP ABORT (or SHUTDOWN COMPLETE, RFC 9260 8.4)
    uint64_t icmp_sent = 0;
    uint64_t icmp_errors_translated = 0;  // ICMP errors about tracked flows, rewritten and forwarded
    uint64_t handoffs_out = 0;           // packets passed to the owning worker
    uint64_t handoffs_in = 0;
    uint64_t punted = 0;                 // packets passed to the control thread: ARP, and packets
                                         // held there until their next hop's MAC is known
    uint64_t stateless_forwards = 0;     // forwarded by consistent hash without a conntrack entry
    uint64_t stateless_replies = 0;      // DNAT-only replies translated without an entry
    uint64_t conntrack_evictions = 0;
    uint64_t conntrack_expired = 0;
    uint64_t affinity_hits = 0;          // new connections sent to the endpoint their client's affinity names
    uint64_t active_connections = 0;     // gauge, written by the worker
    uint64_t loops = 0;                  // poll loops
    uint64_t busy_loops = 0;             // poll loops that received at least one packet (port or hand-off)
    uint64_t snapshot_generation = 0;    // generation the worker last used
    // Rare, so it may share its line with the drops (see the static_assert below).
    uint64_t affinity_table_full = 0;    // affinity choices not remembered: every way of the set was fresh
    std::array<uint64_t, kDropReasonCount> drops{};

    void drop(DropReason reason) { ++drops[static_cast<size_t>(reason)]; }
};

// Every poll loop writes these fields, idle or not: they share one cache line, so an idle loop
// dirties one line of counters (the busy-poll share added busy_loops without adding a line).
static_assert(offsetof(WorkerCounters, conntrack_expired) / 64 == offsetof(WorkerCounters, loops) / 64 &&
                  offsetof(WorkerCounters, active_connections) / 64 == offsetof(WorkerCounters, loops) / 64 &&
                  offsetof(WorkerCounters, busy_loops) / 64 == offsetof(WorkerCounters, loops) / 64 &&
                  offsetof(WorkerCounters, snapshot_generation) / 64 == offsetof(WorkerCounters, loops) / 64,
              "the counters every poll loop writes must stay on one cache line");

// Every scalar counter with its report name, in report order: the one list that statistics,
// final reports and tests walk.
struct CounterField {
    std::string_view name;
    uint64_t WorkerCounters::*member;
};

inline constexpr CounterField kCounterFields[] = {
    {"rx_packets", &WorkerCounters::rx_packets},
    {"rx_bytes", &WorkerCounters::rx_bytes},
    {"tx_packets", &WorkerCounters::tx_packets},
    {"tx_bytes", &WorkerCounters::tx_bytes},
    {"forwarded_to_endpoint", &WorkerCounters::forwarded_to_endpoint},
    {"forwarded_to_client", &WorkerCounters::forwarded_to_client},
    {"new_connections", &WorkerCounters::new_connections},
    {"conntrack_hits", &WorkerCounters::conntrack_hits},
    {"rescheduled", &WorkerCounters::rescheduled},
    {"resets_sent", &WorkerCounters::resets_sent},
    {"icmp_sent", &WorkerCounters::icmp_sent},
    {"icmp_errors_translated", &WorkerCounters::icmp_errors_translated},
    {"handoffs_out", &WorkerCounters::handoffs_out},
    {"handoffs_in", &WorkerCounters::handoffs_in},
    {"punted", &WorkerCounters::punted},
    {"stateless_forwards", &WorkerCounters::stateless_forwards},
    {"stateless_replies", &WorkerCounters::stateless_replies},
    {"conntrack_evictions", &WorkerCounters::conntrack_evictions},
    {"conntrack_expired", &WorkerCounters::conntrack_expired},
    {"affinity_hits", &WorkerCounters::affinity_hits},
    {"affinity_table_full", &WorkerCounters::affinity_table_full},
    {"active_connections", &WorkerCounters::active_connections},
    {"loops", &WorkerCounters::loops},
    {"busy_loops", &WorkerCounters::busy_loops},
    {"snapshot_generation", &WorkerCounters::snapshot_generation},
};

// Connect latency: the time from forwarding a TCP SYN (SCTP INIT) to the endpoint's SYN-ACK
// (INIT ACK), in fixed log2 buckets. Bucket i counts latencies <= 64 us << i (i < 13, up to
// 262 ms); the last bucket counts everything above, so it is the histogram's +Inf bucket.
inline constexpr uint32_t kConnectLatencyBuckets = 14;
inline constexpr uint32_t kConnectLatencyFirstBoundUs = 64;

// Upper bound of bucket `bucket` in microseconds (the last bucket has none: UINT32_MAX).
constexpr uint32_t connect_latency_bound_us(uint32_t bucket) {
    return bucket + 1 >= kConnectLatencyBuckets ? UINT32_MAX : kConnectLatencyFirstBoundUs << bucket;
}

// The bucket a latency of `latency_us` falls in: the first whose bound is >= latency_us.
constexpr uint32_t connect_latency_bucket(uint32_t latency_us) {
    if (latency_us <= kConnectLatencyFirstBoundUs) return 0;
    // latency_us - 1 in [32 << i, (64 << i) - 1] has bit width i + 6.
    const uint32_t bucket = static_cast<uint32_t>(std::bit_width(latency_us - 1)) - 6;
    return bucket < kConnectLatencyBuckets - 1 ? bucket : kConnectLatencyBuckets - 1;
}

// Per-endpoint counters, indexed by endpoint slot. Kept per worker like the rest.
struct EndpointCounters {
    uint64_t connections = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t syn_unanswered = 0;  // SynSent entries expired or evicted without any reply (conn_table.h)
};

// Per-endpoint connect latencies, indexed by endpoint slot, in an array of their own: written
// once per connection (at the SYN-ACK), never per packet, so EndpointCounters, which every
// packet writes, stays 32 bytes and the per-packet working set does not grow. One cache line:
// 32-bit bucket counts (a worker would need 4 billion connections to one endpoint to wrap one,
// and Prometheus reads a wrap as a counter reset).
struct alignas(64) EndpointHandshakes {
    uint64_t latency_sum_us = 0;
    std::array<uint32_t, kConnectLatencyBuckets> latency{};  // per bucket, not cumulative

    void record(uint32_t latency_us) noexcept {
        ++latency[connect_latency_bucket(latency_us)];
        latency_sum_us += latency_us;
    }
};
static_assert(sizeof(EndpointHandshakes) == 64, "one cache line per endpoint");

}  // namespace vipgate
