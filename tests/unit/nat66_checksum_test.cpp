// NAT66 checksum helpers (checksum.h): replacing a 16-byte address of the IPv6 pseudo-header and
// updating the TCP, UDP or ICMPv6 checksum incrementally must give what a full recomputation
// gives, byte for byte, on random packets; the reference (ipv6_builder.h) sums big-endian words
// byte by byte and shares no code with the helpers.
#include "dataplane/checksum.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dataplane/flow_key.h"
#include "tests/support/ipv6_builder.h"

namespace vipgate {
namespace {

using namespace vipgate::test;

Ipv6Address random_address(std::mt19937& random) {
    Ipv6Address address = ipv6("2001:db8::");
    for (size_t i = 4; i < 16; ++i) address[i] = static_cast<uint8_t>(random());
    return address;
}

// The checksum as stored in the packet, loaded the way the dataplane loads it.
uint16_t stored(const Bytes& l4, size_t offset) {
    uint16_t value;
    std::memcpy(&value, l4.data() + offset, sizeof(value));
    return value;
}

struct Protocol {
    uint8_t number;
    size_t checksum_offset;
    size_t header_length;
};

TEST(Nat66Checksum, IncrementalEqualsFullRecompute) {
    constexpr Protocol kProtocols[] = {{kProtoTcp, 16, 20}, {kProtoUdp, 6, 8}, {kProtoIcmpv6, 2, 8}};
    std::mt19937 random(13);
    for (int i = 0; i < 20000; ++i) {
        const Protocol& protocol = kProtocols[i % 3];
        Ipv6Address src = random_address(random);
        Ipv6Address dst = random_address(random);
        Bytes l4(protocol.header_length + random() % 64);
        for (auto& byte : l4) byte = static_cast<uint8_t>(random());
        if (i % 500 == 0) std::fill(l4.begin(), l4.end(), 0);  // all-zero data: the sum's edge
        put16(l4, protocol.checksum_offset, 0);
        put16(l4, protocol.checksum_offset, ipv6_l4_checksum(src, dst, protocol.number, l4));
        const uint16_t before = stored(l4, protocol.checksum_offset);

        // Both addresses change (full-NAT), or one (DNAT-only), through the one-field form and
        // through the accumulator with the port change of a full-NAT rewrite.
        const Ipv6Address new_src = random_address(random);
        const Ipv6Address new_dst = i % 2 == 0 ? random_address(random) : dst;
        uint16_t updated = checksum_update_address6(before, src.data(), new_src.data());
        updated = checksum_update_address6(updated, dst.data(), new_dst.data());

        uint64_t sum = static_cast<uint16_t>(~before);
        sum += checksum_address6_delta(src.data(), new_src.data());
        sum += checksum_address6_delta(dst.data(), new_dst.data());
        uint16_t accumulated = static_cast<uint16_t>(~checksum_fold64(sum));

        put16(l4, protocol.checksum_offset, 0);
        uint16_t expected_host = ipv6_l4_checksum(new_src, new_dst, protocol.number, l4);
        if (protocol.number == kProtoUdp) {
            expected_host = expected_host == 0 ? 0xFFFF : expected_host;
            updated = udp6_checksum_for_wire(updated);
            accumulated = udp6_checksum_for_wire(accumulated);
        }
        put16(l4, protocol.checksum_offset, expected_host);
        const uint16_t expected = stored(l4, protocol.checksum_offset);
        ASSERT_EQ(updated, expected) << "packet " << i << " protocol " << int(protocol.number);
        ASSERT_EQ(accumulated, expected) << "packet " << i;
    }
}

// A UDP sum that computes to 0x0000 goes on the wire as 0xFFFF (RFC 768, RFC 8200 8.1), both
// ways of reaching it: a full computation and an incremental update landing there.
TEST(Nat66Checksum, UdpZeroIsSentAsAllOnes) {
    EXPECT_EQ(udp6_checksum_for_wire(0x0000), 0xFFFF);
    EXPECT_EQ(udp6_checksum_for_wire(0x1234), 0x1234);
    EXPECT_EQ(udp6_checksum_for_wire(0xFFFF), 0xFFFF);

    // Choose the payload so the datagram's checksum after the rewrite computes to 0.
    const Ipv6Address src = ipv6("2001:db8::1");
    const Ipv6Address dst = ipv6("2001:db8::2");
    const Ipv6Address new_src = ipv6("2001:db8::3");
    Bytes udp = udp6(1000, 2000, Bytes(2, 0), {.src = src, .dst = dst});
    put16(udp, 6, 0);
    // The payload word w that makes the rewritten sum 0xFFFF (checksum 0): computed by search.
    for (uint32_t w = 0; w <= 0xFFFF; ++w) {
        put16(udp, 8, static_cast<uint16_t>(w));
        if (ipv6_l4_checksum(new_src, dst, kProtoUdp, udp) == 0) break;
    }
    ASSERT_EQ(ipv6_l4_checksum(new_src, dst, kProtoUdp, udp), 0);
    const uint16_t original = ipv6_l4_checksum(src, dst, kProtoUdp, udp);
    put16(udp, 6, original == 0 ? 0xFFFF : original);
    const uint16_t updated = checksum_update_address6(stored(udp, 6), src.data(), new_src.data());
    EXPECT_EQ(updated, 0) << "the arithmetic lands on 0x0000, which UDP over IPv6 must not send";
    EXPECT_EQ(udp6_checksum_for_wire(updated), 0xFFFF);
}

}  // namespace
}  // namespace vipgate
