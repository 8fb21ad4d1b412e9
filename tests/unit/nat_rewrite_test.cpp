// NAT rewrite and incremental checksum tests.
//
// The NAT properties compare the rewritten frame byte for byte with the same packet built from
// scratch with the new values (TTL one lower): that checks every address, port, TTL and payload
// byte and every checksum against a full recomputation, including the exact 0x0000/0xFFFF
// representation.
#include "dataplane/nat_rewrite.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "dataplane/checksum.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using namespace vipgate::test;

// ---------------------------------------------------------------------------------------------
// checksum.h

uint16_t stored16(std::span<const uint8_t> bytes, size_t offset) {
    uint16_t value;
    std::memcpy(&value, bytes.data() + offset, sizeof(value));
    return value;
}

uint32_t stored32(std::span<const uint8_t> bytes, size_t offset) {
    uint32_t value;
    std::memcpy(&value, bytes.data() + offset, sizeof(value));
    return value;
}

// The checksum of `data` as it would be stored in a packet.
uint16_t stored_checksum(std::span<const uint8_t> data) {
    return rte_cpu_to_be_16(internet_checksum(data));
}

// Overwrites `size` bytes at `offset` and checks the incremental update against a full recomputation.
void expect_incremental_matches_full(Bytes data, size_t offset, const Bytes& new_bytes) {
    const uint16_t before = stored_checksum(data);
    uint16_t updated;
    if (new_bytes.size() == 2) {
        const uint16_t old_value = stored16(data, offset);
        std::copy(new_bytes.begin(), new_bytes.end(), data.begin() + static_cast<ptrdiff_t>(offset));
        updated = checksum_update16(before, old_value, stored16(data, offset));
    } else {
        const uint32_t old_value = stored32(data, offset);
        std::copy(new_bytes.begin(), new_bytes.end(), data.begin() + static_cast<ptrdiff_t>(offset));
        updated = checksum_update32(before, old_value, stored32(data, offset));
    }
    ASSERT_EQ(updated, stored_checksum(data)) << hex(data) << " changed at " << offset;
}

TEST(Checksum, IncrementalMatchesFullForRandomChanges) {
    std::mt19937 random(7);
    for (int i = 0; i < 20000; ++i) {
        // Word 0 stays non-zero, as an IPv4 header's version does: for all-zero data a full
        // recomputation gives 0xFFFF where any incremental method gives 0x0000 (RFC 1624 s. 3).
        Bytes data(2 * (3 + random() % 30));
        for (auto& byte : data) byte = static_cast<uint8_t>(random());
        data[0] = 0x45;
        const size_t width = random() % 2 == 0 ? 4 : 2;
        const size_t offset = 2 + 2 * (random() % ((data.size() - 2 - width) / 2 + 1));
        Bytes new_bytes(width);
        for (auto& byte : new_bytes) byte = static_cast<uint8_t>(random());
        expect_incremental_matches_full(data, offset, new_bytes);
    }
}

TEST(Checksum, CornerValuesExhaustively) {
    // Every combination of the words that trip up one's-complement arithmetic, including
    // changes between the two representations of zero and sums that land on 0xFFFF.
    const uint16_t corners[] = {0x0000, 0x0001, 0x00FF, 0x7FFF, 0x8000, 0xFF00, 0xFFFE, 0xFFFF, 0xBAFF};
    for (const uint16_t other : corners) {
        for (const uint16_t old_word : corners) {
            for (const uint16_t new_word : corners) {
                const Bytes data = {
                    0x45, 0x00, uint8_t(other >> 8), uint8_t(other), uint8_t(old_word >> 8), uint8_t(old_word)};
                expect_incremental_matches_full(data, 4, {uint8_t(new_word >> 8), uint8_t(new_word)});
                expect_incremental_matches_full(
                    data, 2, {uint8_t(new_word >> 8), uint8_t(new_word), uint8_t(other >> 8), uint8_t(other)});
            }
        }
    }
}

TEST(Checksum, StoredZeroAndAllOnes) {
    // 0x4500 + 0xBAFF = 0xFFFF: the stored checksum is 0x0000.
    Bytes data = {0x45, 0x00, 0xBA, 0xFF, 0x00, 0x00};
    ASSERT_EQ(stored_checksum(data), 0x0000);
    expect_incremental_matches_full(data, 4, {0x00, 0x01});
    expect_incremental_matches_full(data, 4, {0xFF, 0xFF});
    expect_incremental_matches_full(data, 2, {0x00, 0x00, 0x00, 0x00});
    expect_incremental_matches_full(data, 2, {0xFF, 0xFF, 0xFF, 0xFF});
    // A change that brings the sum to 0xFFFF must give 0x0000, never 0xFFFF.
    data = {0x45, 0x00, 0x00, 0x00, 0x00, 0x00};
    expect_incremental_matches_full(data, 2, {0xBA, 0xFF});
}

