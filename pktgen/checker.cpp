#include "pktgen/checker.h"

#include <netinet/in.h>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include "dataplane/tcp_state.h"

namespace vipgen {
namespace {

constexpr uint8_t kReplyTtl = kClientTtl - 1;  // one hop: the gateway

inline uint16_t be16_at(const uint8_t* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, sizeof(v));
    return rte_be_to_cpu_16(v);
}
inline uint32_t be32_at(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return rte_be_to_cpu_32(v);
}

}  // namespace

const char* verdict_name(Verdict verdict) noexcept {
    switch (verdict) {
    case Verdict::Ok:
        return "ok";
    case Verdict::Malformed:
        return "malformed";
    case Verdict::Unexpected:
        return "unexpected";
    case Verdict::Reset:
        return "resets";
    case Verdict::IcmpError:
        return "icmp";
    case Verdict::Misdirected:
        return "misdirected";
    case Verdict::WrongSource:
        return "wrong_source";
    case Verdict::TtlError:
        return "ttl_errors";
    case Verdict::Moved:
        return "moved";
    case Verdict::WrongReply:
        return "wrong_reply";
    case Verdict::DnsWrongId:
        return "dns_wrong_id";
    case Verdict::DnsWrongQuestion:
        return "dns_wrong_question";
    case Verdict::DnsWrongRcode:
        return "dns_wrong_rcode";
    case Verdict::DnsWrongRecords:
        return "dns_wrong_records";
    case Verdict::DnsTruncated:
        return "dns_truncated";
    }
    return "unknown";
}

FrameType parse_frame(const uint8_t* frame, uint32_t length, ReceivedPacket& out, Verdict& verdict) noexcept {
    verdict = Verdict::Ok;
    if (length < RTE_ETHER_HDR_LEN) {
        verdict = Verdict::Malformed;
        return FrameType::Other;
    }
    const uint16_t ether_type = be16_at(frame + 12);
    if (ether_type == RTE_ETHER_TYPE_ARP) return FrameType::Arp;
    if (ether_type != RTE_ETHER_TYPE_IPV4) {
        verdict = Verdict::Unexpected;
        return FrameType::Other;
    }
    const uint8_t* ip = frame + RTE_ETHER_HDR_LEN;
    const uint32_t available = length - RTE_ETHER_HDR_LEN;
    if (available < 20 || (ip[0] >> 4) != 4) {
        verdict = Verdict::Malformed;
        return FrameType::Ipv4;
    }
    const uint32_t header_length = (ip[0] & 0x0f) * 4u;
    const uint32_t total_length = be16_at(ip + 2);
    const uint16_t fragment = be16_at(ip + 6);
    if (header_length < 20 || total_length < header_length || total_length > available ||
        (fragment & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0 ||
        rte_raw_cksum(ip, header_length) != 0xffff) {
        verdict = Verdict::Malformed;
        return FrameType::Ipv4;
    }
    out.protocol = ip[9];
    out.ttl = ip[8];
    out.source = be32_at(ip + 12);
    out.destination = be32_at(ip + 16);
    out.l4 = ip + header_length;
    out.l4_length = total_length - header_length;
    out.source_port = 0;
    out.destination_port = 0;
    out.tcp_flags = 0;
    if (out.protocol == IPPROTO_TCP || out.protocol == IPPROTO_UDP) {
        const uint32_t l4_header = out.protocol == IPPROTO_TCP ? 20 : 8;
        if (out.l4_length < l4_header) {
            verdict = Verdict::Malformed;
            return FrameType::Ipv4;
        }
        out.source_port = be16_at(out.l4);
        out.destination_port = be16_at(out.l4 + 2);
        if (out.protocol == IPPROTO_TCP) {
            out.tcp_flags = out.l4[13];
        } else if (be16_at(out.l4 + 6) == 0 || be16_at(out.l4 + 4) != out.l4_length) {
            verdict = Verdict::Malformed;  // vipgen always sends UDP checksums
            return FrameType::Ipv4;
        }
        // Pseudo-header + segment must sum to 0xffff. rte_raw_cksum adds native-order words,
        // so the pseudo-header's protocol and length words are added in network order too.
        uint32_t sum = rte_raw_cksum(ip + 12, 8) + rte_raw_cksum(out.l4, out.l4_length) +
                       rte_cpu_to_be_16(static_cast<uint16_t>(out.protocol)) +
                       rte_cpu_to_be_16(static_cast<uint16_t>(out.l4_length));
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        if (sum != 0xffff) verdict = Verdict::Malformed;
    }
    return FrameType::Ipv4;
}

Verdict Checker::classify_foreign(const ReceivedPacket& packet, Signature& signature) const noexcept {
    if (packet.protocol == IPPROTO_ICMP) return Verdict::IcmpError;
    if (packet.protocol == IPPROTO_TCP && (packet.tcp_flags & vipgate::kTcpFlagRst) != 0) return Verdict::Reset;
    if (!read_signature(packet.l4, packet.l4_length, packet.protocol, signature)) return Verdict::Unexpected;
    return Verdict::Ok;
}

Verdict Checker::check_forwarded(const ReceivedPacket& packet, Signature& signature,
                                 uint32_t& endpoint_index) const noexcept {
    if (Verdict foreign = classify_foreign(packet, signature); foreign != Verdict::Ok) return foreign;
    const FlowTuple tuple = flows_.tuple(signature.flow_id);
    const Target& target = targets_.targets[tuple.target_index];
    const TargetEndpoint* endpoint = target.find(packet.destination, packet.destination_port);
    if (packet.protocol != target.protocol || endpoint == nullptr) return Verdict::Misdirected;
    if (signature.kind == PacketKind::Open && !endpoint->accepts_new_flows) return Verdict::Misdirected;
    const bool source_ok = targets_.nat_mode == vipgate::config::NatMode::FullNat
                               ? targets_.is_snat_address(packet.source)
                               : packet.source == tuple.client_address && packet.source_port == tuple.client_port;
    if (!source_ok) return Verdict::WrongSource;
    if (packet.ttl != kReplyTtl) return Verdict::TtlError;
    if (memory_.pin(signature.flow_id, endpoint->endpoint_index) == FlowMemory::PinResult::Moved) return Verdict::Moved;
    endpoint_index = endpoint->endpoint_index;
    return Verdict::Ok;
}

Verdict Checker::check_returned(const ReceivedPacket& packet, Signature& signature) const noexcept {
    if (Verdict foreign = classify_foreign(packet, signature); foreign != Verdict::Ok) return foreign;
    const FlowTuple tuple = flows_.tuple(signature.flow_id);
    const Target& target = targets_.targets[tuple.target_index];
    if (packet.protocol != target.protocol) return Verdict::WrongReply;
    if (mode_ == CheckMode::Forwarder) {
        if (packet.source != tuple.client_address || packet.source_port != tuple.client_port ||
            packet.destination != target.vip || packet.destination_port != target.port) {
            return Verdict::WrongReply;
        }
        return packet.ttl == kClientTtl ? Verdict::Ok : Verdict::TtlError;
    }
    if (packet.source != target.vip || packet.source_port != target.port ||
        packet.destination != tuple.client_address || packet.destination_port != tuple.client_port) {
        return Verdict::WrongReply;
    }
    if (packet.ttl != kReplyTtl) return Verdict::TtlError;
    memory_.mark_replied(signature.flow_id);
    return Verdict::Ok;
}

}  // namespace vipgen
