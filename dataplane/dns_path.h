// Cluster DNS on the packet path: queries to a DNS address on port 53, answered by the worker
// that receives them, in place in the query's mbuf, without conntrack or VIP lookups.
//
// Design note:
// - UDP: the DNS message is answered by answer_dns_query (dns_responder.h) and the frame turned
//   around (MACs, addresses, ports swapped; checksums computed), out of the port it came in on,
//   as the ICMP echo reply is. A query outside the zone, when the zone has upstreams, continues
//   down the normal path, where the (DNS address, 53, UDP) VIP entry forwards it to an upstream
//   with conntrack and NAT like any UDP service, and the upstream's answer is relayed unchanged.
// - Who may ask: only sources the ClusterIPs take ([cluster] client_ranges, source_not_allowed
//   otherwise), so the gateway is never an open resolver. With no ranges configured anyone may
//   ask, but a UDP response to a source outside any range is at most 4x its query (TC beyond).
//   Every UDP response is then subject to per-source rate limiting (dns_rate_limiter.h).
// - TCP: a stateless responder, SYN-cookie style, with no connection state. SYN -> SYN-ACK whose
//   ISN is a keyed hash of the 4-tuple (siphash.h), MSS 1460 offered. A segment acknowledging
//   ISN + 1 and holding a whole length-prefixed query -> one segment: the length-prefixed
//   response, acknowledging the query, with PSH and FIN (one query per connection: queries
//   pipelined after the first are acknowledged and not answered). A client FIN -> ACK. A
//   segment with part of a query is dropped (counted): the client retransmits it, and Linux
//   coalesces retransmitted segments, so the retransmission usually holds the whole query. A
//   segment that does not acknowledge our ISN gets a RST; a RST is dropped. The answer must fit
//   one segment: at most kTcpMaxMessage bytes (TC beyond), since the client's MSS is not
//   remembered. Out-of-zone names over TCP are REFUSED (only UDP is forwarded upstream).
#pragma once

#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/dns_zone_layout.h"
#include "dataplane/packet_parser.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_mbuf;

namespace vipgate {

namespace dns {
constexpr uint16_t kTcpMss = 1460;                // offered in our SYN-ACK
constexpr uint32_t kTcpMaxMessage = kTcpMss - 2;  // one segment, after the length prefix
}  // namespace dns

// A UDP or TCP packet to port 53 of one of the zone's addresses.
inline bool is_dns_query_packet(const DnsZone& zone, const ParsedPacket& parsed) noexcept {
    constexpr uint16_t kPortNetworkOrder = static_cast<uint16_t>((dns::kPort >> 8) | (dns::kPort << 8));
    return parsed.key.dst_port == kPortNetworkOrder &&
           (parsed.key.protocol == kProtoUdp || parsed.key.protocol == kProtoTcp) && zone.serves(parsed.key.dst_addr);
}

enum class DnsPathAction : uint8_t {
    SendBack,  // the mbuf now holds the answer: send it out of the port it came in on
    Drop,      // count `reason` and free the mbuf
    Continue,  // not ours to answer (out of zone, to the upstreams): the normal path takes it
};

struct DnsPathResult {
    DnsPathAction action;
    DropReason reason;  // with Drop
};

// Handles a packet for which is_dns_query_packet holds. Counts the DNS counters; the caller
// counts the drop reason and emits or frees the packet.
DnsPathResult handle_dns_packet(WorkerContext& context, const Snapshot& snapshot, const DnsZone& zone, rte_mbuf* packet,
                                const ParsedPacket& parsed) noexcept;

}  // namespace vipgate