// ---------------------------------------------------------------------------------------------
// Random traffic

class RandomTraffic {
public:
    explicit RandomTraffic(uint32_t seed) : random_(seed) {}

    // An address in 198.18.0.0/15.
    uint32_t address() { return rte_cpu_to_be_32(0xC6120000u | (random_() & 0x1FFFFu)); }
    uint16_t port() { return static_cast<uint16_t>(1 + random_() % 65535); }
    uint8_t ttl() { return static_cast<uint8_t>(2 + random_() % 254); }
    bool coin() { return random_() % 2 == 0; }
    uint16_t vlan() { return coin() ? 0 : static_cast<uint16_t>(1 + random_() % 4094); }
    uint32_t below(uint32_t limit) { return random_() % limit; }

    Bytes payload(size_t max_length) {
        Bytes bytes(random_() % (max_length + 1));
        for (auto& byte : bytes) byte = static_cast<uint8_t>(random_());
        return bytes;
    }

private:
    std::mt19937 random_;
};

// One random TCP, UDP, SCTP or ICMP echo packet, kept as specs so it can be rebuilt with new values.
struct PacketSpec {
    uint8_t protocol = kProtoTcp;
    TcpSpec tcp;
    UdpSpec udp;
    SctpSpec sctp;
    IcmpEchoSpec echo;
    Ipv4Spec ip;
    EthernetSpec ethernet;

    static PacketSpec random(RandomTraffic& traffic) {
        PacketSpec spec;
        const uint32_t choice = traffic.below(4);
        spec.protocol = choice == 0 ? kProtoTcp : choice == 1 ? kProtoUdp : choice == 2 ? kProtoSctp : kProtoIcmp;
        spec.ip = {.src = traffic.address(),
                   .dst = traffic.address(),
                   .ttl = traffic.ttl(),
                   .id = traffic.port(),
                   .flags_fragment = static_cast<uint16_t>(traffic.coin() ? RTE_IPV4_HDR_DF_FLAG : 0)};
        spec.ethernet = {.vlan = traffic.vlan()};
        spec.tcp = {.src_port = traffic.port(),
                    .dst_port = traffic.port(),
                    .seq = traffic.below(UINT32_MAX),
                    .ack = traffic.below(UINT32_MAX),
                    .flags = RTE_TCP_ACK_FLAG,
                    .options = traffic.coin() ? Bytes{} : Bytes{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2},
                    .payload = traffic.payload(1400)};
        spec.udp = {.src_port = traffic.port(),
                    .dst_port = traffic.port(),
                    .payload = traffic.payload(1400),
                    .zero_checksum = traffic.coin()};
        spec.sctp = {.src_port = traffic.port(),
                     .dst_port = traffic.port(),
                     .tag = 1 + traffic.below(UINT32_MAX - 1),
                     .chunks = sctp_data_chunk(traffic.below(UINT32_MAX), traffic.payload(1400))};
        spec.echo = {.request = traffic.coin(),
                     .identifier = traffic.port(),
                     .sequence = traffic.port(),
                     .payload = traffic.payload(200)};
        return spec;
    }

    Bytes build() const {
        switch (protocol) {
        case kProtoTcp:
            return tcp_frame(tcp, ip, ethernet);
        case kProtoUdp:
            return udp_frame(udp, ip, ethernet);
        case kProtoSctp:
            return sctp_frame(sctp, ip, ethernet);
        default:
            return icmp_echo_frame(echo, ip, ethernet);
        }
    }

    // The same packet with the rewrite applied from scratch (ports are host order in specs).
    PacketSpec rewritten(const Ipv4Rewrite& rewrite, uint8_t ttl_decrement) const {
        PacketSpec spec = *this;
        spec.ip.src = rewrite.src_addr;
        spec.ip.dst = rewrite.dst_addr;
        spec.ip.ttl = static_cast<uint8_t>(ip.ttl - ttl_decrement);
        spec.tcp.src_port = spec.udp.src_port = spec.sctp.src_port = rte_be_to_cpu_16(rewrite.src_port);
        spec.tcp.dst_port = spec.udp.dst_port = spec.sctp.dst_port = rte_be_to_cpu_16(rewrite.dst_port);
        return spec;
    }
};

