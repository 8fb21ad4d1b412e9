// Frame parser. See packet_parser.h for what is accepted and why.
//
// Every step first proves that the bytes it reads lie within `readable` (the contiguous bytes,
// never more than the frame), then reads them through DPDK's packed header structs, or copies
// them out where DPDK's struct demands an alignment the buffer may lack.
#include "dataplane/packet_parser.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint32_t kIpv4HeaderLength = sizeof(rte_ipv4_hdr);
constexpr uint32_t kIcmpHeaderLength = sizeof(rte_icmp_hdr);
constexpr uint32_t kQuotedL4Length = 8;  // RFC 792: an ICMP error quotes 64 bits of the datagram
constexpr uint32_t kTcpHeaderLength = sizeof(rte_tcp_hdr);
constexpr uint16_t kVlanIdMask = 0x0FFF;
constexpr uint16_t kFragmentMask = RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK;
constexpr uint32_t kMaxDatagramLength = 65535;
constexpr uint8_t kIpv4Version = 4;
constexpr uint8_t kIpv4MinimumIhl = 5;

constexpr ParseOutcome invalid(DropReason reason) {
    return {PacketKind::Invalid, reason};
}
constexpr ParseOutcome accepted(PacketKind kind) {
    return {kind, DropReason::Count};
}

// For the packed IPv4/L4/VLAN header structs, which any address may hold.
template <typename Header>
const Header* header_at(const uint8_t* frame, uint32_t offset) {
    return reinterpret_cast<const Header*>(frame + offset);
}

// rte_ether_hdr and rte_arp_hdr promise 2-byte alignment, which a caller's buffer need not
// keep, so their fields are copied out instead.
uint16_t load_be16(const uint8_t* bytes) {
    uint16_t value;
    std::memcpy(&value, bytes, sizeof(value));
    return rte_be_to_cpu_16(value);
}

