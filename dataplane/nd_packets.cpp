#include "dataplane/nd_packets.h"

#include <cstring>

#include <rte_byteorder.h>
#include <rte_mbuf.h>

namespace vipgate {
namespace {

constexpr uint8_t kOptionSourceLinkLayer = 1;
constexpr uint8_t kOptionTargetLinkLayer = 2;
constexpr uint32_t kNdHeaderLength = 24;  // type, code, checksum, flags/reserved, target
constexpr uint32_t kLinkLayerOptionLength = 8;

uint32_t add_bytes(uint32_t sum, const uint8_t* bytes, uint32_t length) noexcept {
    for (uint32_t i = 0; i + 1 < length; i += 2) sum += uint32_t(bytes[i]) << 8 | bytes[i + 1];
    if (length % 2 != 0) sum += uint32_t(bytes[length - 1]) << 8;
    return sum;
}

// One's-complement sum of the pseudo-header and the message, folded (0xFFFF: checksum correct).
uint16_t icmp6_sum(const uint8_t* source, const uint8_t* destination, const uint8_t* message,
                   uint32_t length) noexcept {
    uint32_t sum = add_bytes(0, source, 16);
    sum = add_bytes(sum, destination, 16);
    sum += (length >> 16) + (length & 0xFFFF) + kProtoIcmpv6;
    sum = add_bytes(sum, message, length);
    while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

bool is_solicited_node_group(const Ipv6Bytes& address) noexcept {
    static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    return std::memcmp(address.data(), kPrefix, sizeof(kPrefix)) == 0;
}

}  // namespace

const Ipv6Bytes kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

bool is_unspecified(const Ipv6Bytes& address) noexcept {
    for (uint8_t byte : address) {
        if (byte != 0) return false;
    }
    return true;
}

Ipv6Bytes solicited_node_group(const Ipv6Bytes& target) noexcept {
    Ipv6Bytes group = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, target[13], target[14], target[15]};
    return group;
}

rte_ether_addr multicast_mac(const Ipv6Bytes& group) noexcept {
    return rte_ether_addr{{0x33, 0x33, group[12], group[13], group[14], group[15]}};
}

bool parse_nd(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed, NdMessage& out) noexcept {
    if (parsed.key.protocol != kProtoIcmpv6 || parsed.fragment != FragmentKind::None) return false;
    if (parsed.hop_limit != 255 || parsed.icmp_code != 0) return false;
    const uint32_t end = uint32_t{parsed.l3_offset} + 40 + parsed.payload_length;
    if (end > contiguous_length || parsed.l4_offset + kNdHeaderLength > end) return false;
    const uint8_t* message = frame + parsed.l4_offset;
    const uint32_t length = end - parsed.l4_offset;
    out.type = message[0];
    if (out.type != kNdNeighborSolicitation && out.type != kNdNeighborAdvertisement) return false;
    std::memcpy(out.source.data(), parsed.key.src_addr, 16);
    std::memcpy(out.destination.data(), parsed.key.dst_addr, 16);
    if (icmp6_sum(out.source.data(), out.destination.data(), message, length) != 0xFFFF) return false;
    out.flags = message[4];
    std::memcpy(out.target.data(), message + 8, 16);
    if (out.target[0] == 0xff) return false;
    out.has_link_layer = false;
    const uint8_t wanted = out.type == kNdNeighborSolicitation ? kOptionSourceLinkLayer : kOptionTargetLinkLayer;
    for (uint32_t offset = kNdHeaderLength; offset < length;) {
        if (offset + 2 > length) return false;
        const uint32_t option_length = uint32_t{message[offset + 1]} * 8;
        if (option_length == 0 || offset + option_length > length) return false;
        if (message[offset] == wanted && option_length >= kLinkLayerOptionLength) {
            out.has_link_layer = true;
            std::memcpy(out.link_layer.addr_bytes, message + offset + 2, RTE_ETHER_ADDR_LEN);
        }
        offset += option_length;
    }
    if (out.type == kNdNeighborSolicitation && is_unspecified(out.source)) {
        // Duplicate address detection (RFC 4861 7.1.1).
        if (!is_solicited_node_group(out.destination) || out.has_link_layer) return false;
    }
    if (out.type == kNdNeighborAdvertisement && out.destination[0] == 0xff && (out.flags & kNaSolicited) != 0) {
        return false;
    }
    return true;
}

const char* ra_check_name(RaCheck check) noexcept {
    switch (check) {
    case RaCheck::Valid:
        return "valid";
    case RaCheck::Fragmented:
        return "not one whole ICMPv6 message";
    case RaCheck::NotLinkLocal:
        return "source not link-local";
    case RaCheck::HopLimit:
        return "hop limit not 255";
    case RaCheck::Code:
        return "ICMP code not 0";
    case RaCheck::Length:
        return "shorter than 16 bytes";
    case RaCheck::Checksum:
        return "bad ICMPv6 checksum";
    case RaCheck::Options:
        return "malformed options";
    }
    return "?";
}

RaCheck parse_router_advertisement(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed,
                                   RouterAdvertisement& out) noexcept {
    constexpr uint32_t kRaHeaderLength = 16;  // type .. retransmission timer
    if (parsed.key.protocol != kProtoIcmpv6 || parsed.fragment != FragmentKind::None) return RaCheck::Fragmented;
    const uint32_t end = uint32_t{parsed.l3_offset} + 40 + parsed.payload_length;
    if (end > contiguous_length || parsed.l4_offset > end) return RaCheck::Fragmented;
    std::memcpy(out.source.data(), parsed.key.src_addr, 16);
    if (out.source[0] != 0xfe || (out.source[1] & 0xc0) != 0x80) return RaCheck::NotLinkLocal;
    if (parsed.hop_limit != 255) return RaCheck::HopLimit;
    if (parsed.icmp_code != 0) return RaCheck::Code;
    const uint32_t length = end - parsed.l4_offset;
    if (length < kRaHeaderLength) return RaCheck::Length;
    const uint8_t* message = frame + parsed.l4_offset;
    if (icmp6_sum(parsed.key.src_addr, parsed.key.dst_addr, message, length) != 0xFFFF) return RaCheck::Checksum;
    out.has_link_layer = false;
    for (uint32_t offset = kRaHeaderLength; offset < length;) {
        if (offset + 2 > length) return RaCheck::Options;
        const uint32_t option_length = uint32_t{message[offset + 1]} * 8;
        if (option_length == 0 || offset + option_length > length) return RaCheck::Options;
        if (message[offset] == kOptionSourceLinkLayer && option_length >= kLinkLayerOptionLength) {
            out.has_link_layer = true;
            std::memcpy(out.link_layer.addr_bytes, message + offset + 2, RTE_ETHER_ADDR_LEN);
        }
        offset += option_length;
    }
    out.lifetime_s = static_cast<uint16_t>(message[6] << 8 | message[7]);
    const uint8_t preference = (message[5] >> 3) & 0x3;  // RFC 4191 2.2: 01 high, 00 medium, 11 low
    out.preference = static_cast<int8_t>(out.lifetime_s == 0 ? 0 : preference == 1 ? 1 : preference == 3 ? -1 : 0);
    return RaCheck::Valid;
}

bool write_nd_message(rte_mbuf* m, const NdFrame& frame) noexcept {
    if (rte_pktmbuf_pkt_len(m) != 0) return false;
    const uint16_t l3 = frame.vlan == 0 ? sizeof(rte_ether_hdr) : sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr);
    constexpr uint16_t kMessageLength = kNdHeaderLength + kLinkLayerOptionLength;
    auto* bytes = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, l3 + 40 + kMessageLength));
    if (bytes == nullptr) return false;
    std::memset(bytes, 0, l3 + 40 + kMessageLength);
    auto* ethernet = reinterpret_cast<rte_ether_hdr*>(bytes);
    ethernet->dst_addr = frame.ethernet_destination;
    ethernet->src_addr = frame.our_mac;
    ethernet->ether_type = rte_cpu_to_be_16(frame.vlan == 0 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_VLAN);
    if (frame.vlan != 0) {
        auto* tag = reinterpret_cast<rte_vlan_hdr*>(bytes + sizeof(rte_ether_hdr));
        tag->vlan_tci = rte_cpu_to_be_16(frame.vlan);
        tag->eth_proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
    }
    uint8_t* ip = bytes + l3;
    ip[0] = 0x60;
    ip[4] = 0;
    ip[5] = kMessageLength;
    ip[6] = kProtoIcmpv6;
    ip[7] = 255;
    std::memcpy(ip + 8, frame.source.data(), 16);
    std::memcpy(ip + 24, frame.destination.data(), 16);
    uint8_t* message = ip + 40;
    message[0] = frame.type;
    message[4] = frame.flags;
    std::memcpy(message + 8, frame.target.data(), 16);
    message[24] = frame.type == kNdNeighborSolicitation ? kOptionSourceLinkLayer : kOptionTargetLinkLayer;
    message[25] = 1;
    std::memcpy(message + 26, frame.our_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    const uint16_t checksum =
        static_cast<uint16_t>(~icmp6_sum(frame.source.data(), frame.destination.data(), message, kMessageLength));
    message[2] = static_cast<uint8_t>(checksum >> 8);
    message[3] = static_cast<uint8_t>(checksum);
    return true;
}

}  // namespace vipgate