Ipv4Rewrite random_rewrite(RandomTraffic& traffic) {
    return {traffic.address(), traffic.address(), rte_cpu_to_be_16(traffic.port()), rte_cpu_to_be_16(traffic.port())};
}

ParsedPacket parse_or_fail(const Bytes& frame, uint16_t vlan) {
    ParsedPacket parsed;
    const auto length = static_cast<uint32_t>(frame.size());
    const ParseOutcome outcome = parse_packet(frame.data(), length, length, vlan, true, parsed);
    EXPECT_EQ(outcome.kind, PacketKind::Ipv4) << drop_reason_name(outcome.reason) << "\n" << hex(frame);
    return parsed;
}

TEST(NatRewrite, RandomPacketsMatchFullRecomputation) {
    RandomTraffic traffic(1624);
    for (int i = 0; i < 5000; ++i) {
        const PacketSpec spec = PacketSpec::random(traffic);
        Bytes frame = spec.build();
        const ParsedPacket parsed = parse_or_fail(frame, spec.ethernet.vlan);
        const Ipv4Rewrite rewrite = random_rewrite(traffic);

        rewrite_ipv4_packet(frame.data(), parsed, rewrite);

        // ICMP echo: ports are ignored, so the expected packet keeps the echo fields as they were.
        const Bytes expected = spec.rewritten(rewrite, 1).build();
        ASSERT_TRUE(frames_equal(frame, expected)) << "packet " << i << ", protocol " << int(spec.protocol);
        ASSERT_TRUE(all_checksums_ok(frame));
    }
}

TEST(NatRewrite, UdpWithoutChecksumKeepsZero) {
    Bytes frame = udp_frame({.payload = payload_bytes(50), .zero_checksum = true});
    const ParsedPacket parsed = parse_or_fail(frame, 0);
    rewrite_ipv4_packet(frame.data(), parsed, {kGatewayAddr, kEndpointAddr, rte_cpu_to_be_16(1), rte_cpu_to_be_16(2)});
    EXPECT_EQ(udp_of(frame).dgram_cksum, 0);
    EXPECT_EQ(ipv4_of(frame).time_to_live, 63);
    EXPECT_TRUE(ipv4_header_checksum_ok(frame));
}

TEST(NatRewrite, UdpChecksumNeverBecomesZero) {
    // Search for a rewrite whose new UDP checksum computes to 0, which must be sent as 0xFFFF.
    int zero_results = 0;
    for (uint32_t port = 1; port <= 65535 && zero_results == 0; ++port) {
        Bytes frame = udp_frame({.src_port = 1000, .dst_port = 2000, .payload = payload_bytes(9)});
        const ParsedPacket parsed = parse_or_fail(frame, 0);
        const Ipv4Rewrite rewrite = {kGatewayAddr, kEndpointAddr, rte_cpu_to_be_16(static_cast<uint16_t>(port)),
                                     rte_cpu_to_be_16(2000)};
        const Bytes expected =
            udp_frame({.src_port = static_cast<uint16_t>(port), .dst_port = 2000, .payload = payload_bytes(9)},
                      {.src = kGatewayAddr, .dst = kEndpointAddr, .ttl = 63});
        rewrite_ipv4_packet(frame.data(), parsed, rewrite);
        ASSERT_TRUE(frames_equal(frame, expected));
        if (udp_of(frame).dgram_cksum == 0xFFFF) ++zero_results;
    }
    EXPECT_GT(zero_results, 0) << "no port gave a computed checksum of 0; the corner case went untested";
}

// ---------------------------------------------------------------------------------------------
// ICMP errors

