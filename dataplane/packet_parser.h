// Frame parser: Ethernet (+ one 802.1Q tag) -> IPv4 (TCP, UDP, SCTP, ICMP), ARP, or IPv6 (whose
// header ipv6_parser.h parses).
//
// Design note: the parser is the only code that distrusts the wire. It checks every length
// before it reads, so everything downstream (classification, NAT rewrite, responses) may
// assume that the headers named in ParsedPacket are complete and lie in the first mbuf
// segment. It reads nothing outside [frame, frame + contiguous_length) and allocates nothing.
//
// Decisions:
// - VLAN: a frame matches the port when its 802.1Q VLAN id equals port_vlan, an untagged frame
//   counting as VLAN 0. A priority-tagged frame (tag with VLAN id 0) therefore matches an
//   untagged port, as 802.1Q prescribes; it keeps its tag (l3_offset 18) in replies.
// - QinQ: only one 802.1Q (0x8100) tag is parsed. A second tag after it, or an 802.1ad
//   (0x88A8) outer tag, is an ethertype we do not speak: UnknownEthertype (or VlanMismatch
//   first, when the port expects a tag and the frame has no 802.1Q tag).
// - IPv4 with options is dropped (IpOptions): no ClusterIP traffic uses them, and a fixed
//   20-byte header keeps every rewrite offset constant.
// - UDP: the UDP length must be at least 8 and at most the IP payload (Linux accepts a shorter
//   UDP length and ignores the excess; so do we).
// - SCTP: the common header and the first chunk's header (the first 16 bytes; 32 for an INIT,
//   whose initiate tag a refusal needs) must be contiguous, else TruncatedL4. MalformedSctp when
//   the first chunk's length is below 4 or runs past the datagram, or when RFC 9260 8.5.1 says
//   to discard: a verification tag of 0 on anything but a lone INIT, an INIT with a non-zero
//   tag, an INIT chunk shorter than 20 bytes. Only the first chunk is examined. The CRC32c is
//   not verified: the endpoint does that (see sctp.h for why the NAT keeps a bad one bad).
// - ARP must be Ethernet/IPv4 (hardware 1, protocol 0x0800, lengths 6 and 4) and complete in
//   the first segment, else MalformedArp; the opcode is left to the caller.
// - IPv4 fragments (MF set or a non-zero offset) of TCP and UDP are accepted with `fragment`
//   set; of any other protocol they are Fragment. The first fragment must hold the whole L4
//   header (TCP with its options), else FragmentTiny (RFC 1858); a UDP length longer than the
//   fragment is expected there. A later fragment has no L4 header: its ports stay 0 and
//   l4_offset points at its payload. TCP at offset 8 is FragmentTiny (RFC 1858's overwrite of
//   the flags); offset + length past 65535 is FragmentOversize (the ping of death).
// - ICMP errors: icmp_error is set only when the quote holds a version-4, option-less inner
//   header followed by at least 8 bytes of its L4 header, and the quote up to 20 bytes into that
//   L4 header (or to its end, if shorter) is contiguous. rewrite_icmp_error relies on this to
//   reach a quoted TCP checksum. An error whose quote does not qualify is still a valid ICMP
//   packet with icmp_error false.
#pragma once

#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/flow_key.h"

namespace vipgate {

// A fragment's place in its datagram. Only the first carries the L4 header (ports, flags).
enum class FragmentKind : uint8_t { None, First, Later };

struct ParsedPacket {
    uint16_t l3_offset;        // frame start -> IPv4/ARP header (14, or 18 with one 802.1Q tag)
    uint16_t l4_offset;        // frame start -> L4 header (IPv4 only)
    uint16_t vlan_id;          // 0 when untagged
    uint16_t ether_type;       // host order, after the VLAN tag
    uint16_t ip_total_length;  // host order
    uint8_t ttl;
    uint8_t tcp_flags;  // TCP; SCTP: the TCP flags its first chunk stands for (sctp.h)
    uint8_t icmp_type;  // ICMP only
    uint8_t icmp_code;
    uint16_t icmp_identifier;  // ICMP echo only, network order
    FlowKey4 key;              // src/dst addresses, ports (0 for ICMP), protocol; network order
    bool icmp_error;          // ICMP dest-unreachable / time-exceeded / parameter-problem carrying an inner IPv4 header
    uint8_t sctp_chunk_type;  // SCTP only: type of the first chunk
    uint16_t inner_l3_offset;  // when icmp_error: frame start -> quoted IPv4 header
    uint8_t sctp_chunk_flags;  // SCTP only: flags of the first chunk
    FragmentKind fragment;     // IPv4 fragments of TCP and UDP (see below)
    bool more_fragments;       // fragments: MF set
    uint16_t fragment_offset;  // fragments: offset of this fragment's payload in the datagram, bytes (host order)
    uint16_t ip_id;            // fragments: IPv4 identification, network order
    FlowKey4 inner_key;        // when icmp_error: 5-tuple of the quoted packet (ports from its first 8 L4 bytes)
};
static_assert(sizeof(ParsedPacket) == 64, "ParsedPacket should fill exactly one cache line");

// Ipv6: from parse_packet, only Ethernet and the VLAN were checked (l3_offset, vlan_id and
// ether_type are set); the IPv6 header is parse_ipv6's (ipv6_parser.h), which returns Ipv6 for a
// well-formed packet.
enum class PacketKind : uint8_t { Ipv4, Arp, Ipv6, Invalid };

struct ParseOutcome {
    PacketKind kind;
    DropReason reason;  // meaningful only when kind == Invalid
};

// `contiguous_length`: bytes readable at `frame` (first mbuf segment); `packet_length`: whole frame length.
// port_vlan: the VLAN id this port carries (0 = untagged); a frame whose tag (or lack of one) differs is VlanMismatch.
ParseOutcome parse_packet(const uint8_t* frame, uint32_t contiguous_length, uint32_t packet_length, uint16_t port_vlan,
                          bool verify_ip_checksum, ParsedPacket& out) noexcept;

// True when `arp_header` starts a complete (`available` >= 28 bytes) Ethernet/IPv4 ARP header.
bool is_ethernet_ipv4_arp(const uint8_t* arp_header, uint32_t available) noexcept;

// True for the ICMP types whose body quotes the offending datagram and that the dataplane
// translates: destination unreachable, time exceeded, parameter problem.
constexpr bool is_icmp_error_type(uint8_t icmp_type) noexcept {
    return icmp_type == 3 || icmp_type == 11 || icmp_type == 12;
}

}  // namespace vipgate
