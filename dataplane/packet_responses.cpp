#include "dataplane/packet_responses.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_sctp.h>
#include <rte_tcp.h>

#include "dataplane/checksum.h"
#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint16_t kIpv4HeaderLength = sizeof(rte_ipv4_hdr);
constexpr uint16_t kIcmpHeaderLength = sizeof(rte_icmp_hdr);
constexpr uint16_t kTcpHeaderLength = sizeof(rte_tcp_hdr);
constexpr uint16_t kSctpAbortLength = kSctpCommonHeaderLength + kSctpChunkHeaderLength;
constexpr uint32_t kSctpInitiateTagOffset = kSctpCommonHeaderLength + kSctpChunkHeaderLength;
constexpr uint16_t kQuotedL4Length = 8;  // RFC 792: the IP header plus 64 bits of the datagram
constexpr uint8_t kResponseTtl = 64;
constexpr uint8_t kIpv4VersionIhl = 0x45;
constexpr uint8_t kDscpMask = 0xFC;                // the ECN bits belong to the transport that set them
constexpr uint8_t kTosInternetworkControl = 0xC0;  // RFC 1812 4.3.2.5: precedence 6 for ICMP errors
constexpr rte_ether_addr kBroadcastMac = {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};

template <typename Header>
Header* header_at(uint8_t* frame, uint32_t offset) {
    return reinterpret_cast<Header*>(frame + offset);
}

// Not 0/8, 127/8, multicast, class E or broadcast.
bool is_single_host(uint32_t address) {
    const uint8_t first_octet = static_cast<uint8_t>(rte_be_to_cpu_32(address) >> 24);
    return first_octet != 0 && first_octet != 127 && first_octet < 224;
}

// RFC 1122 3.2.2: no error about an ICMP error (only echo is answered, other ICMP types are
// errors or obsolete queries), and none to a source that is not a single host.
bool may_send_icmp_error(const ParsedPacket& parsed) {
    if (parsed.key.protocol == kProtoIcmp && parsed.icmp_type != RTE_IP_ICMP_ECHO_REQUEST &&
        parsed.icmp_type != RTE_IP_ICMP_ECHO_REPLY) {
        return false;
    }
    return is_single_host(parsed.key.src_addr);
}

}  // namespace

void turn_around_ethernet(uint8_t* frame) noexcept {
    auto* ethernet = header_at<rte_ether_hdr>(frame, 0);
    std::swap(ethernet->dst_addr, ethernet->src_addr);
}

void write_ipv4_header(rte_ipv4_hdr& ip, uint8_t tos, uint16_t total_length, uint16_t packet_id, uint8_t protocol,
                       uint32_t src_addr, uint32_t dst_addr) noexcept {
    ip.version_ihl = kIpv4VersionIhl;
    ip.type_of_service = tos;
    ip.total_length = rte_cpu_to_be_16(total_length);
    ip.packet_id = packet_id;
    ip.fragment_offset = 0;
    ip.time_to_live = kResponseTtl;
    ip.next_proto_id = protocol;
    ip.hdr_checksum = 0;
    ip.src_addr = src_addr;
    ip.dst_addr = dst_addr;
    ip.hdr_checksum = rte_ipv4_cksum(&ip);
}

void truncate_to_first_segment(rte_mbuf* m, uint32_t length) noexcept {
    if (m->next != nullptr) {
        rte_pktmbuf_free(m->next);
        m->next = nullptr;
        m->nb_segs = 1;
    }
    m->data_len = static_cast<uint16_t>(length);
    m->pkt_len = length;
}

