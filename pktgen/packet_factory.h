// Builds vipgen's packets from templates and reads back the signature they carry.
//
// Design note: generation must not be the bottleneck (>= 20 Mpps per core), so a packet is a
// copy of a prebuilt template plus a handful of stores, and its checksums are finished from
// sums precomputed over the template's constant bytes: the IPv4 and L4 checksums only add
// the variable 32-bit fields as stored (one's-complement sums do not care about byte order,
// RFC 1071), then fold once. There is one template per protocol and frame size; addresses and
// ports are variable fields, so 10,000 VIPs cost no more than one.
//
// IPv6 packets carry the same L4 segment as IPv4 ones in a 40-byte header instead of 20, so
// their frames are 20 bytes longer (84 bytes for --size 64; at most 1518): the minimum IPv6 TCP
// frame with a signature is 78 bytes, and equal segments keep the two families comparable.
//
// Every packet carries a signature: the flow id (which gives the tuple, see flow_space.h),
// the low 32 bits of the sender's TSC (latency), the packet's kind and the sending lcore, and
// a magic word. A 64-byte TCP frame has only 6 bytes of payload, so for TCP the flow id and
// timestamp ride in the sequence and acknowledgement numbers (the gateway does not track
// them); for UDP everything is in the payload. Replies from the emulated backends keep the
// signature, so the client side can match them and time the round trip.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "pktgen/flow_space.h"
#include "pktgen/targets.h"

namespace vipgen {

inline constexpr uint16_t kSignatureMagic = 0x7647;  // "vG", host order
inline constexpr uint8_t kClientTtl = 64;
inline constexpr uint32_t kMinFrameSize = 60;    // without the 4-byte FCS: a 64-byte frame
inline constexpr uint32_t kMaxFrameSize = 1514;  // without FCS: a 1518-byte frame
inline constexpr uint32_t kFcsBytes = 4;

// Frame offsets of the untagged Ethernet/IPv4 (IHL 5) packets vipgen sends.
inline constexpr uint32_t kIpOffset = RTE_ETHER_HDR_LEN;
inline constexpr uint32_t kL4Offset = kIpOffset + 20;
inline constexpr uint32_t kTcpPayloadOffset = kL4Offset + 20;
inline constexpr uint32_t kUdpPayloadOffset = kL4Offset + 8;
// IPv6 (no extension header): the L4 header follows the 40-byte fixed header.
inline constexpr uint32_t kL4Offset6 = kIpOffset + 40;
inline constexpr uint32_t kIpv6ExtraBytes = kL4Offset6 - kL4Offset;

enum class PacketKind : uint8_t {
    Open = 1,   // TCP SYN, or a flow's first UDP datagram
    Data = 2,   // TCP ACK with data position, or a UDP datagram
    Close = 3,  // TCP FIN|ACK
};

struct Signature {
    uint32_t flow_id;
    uint32_t tx_tsc;  // low 32 bits of the sender's TSC when the packet was built
    PacketKind kind;
    uint8_t lcore;
};

// Reads the signature of a TCP or UDP packet starting at the L4 header; false when the
// packet is too short or the magic word is missing.
bool read_signature(const uint8_t* l4, uint32_t l4_length, uint8_t protocol, Signature& out) noexcept;

// "imix" is the simple IMIX: 64, 594 and 1518-byte frames (with FCS) in the ratio 7:4:1.
struct FrameSizes {
    std::vector<uint16_t> sequence;                         // frame sizes without FCS, cycled per packet
    static FrameSizes fixed(uint32_t frame_size_with_fcs);  // throws std::invalid_argument
    static FrameSizes imix();
};

class PacketFactory {
public:
    PacketFactory(const Targets& targets, const FlowSpace& flows, const FlowSpace6& flows6, const FrameSizes& sizes,
                  const rte_ether_addr& source_mac, const rte_ether_addr& gateway_mac);

    // Writes the packet of `flow_id` into an empty mbuf and returns its frame length (without
    // FCS). `size_slot` picks the frame size from the size sequence (the caller cycles it); the
    // flow's target decides the family. The mbuf must hold kMaxFrameSize bytes.
    uint16_t build(rte_mbuf* m, uint32_t flow_id, PacketKind kind, uint8_t lcore, uint32_t tx_tsc,
                   uint32_t size_slot) const noexcept;

    uint32_t size_sequence_length() const noexcept { return static_cast<uint32_t>(size_of_slot_.size()); }

private:
    struct Template {
        std::array<uint8_t, kMaxFrameSize> bytes;
        uint16_t frame_size;
        uint32_t ip_partial_sum;  // IPv4: over the header with addresses and checksum zero
        uint32_t l4_partial_sum;  // over pseudo-header and segment with the variable fields zero
    };
    // TCP for each size slot, then UDP for each; IPv4 then IPv6.
    const Template& template_for(bool ipv6, uint8_t protocol, uint32_t size_slot) const noexcept {
        return templates_[((ipv6 ? 2 : 0) + (protocol == 17 ? 1 : 0)) * size_of_slot_.size() + size_slot];
    }

    const Targets& targets_;
    const FlowSpace& flows_;
    const FlowSpace6& flows6_;
    std::vector<uint16_t> size_of_slot_;
    std::vector<Template> templates_;
};

}  // namespace vipgen