// Sets icmp_error, inner_l3_offset and inner_key when the ICMP error's quote holds a datagram
// rewrite_icmp_error can translate (see packet_parser.h); leaves icmp_error false otherwise.
void parse_icmp_quote(const uint8_t* frame, uint32_t readable, uint32_t datagram_end, ParsedPacket& out) {
    const uint32_t inner_l3 = out.l4_offset + kIcmpHeaderLength;
    const uint32_t inner_l4 = inner_l3 + kIpv4HeaderLength;
    if (inner_l4 + kQuotedL4Length > datagram_end) return;
    if (std::min(datagram_end, inner_l4 + kTcpHeaderLength) > readable) return;

    const auto* inner = header_at<rte_ipv4_hdr>(frame, inner_l3);
    if (inner->version_ihl != ((kIpv4Version << 4) | kIpv4MinimumIhl)) return;
    if ((rte_be_to_cpu_16(inner->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) != 0) return;

    out.icmp_error = true;
    out.inner_l3_offset = static_cast<uint16_t>(inner_l3);
    out.inner_key.src_addr = inner->src_addr;
    out.inner_key.dst_addr = inner->dst_addr;
    out.inner_key.protocol = inner->next_proto_id;
    if (inner->next_proto_id == kProtoTcp || inner->next_proto_id == kProtoUdp || inner->next_proto_id == kProtoSctp) {
        // TCP, UDP and SCTP all start with source and destination port.
        const auto* ports = header_at<rte_udp_hdr>(frame, inner_l4);
        out.inner_key.src_port = ports->src_port;
        out.inner_key.dst_port = ports->dst_port;
    }
}

// See packet_parser.h for what is refused and why.
ParseOutcome parse_sctp(const uint8_t* frame, uint32_t l4_available, uint32_t ip_payload_length, ParsedPacket& out) {
    if (l4_available < kSctpCommonHeaderLength + kSctpChunkHeaderLength) return invalid(DropReason::TruncatedL4);
    const auto* sctp = header_at<rte_sctp_hdr>(frame, out.l4_offset);
    const uint8_t* chunk = frame + out.l4_offset + kSctpCommonHeaderLength;
    const uint32_t chunk_length = load_be16(chunk + 2);
    const uint32_t chunks_length = ip_payload_length - kSctpCommonHeaderLength;
    if (chunk_length < kSctpChunkHeaderLength || chunk_length > chunks_length) {
        return invalid(DropReason::MalformedSctp);
    }
    const bool init = chunk[0] == kSctpInit;
    if (init) {
        if (chunk_length < kSctpInitChunkMinimumLength) return invalid(DropReason::MalformedSctp);
        if (l4_available < kSctpCommonHeaderLength + kSctpInitChunkMinimumLength) {
            return invalid(DropReason::TruncatedL4);
        }
    }
    // RFC 9260 8.5.1 (A): tag 0 marks a packet holding one INIT chunk (padded to 4 bytes) and nothing else.
    const bool lone_chunk = ((chunk_length + 3) & ~3u) == chunks_length;
    if ((sctp->tag == 0) != init || (init && !lone_chunk)) return invalid(DropReason::MalformedSctp);

    out.key.src_port = sctp->src_port;
    out.key.dst_port = sctp->dst_port;
    out.sctp_chunk_type = chunk[0];
    out.sctp_chunk_flags = chunk[1];
    out.tcp_flags = sctp_tcp_flags(chunk[0]);
    return accepted(PacketKind::Ipv4);
}

// `l4_available`: bytes of the L4 header area that are both inside the datagram and readable.
ParseOutcome parse_l4(const uint8_t* frame, uint32_t readable, uint32_t l4_available, ParsedPacket& out) {
    const uint32_t ip_payload_length = out.ip_total_length - kIpv4HeaderLength;
    // A first fragment too short for its L4 header is RFC 1858's tiny fragment; one whose header
    // is in the datagram but not in the first segment is truncated, like any packet's.
    const bool tiny_fragment = out.fragment == FragmentKind::First && l4_available == ip_payload_length;
    const DropReason truncated = tiny_fragment ? DropReason::FragmentTiny : DropReason::TruncatedL4;
    switch (out.key.protocol) {
    case kProtoTcp: {
        if (l4_available < kTcpHeaderLength) return invalid(truncated);
        const auto* tcp = header_at<rte_tcp_hdr>(frame, out.l4_offset);
        const uint32_t header_length = (tcp->data_off >> 4) * 4u;
        if (header_length < kTcpHeaderLength) return invalid(DropReason::TruncatedL4);
        if (header_length > l4_available) return invalid(truncated);
        out.key.src_port = tcp->src_port;
        out.key.dst_port = tcp->dst_port;
        out.tcp_flags = tcp->tcp_flags;
        return accepted(PacketKind::Ipv4);
    }
    case kProtoUdp: {
        if (l4_available < sizeof(rte_udp_hdr)) return invalid(truncated);
        const auto* udp = header_at<rte_udp_hdr>(frame, out.l4_offset);
        const uint32_t udp_length = rte_be_to_cpu_16(udp->dgram_len);
        // A first fragment carries the whole datagram's UDP length.
        const bool longer_allowed = out.fragment == FragmentKind::First;
        if (udp_length < sizeof(rte_udp_hdr) || (udp_length > ip_payload_length && !longer_allowed)) {
            return invalid(DropReason::TruncatedL4);
        }
        out.key.src_port = udp->src_port;
        out.key.dst_port = udp->dst_port;
        return accepted(PacketKind::Ipv4);
    }
    case kProtoSctp:
        return parse_sctp(frame, l4_available, ip_payload_length, out);
    case kProtoIcmp: {
        if (l4_available < kIcmpHeaderLength) return invalid(DropReason::TruncatedL4);
        const auto* icmp = header_at<rte_icmp_hdr>(frame, out.l4_offset);
        out.icmp_type = icmp->icmp_type;
        out.icmp_code = icmp->icmp_code;
        if (icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_type == RTE_IP_ICMP_ECHO_REPLY) {
            out.icmp_identifier = icmp->icmp_ident;
        } else if (is_icmp_error_type(icmp->icmp_type)) {
            parse_icmp_quote(frame, readable, out.l3_offset + out.ip_total_length, out);
        }
        return accepted(PacketKind::Ipv4);
    }
    default:
        return invalid(DropReason::UnsupportedProtocol);
    }
}

// Fills the fragment fields (see packet_parser.h); the first fragment goes on to parse_l4.
ParseOutcome parse_fragment(uint16_t fragment_field, uint16_t packet_id, ParsedPacket& out) {
    if (out.key.protocol != kProtoTcp && out.key.protocol != kProtoUdp) return invalid(DropReason::Fragment);
    const uint32_t offset =
        static_cast<uint32_t>(fragment_field & RTE_IPV4_HDR_OFFSET_MASK) * RTE_IPV4_HDR_OFFSET_UNITS;
    if (offset + out.ip_total_length - kIpv4HeaderLength > kMaxDatagramLength) {
        return invalid(DropReason::FragmentOversize);
    }
    // A fragment without payload adds nothing; TCP at offset 8 could rewrite the flags (RFC 1858).
    if (out.ip_total_length == kIpv4HeaderLength ||
        (out.key.protocol == kProtoTcp && offset == RTE_IPV4_HDR_OFFSET_UNITS)) {
        return invalid(DropReason::FragmentTiny);
    }
    out.fragment = offset == 0 ? FragmentKind::First : FragmentKind::Later;
    out.more_fragments = (fragment_field & RTE_IPV4_HDR_MF_FLAG) != 0;
    out.fragment_offset = static_cast<uint16_t>(offset);
    out.ip_id = packet_id;
    return accepted(PacketKind::Ipv4);
}

ParseOutcome parse_ipv4(const uint8_t* frame, uint32_t readable, uint32_t packet_length, bool verify_checksum,
                        ParsedPacket& out) {
    const uint32_t l3 = out.l3_offset;
    if (readable - l3 < kIpv4HeaderLength) return invalid(DropReason::TruncatedIpv4);
    const auto* ip = header_at<rte_ipv4_hdr>(frame, l3);

    if ((ip->version_ihl >> 4) != kIpv4Version) return invalid(DropReason::BadIpVersion);
    const uint8_t ihl = ip->version_ihl & RTE_IPV4_HDR_IHL_MASK;
    if (ihl < kIpv4MinimumIhl) return invalid(DropReason::BadIhl);
    const uint16_t total_length = rte_be_to_cpu_16(ip->total_length);
    if (ihl > kIpv4MinimumIhl) {
        // Options only when the header they make fits the datagram and the frame; a larger IHL
        // is a broken header, not options.
        const uint32_t header_length = uint32_t{ihl} * 4;
        const bool fits = header_length <= total_length && header_length <= readable - l3;
        return invalid(fits ? DropReason::IpOptions : DropReason::BadIhl);
    }

    // Trailing Ethernet padding is fine: only a datagram longer than the frame is wrong.
    if (total_length < kIpv4HeaderLength || total_length > packet_length - l3) {
        return invalid(DropReason::BadIpLength);
    }
    // A correct header sums (checksum field included) to 0xFFFF.
    if (verify_checksum && rte_raw_cksum(ip, kIpv4HeaderLength) != 0xFFFF) {
        return invalid(DropReason::BadIpChecksum);
    }

    out.l4_offset = static_cast<uint16_t>(l3 + kIpv4HeaderLength);
    out.ip_total_length = total_length;
    out.ttl = ip->time_to_live;
    out.key.src_addr = ip->src_addr;
    out.key.dst_addr = ip->dst_addr;
    out.key.protocol = ip->next_proto_id;

    const uint32_t l4_available = std::min<uint32_t>(total_length, readable - l3) - kIpv4HeaderLength;
    const uint16_t fragment_field = rte_be_to_cpu_16(ip->fragment_offset);
    if (unlikely((fragment_field & kFragmentMask) != 0)) {
        const ParseOutcome outcome = parse_fragment(fragment_field, ip->packet_id, out);
        if (outcome.kind == PacketKind::Invalid || out.fragment == FragmentKind::Later) return outcome;
    }
    return parse_l4(frame, readable, l4_available, out);
}

}  // namespace

