// IPv6 header parser: the fixed header, then the extension header chain, then the upper-layer
// header. parse_packet recognises the ethertype and returns PacketKind::Ipv6; this parses the
// rest into its own ParsedIpv6 (ParsedPacket stays one cache line for IPv4).
//
// Design note: the chain is attacker-controlled and of unbounded length on the wire, so the
// walk is bounded twice: at most kMaxIpv6ExtensionHeaders headers and kMaxIpv6ChainBytes bytes
// of them; past either bound the packet is Ipv6ExtLimit. A legitimate chain towards a ClusterIP
// is a few dozen bytes (hop-by-hop, a fragment header, perhaps destination options); the
// bounds leave room for a segment routing header with several segments. As in parse_packet,
// every header is proven to lie inside the datagram and inside the first segment before it is
// read, and nothing is allocated.
//
// Decisions (drop reasons in counters.h; table in docs/ipv6.md):
// - Hop-by-hop options only right after the fixed header (RFC 8200 4.3), else
//   Ipv6HopByHopNotFirst. Options inside hop-by-hop and destination options are not examined.
// - A routing header of type 0 is dropped whatever its segments left (RFC 5095); other types
//   are walked over (their segments left is the destination's business, not ours).
// - Fragment header: at most one (a second is Ipv6FragmentMalformed, as is M set on a fragment
//   whose data is not a multiple of 8 bytes, or an empty fragment); offset + data past 65535 is
//   FragmentOversize. Offset 0 with M clear is an atomic fragment (RFC 6946): parsed as a whole
//   packet (fragment stays None). A first fragment (offset 0, M set) must hold the whole chain and
//   the upper-layer header (TCP with its options), else Ipv6FragmentNoUpperLayer (RFC 7112). A
//   later fragment ends the walk: its payload is data, so protocol is the fragment header's next
//   header, ports stay 0 and l4_offset points at the fragment's data.
// - AH, ESP, Mobility, HIP, Shim6 and the experimental values 253/254 are Ipv6ExtUnsupported:
//   none of them can be translated (ESP hides the ports, AH covers the addresses NAT66 changes).
// - Upper layers: TCP (data offset within the segment), UDP (length at least 8 and within the
//   payload, except in a first fragment; checksum 0 is Ipv6UdpZeroChecksum, RFC 8200 8.1),
//   SCTP (common header and first chunk header present; its chunk rules come with IPv6 service),
//   ICMPv6 (type, code, checksum), and No Next Header (59), accepted with nothing after the
//   chain. Anything else is UnsupportedProtocol; a header cut short is TruncatedL4.
// - A payload longer than the frame is BadIpLength, and so is payload length 0 before hop-by-hop
//   options (a jumbogram, RFC 2675: not supported); an empty payload is otherwise an empty chain
//   (fine before No Next Header, truncated before anything else). Trailing Ethernet padding is fine.
#pragma once

#include <cstdint>

#include "dataplane/flow_key.h"
#include "dataplane/packet_parser.h"

namespace vipgate {

inline constexpr uint32_t kMaxIpv6ExtensionHeaders = 8;
inline constexpr uint32_t kMaxIpv6ChainBytes = 256;  // extension headers only, fixed header excluded

// IPv6 next-header values the parser knows.
enum Ipv6NextHeader : uint8_t {
    kIpv6HopByHop = 0,
    kIpv6Routing = 43,
    kIpv6Fragment = 44,
    kIpv6Esp = 50,
    kIpv6Ah = 51,
    kIpv6NoNextHeader = 59,
    kIpv6DestinationOptions = 60,
    kIpv6Mobility = 135,
    kIpv6Hip = 139,
    kIpv6Shim6 = 140,
    kIpv6Experimental1 = 253,
    kIpv6Experimental2 = 254,
};

struct ParsedIpv6 {
    FlowKey6 key;             // addresses, ports (0 for ICMPv6, 59, later fragments), upper protocol
    uint16_t l3_offset;       // frame start -> IPv6 header
    uint16_t l4_offset;       // frame start -> upper-layer header (later fragment: its data)
    uint16_t payload_length;  // host order, as in the header
    uint8_t hop_limit;
    uint8_t extension_headers;  // headers walked (fragment header included)
    uint8_t tcp_flags;          // TCP; SCTP: its first chunk as TCP flags (sctp_tcp_flags)
    uint8_t icmp_type;          // ICMPv6 only
    uint8_t icmp_code;
    FragmentKind fragment;
    bool more_fragments;       // fragments: M set
    uint16_t fragment_offset;  // fragments: offset of the data in the datagram, bytes (host order)
    uint32_t fragment_id;      // any fragment header (atomic too): identification, network order
    uint16_t fragment_length;  // fragments: bytes of the datagram after the fragment header
};
static_assert(sizeof(ParsedIpv6) <= 64, "ParsedIpv6 should fit one cache line");

// `l3_offset`: where parse_packet found the IPv6 header. `contiguous_length`: bytes readable at
// `frame` (first segment); `packet_length`: the whole frame. Returns PacketKind::Ipv6 or Invalid.
ParseOutcome parse_ipv6(const uint8_t* frame, uint32_t contiguous_length, uint32_t packet_length, uint16_t l3_offset,
                        ParsedIpv6& out) noexcept;

}  // namespace vipgate
