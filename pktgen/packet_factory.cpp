#include "pktgen/packet_factory.h"

#include <netinet/in.h>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/tcp_state.h"
#include "pktgen/wire_bytes.h"

namespace vipgen {
namespace {

// Offsets within the L4 header.
constexpr uint32_t kTcpSequenceOffset = 4;
constexpr uint32_t kTcpAckOffset = 8;
constexpr uint32_t kTcpFlagsWordOffset = 12;  // data offset, reserved bits, flags
constexpr uint32_t kTcpChecksumOffset = 16;
constexpr uint32_t kTcpPayload = 20;
constexpr uint32_t kUdpChecksumOffset = 6;
constexpr uint32_t kUdpPayload = 8;
constexpr uint8_t kTcpHeaderWords = 5;

uint8_t tcp_flags_of(PacketKind kind) noexcept {
    switch (kind) {
    case PacketKind::Open:
        return vipgate::kTcpFlagSyn;
    case PacketKind::Close:
        return vipgate::kTcpFlagFin | vipgate::kTcpFlagAck;
    case PacketKind::Data:
        break;
    }
    return vipgate::kTcpFlagPsh | vipgate::kTcpFlagAck;
}

}  // namespace

bool read_signature(const uint8_t* l4, uint32_t l4_length, uint8_t protocol, Signature& out) noexcept {
    if (protocol == IPPROTO_TCP) {
        constexpr uint32_t kNeeded = 20 + 4;
        if (l4_length < kNeeded || (l4[12] >> 4) != kTcpHeaderWords) return false;
        if (rte_be_to_cpu_16(load16(l4 + 20)) != kSignatureMagic) return false;
        out.flow_id = rte_be_to_cpu_32(load32(l4 + 4));
        out.tx_tsc = rte_be_to_cpu_32(load32(l4 + 8));
        out.kind = static_cast<PacketKind>(l4[22]);
        out.lcore = l4[23];
        return true;
    }
    if (protocol == IPPROTO_UDP) {
        constexpr uint32_t kNeeded = 8 + 12;
        if (l4_length < kNeeded || rte_be_to_cpu_16(load16(l4 + 8)) != kSignatureMagic) return false;
        out.kind = static_cast<PacketKind>(l4[10]);
        out.lcore = l4[11];
        out.flow_id = rte_be_to_cpu_32(load32(l4 + 12));
        out.tx_tsc = rte_be_to_cpu_32(load32(l4 + 16));
        return true;
    }
    return false;
}

FrameSizes FrameSizes::fixed(uint32_t frame_size_with_fcs) {
    if (frame_size_with_fcs < kMinFrameSize + kFcsBytes || frame_size_with_fcs > kMaxFrameSize + kFcsBytes) {
        throw std::invalid_argument("frame size " + std::to_string(frame_size_with_fcs) +
                                    " is outside 64..1518 (sizes count the 4-byte FCS)");
    }
    return FrameSizes{{static_cast<uint16_t>(frame_size_with_fcs - kFcsBytes)}};
}

FrameSizes FrameSizes::imix() {
    // 7 x 64, 4 x 594, 1 x 1518 bytes (with FCS), interleaved so that a burst mixes sizes
    // instead of sending seven small frames in a row.
    return FrameSizes{{60, 590, 60, 60, 590, 60, 1514, 60, 590, 60, 60, 590}};
}

PacketFactory::PacketFactory(const Targets& targets, const FlowSpace& flows, const FlowSpace6& flows6,
                             const FrameSizes& sizes, const rte_ether_addr& source_mac,
                             const rte_ether_addr& gateway_mac)
    : targets_(targets), flows_(flows), flows6_(flows6), size_of_slot_(sizes.sequence) {
    if (size_of_slot_.empty()) throw std::invalid_argument("no frame size given");
    for (bool ipv6 : {false, true}) {
        for (uint8_t protocol : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
            for (uint16_t size : size_of_slot_) {
                Template t{};
                t.frame_size = ipv6 ? static_cast<uint16_t>(std::min(size + kIpv6ExtraBytes, kMaxFrameSize)) : size;
                uint8_t* p = t.bytes.data();
                auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
                eth->dst_addr = gateway_mac;
                eth->src_addr = source_mac;
                const uint32_t l4_offset = ipv6 ? kL4Offset6 : kL4Offset;
                const uint16_t l4_length = static_cast<uint16_t>(t.frame_size - l4_offset);
                uint8_t* ip = p + kIpOffset;
                if (ipv6) {
                    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
                    ip[0] = 0x60;
                    store16_be(ip + 4, l4_length);  // payload length
                    ip[6] = protocol;               // next header
                    ip[7] = kClientTtl;             // hop limit
                } else {
                    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
                    auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(ip);
                    ip4->version_ihl = 0x45;
                    ip4->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(l4_length + 20));
                    ip4->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
                    ip4->time_to_live = kClientTtl;
                    ip4->next_proto_id = protocol;
                    t.ip_partial_sum = rte_raw_cksum(ip4, 20);
                }
                uint8_t* l4 = p + l4_offset;
                if (protocol == IPPROTO_TCP) {
                    reinterpret_cast<rte_tcp_hdr*>(l4)->rx_win = rte_cpu_to_be_16(65535);
                    store16_be(l4 + 20, kSignatureMagic);
                } else {
                    reinterpret_cast<rte_udp_hdr*>(l4)->dgram_len = rte_cpu_to_be_16(l4_length);
                    store16_be(l4 + 8, kSignatureMagic);
                }
                // Pseudo-header without the addresses (they are variable fields): the protocol and
                // the L4 length. IPv4's {0, protocol, length} and IPv6's 32-bit length and 32-bit
                // next header sum to the same 16-bit words.
                const uint8_t pseudo[4] = {0, protocol, static_cast<uint8_t>(l4_length >> 8),
                                           static_cast<uint8_t>(l4_length & 0xff)};
                t.l4_partial_sum = rte_raw_cksum(pseudo, sizeof(pseudo)) + rte_raw_cksum(l4, l4_length);
                templates_.push_back(t);
            }
        }
    }
}