bool make_tcp_reset(rte_mbuf* m, const ParsedPacket& parsed) noexcept {
    if (parsed.tcp_flags & RTE_TCP_RST_FLAG) return false;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    auto* ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    auto* tcp = header_at<rte_tcp_hdr>(frame, parsed.l4_offset);

    if (parsed.tcp_flags & RTE_TCP_ACK_FLAG) {
        tcp->sent_seq = tcp->recv_ack;
        tcp->recv_ack = 0;
        tcp->tcp_flags = RTE_TCP_RST_FLAG;
    } else {
        const uint32_t header_length = (tcp->data_off >> 4) * 4u;
        uint32_t segment_length = parsed.ip_total_length - kIpv4HeaderLength - header_length;
        if (parsed.tcp_flags & RTE_TCP_SYN_FLAG) ++segment_length;
        if (parsed.tcp_flags & RTE_TCP_FIN_FLAG) ++segment_length;
        tcp->recv_ack = rte_cpu_to_be_32(rte_be_to_cpu_32(tcp->sent_seq) + segment_length);
        tcp->sent_seq = 0;
        tcp->tcp_flags = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
    }
    const uint16_t src_port = tcp->src_port;
    tcp->src_port = tcp->dst_port;
    tcp->dst_port = src_port;
    tcp->data_off = (kTcpHeaderLength / 4) << 4;
    tcp->rx_win = 0;
    tcp->tcp_urp = 0;
    tcp->cksum = 0;

    write_ipv4_header(*ip, ip->type_of_service & kDscpMask, kIpv4HeaderLength + kTcpHeaderLength, 0, kProtoTcp,
                      parsed.key.dst_addr, parsed.key.src_addr);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
    turn_around_ethernet(frame);
    truncate_to_first_segment(m, parsed.l4_offset + kTcpHeaderLength);
    return true;
}

bool make_sctp_abort(rte_mbuf* m, const ParsedPacket& parsed) noexcept {
    const uint8_t type = parsed.sctp_chunk_type;
    if (type == kSctpAbort || type == kSctpShutdownComplete || type == kSctpError) return false;
    if (!is_single_host(parsed.key.src_addr)) return false;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    auto* ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    auto* sctp = header_at<rte_sctp_hdr>(frame, parsed.l4_offset);
    uint8_t* chunk = frame + parsed.l4_offset + kSctpCommonHeaderLength;

    // The parser proved an INIT's fixed part contiguous.
    if (type == kSctpInit) {
        std::memcpy(frame + parsed.l4_offset + offsetof(rte_sctp_hdr, tag),
                    frame + parsed.l4_offset + kSctpInitiateTagOffset, sizeof(uint32_t));
        chunk[1] = 0;
    } else {
        chunk[1] = kSctpChunkFlagT;
    }
    chunk[0] = type == kSctpShutdownAck ? kSctpShutdownComplete : kSctpAbort;
    const uint16_t chunk_length = rte_cpu_to_be_16(kSctpChunkHeaderLength);
    std::memcpy(chunk + 2, &chunk_length, sizeof(chunk_length));
    const uint16_t src_port = sctp->src_port;
    sctp->src_port = sctp->dst_port;
    sctp->dst_port = src_port;
    sctp->cksum = sctp_checksum(reinterpret_cast<const uint8_t*>(sctp), kSctpAbortLength);

    write_ipv4_header(*ip, ip->type_of_service & kDscpMask, kIpv4HeaderLength + kSctpAbortLength, 0, kProtoSctp,
                      parsed.key.dst_addr, parsed.key.src_addr);
    turn_around_ethernet(frame);
    truncate_to_first_segment(m, parsed.l4_offset + kSctpAbortLength);
    return true;
}

// The new IPv4 and ICMP headers are prepended between the Ethernet header and the received
// IPv4 header, which thereby becomes the quote without being copied; the packet is then cut
// after the quoted 8 bytes of L4.
bool make_icmp_error(rte_mbuf* m, const ParsedPacket& parsed, uint8_t type, uint8_t code, uint32_t source_addr,
                     uint16_t next_hop_mtu) noexcept {
    if (!may_send_icmp_error(parsed)) return false;
    constexpr uint16_t kAddedLength = kIpv4HeaderLength + kIcmpHeaderLength;
    const uint8_t* received = rte_pktmbuf_mtod(m, const uint8_t*);
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kAddedLength));
    if (frame == nullptr) return false;
    const uint16_t l3 = parsed.l3_offset;
    std::memmove(frame, received, l3);

    const uint16_t quote_length =
        kIpv4HeaderLength + std::min<uint16_t>(kQuotedL4Length, parsed.ip_total_length - kIpv4HeaderLength);
    const uint16_t icmp_length = kIcmpHeaderLength + quote_length;
    truncate_to_first_segment(m, l3 + kIpv4HeaderLength + icmp_length);

    auto* icmp = header_at<rte_icmp_hdr>(frame, l3 + kIpv4HeaderLength);
    icmp->icmp_type = type;
    icmp->icmp_code = code;
    icmp->icmp_cksum = 0;
    icmp->icmp_ident = 0;
    icmp->icmp_seq_nb = rte_cpu_to_be_16(next_hop_mtu);
    icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_length));

    write_ipv4_header(*header_at<rte_ipv4_hdr>(frame, l3), kTosInternetworkControl, kIpv4HeaderLength + icmp_length, 0,
                      kProtoIcmp, source_addr, parsed.key.src_addr);
    turn_around_ethernet(frame);
    return true;
}