bool is_ethernet_ipv4_arp(const uint8_t* arp_header, uint32_t available) noexcept {
    if (available < sizeof(rte_arp_hdr)) return false;
    return load_be16(arp_header + offsetof(rte_arp_hdr, arp_hardware)) == RTE_ARP_HRD_ETHER &&
           load_be16(arp_header + offsetof(rte_arp_hdr, arp_protocol)) == RTE_ETHER_TYPE_IPV4 &&
           arp_header[offsetof(rte_arp_hdr, arp_hlen)] == RTE_ETHER_ADDR_LEN &&
           arp_header[offsetof(rte_arp_hdr, arp_plen)] == sizeof(uint32_t);
}

ParseOutcome parse_packet(const uint8_t* frame, uint32_t contiguous_length, uint32_t packet_length, uint16_t port_vlan,
                          bool verify_ip_checksum, ParsedPacket& out) noexcept {
    out = ParsedPacket{};
    const uint32_t readable = std::min(contiguous_length, packet_length);

    uint32_t l3 = sizeof(rte_ether_hdr);
    if (readable < l3) return invalid(DropReason::TruncatedEthernet);
    uint16_t ether_type = load_be16(frame + offsetof(rte_ether_hdr, ether_type));

    if (ether_type == RTE_ETHER_TYPE_VLAN) {
        if (readable < l3 + sizeof(rte_vlan_hdr)) return invalid(DropReason::TruncatedVlan);
        const auto* vlan = header_at<rte_vlan_hdr>(frame, l3);
        out.vlan_id = rte_be_to_cpu_16(vlan->vlan_tci) & kVlanIdMask;
        ether_type = rte_be_to_cpu_16(vlan->eth_proto);
        l3 += sizeof(rte_vlan_hdr);
    }
    if (out.vlan_id != port_vlan) return invalid(DropReason::VlanMismatch);

    out.l3_offset = static_cast<uint16_t>(l3);
    out.ether_type = ether_type;
    switch (ether_type) {
    case RTE_ETHER_TYPE_IPV4:
        return parse_ipv4(frame, readable, packet_length, verify_ip_checksum, out);
    case RTE_ETHER_TYPE_ARP:
        if (!is_ethernet_ipv4_arp(frame + l3, readable - l3)) return invalid(DropReason::MalformedArp);
        return accepted(PacketKind::Arp);
    case RTE_ETHER_TYPE_IPV6:
        return accepted(PacketKind::Ipv6);
    default:
        return invalid(DropReason::UnknownEthertype);
    }
}

}  // namespace vipgate
