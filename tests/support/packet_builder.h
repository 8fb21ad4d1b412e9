// Test packets: build frames, check their checksums, move them in and out of mbufs.
//
// Frames are plain byte vectors built from small spec structs with useful defaults, so a test
// names only what it cares about:
//
//     Bytes syn = tcp_frame({.dst_port = 8080, .flags = RTE_TCP_SYN_FLAG},
//                           {.src = ipv4("198.18.0.10"), .dst = ipv4("198.18.100.1")},
//                           {.vlan = 100});
//
// Checksums are correct unless a spec asks otherwise. Conventions: addresses are network order
// (as ipv4() returns them and as they sit in the packet); every other number in a spec (ports,
// sequence numbers, lengths, identifiers) is host order. Tests use only 198.18.0.0/15 addresses
// and locally administered 02:xx MACs.
//
// The checksum verifiers recompute everything from the bytes with their own code, independent
// of DPDK's helpers and of the dataplane under test.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

namespace vipgate::test {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------------------------
// Addresses

namespace detail {
constexpr uint32_t parse_decimal(std::string_view text, uint32_t max) {
    if (text.empty() || text.size() > 3) throw std::invalid_argument("bad number in address");
    uint32_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') throw std::invalid_argument("bad digit in address");
        value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value > max) throw std::invalid_argument("address part out of range");
    return value;
}

constexpr uint8_t parse_hex_digit(char c) {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    throw std::invalid_argument("bad hex digit in MAC address");
}
}  // namespace detail

// "198.18.0.1" -> the address in network byte order (as stored in a packet or a FlowKey4).
constexpr uint32_t ipv4(std::string_view dotted) {
    uint8_t bytes[4] = {};
    for (int i = 0; i < 4; ++i) {
        const size_t dot = dotted.find('.');
        if ((i < 3) == (dot == std::string_view::npos)) throw std::invalid_argument("IPv4 address needs 4 parts");
        bytes[i] = static_cast<uint8_t>(detail::parse_decimal(dotted.substr(0, dot), 255));
        dotted = i < 3 ? dotted.substr(dot + 1) : std::string_view{};
    }
    if constexpr (std::endian::native == std::endian::little) {
        return uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 | uint32_t(bytes[3]) << 24;
    } else {
        return uint32_t(bytes[3]) | uint32_t(bytes[2]) << 8 | uint32_t(bytes[1]) << 16 | uint32_t(bytes[0]) << 24;
    }
}

// "02:00:00:00:00:01" -> rte_ether_addr.
constexpr rte_ether_addr mac(std::string_view text) {
    if (text.size() != 17) throw std::invalid_argument("MAC address must look like 02:00:00:00:00:01");
    rte_ether_addr address{};
    for (size_t i = 0; i < RTE_ETHER_ADDR_LEN; ++i) {
        if (i > 0 && text[i * 3 - 1] != ':') throw std::invalid_argument("MAC address needs ':' separators");
        address.addr_bytes[i] =
            static_cast<uint8_t>(detail::parse_hex_digit(text[i * 3]) << 4 | detail::parse_hex_digit(text[i * 3 + 1]));
    }
    return address;
}

std::string ipv4_to_string(uint32_t address);  // network order -> "198.18.0.1"
bool same_mac(const rte_ether_addr& a, const rte_ether_addr& b);

inline constexpr rte_ether_addr kClientMac = mac("02:00:00:00:00:01");
inline constexpr rte_ether_addr kGatewayMac = mac("02:00:00:00:00:02");
inline constexpr rte_ether_addr kBroadcastMac = mac("ff:ff:ff:ff:ff:ff");
inline constexpr uint32_t kClientAddr = ipv4("198.18.0.10");
inline constexpr uint32_t kVipAddr = ipv4("198.18.100.1");
inline constexpr uint32_t kGatewayAddr = ipv4("198.18.200.1");
inline constexpr uint32_t kEndpointAddr = ipv4("198.19.0.20");

// ---------------------------------------------------------------------------------------------
// Frame specs

struct EthernetSpec {
    rte_ether_addr src = kClientMac;
    rte_ether_addr dst = kGatewayMac;
    uint16_t vlan = 0;                   // 802.1Q VLAN id; 0 = untagged (see tagged_with_vlan_zero)
    bool tagged_with_vlan_zero = false;  // emit a priority tag (VLAN id 0)
};

