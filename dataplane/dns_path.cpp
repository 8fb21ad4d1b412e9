#include "dataplane/dns_path.h"

#include <algorithm>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/dns_responder.h"
#include "dataplane/packet_responses.h"

namespace vipgate {
namespace {

constexpr uint32_t kIpv4HeaderLength = sizeof(rte_ipv4_hdr);
constexpr uint32_t kUdpHeaderLength = sizeof(rte_udp_hdr);
constexpr uint32_t kTcpHeaderLength = sizeof(rte_tcp_hdr);
constexpr uint32_t kLengthPrefix = 2;
constexpr uint8_t kDscpMask = 0xFC;
constexpr uint16_t kTcpWindow = 65535;
constexpr uint8_t kTcpOptionMss = 2;
constexpr uint8_t kTcpOptionMssLength = 4;

DnsPathResult drop(DropReason reason) {
    return {DnsPathAction::Drop, reason};
}
constexpr DnsPathResult kSendBack{DnsPathAction::SendBack, DropReason::Count};

DropReason drop_reason_of(const DnsAnswer& answer) {
    switch (answer.status) {
    case DnsQueryStatus::Response:
        return DropReason::DnsResponseReceived;
    case DnsQueryStatus::TooLarge:
        return DropReason::DnsTooLarge;
    case DnsQueryStatus::TruncatedHeader:
        return DropReason::DnsMalformed;
    default:
        return DropReason::DnsTooLarge;  // no room for even the question
    }
}

void count_answer(WorkerCounters& counters, const DnsAnswer& answer) {
    switch (answer.kind) {
    case DnsAnswerKind::NoError:
        ++counters.dns_noerror;
        break;
    case DnsAnswerKind::NoData:
        ++counters.dns_nodata;
        break;
    case DnsAnswerKind::NxDomain:
        ++counters.dns_nxdomain;
        break;
    case DnsAnswerKind::Refused:
        ++counters.dns_refused;
        break;
    case DnsAnswerKind::FormErr:
        ++counters.dns_formerr;
        break;
    case DnsAnswerKind::NotImp:
        ++counters.dns_notimp;
        break;
    case DnsAnswerKind::BadVers:
        ++counters.dns_badvers;
        break;
    case DnsAnswerKind::Forward:
    case DnsAnswerKind::Drop:
        break;
    }
    if (answer.truncated) ++counters.dns_truncated;
}

// Room for the answer from `offset` (frame start) to the end of the mbuf's first buffer.
uint32_t room_from(const rte_mbuf* packet, uint32_t offset) {
    const uint32_t available = static_cast<uint32_t>(packet->buf_len) - packet->data_off;
    return available > offset ? available - offset : 0;
}

bool l4_checksum_bad(const rte_mbuf* packet) {
    return (packet->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD;
}

// Turns the headers around for an answer of `l4_length` bytes of `protocol` (L4 checksum left
// to the caller), and cuts the packet to it.
rte_ipv4_hdr* turn_around(rte_mbuf* packet, const ParsedPacket& parsed, uint8_t protocol, uint32_t l4_length) {
    uint8_t* frame = rte_pktmbuf_mtod(packet, uint8_t*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + parsed.l3_offset);
    write_ipv4_header(*ip, ip->type_of_service & kDscpMask, static_cast<uint16_t>(kIpv4HeaderLength + l4_length), 0,
                      protocol, parsed.key.dst_addr, parsed.key.src_addr);
    turn_around_ethernet(frame);
    truncate_to_first_segment(packet, parsed.l4_offset + l4_length);
    return ip;
}

DnsPathResult handle_udp(WorkerContext& context, const Snapshot& snapshot, const DnsZone& zone, rte_mbuf* packet,
                         const ParsedPacket& parsed) {
    WorkerCounters& counters = context.counters;
    ++counters.dns_queries_udp;
    uint8_t* frame = rte_pktmbuf_mtod(packet, uint8_t*);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(frame + parsed.l4_offset);
    const uint32_t payload_offset = parsed.l4_offset + kUdpHeaderLength;
    const uint32_t query_length = rte_be_to_cpu_16(udp->dgram_len) - kUdpHeaderLength;
    if (query_length > dns::kMaxQueryLength) return drop(DropReason::DnsTooLarge);
    if (rte_pktmbuf_data_len(packet) < payload_offset + query_length || l4_checksum_bad(packet)) {
        return drop(DropReason::DnsMalformed);
    }
    DnsAnswerOptions options;
    options.transport = DnsTransport::Udp;
    options.client_trusted = snapshot.restricts_clients();
    uint8_t* message = frame + payload_offset;
    DnsAnswer answer =
        answer_dns_query(zone, message, query_length, options, message, room_from(packet, payload_offset));
    if (answer.kind == DnsAnswerKind::Forward) {
        ++counters.dns_forwarded_upstream;
        return {DnsPathAction::Continue, DropReason::Count};
    }
    if (answer.kind == DnsAnswerKind::Drop) return drop(drop_reason_of(answer));
    if (zone.rate_limit != 0 && context.dns_rate_limiter != nullptr) {
        switch (context.dns_rate_limiter->check(parsed.key.src_addr, context.now_ms, zone.rate_limit,
                                                zone.rate_limit_slip)) {
        case DnsRateDecision::Send:
            break;
        case DnsRateDecision::Drop:
            return drop(DropReason::DnsRateLimited);
        case DnsRateDecision::Slip:
            ++counters.dns_slipped;
            answer.length = truncate_dns_response(message, answer);
            answer.truncated = true;
            break;
        }
    }
    count_answer(counters, answer);
    const uint32_t udp_length = kUdpHeaderLength + answer.length;
    const uint16_t client_port = udp->src_port;
    udp->src_port = udp->dst_port;
    udp->dst_port = client_port;
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_length));
    udp->dgram_cksum = 0;
    rte_ipv4_hdr* ip = turn_around(packet, parsed, kProtoUdp, udp_length);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    return kSendBack;
}

uint32_t initial_sequence(const WorkerContext& context, const FlowKey4& key) {
    const uint64_t addresses = uint64_t{key.src_addr} << 32 | key.dst_addr;
    const uint64_t ports = uint64_t{key.src_port} << 16 | key.dst_port;
    return static_cast<uint32_t>(siphash(context.dns_tcp_key, addresses, ports));
}

// Writes the TCP header of a segment from us (ports swapped) and returns its length.
uint32_t write_tcp_header(rte_tcp_hdr* tcp, uint32_t seq, uint32_t ack, uint8_t flags, uint32_t options_length) {
    const uint16_t client_port = tcp->src_port;
    tcp->src_port = tcp->dst_port;
    tcp->dst_port = client_port;
    tcp->sent_seq = rte_cpu_to_be_32(seq);
    tcp->recv_ack = rte_cpu_to_be_32(ack);
    tcp->data_off = static_cast<uint8_t>(((kTcpHeaderLength + options_length) / 4) << 4);
    tcp->tcp_flags = flags;
    tcp->rx_win = rte_cpu_to_be_16(kTcpWindow);
    tcp->tcp_urp = 0;
    tcp->cksum = 0;
    return kTcpHeaderLength + options_length;
}

DnsPathResult send_tcp(rte_mbuf* packet, const ParsedPacket& parsed, rte_tcp_hdr* tcp, uint32_t l4_length) {
    rte_ipv4_hdr* ip = turn_around(packet, parsed, kProtoTcp, l4_length);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
    return kSendBack;
}

DnsPathResult handle_tcp(WorkerContext& context, const DnsZone& zone, rte_mbuf* packet, const ParsedPacket& parsed) {
    WorkerCounters& counters = context.counters;
    uint8_t* frame = rte_pktmbuf_mtod(packet, uint8_t*);
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(frame + parsed.l4_offset);
    const uint8_t flags = parsed.tcp_flags;
    if (flags & RTE_TCP_RST_FLAG) return drop(DropReason::DnsTcpReset);
    const uint32_t header_length = (tcp->data_off >> 4) * 4u;
    const uint32_t payload_offset = parsed.l4_offset + header_length;
    const uint32_t payload_length = parsed.ip_total_length - kIpv4HeaderLength - header_length;
    const uint32_t client_seq = rte_be_to_cpu_32(tcp->sent_seq);
    const uint32_t isn = initial_sequence(context, parsed.key);

    if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) == RTE_TCP_SYN_FLAG) {
        ++counters.dns_tcp_control_sent;
        const uint32_t length =
            write_tcp_header(tcp, isn, client_seq + 1, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, kTcpOptionMssLength);
        uint8_t* option = frame + parsed.l4_offset + kTcpHeaderLength;
        option[0] = kTcpOptionMss;
        option[1] = kTcpOptionMssLength;
        option[2] = static_cast<uint8_t>(dns::kTcpMss >> 8);
        option[3] = static_cast<uint8_t>(dns::kTcpMss & 0xFF);
        return send_tcp(packet, parsed, tcp, length);
    }
    if ((flags & RTE_TCP_ACK_FLAG) == 0) return drop(DropReason::DnsTcpNoQuery);
    if (payload_length == 0 && (flags & (RTE_TCP_FIN_FLAG | RTE_TCP_SYN_FLAG)) == RTE_TCP_FIN_FLAG) {
        // The client's FIN after our answer: acknowledge it (stateless, so whatever it acknowledges).
        ++counters.dns_tcp_control_sent;
        const uint32_t length =
            write_tcp_header(tcp, rte_be_to_cpu_32(tcp->recv_ack), client_seq + 1, RTE_TCP_ACK_FLAG, 0);
        return send_tcp(packet, parsed, tcp, length);
    }
    if (rte_be_to_cpu_32(tcp->recv_ack) != isn + 1 || (flags & RTE_TCP_SYN_FLAG)) {
        if (!make_tcp_reset(packet, parsed)) return drop(DropReason::DnsTcpBadAck);
        counters.drop(DropReason::DnsTcpBadAck);
        ++counters.resets_sent;
        return kSendBack;
    }
    if (payload_length == 0) return drop(DropReason::DnsTcpNoQuery);
    if (rte_pktmbuf_data_len(packet) < payload_offset + payload_length || l4_checksum_bad(packet)) {
        return drop(DropReason::DnsMalformed);
    }
    if (payload_length < kLengthPrefix) return drop(DropReason::DnsTcpIncomplete);
    const uint8_t* prefix = frame + payload_offset;
    const uint32_t query_length = static_cast<uint32_t>(prefix[0] << 8 | prefix[1]);
    if (query_length > dns::kMaxQueryLength) return drop(DropReason::DnsTooLarge);
    if (kLengthPrefix + query_length > payload_length) return drop(DropReason::DnsTcpIncomplete);
    ++counters.dns_queries_tcp;

    const uint32_t response_offset = parsed.l4_offset + kTcpHeaderLength + kLengthPrefix;
    DnsAnswerOptions options;
    options.transport = DnsTransport::Tcp;
    const DnsAnswer answer =
        answer_dns_query(zone, prefix + kLengthPrefix, query_length, options, frame + response_offset,
                         std::min(dns::kTcpMaxMessage, room_from(packet, response_offset)));
    if (answer.kind == DnsAnswerKind::Drop) return drop(drop_reason_of(answer));
    count_answer(counters, answer);
    uint8_t* response_prefix = frame + response_offset - kLengthPrefix;
    response_prefix[0] = static_cast<uint8_t>(answer.length >> 8);
    response_prefix[1] = static_cast<uint8_t>(answer.length);
    const uint32_t acknowledged = client_seq + payload_length + ((flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
    const uint32_t length =
        write_tcp_header(tcp, isn + 1, acknowledged, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, 0);
    return send_tcp(packet, parsed, tcp, length + kLengthPrefix + answer.length);
}

}  // namespace

DnsPathResult handle_dns_packet(WorkerContext& context, const Snapshot& snapshot, const DnsZone& zone, rte_mbuf* packet,
                                const ParsedPacket& parsed) noexcept {
    if (!snapshot.client_allowed(parsed.key.src_addr)) return drop(DropReason::SourceNotAllowed);
    if (parsed.key.protocol == kProtoUdp) return handle_udp(context, snapshot, zone, packet, parsed);
    return handle_tcp(context, zone, packet, parsed);
}

}  // namespace vipgate