bool make_icmp_echo_reply(rte_mbuf* m, const ParsedPacket& parsed) noexcept {
    if (parsed.key.protocol != kProtoIcmp || parsed.icmp_type != RTE_IP_ICMP_ECHO_REQUEST) return false;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    auto* ip = header_at<rte_ipv4_hdr>(frame, parsed.l3_offset);
    auto* icmp = header_at<rte_icmp_hdr>(frame, parsed.l4_offset);

    // Type and code share one checksum word; only the type changes.
    uint16_t old_word;
    std::memcpy(&old_word, icmp, sizeof(old_word));
    icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
    uint16_t new_word;
    std::memcpy(&new_word, icmp, sizeof(new_word));
    icmp->icmp_cksum = checksum_update16(icmp->icmp_cksum, old_word, new_word);

    write_ipv4_header(*ip, ip->type_of_service, parsed.ip_total_length, ip->packet_id, kProtoIcmp, parsed.key.dst_addr,
                      parsed.key.src_addr);
    turn_around_ethernet(frame);
    return true;
}

bool parse_arp(const uint8_t* frame, uint32_t contiguous_length, const ParsedPacket& parsed, ArpMessage& out) noexcept {
    if (contiguous_length < parsed.l3_offset) return false;
    const uint8_t* header = frame + parsed.l3_offset;
    if (!is_ethernet_ipv4_arp(header, contiguous_length - parsed.l3_offset)) return false;
    rte_arp_hdr arp;  // copied: the struct promises an alignment the buffer need not keep
    std::memcpy(&arp, header, sizeof(arp));
    out.operation = rte_be_to_cpu_16(arp.arp_opcode);
    out.sender_mac = arp.arp_data.arp_sha;
    out.sender_addr = arp.arp_data.arp_sip;
    out.target_addr = arp.arp_data.arp_tip;
    return true;
}

bool make_arp_reply(rte_mbuf* m, const ParsedPacket& parsed, const rte_ether_addr& our_mac) noexcept {
    ArpMessage request;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    if (!parse_arp(frame, rte_pktmbuf_data_len(m), parsed, request) || request.operation != RTE_ARP_OP_REQUEST) {
        return false;
    }
    auto* ethernet = header_at<rte_ether_hdr>(frame, 0);
    ethernet->dst_addr = ethernet->src_addr;
    ethernet->src_addr = our_mac;

    auto* arp = header_at<rte_arp_hdr>(frame, parsed.l3_offset);
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = request.sender_mac;
    arp->arp_data.arp_tip = request.sender_addr;
    arp->arp_data.arp_sha = our_mac;
    arp->arp_data.arp_sip = request.target_addr;
    return true;
}

bool write_arp_request(rte_mbuf* m, const rte_ether_addr& our_mac, uint32_t our_addr, uint32_t target_addr,
                       uint16_t vlan) noexcept {
    if (rte_pktmbuf_pkt_len(m) != 0) return false;
    const uint16_t l3 = vlan == 0 ? sizeof(rte_ether_hdr) : sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr);
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, l3 + sizeof(rte_arp_hdr)));
    if (frame == nullptr) return false;

    auto* ethernet = header_at<rte_ether_hdr>(frame, 0);
    ethernet->dst_addr = kBroadcastMac;
    ethernet->src_addr = our_mac;
    ethernet->ether_type = rte_cpu_to_be_16(vlan == 0 ? RTE_ETHER_TYPE_ARP : RTE_ETHER_TYPE_VLAN);
    if (vlan != 0) {
        auto* tag = header_at<rte_vlan_hdr>(frame, sizeof(rte_ether_hdr));
        tag->vlan_tci = rte_cpu_to_be_16(vlan);
        tag->eth_proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    }
    auto* arp = header_at<rte_arp_hdr>(frame, l3);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = sizeof(uint32_t);
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = our_mac;
    arp->arp_data.arp_sip = our_addr;
    arp->arp_data.arp_tha = rte_ether_addr{};
    arp->arp_data.arp_tip = target_addr;
    return true;
}

}  // namespace vipgate
