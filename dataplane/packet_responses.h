// Packets the gateway answers itself: TCP resets, SCTP aborts, ICMP errors, echo replies, ARP.
//
// Design note: every answer is built in place in the received mbuf, so answering never
// allocates and cannot fail for lack of buffers; a response only needs headroom (ICMP errors)
// and the headers the parser already proved to be contiguous. These are slow-path packets, so
// checksums are computed fully. The Ethernet header is turned around (source and destination
// swapped, or our_mac as source where given) and an 802.1Q tag is kept, so the answer leaves
// on the port and VLAN it came from. Each function returns false when it cannot answer (no
// headroom, or a packet that must not be answered); the caller then drops the packet.
#pragma once

#include <cstdint>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "dataplane/packet_parser.h"

struct rte_ipv4_hdr;

namespace vipgate {

// Building blocks of every answer (also dns_path.cpp's).
// Swaps the Ethernet source and destination.
void turn_around_ethernet(uint8_t* frame) noexcept;
// Writes a complete option-less IPv4 header (TTL 64, DF clear) with its checksum.
void write_ipv4_header(rte_ipv4_hdr& ip, uint8_t tos, uint16_t total_length, uint16_t packet_id, uint8_t protocol,
                       uint32_t src_addr, uint32_t dst_addr) noexcept;
// Shortens the packet to `length` bytes, all in the first segment (the headers a response
// keeps were proved contiguous by the parser); later segments go back to their pool.
void truncate_to_first_segment(rte_mbuf* m, uint32_t length) noexcept;

// RFC 793 reset for a TCP segment (sent from the packet's destination to its source, payload
// and options trimmed): if ACK is set, RST with seq = SEG.ACK; otherwise RST|ACK with seq = 0
// and ack = SEG.SEQ + SEG.LEN (payload, +1 for SYN, +1 for FIN). False for a segment that is
// itself a reset (a reset is never answered).
bool make_tcp_reset(rte_mbuf* m, const ParsedPacket& parsed) noexcept;

// RFC 9260 8.4 answer to an out-of-the-blue SCTP packet, SCTP's reset (sent from the packet's
// destination to its source, chunks trimmed): a SHUTDOWN ACK gets a SHUTDOWN COMPLETE, anything
// else an ABORT without error causes. For an INIT the verification tag is its initiate tag with
// the T bit clear (8.4 rule 3); otherwise the packet's own tag, reflected, with the T bit set.
// False, as the RFC asks, for ABORT, SHUTDOWN COMPLETE and ERROR (COOKIE ERROR) chunks, and for
// a source that is not a unicast address.
bool make_sctp_abort(rte_mbuf* m, const ParsedPacket& parsed) noexcept;

// ICMP error (RFC 792) about the packet, sent from `source_addr` (network order) to the packet's
// source. Quotes the IPv4 header and the first 8 bytes of its payload, so every error is 56
// bytes of IPv4 whatever the packet's size (below any MTU; RFC 1812 allows up to 576). False
// when RFC 1122 3.2.2 forbids the error: the packet is itself ICMP other than an echo request
// or reply, or its source is not a unicast address. Uses rte_pktmbuf_prepend: needs 28 bytes of
// headroom. `next_hop_mtu` goes into the low 16 bits of the header's second word, as RFC 1191
// asks of "fragmentation needed" (type 3 code 4); 0 (unused) for every other error.
bool make_icmp_error(rte_mbuf* m, const ParsedPacket& parsed, uint8_t type, uint8_t code, uint32_t source_addr,
                     uint16_t next_hop_mtu = 0) noexcept;

// Echo request to an address we own -> echo reply in place (payload kept). False when the
// packet is not an echo request.
bool make_icmp_echo_reply(rte_mbuf* m, const ParsedPacket& parsed) noexcept;

struct ArpMessage {
    uint16_t operation;  // host order
    rte_ether_addr sender_mac;
    uint32_t sender_addr;  // network order
    uint32_t target_addr;  // network order
};

// Ethernet/IPv4 ARP only, else false.
bool parse_arp(const uint8_t* frame, uint32_t contiguous_length, const ParsedPacket& parsed, ArpMessage& out) noexcept;

// Turns a request for an address we own into the reply (the caller checked the address).
// False when the packet is not an Ethernet/IPv4 ARP request.
bool make_arp_reply(rte_mbuf* m, const ParsedPacket& parsed, const rte_ether_addr& our_mac) noexcept;

// Fills an empty mbuf with a broadcast ARP request (802.1Q tag when vlan != 0). The frame is
// not padded to 60 bytes: NICs pad short frames. False if the mbuf has no room.
bool write_arp_request(rte_mbuf* m, const rte_ether_addr& our_mac, uint32_t our_addr, uint32_t target_addr,
                       uint16_t vlan) noexcept;

}  // namespace vipgate
