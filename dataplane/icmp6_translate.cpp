#include "dataplane/icmp6_translate.h"

#include <algorithm>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "dataplane/checksum.h"
#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint32_t kIpv6HeaderLength = sizeof(rte_ipv6_hdr);
constexpr uint32_t kIcmp6HeaderLength = 8;
constexpr uint32_t kQuotedL4Minimum = 8;  // ports, and UDP's whole header
constexpr uint32_t kTcpChecksumEnd = 18;  // the TCP checksum field ends at byte 18
constexpr uint32_t kUdpChecksumOffset = 6;
constexpr uint32_t kTcpChecksumOffset = 16;
constexpr uint32_t kSctpChecksumOffset = 8;
constexpr uint32_t kSctpChecksumEnd = 12;
constexpr uint8_t kIpv6Version = 6;
constexpr uint32_t kFragmentHeaderLength = 8;
constexpr uint16_t kFragmentOffsetMask = 0xFFF8;  // of the host-order offset field

uint16_t load16(const uint8_t* bytes) {
    uint16_t value;
    std::memcpy(&value, bytes, sizeof(value));
    return value;
}
uint32_t load32(const uint8_t* bytes) {
    uint32_t value;
    std::memcpy(&value, bytes, sizeof(value));
    return value;
}
void store16(uint8_t* bytes, uint16_t value) {
    std::memcpy(bytes, &value, sizeof(value));
}

// ~old + new of a 16-bit field, for the accumulator.
uint64_t delta16(uint16_t old_value, uint16_t new_value) {
    return uint64_t{static_cast<uint16_t>(~old_value)} + new_value;
}

}  // namespace

bool parse_icmp6_quote(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed,
                       Icmp6Quote& out) noexcept {
    const uint32_t datagram_end = parsed.l3_offset + kIpv6HeaderLength + parsed.payload_length;
    const uint32_t quote_end = std::min(datagram_end, contiguous_length);
    const uint32_t inner_l3 = parsed.l4_offset + kIcmp6HeaderLength;
    if (inner_l3 + kIpv6HeaderLength > quote_end) return false;
    const uint8_t* inner = frame + inner_l3;
    if ((inner[0] >> 4) != kIpv6Version) return false;
    out = Icmp6Quote{};
    out.inner_l3_offset = static_cast<uint16_t>(inner_l3);
    out.quote_end = static_cast<uint16_t>(quote_end);
    out.inner_payload_length = rte_be_to_cpu_16(load16(inner + offsetof(rte_ipv6_hdr, payload_len)));
    std::memcpy(out.inner_key.src_addr, inner + offsetof(rte_ipv6_hdr, src_addr), 16);
    std::memcpy(out.inner_key.dst_addr, inner + offsetof(rte_ipv6_hdr, dst_addr), 16);
    uint8_t next = inner[offsetof(rte_ipv6_hdr, proto)];
    uint32_t offset = inner_l3 + kIpv6HeaderLength;
    bool fragment = false;
    for (uint32_t walked = 0;
         next == kIpv6HopByHop || next == kIpv6Routing || next == kIpv6DestinationOptions || next == kIpv6Fragment;
         ++walked) {
        if (walked == kMaxIpv6ExtensionHeaders || offset + 8 > quote_end) return false;
        uint32_t length = (uint32_t{frame[offset + 1]} + 1) * 8;
        if (next == kIpv6Fragment) {
            // A first fragment quotes the ports; a later one quotes data.
            if ((rte_be_to_cpu_16(load16(frame + offset + 2)) & kFragmentOffsetMask) != 0) {
                out.later_fragment = true;
                return false;
            }
            length = kFragmentHeaderLength;
            fragment = true;
        }
        if (offset + length - (inner_l3 + kIpv6HeaderLength) > kMaxIpv6ChainBytes) return false;
        next = frame[offset];
        offset += length;
    }
    // SCTP is not served in fragments (fragment_path.h): no fragment of it was translated.
    if (next != kProtoTcp && next != kProtoUdp && (next != kProtoSctp || fragment)) return false;
    if (offset + kQuotedL4Minimum > quote_end) return false;
    out.inner_key.protocol = next;
    out.inner_l4_offset = static_cast<uint16_t>(offset);
    out.inner_key.src_port = load16(frame + offset);
    out.inner_key.dst_port = load16(frame + offset + 2);
    return true;
}

