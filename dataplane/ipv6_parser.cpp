// IPv6 parser. See ipv6_parser.h for what is accepted and why.
//
// The walk keeps two limits apart, as parse_packet does for IPv4: `datagram_end` (where the
// payload length says the packet ends: a header running past it is malformed, or in a first
// fragment RFC 7112's missing upper layer) and `readable` (the first segment: a header past it
// is truncated for us, however well-formed).
#include "dataplane/ipv6_parser.h"

#include <algorithm>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/sctp.h"

namespace vipgate {
namespace {

constexpr uint32_t kIpv6HeaderLength = sizeof(rte_ipv6_hdr);
constexpr uint32_t kExtensionMinimumLength = 8;  // every walked extension header is a multiple of 8
constexpr uint32_t kFragmentHeaderLength = 8;
constexpr uint32_t kIcmpv6HeaderLength = 4;
constexpr uint32_t kMaxDatagramLength = 65535;
constexpr uint8_t kIpv6Version = 6;
constexpr uint8_t kRoutingType0 = 0;
constexpr uint16_t kFragmentOffsetMask = 0xFFF8;  // in the host-order offset field: offset in 8-byte units << 3
constexpr uint16_t kFragmentMoreFlag = 0x0001;

constexpr ParseOutcome invalid(DropReason reason) {
    return {PacketKind::Invalid, reason};
}
constexpr ParseOutcome accepted() {
    return {PacketKind::Ipv6, DropReason::Count};
}

uint16_t load_be16(const uint8_t* bytes) {
    uint16_t value;
    std::memcpy(&value, bytes, sizeof(value));
    return rte_be_to_cpu_16(value);
}

bool is_unsupported_extension(uint8_t next_header) {
    switch (next_header) {
    case kIpv6Esp:
    case kIpv6Ah:
    case kIpv6Mobility:
    case kIpv6Hip:
    case kIpv6Shim6:
    case kIpv6Experimental1:
    case kIpv6Experimental2:
        return true;
    default:
        return false;
    }
}

struct Bounds {
    uint32_t datagram_end;  // frame offset where the datagram ends
    uint32_t readable;      // frame offset where the first segment ends (never past the frame)
};

// A header of `length` bytes at `offset` that does not fit: the precise reason.
DropReason missing(const ParsedIpv6& out, const Bounds& bounds, uint32_t offset, uint32_t length,
                   DropReason truncated) {
    if (offset + length > bounds.datagram_end && out.fragment == FragmentKind::First) {
        return DropReason::Ipv6FragmentNoUpperLayer;
    }
    return truncated;
}

ParseOutcome parse_upper_layer(const uint8_t* frame, const Bounds& bounds, uint32_t offset, ParsedIpv6& out) {
    out.l4_offset = static_cast<uint16_t>(offset);
    const uint32_t in_datagram = bounds.datagram_end - offset;
    const uint32_t available = std::min(bounds.datagram_end, bounds.readable) - offset;
    auto need = [&](uint32_t length) { return length <= available; };
    auto short_of = [&](uint32_t length) {
        return invalid(missing(out, bounds, offset, length, DropReason::TruncatedL4));
    };
    const uint8_t* l4 = frame + offset;
    switch (out.key.protocol) {
    case kProtoTcp: {
        if (!need(sizeof(rte_tcp_hdr))) return short_of(sizeof(rte_tcp_hdr));
        const uint32_t header_length = (l4[offsetof(rte_tcp_hdr, data_off)] >> 4) * 4u;
        if (header_length < sizeof(rte_tcp_hdr)) return invalid(DropReason::TruncatedL4);
        if (!need(header_length)) return short_of(header_length);
        std::memcpy(&out.key.src_port, l4 + offsetof(rte_tcp_hdr, src_port), sizeof(uint16_t));
        std::memcpy(&out.key.dst_port, l4 + offsetof(rte_tcp_hdr, dst_port), sizeof(uint16_t));
        out.tcp_flags = l4[offsetof(rte_tcp_hdr, tcp_flags)];
        return accepted();
    }
    case kProtoUdp: {
        if (!need(sizeof(rte_udp_hdr))) return short_of(sizeof(rte_udp_hdr));
        const uint32_t udp_length = load_be16(l4 + offsetof(rte_udp_hdr, dgram_len));
        // A first fragment carries the whole datagram's UDP length.
        const bool longer_allowed = out.fragment == FragmentKind::First;
        if (udp_length < sizeof(rte_udp_hdr) || (udp_length > in_datagram && !longer_allowed)) {
            return invalid(DropReason::TruncatedL4);
        }
        if (load_be16(l4 + offsetof(rte_udp_hdr, dgram_cksum)) == 0) return invalid(DropReason::Ipv6UdpZeroChecksum);
        std::memcpy(&out.key.src_port, l4 + offsetof(rte_udp_hdr, src_port), sizeof(uint16_t));
        std::memcpy(&out.key.dst_port, l4 + offsetof(rte_udp_hdr, dst_port), sizeof(uint16_t));
        return accepted();
    }
    case kProtoSctp: {
        constexpr uint32_t kHeaders = kSctpCommonHeaderLength + kSctpChunkHeaderLength;
        if (!need(kHeaders)) return short_of(kHeaders);
        std::memcpy(&out.key.src_port, l4, sizeof(uint16_t));
        std::memcpy(&out.key.dst_port, l4 + sizeof(uint16_t), sizeof(uint16_t));
        out.tcp_flags = sctp_tcp_flags(l4[kSctpCommonHeaderLength]);  // as parse_packet: INIT reads as a SYN
        return accepted();
    }
    case kProtoIcmpv6:
        if (!need(kIcmpv6HeaderLength)) return short_of(kIcmpv6HeaderLength);
        out.icmp_type = l4[0];
        out.icmp_code = l4[1];
        return accepted();
    case kIpv6NoNextHeader:
        return accepted();
    default:
        return invalid(DropReason::UnsupportedProtocol);
    }
}

// The fragment header at `offset` (8 bytes, proven readable). Returns Count to go on walking.
DropReason parse_fragment_header(const uint8_t* header, const Bounds& bounds, uint32_t offset, ParsedIpv6& out) {
    const uint16_t field = load_be16(header + 2);
    const uint32_t fragment_offset = field & kFragmentOffsetMask;
    const bool more = (field & kFragmentMoreFlag) != 0;
    const uint32_t data_length = bounds.datagram_end - (offset + kFragmentHeaderLength);
    std::memcpy(&out.fragment_id, header + 4, sizeof(out.fragment_id));
    if (fragment_offset == 0 && !more) return DropReason::Count;  // atomic fragment (RFC 6946)
    if (data_length == 0 || (more && data_length % 8 != 0)) return DropReason::Ipv6FragmentMalformed;
    if (fragment_offset + data_length > kMaxDatagramLength) return DropReason::FragmentOversize;
    out.fragment = fragment_offset == 0 ? FragmentKind::First : FragmentKind::Later;
    out.more_fragments = more;
    out.fragment_offset = static_cast<uint16_t>(fragment_offset);
    out.fragment_length = static_cast<uint16_t>(data_length);
    return DropReason::Count;
}

}  // namespace

ParseOutcome parse_ipv6(const uint8_t* frame, uint32_t contiguous_length, uint32_t packet_length, uint16_t l3_offset,
                        ParsedIpv6& out) noexcept {
    out = ParsedIpv6{};
    out.l3_offset = l3_offset;
    const uint32_t readable = std::min(contiguous_length, packet_length);
    const uint32_t l3 = l3_offset;
    if (l3 > readable || readable - l3 < kIpv6HeaderLength) return invalid(DropReason::TruncatedIpv6);
    const uint8_t* header = frame + l3;
    if ((header[0] >> 4) != kIpv6Version) return invalid(DropReason::BadIpVersion);
    const uint32_t payload_length = load_be16(header + offsetof(rte_ipv6_hdr, payload_len));
    const bool jumbogram = payload_length == 0 && header[offsetof(rte_ipv6_hdr, proto)] == kIpv6HopByHop;
    if (jumbogram || payload_length > packet_length - l3 - kIpv6HeaderLength) return invalid(DropReason::BadIpLength);
    out.payload_length = static_cast<uint16_t>(payload_length);
    out.hop_limit = header[offsetof(rte_ipv6_hdr, hop_limits)];
    std::memcpy(out.key.src_addr, header + offsetof(rte_ipv6_hdr, src_addr), sizeof(out.key.src_addr));
    std::memcpy(out.key.dst_addr, header + offsetof(rte_ipv6_hdr, dst_addr), sizeof(out.key.dst_addr));

    const uint32_t chain_start = l3 + kIpv6HeaderLength;
    const Bounds bounds{chain_start + payload_length, readable};
    uint32_t offset = chain_start;
    uint8_t next = header[offsetof(rte_ipv6_hdr, proto)];
    bool fragment_header_seen = false;
    for (;;) {
        if (is_unsupported_extension(next)) return invalid(DropReason::Ipv6ExtUnsupported);
        if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6DestinationOptions && next != kIpv6Fragment) {
            break;
        }
        if (next == kIpv6HopByHop && offset != chain_start) return invalid(DropReason::Ipv6HopByHopNotFirst);
        if (out.extension_headers == kMaxIpv6ExtensionHeaders) return invalid(DropReason::Ipv6ExtLimit);
        // Next header and length (or the whole fragment header) come first.
        if (offset + kExtensionMinimumLength > std::min(bounds.datagram_end, bounds.readable)) {
            return invalid(missing(out, bounds, offset, kExtensionMinimumLength, DropReason::Ipv6ExtTruncated));
        }
        const uint8_t* extension = frame + offset;
        const uint32_t length =
            next == kIpv6Fragment ? kFragmentHeaderLength : (uint32_t{extension[1]} + 1) * kExtensionMinimumLength;
        if (offset + length - chain_start > kMaxIpv6ChainBytes) return invalid(DropReason::Ipv6ExtLimit);
        if (offset + length > std::min(bounds.datagram_end, bounds.readable)) {
            return invalid(missing(out, bounds, offset, length, DropReason::Ipv6ExtTruncated));
        }
        if (next == kIpv6Routing && extension[2] == kRoutingType0) return invalid(DropReason::Ipv6RoutingType0);
        ++out.extension_headers;
        if (next == kIpv6Fragment) {
            if (fragment_header_seen) return invalid(DropReason::Ipv6FragmentMalformed);
            fragment_header_seen = true;
            const DropReason reason = parse_fragment_header(extension, bounds, offset, out);
            if (reason != DropReason::Count) return invalid(reason);
        }
        next = extension[0];
        offset += length;
        if (out.fragment == FragmentKind::Later) {
            out.key.protocol = next;
            out.l4_offset = static_cast<uint16_t>(offset);
            return accepted();
        }
    }
    out.key.protocol = next;
    return parse_upper_layer(frame, bounds, offset, out);
}

}  // namespace vipgate
