// Flow and VIP keys.
//
// Design note: keys are plain, padded, trivially comparable structs so they can be hashed
// with CRC32 and compared with memcmp. IPv4 flows use a 16-byte key (one quarter of a cache
// line) so a connection entry holding both directions fits one cache line; IPv6 has its own
// 40-byte key type (FlowKey6) and will get its own table instance rather than widening every
// IPv4 key to 40 bytes (docs/ipv6.md).
// The VIP key carries a 16-byte address and an address family so one VIP table serves both.
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_hash_crc.h>

namespace vipgate {

enum class AddressFamily : uint8_t { Ipv4 = 4, Ipv6 = 6 };

// IP protocol numbers used by the dataplane.
enum IpProtocol : uint8_t {
    kProtoIcmp = 1,
    kProtoTcp = 6,
    kProtoUdp = 17,
    kProtoSctp = 132,
    kProtoIcmpv6 = 58,
};

constexpr const char* protocol_name(uint8_t protocol) noexcept {
    switch (protocol) {
    case kProtoTcp:
        return "TCP";
    case kProtoUdp:
        return "UDP";
    case kProtoSctp:
        return "SCTP";
    case kProtoIcmp:
        return "ICMP";
    case kProtoIcmpv6:
        return "ICMPv6";
    default:
        return "?";
    }
}

// A directed IPv4 5-tuple. Addresses and ports are stored in network byte order exactly as
// they appear on the wire, so building a key is a copy, not a conversion.
struct alignas(16) FlowKey4 {
    uint32_t src_addr = 0;
    uint32_t dst_addr = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t protocol = 0;
    uint8_t padding[3] = {0, 0, 0};

    bool operator==(const FlowKey4& other) const { return std::memcmp(this, &other, sizeof(*this)) == 0; }

    FlowKey4 reversed() const {
        FlowKey4 r;
        r.src_addr = dst_addr;
        r.dst_addr = src_addr;
        r.src_port = dst_port;
        r.dst_port = src_port;
        r.protocol = protocol;
        return r;
    }
};
static_assert(sizeof(FlowKey4) == 16);

inline uint32_t hash_flow_key(const FlowKey4& key, uint32_t seed) {
    uint64_t words[2];
    std::memcpy(words, &key, sizeof(words));
    uint32_t h = rte_hash_crc_8byte(words[0], seed);
    return rte_hash_crc_8byte(words[1], h);
}

// A directed IPv6 5-tuple, with FlowKey4's conventions (network order as on the wire, padding
// always zero). 40 bytes, 8-byte aligned: the 37 bytes of the tuple rounded up to the 8-byte
// step rte_hash_crc reads, so hashing is five CRC32 steps with no tail (docs/ipv6.md).
struct alignas(8) FlowKey6 {
    uint8_t src_addr[16] = {};
    uint8_t dst_addr[16] = {};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t protocol = 0;
    uint8_t padding[3] = {0, 0, 0};

    bool operator==(const FlowKey6& other) const { return std::memcmp(this, &other, sizeof(*this)) == 0; }

    FlowKey6 reversed() const {
        FlowKey6 r;
        std::memcpy(r.src_addr, dst_addr, sizeof(r.src_addr));
        std::memcpy(r.dst_addr, src_addr, sizeof(r.dst_addr));
        r.src_port = dst_port;
        r.dst_port = src_port;
        r.protocol = protocol;
        return r;
    }
};
static_assert(sizeof(FlowKey6) == 40 && alignof(FlowKey6) == 8);

inline uint32_t hash_flow_key(const FlowKey6& key, uint32_t seed) {
    uint64_t words[5];
    static_assert(sizeof(words) == sizeof(FlowKey6));
    std::memcpy(words, &key, sizeof(words));
    uint32_t h = seed;
    for (uint64_t word : words) h = rte_hash_crc_8byte(word, h);
    return h;
}

// A service port as the VIP table sees it: (VIP, port, protocol). 8-byte aligned and padded
// to 24 bytes because rte_hash's CRC reads keys eight bytes at a time.
struct alignas(8) VipKey {
    uint8_t address[16] = {};  // IPv4 in the first four bytes, network byte order
    uint16_t port = 0;         // network byte order
    uint8_t protocol = 0;
    AddressFamily family = AddressFamily::Ipv4;
    uint8_t reserved[4] = {};  // always zero: the whole key is hashed and compared

    static VipKey ipv4(uint32_t address_be, uint16_t port_be, uint8_t protocol) {
        VipKey key;
        std::memcpy(key.address, &address_be, sizeof(address_be));
        key.port = port_be;
        key.protocol = protocol;
        key.family = AddressFamily::Ipv4;
        return key;
    }

    static VipKey ipv6(const uint8_t address[16], uint16_t port_be, uint8_t protocol) {
        VipKey key;
        std::memcpy(key.address, address, sizeof(key.address));
        key.port = port_be;
        key.protocol = protocol;
        key.family = AddressFamily::Ipv6;
        return key;
    }

    bool operator==(const VipKey& other) const { return std::memcmp(this, &other, sizeof(*this)) == 0; }
};
static_assert(sizeof(VipKey) == 24);

}  // namespace vipgate
