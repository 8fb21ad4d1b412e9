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
// One list, X(enumerator, report name), so a reason cannot be added without its name.
// clang-format off
#define VIPGATE_DROP_REASONS(X) \
    X(TruncatedEthernet, "truncated_ethernet") \
    X(TruncatedVlan, "truncated_vlan") \
    X(VlanMismatch, "vlan_mismatch")             /* tag absent/present/different from the port's VLAN */ \
    X(UnknownEthertype, "unknown_ethertype") \
    X(NotForUs, "not_for_us")                    /* destination MAC neither ours nor broadcast */ \
    X(TruncatedIpv4, "truncated_ipv4") \
    X(BadIpVersion, "bad_ip_version") \
    X(BadIhl, "bad_ihl") \
    X(IpOptions, "ip_options") \
    X(BadIpLength, "bad_ip_length")              /* total length disagrees with the frame */ \
    X(BadIpChecksum, "bad_ip_checksum") \
    X(Fragment, "fragment")                      /* a fragment of a protocol not tracked in fragments (ICMP, SCTP, other) */ \
    X(TruncatedL4, "truncated_l4") \
    X(UnsupportedProtocol, "unsupported_protocol") \
    X(MalformedSctp, "malformed_sctp")           /* bad first chunk length, or a tag RFC 9260 8.5.1 discards */ \
    X(MalformedArp, "malformed_arp") \
    X(ArpNotForUs, "arp_not_for_us") \
    X(NoService, "no_service")                   /* destination is not a VIP and not ours */ \
    X(SourceNotAllowed, "source_not_allowed")    /* to a VIP (or DNS) from outside the client ranges */ \
    X(VipPortRefused, "vip_port_refused")        /* VIP known, port/protocol not served: RST / unreachable */ \
    X(NoEndpoint, "no_endpoint")                 /* no usable endpoint: refused (RST / unreachable) */ \
    X(NotSyn, "not_syn")                         /* TCP non-SYN for an untracked flow that cannot be recovered */ \
    X(EndpointGone, "endpoint_gone")             /* tracked flow's endpoint removed: reset or dropped */ \
    X(ConntrackFull, "conntrack_full")           /* no room for a new connection and none evictable */ \
    X(HalfOpenProtected, "half_open_protected")  /* table full, its oldest half-open entry too fresh (half_open_admission.h) */ \
    X(ReplyTupleInUse, "reply_tuple_in_use")     /* DNAT-only: another connection owns the reply tuple */ \
    X(SnatPortsExhausted, "snat_ports_exhausted") \
    X(TtlExceeded, "ttl_exceeded")               /* answered with ICMP time exceeded */ \
    X(NoRoute, "no_route") \
    X(HandoffRingFull, "handoff_ring_full") \
    X(PuntRingFull, "punt_ring_full") \
    X(TxQueueFull, "tx_queue_full") \
    X(IcmpUnsupported, "icmp_unsupported")       /* ICMP type we do not translate (to an address we own) */ \
    X(DnsMalformed, "dns_malformed")             /* a DNS query too short to answer, or not in one segment */ \
    X(DnsResponseReceived, "dns_response_received")  /* QR = 1: never answered */ \
    X(DnsTooLarge, "dns_too_large")              /* a query over 512 bytes, or no room for the answer */ \
    X(DnsRateLimited, "dns_rate_limited")        /* over the client's response rate, not slipped */ \
    X(DnsTcpIncomplete, "dns_tcp_incomplete")    /* a segment without a whole query: the client retransmits */ \
    X(DnsTcpNoQuery, "dns_tcp_no_query")         /* an ACK without data (handshake end, ACK of our FIN) */ \
    X(DnsTcpBadAck, "dns_tcp_bad_ack")           /* not acknowledging our SYN-ACK: answered with a RST */ \
    X(DnsTcpReset, "dns_tcp_reset")              /* a client's RST: nothing to undo */ \
    X(MtuExceeded, "mtu_exceeded")               /* over the egress MTU (answered with fragmentation needed when DF) */ \
    X(AnswerRateLimited, "answer_rate_limited")  /* would have been answered (ICMP error, RST, ABORT): budget spent */ \
    X(PuntRateLimited, "punt_rate_limited")      /* would have gone to the control thread: budget spent */ \
    X(VlanInsertFailed, "vlan_insert_failed")    /* no headroom (or a shared mbuf) to add the egress port's tag */ \
    X(KernelRateLimited, "kernel_rate_limited")  /* would have gone to the kernel interface: budget spent */ \
    X(KernelRingFull, "kernel_ring_full") \
    X(KernelFrameRefused, "kernel_frame_refused")  /* from the kernel interface, not unicast IPv4 or IPv6 (router solicitations, MLD, multicast): not sent */ \
    VIPGATE_FRAGMENT_DROP_REASONS(X) \
    VIPGATE_IPV6_DROP_REASONS(X)
