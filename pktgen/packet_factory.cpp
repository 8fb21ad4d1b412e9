#include "pktgen/packet_factory.h"

#include <netinet/in.h>
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

constexpr uint32_t kTcpSequenceOffset = kL4Offset + 4;
constexpr uint32_t kTcpAckOffset = kL4Offset + 8;
constexpr uint32_t kTcpFlagsWordOffset = kL4Offset + 12;  // data offset, reserved bits, flags
constexpr uint32_t kTcpChecksumOffset = kL4Offset + 16;
constexpr uint32_t kUdpChecksumOffset = kL4Offset + 6;
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

PacketFactory::PacketFactory(const Targets& targets, const FlowSpace& flows, const FrameSizes& sizes,
                             const rte_ether_addr& source_mac, const rte_ether_addr& gateway_mac)
    : targets_(targets), flows_(flows), size_of_slot_(sizes.sequence) {
    if (size_of_slot_.empty()) throw std::invalid_argument("no frame size given");
    for (uint8_t protocol : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
        for (uint16_t frame_size : size_of_slot_) {
            Template t{};
            t.frame_size = frame_size;
            uint8_t* p = t.bytes.data();
            auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
            eth->dst_addr = gateway_mac;
            eth->src_addr = source_mac;
            eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
            const uint16_t ip_length = static_cast<uint16_t>(frame_size - kIpOffset);
            const uint16_t l4_length = static_cast<uint16_t>(ip_length - 20);
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + kIpOffset);
            ip->version_ihl = 0x45;
            ip->total_length = rte_cpu_to_be_16(ip_length);
            ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
            ip->time_to_live = kClientTtl;
            ip->next_proto_id = protocol;
            t.ip_partial_sum = rte_raw_cksum(ip, 20);

            uint8_t* l4 = p + kL4Offset;
            if (protocol == IPPROTO_TCP) {
                auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
                tcp->rx_win = rte_cpu_to_be_16(65535);
                store16_be(p + kTcpPayloadOffset, kSignatureMagic);
            } else {
                reinterpret_cast<rte_udp_hdr*>(l4)->dgram_len = rte_cpu_to_be_16(l4_length);
                store16_be(p + kUdpPayloadOffset, kSignatureMagic);
            }
            // Pseudo-header without the addresses (they are variable fields): zero, protocol, length.
            const uint8_t pseudo[4] = {0, protocol, static_cast<uint8_t>(l4_length >> 8),
                                       static_cast<uint8_t>(l4_length & 0xff)};
            t.l4_partial_sum = rte_raw_cksum(pseudo, sizeof(pseudo)) + rte_raw_cksum(l4, l4_length);
            templates_.push_back(t);
        }
    }
}

void PacketFactory::build(rte_mbuf* m, uint32_t flow_id, PacketKind kind, uint8_t lcore, uint32_t tx_tsc,
                          uint32_t size_slot) const noexcept {
    const FlowTuple tuple = flows_.tuple(flow_id);
    const Target& target = targets_.targets[tuple.target_index];
    const Template& t = template_for(target.protocol, size_slot);
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(p, t.bytes.data(), t.frame_size);
    m->data_len = t.frame_size;
    m->pkt_len = t.frame_size;

    store32_be(p + kIpOffset + 12, tuple.client_address);
    store32_be(p + kIpOffset + 16, target.vip);
    store16_be(p + kL4Offset, tuple.client_port);
    store16_be(p + kL4Offset + 2, target.port);
    const uint64_t addresses = term32(p + kIpOffset + 12) + term32(p + kIpOffset + 16);
    const uint16_t ip_checksum = finish_checksum(t.ip_partial_sum + addresses);
    std::memcpy(p + kIpOffset + 10, &ip_checksum, sizeof(ip_checksum));

    uint64_t l4_sum = t.l4_partial_sum + addresses + term32(p + kL4Offset);
    if (target.protocol == IPPROTO_TCP) {
        store32_be(p + kTcpSequenceOffset, flow_id);
        store32_be(p + kTcpAckOffset, tx_tsc);
        p[kTcpFlagsWordOffset] = kTcpHeaderWords << 4;
        p[kTcpFlagsWordOffset + 1] = tcp_flags_of(kind);
        p[kTcpPayloadOffset + 2] = static_cast<uint8_t>(kind);
        p[kTcpPayloadOffset + 3] = lcore;
        l4_sum += term32(p + kTcpSequenceOffset) + term32(p + kTcpAckOffset) + term16(p + kTcpFlagsWordOffset) +
                  term16(p + kTcpPayloadOffset + 2);
        const uint16_t checksum = finish_checksum(l4_sum);
        std::memcpy(p + kTcpChecksumOffset, &checksum, sizeof(checksum));
    } else {
        p[kUdpPayloadOffset + 2] = static_cast<uint8_t>(kind);
        p[kUdpPayloadOffset + 3] = lcore;
        store32_be(p + kUdpPayloadOffset + 4, flow_id);
        store32_be(p + kUdpPayloadOffset + 8, tx_tsc);
        l4_sum +=
            term16(p + kUdpPayloadOffset + 2) + term32(p + kUdpPayloadOffset + 4) + term32(p + kUdpPayloadOffset + 8);
        uint16_t checksum = finish_checksum(l4_sum);
        if (checksum == 0) checksum = 0xffff;  // 0 means "no checksum" in UDP
        std::memcpy(p + kUdpChecksumOffset, &checksum, sizeof(checksum));
    }
}

}  // namespace vipgen
