#include "dataplane/nat_rewrite.h"

#include <cstddef>
#include <cstring>

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/checksum.h"
#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint32_t kIpv4HeaderLength = sizeof(rte_ipv4_hdr);
constexpr uint32_t kTcpChecksumEnd = offsetof(rte_tcp_hdr, cksum) + sizeof(uint16_t);
constexpr uint32_t kSctpChecksumEnd = offsetof(rte_sctp_hdr, cksum) + sizeof(uint32_t);

template <typename Header>
Header* header_at(uint8_t* frame, uint32_t offset) {
    return reinterpret_cast<Header*>(frame + offset);
}

// The TCP/UDP checksum covers the pseudo header's addresses and the ports. Must run before
// the IP header's addresses are rewritten: it reads the old ones from `ip`.
uint16_t adjusted_transport_checksum(uint16_t checksum, const rte_ipv4_hdr& ip, uint16_t old_src_port,
                                     uint16_t old_dst_port, const Ipv4Rewrite& rewrite) {
    checksum = checksum_update32(checksum, ip.src_addr, rewrite.src_addr);
    checksum = checksum_update32(checksum, ip.dst_addr, rewrite.dst_addr);
    checksum = checksum_update16(checksum, old_src_port, rewrite.src_port);
    return checksum_update16(checksum, old_dst_port, rewrite.dst_port);
}

// UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as 0xFFFF (RFC 768).
uint16_t adjusted_udp_checksum(const rte_ipv4_hdr& ip, const rte_udp_hdr& udp, const Ipv4Rewrite& rewrite) {
    if (udp.dgram_cksum == 0) return 0;
    const uint16_t adjusted = adjusted_transport_checksum(udp.dgram_cksum, ip, udp.src_port, udp.dst_port, rewrite);
    return adjusted == 0 ? 0xFFFF : adjusted;
}

void rewrite_addresses(rte_ipv4_hdr& ip, uint32_t new_src, uint32_t new_dst) {
    uint16_t checksum = checksum_update32(ip.hdr_checksum, ip.src_addr, new_src);
    checksum = checksum_update32(checksum, ip.dst_addr, new_dst);
    ip.src_addr = new_src;
    ip.dst_addr = new_dst;
    ip.hdr_checksum = checksum;
}

// TTL shares a 16-bit checksum word with the protocol number.
void decrement_ttl(rte_ipv4_hdr& ip) {
    uint8_t* word = reinterpret_cast<uint8_t*>(&ip) + offsetof(rte_ipv4_hdr, time_to_live);
    uint16_t old_word;
    std::memcpy(&old_word, word, sizeof(old_word));
    --ip.time_to_live;
    uint16_t new_word;
    std::memcpy(&new_word, word, sizeof(new_word));
    ip.hdr_checksum = checksum_update16(ip.hdr_checksum, old_word, new_word);
}

// Both ports as one 32-bit value, as stored (network order each): the SCTP checksum's input.
uint32_t load_ports(const void* l4) {
    uint32_t ports;
    std::memcpy(&ports, l4, sizeof(ports));
    return ports;
}

uint32_t ports_value(uint16_t src_port, uint16_t dst_port) {
    const uint16_t ports[2] = {src_port, dst_port};
    uint32_t value;
    std::memcpy(&value, ports, sizeof(value));
    return value;
}

// Rewrites the ports and L4 checksum of a quoted TCP/UDP/SCTP header; every 16-bit word it
// changes is folded into `icmp_checksum`, which covers the whole quote. `quoted_l4_length` bytes
// of the header are present (at least 8).
uint16_t rewrite_quoted_transport(uint8_t* l4, uint32_t quoted_l4_length, uint8_t protocol,
                                  const rte_ipv4_hdr& inner_ip, const Ipv4Rewrite& rewrite, uint16_t icmp_checksum) {
    if (protocol == kProtoTcp) {
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
        if (quoted_l4_length >= kTcpChecksumEnd) {
            const uint16_t adjusted =
                adjusted_transport_checksum(tcp->cksum, inner_ip, tcp->src_port, tcp->dst_port, rewrite);
            icmp_checksum = checksum_update16(icmp_checksum, tcp->cksum, adjusted);
            tcp->cksum = adjusted;
        }
    } else if (protocol == kProtoSctp) {
        // The inner IPv4 header gives the quoted packet's full length, which is all the update
        // needs; unless it was a first fragment (MF), whose CRC covers bytes we know nothing of.
        auto* sctp = reinterpret_cast<rte_sctp_hdr*>(l4);
        const uint32_t inner_length = rte_be_to_cpu_16(inner_ip.total_length);
        const bool whole_packet = (inner_ip.fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG)) == 0;
        if (quoted_l4_length >= kSctpChecksumEnd && whole_packet &&
            inner_length >= kIpv4HeaderLength + kSctpCommonHeaderLength) {
            const uint32_t sctp_length = inner_length - kIpv4HeaderLength;
            const uint32_t adjusted = sctp_checksum_update_ports(
                sctp->cksum, load_ports(l4), ports_value(rewrite.src_port, rewrite.dst_port), sctp_length);
            icmp_checksum = checksum_update32(icmp_checksum, sctp->cksum, adjusted);
            sctp->cksum = adjusted;
        }
    } else {
        auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
        const uint16_t adjusted = adjusted_udp_checksum(inner_ip, *udp, rewrite);
        icmp_checksum = checksum_update16(icmp_checksum, udp->dgram_cksum, adjusted);
        udp->dgram_cksum = adjusted;
    }
    // TCP, UDP and SCTP all start with source and destination port.
    auto* ports = reinterpret_cast<rte_udp_hdr*>(l4);
    icmp_checksum = checksum_update16(icmp_checksum, ports->src_port, rewrite.src_port);
    icmp_checksum = checksum_update16(icmp_checksum, ports->dst_port, rewrite.dst_port);
    ports->src_port = rewrite.src_port;
    ports->dst_port = rewrite.dst_port;
    return icmp_checksum;
}

}  // namespace