TEST(NatRewrite, IcmpErrorsMatchFullRecomputation) {
    RandomTraffic traffic(792);
    int quoted_tcp_checksums = 0;
    int quoted_sctp_checksums = 0;
    for (int i = 0; i < 5000; ++i) {
        // The datagram the error is about, and how much of it the error quotes: from the RFC 792
        // minimum through the 18/19/20-byte TCP boundaries to all of it.
        const PacketSpec original = PacketSpec::random(traffic);
        const Bytes original_frame = original.build();
        const size_t datagram_length = original_frame.size() - layout_of(original_frame).l3_offset;
        size_t quote_length =
            traffic.coin() ? 28 + traffic.below(16) : 28 + traffic.below(static_cast<uint32_t>(datagram_length - 27));
        // A quote ending inside the TCP checksum cannot be translated exactly (the missing
        // byte's carry is unknown); it is left alone, see QuotedTcpChecksum* below.
        if (original.protocol == kProtoTcp && quote_length == 20 + 17) ++quote_length;
        // Likewise for a quote ending inside the SCTP CRC32c (QuotedSctpChecksum* below).
        if (original.protocol == kProtoSctp && quote_length > 20 + 8 && quote_length < 20 + 12) {
            quote_length = 20 + 12;
        }
        const IcmpErrorSpec error = {.type = static_cast<uint8_t>(traffic.coin() ? 3 : 11),
                                     .code = static_cast<uint8_t>(traffic.below(5)),
                                     .rest_of_header = traffic.below(1500),
                                     .quoted = quote_of(original_frame, quote_length)};
        const Ipv4Spec outer = {.src = traffic.address(), .dst = traffic.address(), .ttl = traffic.ttl()};
        const EthernetSpec ethernet = {.vlan = traffic.vlan()};
        Bytes frame = icmp_error_frame(error, outer, ethernet);
        const ParsedPacket parsed = parse_or_fail(frame, ethernet.vlan);
        ASSERT_TRUE(parsed.icmp_error) << hex(frame);

        const uint32_t new_outer_src = traffic.address();
        const uint32_t new_outer_dst = traffic.address();
        const Ipv4Rewrite inner = random_rewrite(traffic);
        rewrite_icmp_error(frame.data(), parsed, new_outer_src, new_outer_dst, inner);

        // The quote of the original rebuilt with the new values; the quoted TCP checksum is
        // only rewritten when it is quoted, so where it is not the rebuilt quote agrees anyway.
        const Bytes new_original = original.rewritten(inner, 0).build();
        IcmpErrorSpec expected_error = error;
        expected_error.quoted = quote_of(new_original, quote_length);
        Ipv4Spec expected_outer = outer;
        expected_outer.src = new_outer_src;
        expected_outer.dst = new_outer_dst;
        expected_outer.ttl = static_cast<uint8_t>(outer.ttl - 1);
        const Bytes expected = icmp_error_frame(expected_error, expected_outer, ethernet);
        ASSERT_TRUE(frames_equal(frame, expected)) << "error " << i << ", quote " << quote_length;
        ASSERT_TRUE(all_checksums_ok(frame));
        if (original.protocol == kProtoTcp && quote_length >= 20 + 18) ++quoted_tcp_checksums;
        if (original.protocol == kProtoSctp && quote_length >= 20 + 12) ++quoted_sctp_checksums;
    }
    EXPECT_GT(quoted_tcp_checksums, 100);
    EXPECT_GT(quoted_sctp_checksums, 100);
}

TEST(NatRewrite, QuotedTcpChecksumIsRewrittenOnlyWhenWhollyQuoted) {
    const TcpSpec tcp = {.src_port = 40000, .dst_port = 80, .payload = payload_bytes(10)};
    const Bytes original = tcp_frame(tcp, {.src = kGatewayAddr, .dst = kEndpointAddr});
    const Bytes translated = tcp_frame({.src_port = 40001, .dst_port = 8080, .payload = payload_bytes(10)},
                                       {.src = kClientAddr, .dst = kVipAddr});
    const Ipv4Rewrite inner = {kClientAddr, kVipAddr, rte_cpu_to_be_16(40001), rte_cpu_to_be_16(8080)};
    constexpr size_t kQuotedTcpChecksum = 20 + 16;  // offset in the quote
    for (size_t quote_length = 28; quote_length <= 48; ++quote_length) {
        SCOPED_TRACE("quote " + std::to_string(quote_length));
        Bytes frame =
            icmp_error_frame({.quoted = quote_of(original, quote_length)}, {.src = kEndpointAddr, .dst = kGatewayAddr});
        rewrite_icmp_error(frame.data(), parse_or_fail(frame, 0), kVipAddr, kClientAddr, inner);
        EXPECT_TRUE(all_checksums_ok(frame));

        const Bytes quote(frame.begin() + 14 + 20 + 8, frame.end());
        ASSERT_EQ(quote.size(), quote_length);
        const std::span<const uint8_t> quoted_headers = std::span(quote).first(24);
        const std::span<const uint8_t> quoted_rest = std::span(quote).subspan(24);
        // Addresses, ports and the inner IP checksum always follow the translation...
        EXPECT_TRUE(frames_equal(quoted_headers, quote_of(translated, 24)));
        // ...the TCP checksum only when both its bytes are quoted; otherwise the quote keeps
        // the original bytes from offset 24 on.
        const Bytes expected = quote_of(quote_length >= kQuotedTcpChecksum + 2 ? translated : original, quote_length);
        EXPECT_TRUE(frames_equal(quoted_rest, std::span(expected).subspan(24)));
    }
}

