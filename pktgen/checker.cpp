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

// Reads the ports and flags of a TCP or UDP packet and verifies its checksum: `address_sum` is
// the pseudo-header's addresses summed as rte_raw_cksum does (native-order words), and the
// protocol and length words are added in network order too. The IPv4 pseudo-header's 16-bit
// length and IPv6's 32-bit one sum alike for lengths below 64 KiB.
Verdict check_l4(ReceivedPacket& out, uint32_t address_sum) noexcept {
    out.source_port = 0;
    out.destination_port = 0;
    out.tcp_flags = 0;
    if (out.protocol != IPPROTO_TCP && out.protocol != IPPROTO_UDP) return Verdict::Ok;
    const uint32_t l4_header = out.protocol == IPPROTO_TCP ? 20 : 8;
    if (out.l4_length < l4_header) return Verdict::Malformed;
    out.source_port = be16_at(out.l4);
    out.destination_port = be16_at(out.l4 + 2);
    if (out.protocol == IPPROTO_TCP) {
        out.tcp_flags = out.l4[13];
    } else if (be16_at(out.l4 + 6) == 0 || be16_at(out.l4 + 4) != out.l4_length) {
        return Verdict::Malformed;  // vipgen always sends UDP checksums (and IPv6 requires them)
    }
    uint64_t sum = static_cast<uint64_t>(address_sum) + rte_raw_cksum(out.l4, out.l4_length) +
                   rte_cpu_to_be_16(static_cast<uint16_t>(out.protocol)) +
                   rte_cpu_to_be_16(static_cast<uint16_t>(out.l4_length));
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff ? Verdict::Ok : Verdict::Malformed;
}

FrameType parse_ipv6(const uint8_t* frame, uint32_t length, ReceivedPacket& out, Verdict& verdict) noexcept {
    const uint8_t* ip = frame + RTE_ETHER_HDR_LEN;
    const uint32_t available = length - RTE_ETHER_HDR_LEN;
    constexpr uint32_t kHeader = 40;
    if (available < kHeader || (ip[0] >> 4) != 6 || be16_at(ip + 4) > available - kHeader) {
        verdict = Verdict::Malformed;
        return FrameType::Ipv6;
    }
    out.ipv6 = true;
    out.protocol = ip[6];
    out.ttl = ip[7];
    out.source = 0;
    out.destination = 0;
    out.source6 = ip + 8;
    out.destination6 = ip + 24;
    out.l4 = ip + kHeader;
    out.l4_length = be16_at(ip + 4);
    verdict = check_l4(out, rte_raw_cksum(ip + 8, 32));
    return FrameType::Ipv6;
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
    if (ether_type == RTE_ETHER_TYPE_IPV6) return parse_ipv6(frame, length, out, verdict);
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
    out.ipv6 = false;
    out.protocol = ip[9];
    out.ttl = ip[8];
    out.source = be32_at(ip + 12);
    out.destination = be32_at(ip + 16);
    out.l4 = ip + header_length;
    out.l4_length = total_length - header_length;
    verdict = check_l4(out, rte_raw_cksum(ip + 12, 8));
    return FrameType::Ipv4;
}

Verdict Checker::classify_foreign(const ReceivedPacket& packet, Signature& signature) const noexcept {
    if (packet.protocol == (packet.ipv6 ? uint8_t{IPPROTO_ICMPV6} : uint8_t{IPPROTO_ICMP})) return Verdict::IcmpError;
    if (packet.protocol == IPPROTO_TCP && (packet.tcp_flags & vipgate::kTcpFlagRst) != 0) return Verdict::Reset;
    if (!read_signature(packet.l4, packet.l4_length, packet.protocol, signature)) return Verdict::Unexpected;
    return Verdict::Ok;
}

Verdict Checker::check_forwarded(const ReceivedPacket& packet, Signature& signature,
                                 uint32_t& endpoint_index) const noexcept {
    if (Verdict foreign = classify_foreign(packet, signature); foreign != Verdict::Ok) return foreign;
    const FlowTuple tuple = flows_.tuple(signature.flow_id);
    const Target& target = targets_.targets[tuple.target_index];
    if (packet.ipv6 != target.ipv6) return Verdict::Misdirected;
    if (packet.ipv6) return check_forwarded6(packet, signature, target, endpoint_index);
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
    if (packet.protocol != target.protocol || packet.ipv6 != target.ipv6) return Verdict::WrongReply;
    if (packet.ipv6) return check_returned6(packet, signature, target);
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

Verdict Checker::check_forwarded6(const ReceivedPacket& packet, const Signature& signature, const Target& target,
                                  uint32_t& endpoint_index) const noexcept {
    const TargetEndpoint* endpoint = target.find6(packet.destination6, packet.destination_port);
    if (packet.protocol != target.protocol || endpoint == nullptr) return Verdict::Misdirected;
    if (signature.kind == PacketKind::Open && !endpoint->accepts_new_flows) return Verdict::Misdirected;
    bool source_ok;
    if (targets_.nat_mode == vipgate::config::NatMode::FullNat) {
        source_ok = targets_.is_snat_address6(packet.source6);
    } else {
        const FlowTuple6 tuple = flows6_.tuple(signature.flow_id);
        source_ok = std::memcmp(packet.source6, tuple.client_address.data(), 16) == 0 &&
                    packet.source_port == tuple.client_port;
    }
    if (!source_ok) return Verdict::WrongSource;
    if (packet.ttl != kReplyTtl) return Verdict::TtlError;
    if (memory_.pin(signature.flow_id, endpoint->endpoint_index) == FlowMemory::PinResult::Moved) return Verdict::Moved;
    endpoint_index = endpoint->endpoint_index;
    return Verdict::Ok;
}

Verdict Checker::check_returned6(const ReceivedPacket& packet, const Signature& signature,
                                 const Target& target) const noexcept {
    const FlowTuple6 tuple = flows6_.tuple(signature.flow_id);
    const uint8_t* client = tuple.client_address.data();
    const uint8_t* vip = target.vip6.data();
    const bool forwarder = mode_ == CheckMode::Forwarder;
    // Forwarder mode: the packet itself comes back; gateway mode: the reply, from the VIP.
    const uint8_t* want_source = forwarder ? client : vip;
    const uint8_t* want_destination = forwarder ? vip : client;
    const uint16_t want_source_port = forwarder ? tuple.client_port : target.port;
    const uint16_t want_destination_port = forwarder ? target.port : tuple.client_port;
    if (std::memcmp(packet.source6, want_source, 16) != 0 ||
        std::memcmp(packet.destination6, want_destination, 16) != 0 || packet.source_port != want_source_port ||
        packet.destination_port != want_destination_port) {
        return Verdict::WrongReply;
    }
    if (packet.ttl != (forwarder ? kClientTtl : kReplyTtl)) return Verdict::TtlError;
    if (!forwarder) memory_.mark_replied(signature.flow_id);
    return Verdict::Ok;
}

}  // namespace vipgen