struct Ipv4Spec {
    uint32_t src = kClientAddr;
    uint32_t dst = kVipAddr;
    uint8_t ttl = 64;
    uint8_t tos = 0;
    uint16_t id = 0x1234;
    uint16_t flags_fragment = RTE_IPV4_HDR_DF_FLAG;  // flag bits | offset in 8-byte units
    Bytes options;                                   // after the fixed header; length a multiple of 4
    std::optional<uint8_t> version;                  // default 4
    std::optional<uint8_t> ihl;                      // default 5 + options / 4
    std::optional<uint16_t> total_length;            // default: the real length
    std::optional<uint8_t> protocol;                 // default: from the L4 builder
    bool bad_checksum = false;
};

struct TcpSpec {
    uint16_t src_port = 40000;
    uint16_t dst_port = 80;
    uint32_t seq = 1000;
    uint32_t ack = 0;
    uint8_t flags = RTE_TCP_SYN_FLAG;
    uint16_t window = 65535;
    Bytes options;  // length a multiple of 4
    Bytes payload;
    std::optional<uint8_t> data_offset;  // in 32-bit words; default 5 + options / 4
};

struct UdpSpec {
    uint16_t src_port = 40000;
    uint16_t dst_port = 53;
    Bytes payload;
    bool zero_checksum = false;      // send "no checksum"
    std::optional<uint16_t> length;  // default: 8 + payload
};

// SCTP packet: common header and the chunks' bytes verbatim (build them with sctp_chunk).
// The CRC32c is computed by the bitwise reference below unless bad_checksum.
struct SctpSpec {
    uint16_t src_port = 40000;
    uint16_t dst_port = 3868;
    uint32_t tag = 0;           // verification tag, host order
    Bytes chunks = {};          // default: none (tests pass sctp_init_chunk() and the like)
    bool bad_checksum = false;  // flip bits of a correct CRC32c
};

// One chunk: type, flags, length = 4 + value, value padded with zeros to 4 bytes (RFC 9260 3.2).
Bytes sctp_chunk(uint8_t type, uint8_t flags = 0, std::span<const uint8_t> value = {});
// INIT (type 1) with the given initiate tag: a_rwnd 65536, 10 streams each way, initial TSN 1.
Bytes sctp_init_chunk(uint32_t initiate_tag, uint8_t type = 1);
// DATA (type 0) of stream 0 carrying `payload`.
Bytes sctp_data_chunk(uint32_t tsn, std::span<const uint8_t> payload);

struct IcmpEchoSpec {
    bool request = true;
    uint16_t identifier = 0x4242;
    uint16_t sequence = 1;
    Bytes payload;
};

struct IcmpErrorSpec {
    uint8_t type = 3;             // destination unreachable
    uint8_t code = 3;             // port unreachable
    uint32_t rest_of_header = 0;  // host order, e.g. next-hop MTU for "fragmentation needed"
    Bytes quoted;                 // the offending datagram, from quote_of()
};

struct ArpSpec {
    uint16_t operation = RTE_ARP_OP_REQUEST;
    rte_ether_addr sender_mac = kClientMac;
    uint32_t sender_addr = kClientAddr;
    rte_ether_addr target_mac = {};
    uint32_t target_addr = kGatewayAddr;
};

// ---------------------------------------------------------------------------------------------
// Frame builders

Bytes tcp_frame(const TcpSpec& tcp = {}, const Ipv4Spec& ip = {}, const EthernetSpec& ethernet = {});
Bytes udp_frame(const UdpSpec& udp = {}, const Ipv4Spec& ip = {}, const EthernetSpec& ethernet = {});
Bytes sctp_frame(const SctpSpec& sctp = {}, const Ipv4Spec& ip = {}, const EthernetSpec& ethernet = {});
Bytes icmp_echo_frame(const IcmpEchoSpec& echo = {}, const Ipv4Spec& ip = {}, const EthernetSpec& ethernet = {});
Bytes icmp_error_frame(const IcmpErrorSpec& error, const Ipv4Spec& ip = {}, const EthernetSpec& ethernet = {});
// ARP frames default to the broadcast Ethernet destination for requests.
Bytes arp_frame(const ArpSpec& arp = {}, std::optional<EthernetSpec> ethernet = std::nullopt);
// IPv4 frame around verbatim L4 bytes (no L4 checksum is computed).
Bytes ipv4_frame(uint8_t protocol, std::span<const uint8_t> l4, const Ipv4Spec& ip = {},
                 const EthernetSpec& ethernet = {});