// clang-format on

// IPv4 and IPv6 fragments (dataplane/fragment_table.h, fragment_path.h).
// clang-format off
#define VIPGATE_FRAGMENT_DROP_REASONS(X) \
    X(FragmentTiny, "fragment_tiny")             /* first fragment without the whole L4 header, or TCP at offset 8 (RFC 1858) */ \
    X(FragmentOversize, "fragment_oversize")     /* offset + length past 65535 */ \
    X(FragmentOverlap, "fragment_overlap")       /* overlaps a fragment seen, or disagrees with the datagram's end */ \
    X(FragmentOrphan, "fragment_orphan")         /* its first fragment was dropped (or the datagram overlapped) */ \
    X(FragmentTimeout, "fragment_timeout")       /* held for its first fragment, which never came */ \
    X(FragmentTableFull, "fragment_table_full")  /* no free entry, too many holes, or too many held for one datagram */
// clang-format on

// IPv6 (dataplane/ipv6_parser.h, docs/ipv6.md). Shared with IPv4: bad_ip_version, bad_ip_length,
// truncated_l4, unsupported_protocol, fragment_oversize.
// clang-format off
#define VIPGATE_IPV6_DROP_REASONS(X) \
    X(TruncatedIpv6, "truncated_ipv6")           /* fewer than 40 bytes of IPv6 header in the first segment */ \
    X(Ipv6ExtTruncated, "ipv6_ext_truncated")    /* an extension header runs past the datagram or the first segment */ \
    X(Ipv6ExtLimit, "ipv6_ext_limit")            /* more extension headers, or more bytes of them, than the parser walks */ \
    X(Ipv6HopByHopNotFirst, "ipv6_hop_by_hop_not_first")  /* RFC 8200 4.3: only right after the IPv6 header */ \
    X(Ipv6RoutingType0, "ipv6_routing_type0")    /* deprecated by RFC 5095 */ \
    X(Ipv6FragmentNoUpperLayer, "ipv6_fragment_no_upper_layer")  /* first fragment without the whole header chain (RFC 7112) */ \
    X(Ipv6FragmentMalformed, "ipv6_fragment_malformed")  /* a second fragment header, or M set on a length not a multiple of 8 */ \
    X(Ipv6ExtUnsupported, "ipv6_ext_unsupported")  /* AH, ESP, Mobility, HIP, Shim6, experimental: not translatable */ \
    X(Ipv6UdpZeroChecksum, "ipv6_udp_zero_checksum")  /* UDP checksum 0 is not allowed over IPv6 (RFC 8200 8.1) */ \
    X(Ipv6NotServed, "ipv6_not_served")          /* well-formed IPv6 for us that vipgate does not serve: No Next Header, multicast (MLD) */ \
    X(Ipv6HopLimitExceeded, "ipv6_hop_limit_exceeded")  /* would leave with hop limit 0: answered with ICMPv6 time exceeded */ \
    X(Icmp6ErrorUnmatched, "icmp6_error_unmatched")  /* ICMPv6 error whose quoted flow no connection tracks (or quote unreadable) */ \
    X(Icmp6ErrorLaterFragment, "icmp6_error_later_fragment")  /* ICMPv6 error quoting a fragment after the first: no ports to find its flow */ \
    X(NdInvalid, "nd_invalid")                   /* NS/NA failing RFC 4861 7.1 (hop limit, checksum, code, target, options) */ \
    X(NdIgnored, "nd_ignored")                   /* router solicitation or advertisement, redirect: vipgate is configured, not autoconfigured */
// clang-format on

enum class DropReason : uint8_t {
#define VIPGATE_DROP_REASON_ENUMERATOR(reason, name) reason,
    VIPGATE_DROP_REASONS(VIPGATE_DROP_REASON_ENUMERATOR)
#undef VIPGATE_DROP_REASON_ENUMERATOR
        Count,
};

