// In-place IPv4 NAT rewrite with incremental checksum updates.
//
// Design note: the forwarding path touches only the words it changes (addresses, ports, TTL)
// and adjusts each checksum by RFC 1624 (see checksum.h) instead of summing the packet again,
// so its cost does not depend on the payload length and never reads the payload. The caller
// passes the ParsedPacket of this very frame: the parser has proved that every header named
// there is complete and contiguous, so these functions do no bounds checks of their own.
#pragma once

#include <cstdint>

#include "dataplane/packet_parser.h"

namespace vipgate {

// New header values, network order.
struct Ipv4Rewrite {
    uint32_t src_addr, dst_addr;
    uint16_t src_port, dst_port;
};

// Rewrites IPv4 addresses and TCP/UDP/SCTP ports in place, decrements TTL, and updates the
// IPv4, TCP and UDP checksums incrementally (a UDP checksum of 0 means "none" and stays 0; a
// computed 0 becomes 0xFFFF) and the SCTP CRC32c by its linear update (sctp.h). ICMP echo: rewrites addresses, and
// src_port/dst_port are ignored (the ICMP checksum has no pseudo header, so it does not change). Caller checked ttl
// > 1.
void rewrite_ipv4_packet(uint8_t* frame, const ParsedPacket& parsed, const Ipv4Rewrite& rewrite) noexcept;

// A later IPv4 fragment (parsed.fragment == Later) of a translated datagram: new addresses,
// TTL - 1 and the IPv4 checksum only. It has no L4 header; the first fragment's L4 checksum
// update already accounts for the new pseudo header. Caller checked ttl > 1.
void rewrite_fragment_addresses(uint8_t* frame, const ParsedPacket& parsed, uint32_t new_src,
                                uint32_t new_dst) noexcept;

// ICMP error translation (parsed.icmp_error must be true). Sets the outer source and
// destination (pass the current value for the one that does not change) and the quoted
// inner header's addresses and TCP/UDP/SCTP ports (ignored for a quoted ICMP packet); fixes the
// inner IPv4 checksum, the outer ICMP checksum and the outer IPv4 checksum, and decrements the
// outer TTL as any forwarded packet's (caller checked ttl > 1). The quoted L4 checksum is
// updated only when the field lies fully in the quote: always for UDP (unless 0), for TCP
// when at least 18 bytes of its header are quoted (a quote ending between the checksum's two
// bytes leaves it alone: the missing byte's carry is unknown). Linux's NAT requires the whole
// 20-byte TCP header; the two differ only for a quote of 18 or 19 TCP bytes. SCTP's CRC32c
// when its 4 bytes are quoted (12 bytes of SCTP): its update needs only the quoted packet's
// length, which the inner IPv4 header gives, not the truncated chunks.
void rewrite_icmp_error(uint8_t* frame, const ParsedPacket& parsed, uint32_t new_outer_src, uint32_t new_outer_dst,
                        const Ipv4Rewrite& inner_rewrite) noexcept;

}  // namespace vipgate