Bytes ethernet_frame(uint16_t ether_type, std::span<const uint8_t> payload, const EthernetSpec& ethernet = {});

// The first `length` bytes of a frame's IPv4 datagram: what an ICMP error quotes (28 = header + 8).
Bytes quote_of(std::span<const uint8_t> frame, size_t length = 28);
// Appends trailing Ethernet padding (zeros), as short frames carry on the wire.
Bytes with_padding(Bytes frame, size_t padding);
// `length` bytes of a recognisable pattern, for payloads.
Bytes payload_bytes(size_t length, uint8_t first = 0);

// ---------------------------------------------------------------------------------------------
// Inspection (throw std::out_of_range on frames too short to hold the header)

struct FrameLayout {
    size_t l3_offset = 0;
    size_t l4_offset = 0;              // IPv4 only: l3 + IHL * 4
    uint16_t ether_type = 0;           // host order, after the tag
    std::optional<uint16_t> vlan_tci;  // host order, when tagged
};
FrameLayout layout_of(std::span<const uint8_t> frame);

template <typename Header>
Header read_header(std::span<const uint8_t> frame, size_t offset) {
    if (offset + sizeof(Header) > frame.size()) throw std::out_of_range("frame too short for header");
    Header header;
    std::memcpy(&header, frame.data() + offset, sizeof(Header));
    return header;
}

rte_ether_hdr ethernet_of(std::span<const uint8_t> frame);
rte_ipv4_hdr ipv4_of(std::span<const uint8_t> frame);
rte_tcp_hdr tcp_of(std::span<const uint8_t> frame);
rte_udp_hdr udp_of(std::span<const uint8_t> frame);
rte_sctp_hdr sctp_of(std::span<const uint8_t> frame);
rte_icmp_hdr icmp_of(std::span<const uint8_t> frame);
rte_arp_hdr arp_of(std::span<const uint8_t> frame);
Bytes l4_payload_of(std::span<const uint8_t> frame);  // TCP/UDP payload, ICMP body after 8 bytes

std::string hex(std::span<const uint8_t> bytes);  // "45 00 00 54 ..." for failure messages
// EXPECT_TRUE(frames_equal(actual, expected)) reports the first differing offset and both in hex.
testing::AssertionResult frames_equal(std::span<const uint8_t> actual, std::span<const uint8_t> expected);

// ---------------------------------------------------------------------------------------------
// Checksums, recomputed in full

// One's-complement checksum (complemented) of `data`, starting from a partial sum.
uint16_t internet_checksum(std::span<const uint8_t> data, uint32_t partial_sum = 0);
bool ipv4_header_checksum_ok(std::span<const uint8_t> frame);
// CRC32c (Castagnoli, reflected, RFC 9260 appendix A) bit by bit: no tables, no crc32 instruction.
uint32_t crc32c_reference(std::span<const uint8_t> data);
// The SCTP checksum of an SCTP packet, its checksum field read as zero; as the 4 bytes sit in
// the packet (least significant byte first), read with memcpy.
uint32_t sctp_checksum_reference(std::span<const uint8_t> sctp_packet);
// TCP, UDP (0 = "no checksum" passes), SCTP or ICMP checksum over the datagram's L4 bytes.
bool l4_checksum_ok(std::span<const uint8_t> frame);
// Both of the above; for ICMP errors also the quoted header's checksum.
bool all_checksums_ok(std::span<const uint8_t> frame);

// ---------------------------------------------------------------------------------------------
// mbufs

// A process-wide pool for tests, created on first use (needs the EAL from eal_test_main).
rte_mempool* test_mempool();

struct MbufDeleter {
    void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufDeleter>;

// Copies a frame into a fresh mbuf. With `first_segment_length`, the first segment holds only
// that many bytes and the rest follows in chained segments (for multi-segment cases).
MbufPtr to_mbuf(std::span<const uint8_t> frame, std::optional<size_t> first_segment_length = std::nullopt,
                rte_mempool* pool = test_mempool());
// Copies an mbuf (all segments) out.
Bytes to_bytes(const rte_mbuf* m);

}  // namespace vipgate::test