constexpr std::string_view drop_reason_name(DropReason reason) {
    switch (reason) {
#define VIPGATE_DROP_REASON_NAME(reason, name) \
    case DropReason::reason:                   \
        return name;
        VIPGATE_DROP_REASONS(VIPGATE_DROP_REASON_NAME)
#undef VIPGATE_DROP_REASON_NAME
    case DropReason::Count:
        break;
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
    uint64_t rescheduled = 0;  // flows moved because their endpoint disappeared
    uint64_t resets_sent = 0;  // TCP RST, SCTP ABORT (or SHUTDOWN COMPLETE, RFC 9260 8.4)
    uint64_t icmp_sent = 0;
    uint64_t icmp_errors_translated = 0;  // ICMP errors about tracked flows, rewritten and forwarded
    uint64_t handoffs_out = 0;            // packets passed to the owning worker
    uint64_t handoffs_in = 0;
    uint64_t punted = 0;              // packets passed to the control thread: ARP, and packets
                                      // held there until their next hop's MAC is known
    uint64_t stateless_forwards = 0;  // forwarded by consistent hash without a conntrack entry
    uint64_t stateless_replies = 0;   // DNAT-only replies translated without an entry
    uint64_t conntrack_evictions = 0;
    uint64_t conntrack_expired = 0;
    uint64_t affinity_hits = 0;        // new connections sent to the endpoint their client's affinity names
    uint64_t active_connections = 0;   // gauge, written by the worker
    uint64_t loops = 0;                // poll loops
    uint64_t busy_loops = 0;           // poll loops that received at least one packet (port or hand-off)
    uint64_t snapshot_generation = 0;  // generation the worker last used
    // Rare, so it may share its line with the drops (see the static_assert below).
    uint64_t affinity_table_full = 0;  // affinity choices not remembered: every way of the set was fresh
    uint64_t idle_sleeps = 0;          // adaptive polling: sleeps taken while the queues were empty
    uint64_t idle_sleep_us = 0;        // and their requested length in total
    // Cluster DNS (dataplane/dns_path.h). Queries answered by rcode (sent only: a rate-limited
    // drop counts as its drop reason), plus the TC ones among them and the slipped ones.
    uint64_t dns_queries_udp = 0;
    uint64_t dns_queries_tcp = 0;  // complete queries in a TCP segment
    uint64_t dns_noerror = 0;      // records answered
    uint64_t dns_nodata = 0;
    uint64_t dns_nxdomain = 0;
    uint64_t dns_refused = 0;
    uint64_t dns_formerr = 0;
    uint64_t dns_notimp = 0;
    uint64_t dns_badvers = 0;
    uint64_t dns_truncated = 0;           // answered with TC (too large, or slipped)
    uint64_t dns_slipped = 0;             // rate-limited, answered with TC so the client retries over TCP
    uint64_t dns_forwarded_upstream = 0;  // out of zone: sent down the service path to the upstreams
    uint64_t dns_tcp_control_sent = 0;    // SYN-ACKs and ACKs of FINs of the TCP responder
    // IPv4 and IPv6 fragments (dataplane/fragment_table.h). The first fragment counts as any packet too.
    uint64_t fragments_forwarded = 0;  // later fragments sent on with their first fragment's translation
    uint64_t fragments_held = 0;       // later fragments that waited for their first (sent before it, or in its burst)
    uint64_t fragment_datagrams_completed = 0;  // every fragment of the datagram seen
    uint64_t fragment_datagrams_expired = 0;    // timed out before every fragment was seen
    // Kernel exception path (control/kernel_path.h).
    uint64_t to_kernel = 0;    // packets to our own addresses passed to the port's kernel interface
    uint64_t from_kernel = 0;  // the kernel's IPv4 and IPv6 frames sent out of the port (by worker 0)
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
    {"idle_sleeps", &WorkerCounters::idle_sleeps},
    {"idle_sleep_us", &WorkerCounters::idle_sleep_us},
    {"active_connections", &WorkerCounters::active_connections},
    {"loops", &WorkerCounters::loops},
    {"busy_loops", &WorkerCounters::busy_loops},
    {"snapshot_generation", &WorkerCounters::snapshot_generation},
    {"dns_queries_udp", &WorkerCounters::dns_queries_udp},
    {"dns_queries_tcp", &WorkerCounters::dns_queries_tcp},
    {"dns_noerror", &WorkerCounters::dns_noerror},
    {"dns_nodata", &WorkerCounters::dns_nodata},
    {"dns_nxdomain", &WorkerCounters::dns_nxdomain},
    {"dns_refused", &WorkerCounters::dns_refused},
    {"dns_formerr", &WorkerCounters::dns_formerr},
    {"dns_notimp", &WorkerCounters::dns_notimp},
    {"dns_badvers", &WorkerCounters::dns_badvers},
    {"dns_truncated", &WorkerCounters::dns_truncated},
    {"dns_slipped", &WorkerCounters::dns_slipped},
    {"dns_forwarded_upstream", &WorkerCounters::dns_forwarded_upstream},
    {"dns_tcp_control_sent", &WorkerCounters::dns_tcp_control_sent},
    {"fragments_forwarded", &WorkerCounters::fragments_forwarded},
    {"fragments_held", &WorkerCounters::fragments_held},
    {"fragment_datagrams_completed", &WorkerCounters::fragment_datagrams_completed},
    {"fragment_datagrams_expired", &WorkerCounters::fragment_datagrams_expired},
    {"to_kernel", &WorkerCounters::to_kernel},
    {"from_kernel", &WorkerCounters::from_kernel},
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
