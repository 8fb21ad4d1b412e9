// IPv6 test frames: the fixed header, an extension header chain, and an upper-layer header.
//
// Written apart from the dataplane (byte by byte, with inet_pton for addresses) so the parser is
// checked against an independent picture of the wire. Test addresses: 2001:db8::/32 only.
// Checksums are correct (IPv6 pseudo-header) for the UDP and TCP builders; the parser does not
// verify them, but a dump of a test frame in Wireshark then reads cleanly.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/packet_builder.h"

namespace vipgate::test {

using Ipv6Address = std::array<uint8_t, 16>;

inline Ipv6Address ipv6(const std::string& text) {
    Ipv6Address address{};
    if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1) {
        std::string message = "bad IPv6 address ";
        message += text;
        throw std::invalid_argument(message);
    }
    return address;
}

// Appends with resize and copy: GCC 12 warns falsely (-Warray-bounds) on vector::insert here.
inline void append_bytes(Bytes& bytes, std::span<const uint8_t> more) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + more.size());
    if (!more.empty()) std::memcpy(bytes.data() + old_size, more.data(), more.size());
}

inline const Ipv6Address kClient6 = ipv6("2001:db8::10");
inline const Ipv6Address kVip6 = ipv6("2001:db8:100::1");

// One extension header, whole: the chain builder writes its first byte (next header).
struct Ipv6Extension {
    uint8_t type;
    Bytes bytes;
};

// Hop-by-hop or destination options of `length` bytes (a multiple of 8), filled with PadN.
inline Ipv6Extension ipv6_options(uint8_t type, size_t length = 8) {
    if (length < 8 || length % 8 != 0 || length > 2048) throw std::invalid_argument("options length");
    Bytes bytes(length, 0);
    bytes[1] = static_cast<uint8_t>(length / 8 - 1);
    bytes[2] = 1;  // PadN
    bytes[3] = static_cast<uint8_t>(length - 4);
    return {type, bytes};
}
inline Ipv6Extension hop_by_hop(size_t length = 8) {
    return ipv6_options(0, length);
}
inline Ipv6Extension destination_options(size_t length = 8) {
    return ipv6_options(60, length);
}

inline Ipv6Extension routing_header(uint8_t routing_type, uint8_t segments_left = 0, size_t length = 24) {
    if (length < 8 || length % 8 != 0) throw std::invalid_argument("routing header length");
    Bytes bytes(length, 0);
    bytes[1] = static_cast<uint8_t>(length / 8 - 1);
    bytes[2] = routing_type;
    bytes[3] = segments_left;
    return {43, bytes};
}

// `offset`: bytes (a multiple of 8).
inline Ipv6Extension fragment_header(uint16_t offset, bool more, uint32_t id = 0x01020304) {
    Bytes bytes(8, 0);
    const uint16_t field = static_cast<uint16_t>((offset & 0xFFF8) | (more ? 1 : 0));
    bytes[2] = static_cast<uint8_t>(field >> 8);
    bytes[3] = static_cast<uint8_t>(field);
    for (int i = 0; i < 4; ++i) bytes[4 + i] = static_cast<uint8_t>(id >> (24 - 8 * i));
    return {44, bytes};
}

// Any other header, 8 bytes with length field 0 (AH's, ESP's and others' own units are not modelled).
inline Ipv6Extension opaque_extension(uint8_t type) {
    return {type, Bytes(8, 0)};
}

struct Ipv6Spec {
    Ipv6Address src = kClient6;
    Ipv6Address dst = kVip6;
    uint8_t hop_limit = 64;
    uint8_t version = 6;
    std::optional<uint16_t> payload_length;  // default: chain + upper layer
};