TEST(NatRewrite, QuotedSctpChecksumIsRewrittenOnlyWhenWhollyQuoted) {
    const SctpSpec sctp = {
        .src_port = 40000, .dst_port = 3868, .tag = 99, .chunks = sctp_data_chunk(5, payload_bytes(30))};
    const Bytes original = sctp_frame(sctp, {.src = kGatewayAddr, .dst = kEndpointAddr});
    SctpSpec translated_spec = sctp;
    translated_spec.src_port = 40001;
    translated_spec.dst_port = 2905;
    const Bytes translated = sctp_frame(translated_spec, {.src = kClientAddr, .dst = kVipAddr});
    const Ipv4Rewrite inner = {kClientAddr, kVipAddr, rte_cpu_to_be_16(40001), rte_cpu_to_be_16(2905)};
    constexpr size_t kQuotedCrcEnd = 20 + 12;  // offset in the quote
    for (size_t quote_length = 28; quote_length <= 40; ++quote_length) {
        SCOPED_TRACE("quote " + std::to_string(quote_length));
        Bytes frame =
            icmp_error_frame({.quoted = quote_of(original, quote_length)}, {.src = kEndpointAddr, .dst = kGatewayAddr});
        rewrite_icmp_error(frame.data(), parse_or_fail(frame, 0), kVipAddr, kClientAddr, inner);
        EXPECT_TRUE(all_checksums_ok(frame));
        const Bytes quote(frame.begin() + 14 + 20 + 8, frame.end());
        // Addresses, ports, the tag and the inner IP checksum always follow the translation; the
        // CRC32c only when all four bytes are quoted (the rest of the packet is not needed).
        EXPECT_TRUE(frames_equal(std::span(quote).first(28), quote_of(translated, 28)));
        const Bytes expected = quote_of(quote_length >= kQuotedCrcEnd ? translated : original, quote_length);
        EXPECT_TRUE(frames_equal(std::span(quote).subspan(28), std::span(expected).subspan(28)));
    }
}

// The SCTP update reads and writes the 16 header bytes only: a packet whose chunks sit in later
// mbuf segments (here: not in the buffer at all, which ASan would catch) is translated exactly.
TEST(NatRewrite, SctpNeedsOnlyItsHeaders) {
    RandomTraffic traffic(9260);
    for (int i = 0; i < 500; ++i) {
        const SctpSpec sctp = {.src_port = traffic.port(),
                               .dst_port = traffic.port(),
                               .tag = 1234,
                               .chunks = sctp_data_chunk(7, traffic.payload(3000))};
        const Bytes frame = sctp_frame(sctp);
        constexpr size_t kHeaders = 14 + 20 + 16;
        ParsedPacket parsed;
        ASSERT_EQ(parse_packet(frame.data(), kHeaders, static_cast<uint32_t>(frame.size()), 0, true, parsed).kind,
                  PacketKind::Ipv4);
        auto first_segment = std::make_unique<uint8_t[]>(kHeaders);
        std::copy_n(frame.begin(), kHeaders, first_segment.get());
        const Ipv4Rewrite rewrite = random_rewrite(traffic);
        rewrite_ipv4_packet(first_segment.get(), parsed, rewrite);

        Bytes result(first_segment.get(), first_segment.get() + kHeaders);
        result.insert(result.end(), frame.begin() + kHeaders, frame.end());
        SctpSpec expected = sctp;
        expected.src_port = rte_be_to_cpu_16(rewrite.src_port);
        expected.dst_port = rte_be_to_cpu_16(rewrite.dst_port);
        ASSERT_TRUE(
            frames_equal(result, sctp_frame(expected, {.src = rewrite.src_addr, .dst = rewrite.dst_addr, .ttl = 63})));
    }
}

}  // namespace
}  // namespace vipgate
