#include "dataplane/icmp6_responses.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_sctp.h>
#include <rte_tcp.h>

#include "dataplane/checksum.h"
#include "dataplane/packet_responses.h"
#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint16_t kIpv6HeaderLength = sizeof(rte_ipv6_hdr);
constexpr uint16_t kIcmp6HeaderLength = 8;  // type, code, checksum, one word of parameter
constexpr uint16_t kTcpHeaderLength = sizeof(rte_tcp_hdr);
constexpr uint16_t kSctpAbortLength = kSctpCommonHeaderLength + kSctpChunkHeaderLength;
constexpr uint32_t kSctpInitiateTagOffset = kSctpCommonHeaderLength + kSctpChunkHeaderLength;
constexpr uint8_t kResponseHopLimit = 64;
constexpr uint8_t kMulticastPrefix = 0xFF;
constexpr uint32_t kDscpMask = 0xFC;

bool is_multicast(const uint8_t address[16]) {
    return address[0] == kMulticastPrefix;
}
bool is_unspecified(const uint8_t address[16]) {
    static constexpr uint8_t kZero[16] = {};
    return std::memcmp(address, kZero, sizeof(kZero)) == 0;
}
bool is_unicast_source(const uint8_t address[16]) {
    return !is_multicast(address) && !is_unspecified(address);
}

// A fixed IPv6 header without extension headers, flow label 0.
void write_ipv6_header(rte_ipv6_hdr& ip, uint8_t traffic_class, uint16_t payload_length, uint8_t protocol,
                       const uint8_t source[16], const uint8_t destination[16]) {
    ip.vtc_flow = rte_cpu_to_be_32((6u << 28) | (uint32_t{traffic_class} << 20));
    ip.payload_len = rte_cpu_to_be_16(payload_length);
    ip.proto = protocol;
    ip.hop_limits = kResponseHopLimit;
    // memmove: source and destination may be the header's own fields, swapped.
    uint8_t new_source[16];
    std::memcpy(new_source, source, sizeof(new_source));
    std::memmove(ip.dst_addr, destination, sizeof(ip.dst_addr));
    std::memcpy(ip.src_addr, new_source, sizeof(new_source));
}

uint8_t traffic_class_of(const rte_ipv6_hdr& ip) {
    return static_cast<uint8_t>(rte_be_to_cpu_32(ip.vtc_flow) >> 20);
}

// The upper-layer checksum over the pseudo-header of `ip` (its payload length and protocol)
// and `length` bytes at `l4`, as written to the wire.
uint16_t upper_layer_checksum(const rte_ipv6_hdr& ip, const void* l4, uint32_t length) {
    uint32_t sum = rte_ipv6_phdr_cksum(&ip, 0);
    sum += rte_raw_cksum(l4, length);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// RFC 4443 2.4 (e).
bool may_send_icmp6_error(const ParsedIpv6& parsed, uint8_t type) {
    if (parsed.key.protocol == kProtoIcmpv6 &&
        (is_icmp6_error(parsed.icmp_type) || parsed.icmp_type == kIcmp6Redirect)) {
        return false;
    }
    if (is_multicast(parsed.key.dst_addr) && type != kIcmp6PacketTooBig) return false;
    return is_unicast_source(parsed.key.src_addr);
}

}  // namespace

bool make_icmp6_error(rte_mbuf* m, const ParsedIpv6& parsed, uint8_t type, uint8_t code, const uint8_t source[16],
                      uint32_t parameter) noexcept {
    // A port without an IPv6 address (unspecified source) has nothing to send the error from.
    if (!may_send_icmp6_error(parsed, type) || is_unspecified(source)) return false;
    constexpr uint16_t kAddedLength = kIpv6HeaderLength + kIcmp6HeaderLength;
    const uint16_t l3 = parsed.l3_offset;
    // The received datagram (without Ethernet padding), as far as the first segment holds it.
    const uint32_t datagram =
        std::min<uint32_t>(kIpv6HeaderLength + parsed.payload_length, rte_pktmbuf_data_len(m) - l3);
    const uint32_t quote_length = std::min<uint32_t>(datagram, kIpv6MinimumMtu - kAddedLength);
    const uint8_t* received = rte_pktmbuf_mtod(m, const uint8_t*);
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kAddedLength));
    if (frame == nullptr) return false;
    std::memmove(frame, received, l3);
    const uint16_t icmp_length = static_cast<uint16_t>(kIcmp6HeaderLength + quote_length);
    truncate_to_first_segment(m, l3 + kIpv6HeaderLength + icmp_length);

    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + l3);
    // The destination is read from the parse: the received header now lies 48 bytes further on.
    write_ipv6_header(*ip, 0, icmp_length, kProtoIcmpv6, source, parsed.key.src_addr);
    uint8_t* icmp = frame + l3 + kIpv6HeaderLength;
    icmp[0] = type;
    icmp[1] = code;
    icmp[2] = icmp[3] = 0;
    const uint32_t word = rte_cpu_to_be_32(parameter);
    std::memcpy(icmp + 4, &word, sizeof(word));
    const uint16_t checksum = upper_layer_checksum(*ip, icmp, icmp_length);
    std::memcpy(icmp + 2, &checksum, sizeof(checksum));
    turn_around_ethernet(frame);
    return true;
}

