// Packets the gateway answers itself over IPv6: ICMPv6 errors (RFC 4443), echo replies, TCP
// resets and SCTP aborts. The IPv6 counterparts of packet_responses.h, built the same way: in
// place in the received mbuf (never allocating), the Ethernet header turned around and an
// 802.1Q tag kept, so the answer leaves on the port and VLAN it came from; false when the
// packet must not be answered (the caller drops it).
//
// Design note: an ICMPv6 error quotes "as much of the invoking packet as possible without the
// error exceeding the minimum IPv6 MTU" (RFC 4443 2.4 (c)), not 8 bytes of L4 as ICMPv4 does:
// the new IPv6 and ICMPv6 headers (48 bytes) are prepended in front of the received IPv6
// header, which becomes the quote where it lies, and the packet is cut at 1280 bytes of IPv6
// (or at the end of the first segment: later segments are freed, as for IPv4 answers). So an
// error always fits the minimum IPv6 MTU every link carries. Answers carry no extension
// headers: a reset or abort is written right after its fixed IPv6 header.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "dataplane/ipv6_parser.h"

namespace vipgate {

// ICMPv6 message types and codes (RFC 4443) vipgate writes or reads.
enum Icmp6Type : uint8_t {
    kIcmp6DestinationUnreachable = 1,
    kIcmp6PacketTooBig = 2,
    kIcmp6TimeExceeded = 3,
    kIcmp6ParameterProblem = 4,
    kIcmp6EchoRequest = 128,
    kIcmp6EchoReply = 129,
    kIcmp6Redirect = 137,  // Neighbor Discovery's (RFC 4861; nd_packets.h has the rest)
};
inline constexpr uint8_t kIcmp6PortUnreachable = 4;  // Destination Unreachable codes
inline constexpr uint8_t kIcmp6AdminProhibited = 1;
inline constexpr uint8_t kIcmp6HopLimitExceeded = 0;  // Time Exceeded code
inline constexpr uint32_t kIpv6MinimumMtu = 1280;

// RFC 4443 2.1: types below 128 are errors.
constexpr bool is_icmp6_error(uint8_t type) noexcept {
    return type < 128;
}

// ICMPv6 error about the packet, from `source` (16 bytes) to the packet's source, quoting as
// much of it as fits in 1280 bytes. `parameter` is the header's second word: the MTU for
// Packet Too Big, the pointer for Parameter Problem, 0 otherwise. False when RFC 4443 2.4 (e)
// forbids the error (the packet is an ICMPv6 error or a redirect; its source is unspecified or
// multicast; its destination is multicast, except for Packet Too Big), when `source` is
// unspecified (a port without an IPv6 address), or when there is no headroom for 48 bytes.
bool make_icmp6_error(rte_mbuf* m, const ParsedIpv6& parsed, uint8_t type, uint8_t code, const uint8_t source[16],
                      uint32_t parameter = 0) noexcept;

// Echo request -> echo reply in place (payload kept, hop limit 64). False when the packet is
// not an echo request.
bool make_icmp6_echo_reply(rte_mbuf* m, const ParsedIpv6& parsed) noexcept;

// As make_tcp_reset (packet_responses.h) over IPv6: RST with seq = SEG.ACK when ACK is set, else
// RST|ACK acknowledging the segment. False for a reset, or a source that is not unicast.
bool make_tcp_reset6(rte_mbuf* m, const ParsedIpv6& parsed) noexcept;

// As make_sctp_abort (packet_responses.h) over IPv6 (RFC 9260 8.4): SHUTDOWN COMPLETE for a
// SHUTDOWN ACK, else ABORT. False for ABORT, SHUTDOWN COMPLETE and ERROR chunks, or a source
// that is not unicast.
bool make_sctp_abort6(rte_mbuf* m, const ParsedIpv6& parsed) noexcept;

}  // namespace vipgate
