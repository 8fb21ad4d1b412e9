// In-place NAT66 rewrite (docs/ipv6.md, step 3).
//
// Design note: IPv6 has no header checksum, so a rewrite touches the two addresses, the ports,
// the hop limit and the upper-layer checksum only. The address change goes into the same
// 64-bit one's-complement accumulator as the IPv4 fast path (checksum.h: eight 32-bit words
// of ~old + new, one fold at the end), with the ports' terms beside it. SCTP's CRC32c covers
// no addresses: only its port update applies. The caller passes the ParsedIpv6 of this very
// frame, which proved every header named there complete and contiguous.
#pragma once

#include <cstdint>

#include "dataplane/ipv6_parser.h"

namespace vipgate {

// New header values, network order.
struct Ipv6Rewrite {
    const uint8_t* src_addr;  // 16 bytes each; may point into the packet's own header
    const uint8_t* dst_addr;
    uint16_t src_port, dst_port;
};

// Rewrites the addresses and TCP/UDP/SCTP ports, decrements the hop limit, and updates the TCP
// and UDP checksums (a UDP result of 0 is sent as 0xFFFF: IPv6 forbids "no checksum") and the
// SCTP CRC32c. The caller checked hop_limit > 1 and that the packet is not a fragment.
void rewrite_ipv6_packet(uint8_t* frame, const ParsedIpv6& parsed, const Ipv6Rewrite& rewrite) noexcept;

// A later IPv6 fragment (parsed.fragment == Later) of a translated datagram: new addresses and
// hop limit - 1 only. It has no L4 header and IPv6 no header checksum; the first fragment's L4
// checksum update already accounts for the new pseudo header. Caller checked hop_limit > 1.
void rewrite_fragment6_addresses(uint8_t* frame, const ParsedIpv6& parsed, const uint8_t src_addr[16],
                                 const uint8_t dst_addr[16]) noexcept;

}  // namespace vipgate
