// ICMPv6 errors about translated flows (RFC 4443 Destination Unreachable, Packet Too Big, Time
// Exceeded, Parameter Problem), the IPv6 counterpart of rewrite_icmp_error (nat_rewrite.h).
//
// Design note: an endpoint or a router between the gateway and it reports on a packet the
// gateway sent, so the error quotes the translated flow (SNAT6 or client -> endpoint), and the
// client only recognises an error about its own (client -> VIP); the same the other way for an
// error from the client about a reply. The pipeline finds the connection by the quoted flow
// reversed (a reply key of the entry), then this rewrites the outer addresses and the quoted
// IPv6 header and ports back, updating the quoted L4 checksum (when the quote holds it) and the
// outer ICMPv6 checksum incrementally: every change goes into one 64-bit accumulator, so a
// corrupt checksum stays corrupt for the receiver to reject. Packet Too Big above all must come
// through: IPv6 routers never fragment, so path-MTU discovery through the gateway depends on it.
#pragma once

#include <cstdint>

#include "dataplane/flow_key.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/nat_rewrite6.h"

namespace vipgate {

// The packet an ICMPv6 error quotes.
struct Icmp6Quote {
    FlowKey6 inner_key;             // as quoted (the packet the reporter received)
    uint16_t inner_l3_offset;       // frame start -> quoted IPv6 header
    uint16_t inner_l4_offset;       // frame start -> quoted TCP/UDP/SCTP header
    uint16_t quote_end;             // frame offset where the quote ends (first segment)
    uint16_t inner_payload_length;  // host order, as in the quoted header
    bool later_fragment = false;    // the quote is a fragment after the first (parse_icmp6_quote false)
};

// Reads the quote of an ICMPv6 error (parsed.icmp_type < 128): a version-6 header, hop-by-hop,
// routing, destination options and fragment headers walked (bounded as the parser's), then TCP,
// UDP or SCTP with at least its 8 first bytes in the first segment. A first fragment of TCP or
// UDP is read as a whole packet: its checksum is in it, and the incremental update is the same.
// False for anything else: the caller drops the error as icmp6_error_unmatched, or as
// icmp6_error_later_fragment when out.later_fragment says the quote holds no ports.
bool parse_icmp6_quote(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed,
                       Icmp6Quote& out) noexcept;

// Sets the outer source and destination and the quoted addresses and ports, updates the quoted
// TCP/UDP checksum (when the quote holds it: 18 bytes of TCP, 8 of UDP; a computed 0 in UDP is
// sent as 0xFFFF) or SCTP CRC32c (12 bytes of SCTP), the ICMPv6 checksum, and decrements the
// outer hop limit (the caller checked it is above 1).
void rewrite_icmp6_error(uint8_t* frame, const ParsedIpv6& parsed, const Icmp6Quote& quote,
                         const uint8_t new_outer_src[16], const uint8_t new_outer_dst[16],
                         const Ipv6Rewrite& inner) noexcept;

}  // namespace vipgate