void rewrite_icmp6_error(uint8_t* frame, const ParsedIpv6& parsed, const Icmp6Quote& quote,
                         const uint8_t new_outer_src[16], const uint8_t new_outer_dst[16],
                         const Ipv6Rewrite& inner) noexcept {
    auto* outer_ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    auto* inner_ip = reinterpret_cast<rte_ipv6_hdr*>(frame + quote.inner_l3_offset);
    uint8_t* icmp = frame + parsed.l4_offset;
    uint8_t* l4 = frame + quote.inner_l4_offset;
    const uint32_t quoted_l4 = quote.quote_end - quote.inner_l4_offset;

    // The quoted packet's addresses as terms of its own pseudo-header and of the ICMPv6 body.
    const uint64_t inner_addresses = checksum_address6_delta(inner_ip->src_addr, inner.src_addr) +
                                     checksum_address6_delta(inner_ip->dst_addr, inner.dst_addr);
    const uint64_t ports = delta16(load16(l4), inner.src_port) + delta16(load16(l4 + 2), inner.dst_port);
    uint64_t icmp_sum = uint16_t(~load16(icmp + 2)) + inner_addresses + ports +
                        checksum_address6_delta(outer_ip->src_addr, new_outer_src) +
                        checksum_address6_delta(outer_ip->dst_addr, new_outer_dst);
    switch (quote.inner_key.protocol) {
    case kProtoTcp:
    case kProtoUdp: {
        const bool tcp = quote.inner_key.protocol == kProtoTcp;
        const uint32_t field = tcp ? kTcpChecksumOffset : kUdpChecksumOffset;
        if (quoted_l4 < (tcp ? kTcpChecksumEnd : kQuotedL4Minimum)) break;
        const uint16_t old_checksum = load16(l4 + field);
        if (old_checksum == 0 && !tcp) break;  // never sent by us over IPv6; left as quoted
        uint16_t adjusted = static_cast<uint16_t>(~checksum_fold64(uint16_t(~old_checksum) + inner_addresses + ports));
        if (!tcp) adjusted = udp6_checksum_for_wire(adjusted);
        icmp_sum += delta16(old_checksum, adjusted);
        store16(l4 + field, adjusted);
        break;
    }
    case kProtoSctp: {
        if (quoted_l4 < kSctpChecksumEnd) break;
        // CRC32c over the quoted packet's SCTP length (from its header, not the truncated quote).
        const uint32_t before_l4 = quote.inner_l4_offset - quote.inner_l3_offset - kIpv6HeaderLength;
        if (quote.inner_payload_length < before_l4) break;
        const uint32_t old_checksum = load32(l4 + kSctpChecksumOffset);
        const uint16_t new_ports[2] = {inner.src_port, inner.dst_port};
        const uint32_t adjusted =
            sctp_checksum_update_ports(old_checksum, load32(l4), load32(reinterpret_cast<const uint8_t*>(new_ports)),
                                       quote.inner_payload_length - before_l4);
        icmp_sum += checksum_halves(~old_checksum) + checksum_halves(adjusted);
        std::memcpy(l4 + kSctpChecksumOffset, &adjusted, sizeof(adjusted));
        break;
    }
    default:
        break;
    }
    store16(l4, inner.src_port);
    store16(l4 + 2, inner.dst_port);
    std::memmove(inner_ip->src_addr, inner.src_addr, 16);
    std::memmove(inner_ip->dst_addr, inner.dst_addr, 16);
    store16(icmp + 2, static_cast<uint16_t>(~checksum_fold64(icmp_sum)));
    --outer_ip->hop_limits;
    uint8_t source[16];
    std::memcpy(source, new_outer_src, sizeof(source));
    std::memmove(outer_ip->dst_addr, new_outer_dst, 16);
    std::memcpy(outer_ip->src_addr, source, sizeof(source));
}

}  // namespace vipgate