uint16_t PacketFactory::build(rte_mbuf* m, uint32_t flow_id, PacketKind kind, uint8_t lcore, uint32_t tx_tsc,
                              uint32_t size_slot) const noexcept {
    const FlowTuple tuple = flows_.tuple(flow_id);
    const Target& target = targets_.targets[tuple.target_index];
    const Template& t = template_for(target.ipv6, target.protocol, size_slot);
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(p, t.bytes.data(), t.frame_size);
    m->data_len = t.frame_size;
    m->pkt_len = t.frame_size;

    uint8_t* l4;
    uint64_t l4_sum = t.l4_partial_sum;
    uint16_t client_port;
    if (target.ipv6) {
        const FlowTuple6 tuple6 = flows6_.tuple(flow_id);
        client_port = tuple6.client_port;
        std::memcpy(p + kIpOffset + 8, tuple6.client_address.data(), 16);
        std::memcpy(p + kIpOffset + 24, target.vip6.data(), 16);
        for (uint32_t offset = 8; offset < 40; offset += 4) l4_sum += term32(p + kIpOffset + offset);
        l4 = p + kL4Offset6;
    } else {
        client_port = tuple.client_port;
        store32_be(p + kIpOffset + 12, tuple.client_address);
        store32_be(p + kIpOffset + 16, target.vip);
        const uint64_t addresses = term32(p + kIpOffset + 12) + term32(p + kIpOffset + 16);
        const uint16_t ip_checksum = finish_checksum(t.ip_partial_sum + addresses);
        std::memcpy(p + kIpOffset + 10, &ip_checksum, sizeof(ip_checksum));
        l4_sum += addresses;
        l4 = p + kL4Offset;
    }
    store16_be(l4, client_port);
    store16_be(l4 + 2, target.port);
    l4_sum += term32(l4);
    if (target.protocol == IPPROTO_TCP) {
        store32_be(l4 + kTcpSequenceOffset, flow_id);
        store32_be(l4 + kTcpAckOffset, tx_tsc);
        l4[kTcpFlagsWordOffset] = kTcpHeaderWords << 4;
        l4[kTcpFlagsWordOffset + 1] = tcp_flags_of(kind);
        l4[kTcpPayload + 2] = static_cast<uint8_t>(kind);
        l4[kTcpPayload + 3] = lcore;
        l4_sum += term32(l4 + kTcpSequenceOffset) + term32(l4 + kTcpAckOffset) + term16(l4 + kTcpFlagsWordOffset) +
                  term16(l4 + kTcpPayload + 2);
        const uint16_t checksum = finish_checksum(l4_sum);
        std::memcpy(l4 + kTcpChecksumOffset, &checksum, sizeof(checksum));
    } else {
        l4[kUdpPayload + 2] = static_cast<uint8_t>(kind);
        l4[kUdpPayload + 3] = lcore;
        store32_be(l4 + kUdpPayload + 4, flow_id);
        store32_be(l4 + kUdpPayload + 8, tx_tsc);
        l4_sum += term16(l4 + kUdpPayload + 2) + term32(l4 + kUdpPayload + 4) + term32(l4 + kUdpPayload + 8);
        uint16_t checksum = finish_checksum(l4_sum);
        if (checksum == 0) checksum = 0xffff;  // 0 means "no checksum" in UDP (and is not allowed over IPv6)
        std::memcpy(l4 + kUdpChecksumOffset, &checksum, sizeof(checksum));
    }
    return t.frame_size;
}

}  // namespace vipgen