// Ethernet + IPv6 + chain + `upper` (bytes of the upper-layer protocol `protocol`).
inline Bytes ipv6_frame(const std::vector<Ipv6Extension>& chain, uint8_t protocol, std::span<const uint8_t> upper,
                        const Ipv6Spec& ip = {}, const EthernetSpec& ethernet = {}) {
    Bytes payload;
    for (size_t i = 0; i < chain.size(); ++i) {
        Bytes bytes = chain[i].bytes;
        bytes[0] = i + 1 < chain.size() ? chain[i + 1].type : protocol;
        append_bytes(payload, bytes);
    }
    append_bytes(payload, upper);
    const uint16_t payload_length = ip.payload_length.value_or(static_cast<uint16_t>(payload.size()));
    Bytes packet = {static_cast<uint8_t>(ip.version << 4),
                    0,
                    0,
                    0,
                    static_cast<uint8_t>(payload_length >> 8),
                    static_cast<uint8_t>(payload_length),
                    chain.empty() ? protocol : chain.front().type,
                    ip.hop_limit};
    append_bytes(packet, ip.src);
    append_bytes(packet, ip.dst);
    append_bytes(packet, payload);
    return ethernet_frame(0x86DD, packet, ethernet);
}

// Reference one's-complement checksum over the IPv6 pseudo-header and `l4` (its checksum field
// zero), as the 16-bit value to write big-endian.
inline uint16_t ipv6_l4_checksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                                 std::span<const uint8_t> l4) {
    uint64_t sum = 0;
    auto add = [&sum](std::span<const uint8_t> bytes) {
        for (size_t i = 0; i < bytes.size(); i += 2) {
            sum += uint32_t{bytes[i]} << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0);
        }
    };
    add(src);
    add(dst);
    const uint32_t length = static_cast<uint32_t>(l4.size());
    const uint8_t tail[8] = {static_cast<uint8_t>(length >> 24),
                             static_cast<uint8_t>(length >> 16),
                             static_cast<uint8_t>(length >> 8),
                             static_cast<uint8_t>(length),
                             0,
                             0,
                             0,
                             protocol};
    add(tail);
    add(l4);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

inline void put16(Bytes& bytes, size_t offset, uint16_t value) {
    bytes[offset] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 1] = static_cast<uint8_t>(value);
}

// A UDP datagram (header + payload) with its IPv6 checksum; `checksum` overrides it.
inline Bytes udp6(uint16_t src_port, uint16_t dst_port, std::span<const uint8_t> payload, const Ipv6Spec& ip = {},
                  std::optional<uint16_t> checksum = std::nullopt) {
    Bytes udp(8, 0);
    put16(udp, 0, src_port);
    put16(udp, 2, dst_port);
    put16(udp, 4, static_cast<uint16_t>(8 + payload.size()));
    append_bytes(udp, payload);
    const uint16_t computed = ipv6_l4_checksum(ip.src, ip.dst, 17, udp);
    put16(udp, 6, checksum.value_or(computed == 0 ? 0xFFFF : computed));
    return udp;
}

// A TCP segment without options (or `header_length` with zero padding) and its IPv6 checksum.
inline Bytes tcp6(uint16_t src_port, uint16_t dst_port, uint8_t flags, const Ipv6Spec& ip = {},
                  size_t header_length = 20) {
    Bytes tcp(header_length, 0);
    put16(tcp, 0, src_port);
    put16(tcp, 2, dst_port);
    tcp[12] = static_cast<uint8_t>((header_length / 4) << 4);
    tcp[13] = flags;
    put16(tcp, 14, 65535);
    put16(tcp, 16, ipv6_l4_checksum(ip.src, ip.dst, 6, tcp));
    return tcp;
}

// ICMPv6 of `type`/`code` with 4 more bytes (identifier and sequence for an echo) and its checksum.
inline Bytes icmp6(uint8_t type, uint8_t code = 0, const Ipv6Spec& ip = {}) {
    Bytes icmp = {type, code, 0, 0, 0x12, 0x34, 0, 1};
    put16(icmp, 2, ipv6_l4_checksum(ip.src, ip.dst, 58, icmp));
    return icmp;
}

}  // namespace vipgate::test