bool make_icmp6_echo_reply(rte_mbuf* m, const ParsedIpv6& parsed) noexcept {
    if (parsed.key.protocol != kProtoIcmpv6 || parsed.icmp_type != kIcmp6EchoRequest) return false;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    uint8_t* icmp = frame + parsed.l4_offset;
    // Only the type changes: the pseudo-header's sum is the same with the addresses swapped.
    uint16_t old_word;
    std::memcpy(&old_word, icmp, sizeof(old_word));
    icmp[0] = kIcmp6EchoReply;
    uint16_t new_word;
    std::memcpy(&new_word, icmp, sizeof(new_word));
    uint16_t checksum;
    std::memcpy(&checksum, icmp + 2, sizeof(checksum));
    checksum = checksum_update16(checksum, old_word, new_word);
    std::memcpy(icmp + 2, &checksum, sizeof(checksum));
    std::memcpy(ip->dst_addr, parsed.key.src_addr, sizeof(ip->dst_addr));
    std::memcpy(ip->src_addr, parsed.key.dst_addr, sizeof(ip->src_addr));
    ip->hop_limits = kResponseHopLimit;
    turn_around_ethernet(frame);
    return true;
}

bool make_tcp_reset6(rte_mbuf* m, const ParsedIpv6& parsed) noexcept {
    if ((parsed.tcp_flags & RTE_TCP_RST_FLAG) != 0 || !is_unicast_source(parsed.key.src_addr)) return false;
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    rte_tcp_hdr tcp;  // copied: it moves up to the fixed header when extension headers went before it
    std::memcpy(&tcp, frame + parsed.l4_offset, sizeof(tcp));

    if (parsed.tcp_flags & RTE_TCP_ACK_FLAG) {
        tcp.sent_seq = tcp.recv_ack;
        tcp.recv_ack = 0;
        tcp.tcp_flags = RTE_TCP_RST_FLAG;
    } else {
        const uint32_t header_length = (tcp.data_off >> 4) * 4u;
        const uint32_t before_tcp = parsed.l4_offset - parsed.l3_offset - kIpv6HeaderLength;
        uint32_t segment_length = parsed.payload_length - before_tcp - header_length;
        if (parsed.tcp_flags & RTE_TCP_SYN_FLAG) ++segment_length;
        if (parsed.tcp_flags & RTE_TCP_FIN_FLAG) ++segment_length;
        tcp.recv_ack = rte_cpu_to_be_32(rte_be_to_cpu_32(tcp.sent_seq) + segment_length);
        tcp.sent_seq = 0;
        tcp.tcp_flags = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
    }
    const uint16_t src_port = tcp.src_port;
    tcp.src_port = tcp.dst_port;
    tcp.dst_port = src_port;
    tcp.data_off = (kTcpHeaderLength / 4) << 4;
    tcp.rx_win = 0;
    tcp.tcp_urp = 0;
    tcp.cksum = 0;

    write_ipv6_header(*ip, traffic_class_of(*ip) & kDscpMask, kTcpHeaderLength, kProtoTcp, parsed.key.dst_addr,
                      parsed.key.src_addr);
    tcp.cksum = upper_layer_checksum(*ip, &tcp, sizeof(tcp));
    const uint32_t l4 = parsed.l3_offset + kIpv6HeaderLength;
    std::memcpy(frame + l4, &tcp, sizeof(tcp));
    turn_around_ethernet(frame);
    truncate_to_first_segment(m, l4 + kTcpHeaderLength);
    return true;
}

bool make_sctp_abort6(rte_mbuf* m, const ParsedIpv6& parsed) noexcept {
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    const uint8_t* received = frame + parsed.l4_offset;
    const uint8_t type = received[kSctpCommonHeaderLength];
    if (type == kSctpAbort || type == kSctpShutdownComplete || type == kSctpError) return false;
    if (!is_unicast_source(parsed.key.src_addr)) return false;
    // The parser proved the common and first chunk headers; an INIT's initiate tag is checked here.
    if (type == kSctpInit && parsed.l4_offset + kSctpInitiateTagOffset + sizeof(uint32_t) > rte_pktmbuf_data_len(m)) {
        return false;
    }
    uint8_t abort[kSctpAbortLength];
    std::memcpy(abort, received + 2, 2);  // ports swapped
    std::memcpy(abort + 2, received, 2);
    if (type == kSctpInit) {
        std::memcpy(abort + offsetof(rte_sctp_hdr, tag), received + kSctpInitiateTagOffset, sizeof(uint32_t));
    } else {
        std::memcpy(abort + offsetof(rte_sctp_hdr, tag), received + offsetof(rte_sctp_hdr, tag), sizeof(uint32_t));
    }
    uint8_t* chunk = abort + kSctpCommonHeaderLength;
    chunk[0] = type == kSctpShutdownAck ? kSctpShutdownComplete : kSctpAbort;
    chunk[1] = type == kSctpInit ? 0 : kSctpChunkFlagT;
    const uint16_t chunk_length = rte_cpu_to_be_16(kSctpChunkHeaderLength);
    std::memcpy(chunk + 2, &chunk_length, sizeof(chunk_length));
    std::memset(abort + offsetof(rte_sctp_hdr, cksum), 0, sizeof(uint32_t));
    const uint32_t checksum = sctp_checksum(abort, kSctpAbortLength);
    std::memcpy(abort + offsetof(rte_sctp_hdr, cksum), &checksum, sizeof(checksum));

    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    write_ipv6_header(*ip, traffic_class_of(*ip) & kDscpMask, kSctpAbortLength, kProtoSctp, parsed.key.dst_addr,
                      parsed.key.src_addr);
    const uint32_t l4 = parsed.l3_offset + kIpv6HeaderLength;
    std::memcpy(frame + l4, abort, sizeof(abort));
    turn_around_ethernet(frame);
    truncate_to_first_segment(m, l4 + kSctpAbortLength);
    return true;
}

}  // namespace vipgate