void rewrite_ipv4_packet(uint8_t* frame, const ParsedPacket& parsed, const Ipv4Rewrite& rewrite) noexcept {
    auto* ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    // ~m + m' of both addresses: shared by the IPv4 header checksum and the L4 pseudo header.
    const uint64_t address_delta = checksum_halves(~ip->src_addr) + checksum_halves(~ip->dst_addr) +
                                   checksum_halves(rewrite.src_addr) + checksum_halves(rewrite.dst_addr);
    switch (parsed.key.protocol) {
    case kProtoTcp: {
        auto* tcp = header_at<rte_tcp_hdr>(frame, parsed.l4_offset);
        const uint64_t sum = uint16_t(~tcp->cksum) + address_delta + uint16_t(~tcp->src_port) +
                             uint16_t(~tcp->dst_port) + rewrite.src_port + rewrite.dst_port;
        tcp->cksum = static_cast<uint16_t>(~checksum_fold64(sum));
        tcp->src_port = rewrite.src_port;
        tcp->dst_port = rewrite.dst_port;
        break;
    }
    case kProtoUdp: {
        auto* udp = header_at<rte_udp_hdr>(frame, parsed.l4_offset);
        // UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as 0xFFFF (RFC 768).
        if (udp->dgram_cksum != 0) {
            const uint64_t sum = uint16_t(~udp->dgram_cksum) + address_delta + uint16_t(~udp->src_port) +
                                 uint16_t(~udp->dst_port) + rewrite.src_port + rewrite.dst_port;
            const auto adjusted = static_cast<uint16_t>(~checksum_fold64(sum));
            udp->dgram_cksum = adjusted == 0 ? 0xFFFF : adjusted;
        }
        udp->src_port = rewrite.src_port;
        udp->dst_port = rewrite.dst_port;
        break;
    }
    case kProtoSctp: {
        // CRC32c has no pseudo header: only the ports count (sctp.h).
        auto* sctp = header_at<rte_sctp_hdr>(frame, parsed.l4_offset);
        sctp->cksum =
            sctp_checksum_update_ports(sctp->cksum, load_ports(sctp), ports_value(rewrite.src_port, rewrite.dst_port),
                                       parsed.ip_total_length - kIpv4HeaderLength);
        sctp->src_port = rewrite.src_port;
        sctp->dst_port = rewrite.dst_port;
        break;
    }
    default:
        break;  // ICMP echo: no pseudo header, nothing to do above IP
    }
    // TTL shares a 16-bit checksum word with the protocol number.
    uint8_t* ttl_word = reinterpret_cast<uint8_t*>(ip) + offsetof(rte_ipv4_hdr, time_to_live);
    uint16_t old_word;
    std::memcpy(&old_word, ttl_word, sizeof(old_word));
    --ip->time_to_live;
    uint16_t new_word;
    std::memcpy(&new_word, ttl_word, sizeof(new_word));
    const uint64_t sum = uint16_t(~ip->hdr_checksum) + address_delta + uint16_t(~old_word) + new_word;
    ip->hdr_checksum = static_cast<uint16_t>(~checksum_fold64(sum));
    ip->src_addr = rewrite.src_addr;
    ip->dst_addr = rewrite.dst_addr;
}

void rewrite_icmp_error(uint8_t* frame, const ParsedPacket& parsed, uint32_t new_outer_src, uint32_t new_outer_dst,
                        const Ipv4Rewrite& inner_rewrite) noexcept {
    auto* icmp = header_at<rte_icmp_hdr>(frame, parsed.l4_offset);
    auto* inner_ip = header_at<rte_ipv4_hdr>(frame, parsed.inner_l3_offset);
    const uint32_t inner_l4 = parsed.inner_l3_offset + kIpv4HeaderLength;
    const uint32_t quote_end = parsed.l3_offset + parsed.ip_total_length;
    uint16_t icmp_checksum = icmp->icmp_cksum;

    const uint8_t inner_protocol = parsed.inner_key.protocol;
    if (inner_protocol == kProtoTcp || inner_protocol == kProtoUdp || inner_protocol == kProtoSctp) {
        icmp_checksum = rewrite_quoted_transport(frame + inner_l4, quote_end - inner_l4, inner_protocol, *inner_ip,
                                                 inner_rewrite, icmp_checksum);
    }
    const uint16_t old_inner_checksum = inner_ip->hdr_checksum;
    icmp_checksum = checksum_update32(icmp_checksum, inner_ip->src_addr, inner_rewrite.src_addr);
    icmp_checksum = checksum_update32(icmp_checksum, inner_ip->dst_addr, inner_rewrite.dst_addr);
    rewrite_addresses(*inner_ip, inner_rewrite.src_addr, inner_rewrite.dst_addr);
    icmp->icmp_cksum = checksum_update16(icmp_checksum, old_inner_checksum, inner_ip->hdr_checksum);

    auto* outer_ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    rewrite_addresses(*outer_ip, new_outer_src, new_outer_dst);
    decrement_ttl(*outer_ip);
}

void rewrite_fragment_addresses(uint8_t* frame, const ParsedPacket& parsed, uint32_t new_src,
                                uint32_t new_dst) noexcept {
    auto* ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    rewrite_addresses(*ip, new_src, new_dst);
    decrement_ttl(*ip);
}

}  // namespace vipgate
