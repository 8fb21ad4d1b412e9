// IPv6 parser tests: every accepted shape with its fields, every drop reason with its exact
// DropReason (each extension header case, the bounds on both sides), FlowKey6, and a sweep of
// truncated and mutated frames from exactly-sized heap buffers (an over-read fails under ASan).
#include "dataplane/ipv6_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>

#include "dataplane/sctp.h"
#include "dataplane/tcp_state.h"
#include "tests/support/ipv6_builder.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using namespace vipgate::test;

constexpr uint16_t kPortVlan = 100;

// Both stages, as the pipeline runs them.
ParseOutcome parse(const Bytes& frame, ParsedIpv6& out, uint16_t port_vlan = 0,
                   std::optional<uint32_t> contiguous = std::nullopt) {
    const auto length = static_cast<uint32_t>(frame.size());
    const uint32_t readable = contiguous.value_or(length);
    ParsedPacket ethernet;
    const ParseOutcome outcome = parse_packet(frame.data(), readable, length, port_vlan, true, ethernet);
    if (outcome.kind != PacketKind::Ipv6) return outcome;
    return parse_ipv6(frame.data(), readable, length, ethernet.l3_offset, out);
}

ParsedIpv6 parse_valid(const Bytes& frame, uint16_t port_vlan = 0) {
    ParsedIpv6 parsed;
    const ParseOutcome outcome = parse(frame, parsed, port_vlan);
    EXPECT_EQ(outcome.kind, PacketKind::Ipv6) << "reason " << drop_reason_name(outcome.reason) << "\n" << hex(frame);
    return parsed;
}

uint16_t be16(uint16_t value) {
    return rte_cpu_to_be_16(value);
}

Bytes data(size_t length) {
    return payload_bytes(length);
}

// ---------------------------------------------------------------------------------------------
// Accepted packets

TEST(Ipv6Parser, EthertypeIsHandedOnAfterTheVlanCheck) {
    const Bytes frame = ipv6_frame({}, kProtoUdp, udp6(5000, 53, data(4)), {}, {.vlan = kPortVlan});
    ParsedPacket ethernet;
    const auto length = static_cast<uint32_t>(frame.size());
    EXPECT_EQ(parse_packet(frame.data(), length, length, kPortVlan, true, ethernet).kind, PacketKind::Ipv6);
    EXPECT_EQ(ethernet.l3_offset, 18);
    EXPECT_EQ(ethernet.ether_type, 0x86DD);
    const ParseOutcome wrong_vlan = parse_packet(frame.data(), length, length, 0, true, ethernet);
    EXPECT_EQ(wrong_vlan.reason, DropReason::VlanMismatch);
}

TEST(Ipv6Parser, UdpFields) {
    const Bytes frame = ipv6_frame({}, kProtoUdp, udp6(5000, 53, data(12)), {.hop_limit = 17});
    const ParsedIpv6 parsed = parse_valid(frame);
    EXPECT_EQ(0, std::memcmp(parsed.key.src_addr, kClient6.data(), 16));
    EXPECT_EQ(0, std::memcmp(parsed.key.dst_addr, kVip6.data(), 16));
    EXPECT_EQ(parsed.key.src_port, be16(5000));
    EXPECT_EQ(parsed.key.dst_port, be16(53));
    EXPECT_EQ(parsed.key.protocol, kProtoUdp);
    EXPECT_EQ(parsed.l3_offset, 14);
    EXPECT_EQ(parsed.l4_offset, 54);
    EXPECT_EQ(parsed.payload_length, 20);
    EXPECT_EQ(parsed.hop_limit, 17);
    EXPECT_EQ(parsed.extension_headers, 0);
    EXPECT_EQ(parsed.fragment, FragmentKind::None);
}

TEST(Ipv6Parser, TcpWithOptionsTaggedAndPadded) {
    const Bytes frame =
        with_padding(ipv6_frame({}, kProtoTcp, tcp6(40000, 80, 0x02, {}, 32), {}, {.vlan = kPortVlan}), 6);
    const ParsedIpv6 parsed = parse_valid(frame, kPortVlan);
    EXPECT_EQ(parsed.l4_offset, 18 + 40);
    EXPECT_EQ(parsed.key.src_port, be16(40000));
    EXPECT_EQ(parsed.key.dst_port, be16(80));
    EXPECT_EQ(parsed.tcp_flags, 0x02);
}

TEST(Ipv6Parser, Icmpv6SctpAndNoNextHeader) {
    ParsedIpv6 parsed = parse_valid(ipv6_frame({}, kProtoIcmpv6, icmp6(135)));  // a neighbor solicitation
    EXPECT_EQ(parsed.key.protocol, kProtoIcmpv6);
    EXPECT_EQ(parsed.icmp_type, 135);
    EXPECT_EQ(parsed.key.src_port, 0);

    Bytes sctp = data(16);
    put16(sctp, 0, 7000);
    put16(sctp, 2, 7001);
    parsed = parse_valid(ipv6_frame({}, kProtoSctp, sctp));
    EXPECT_EQ(parsed.key.src_port, be16(7000));
    EXPECT_EQ(parsed.key.dst_port, be16(7001));
    // The first chunk as TCP flags, as parse_packet gives them: an INIT reads as a SYN.
    EXPECT_EQ(parsed.tcp_flags, sctp_tcp_flags(sctp[12]));
    sctp[12] = kSctpInit;
    EXPECT_EQ(parse_valid(ipv6_frame({}, kProtoSctp, sctp)).tcp_flags, kTcpFlagSyn);

    parsed = parse_valid(ipv6_frame({}, kIpv6NoNextHeader, {}));
    EXPECT_EQ(parsed.payload_length, 0);
    EXPECT_EQ(parsed.l4_offset, 14 + 40);

    parsed = parse_valid(ipv6_frame({destination_options()}, kIpv6NoNextHeader, {}));
    EXPECT_EQ(parsed.key.protocol, kIpv6NoNextHeader);
    EXPECT_EQ(parsed.l4_offset, 14 + 40 + 8);
}

TEST(Ipv6Parser, WalksEveryExtensionHeaderKind) {
    // Hop-by-hop first, destination options before and after a segment routing header (type 4).
    const std::vector<Ipv6Extension> chain = {hop_by_hop(16), destination_options(8), routing_header(4, 2, 40),
                                              destination_options(24)};
    const ParsedIpv6 parsed = parse_valid(ipv6_frame(chain, kProtoUdp, udp6(1, 2, data(3))));
    EXPECT_EQ(parsed.extension_headers, 4);
    EXPECT_EQ(parsed.l4_offset, 14 + 40 + 16 + 8 + 40 + 24);
    EXPECT_EQ(parsed.key.protocol, kProtoUdp);
    EXPECT_EQ(parsed.key.dst_port, be16(2));
    // Mobile IPv6's type 2 is walked over too.
    EXPECT_EQ(parse_valid(ipv6_frame({routing_header(2, 1)}, kProtoTcp, tcp6(1, 2, 0x10))).extension_headers, 1);
}

TEST(Ipv6Parser, BoundsAreInclusive) {
    const std::vector<Ipv6Extension> eight(kMaxIpv6ExtensionHeaders, destination_options(8));
    EXPECT_EQ(parse_valid(ipv6_frame(eight, kProtoUdp, udp6(1, 2, {}))).extension_headers, 8);
    const std::vector<Ipv6Extension> full = {hop_by_hop(kMaxIpv6ChainBytes - 8), destination_options(8)};
    EXPECT_EQ(parse_valid(ipv6_frame(full, kProtoUdp, udp6(1, 2, {}))).extension_headers, 2);
}

TEST(Ipv6Parser, Fragments) {
    // First fragment: the chain and UDP header are there; UDP's length is the whole datagram's.
    Bytes udp = udp6(5000, 53, data(16));
    put16(udp, 4, 1000);
    ParsedIpv6 parsed = parse_valid(ipv6_frame({fragment_header(0, true, 0xCAFE)}, kProtoUdp, udp));
    EXPECT_EQ(parsed.fragment, FragmentKind::First);
    EXPECT_TRUE(parsed.more_fragments);
    EXPECT_EQ(parsed.fragment_offset, 0);
    EXPECT_EQ(parsed.fragment_id, rte_cpu_to_be_32(0xCAFE));
    EXPECT_EQ(parsed.key.dst_port, be16(53));
    EXPECT_EQ(parsed.l4_offset, 14 + 40 + 8);

    // Later fragment: data only, the walk stops at the fragment header.
    parsed = parse_valid(ipv6_frame({hop_by_hop(), fragment_header(1232, false, 0xCAFE)}, kProtoUdp, data(100)));
    EXPECT_EQ(parsed.fragment, FragmentKind::Later);
    EXPECT_FALSE(parsed.more_fragments);
    EXPECT_EQ(parsed.fragment_offset, 1232);
    EXPECT_EQ(parsed.key.protocol, kProtoUdp);
    EXPECT_EQ(parsed.key.src_port, 0);
    EXPECT_EQ(parsed.l4_offset, 14 + 40 + 8 + 8);
    EXPECT_EQ(parsed.extension_headers, 2);

    // Atomic fragment (RFC 6946): a whole packet.
    parsed = parse_valid(ipv6_frame({fragment_header(0, false, 9)}, kProtoTcp, tcp6(1, 443, 0x02)));
    EXPECT_EQ(parsed.fragment, FragmentKind::None);
    EXPECT_EQ(parsed.fragment_id, rte_cpu_to_be_32(9));
    EXPECT_EQ(parsed.key.dst_port, be16(443));
}

// ---------------------------------------------------------------------------------------------
// Drops: one reason each

struct DropCase {
    std::string name;
    Bytes frame;
    DropReason expected;
    std::optional<uint32_t> contiguous = std::nullopt;
};

Bytes truncated(Bytes frame, size_t length) {
    frame.resize(length);
    return frame;
}

std::vector<DropCase> drop_cases() {
    const Bytes udp = ipv6_frame({}, kProtoUdp, udp6(1, 2, data(8)));
    Bytes short_udp_length = udp6(1, 2, data(8));
    put16(short_udp_length, 4, 7);
    Bytes long_udp_length = udp6(1, 2, data(8));
    put16(long_udp_length, 4, 17);
    Bytes tcp_offset_4 = tcp6(1, 2, 0x02);
    tcp_offset_4[12] = 4 << 4;
    Bytes tcp_offset_beyond = tcp6(1, 2, 0x02);
    tcp_offset_beyond[12] = 6 << 4;
    const std::vector<Ipv6Extension> nine(kMaxIpv6ExtensionHeaders + 1, destination_options(8));
    // Two headers whose 8 + 256 bytes pass the chain limit by 8.
    const std::vector<Ipv6Extension> too_long = {hop_by_hop(kMaxIpv6ChainBytes), destination_options(8)};
    // A first fragment that ends inside the 16-byte destination options after it.
    Bytes cut_chain = ipv6_frame({fragment_header(0, true), destination_options(16)}, kProtoUdp, {});
    cut_chain.resize(cut_chain.size() - 8);
    put16(cut_chain, 14 + 4, 16);
    return {
        {"fixed header cut short", truncated(udp, 14 + 39), DropReason::TruncatedIpv6},
        {"fixed header beyond the first segment", udp, DropReason::TruncatedIpv6, 14 + 39},
        {"version 4 under the IPv6 ethertype", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {.version = 4}),
         DropReason::BadIpVersion},
        {"payload length 0 before hop-by-hop (jumbogram)",
         ipv6_frame({hop_by_hop()}, kProtoUdp, udp6(1, 2, {}), {.payload_length = 0}), DropReason::BadIpLength},
        {"payload length 0 before UDP", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {.payload_length = 0}),
         DropReason::TruncatedL4},
        {"payload length 0 before destination options",
         ipv6_frame({destination_options()}, kProtoUdp, udp6(1, 2, {}), {.payload_length = 0}),
         DropReason::Ipv6ExtTruncated},
        {"payload length beyond the frame", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {.payload_length = 9}),
         DropReason::BadIpLength},
        {"extension header beyond the datagram",
         ipv6_frame({destination_options(16)}, kProtoUdp, {}, {.payload_length = 8}), DropReason::Ipv6ExtTruncated},
        {"extension header's first 8 bytes beyond the datagram",
         ipv6_frame({destination_options(8)}, kProtoUdp, {}, {.payload_length = 4}), DropReason::Ipv6ExtTruncated},
        {"extension header beyond the first segment", ipv6_frame({destination_options(16)}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6ExtTruncated, 14 + 40 + 12},
        {"nine extension headers", ipv6_frame(nine, kProtoUdp, udp6(1, 2, {})), DropReason::Ipv6ExtLimit},
        {"264 bytes of extension headers", ipv6_frame(too_long, kProtoUdp, udp6(1, 2, {})), DropReason::Ipv6ExtLimit},
        {"one header longer than the chain limit", ipv6_frame({hop_by_hop(2048)}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6ExtLimit},
        {"hop-by-hop after destination options",
         ipv6_frame({destination_options(), hop_by_hop()}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6HopByHopNotFirst},
        {"second hop-by-hop", ipv6_frame({hop_by_hop(), hop_by_hop()}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6HopByHopNotFirst},
        {"routing type 0, segments left 0", ipv6_frame({routing_header(0, 0)}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6RoutingType0},
        {"routing type 0, segments left 2", ipv6_frame({routing_header(0, 2)}, kProtoUdp, udp6(1, 2, {})),
         DropReason::Ipv6RoutingType0},
        {"first fragment ending inside the chain", cut_chain, DropReason::Ipv6FragmentNoUpperLayer},
        {"first fragment with 8 bytes of a TCP header", ipv6_frame({fragment_header(0, true)}, kProtoTcp, data(8)),
         DropReason::Ipv6FragmentNoUpperLayer},
        {"first fragment with TCP options cut",
         ipv6_frame({fragment_header(0, true)}, kProtoTcp, truncated(tcp6(1, 2, 0x02, {}, 40), 24)),
         DropReason::Ipv6FragmentNoUpperLayer},
        {"first fragment's UDP header beyond the first segment",
         ipv6_frame({fragment_header(0, true)}, kProtoUdp, udp6(1, 2, data(8))), DropReason::TruncatedL4,
         14 + 40 + 8 + 4},
        {"two fragment headers", ipv6_frame({fragment_header(0, true), fragment_header(8, true)}, kProtoUdp, data(16)),
         DropReason::Ipv6FragmentMalformed},
        {"M set on 12 bytes of data", ipv6_frame({fragment_header(8, true)}, kProtoUdp, data(12)),
         DropReason::Ipv6FragmentMalformed},
        {"empty later fragment", ipv6_frame({fragment_header(8, false)}, kProtoUdp, {}),
         DropReason::Ipv6FragmentMalformed},
        {"fragment past 65535", ipv6_frame({fragment_header(65528, false)}, kProtoUdp, data(16)),
         DropReason::FragmentOversize},
        {"AH", ipv6_frame({opaque_extension(kIpv6Ah)}, kProtoTcp, tcp6(1, 2, 0x02)), DropReason::Ipv6ExtUnsupported},
        {"ESP", ipv6_frame({}, kIpv6Esp, data(32)), DropReason::Ipv6ExtUnsupported},
        {"ESP after destination options", ipv6_frame({destination_options()}, kIpv6Esp, data(32)),
         DropReason::Ipv6ExtUnsupported},
        {"Mobility", ipv6_frame({}, kIpv6Mobility, data(16)), DropReason::Ipv6ExtUnsupported},
        {"HIP", ipv6_frame({}, kIpv6Hip, data(16)), DropReason::Ipv6ExtUnsupported},
        {"Shim6", ipv6_frame({}, kIpv6Shim6, data(16)), DropReason::Ipv6ExtUnsupported},
        {"experimental 253", ipv6_frame({}, kIpv6Experimental1, data(16)), DropReason::Ipv6ExtUnsupported},
        {"experimental 254", ipv6_frame({}, kIpv6Experimental2, data(16)), DropReason::Ipv6ExtUnsupported},
        {"UDP checksum 0", ipv6_frame({}, kProtoUdp, udp6(1, 2, data(4), {}, 0)), DropReason::Ipv6UdpZeroChecksum},
        {"UDP header cut short", ipv6_frame({}, kProtoUdp, data(7)), DropReason::TruncatedL4},
        {"UDP length 7", ipv6_frame({}, kProtoUdp, short_udp_length), DropReason::TruncatedL4},
        {"UDP length beyond the payload", ipv6_frame({}, kProtoUdp, long_udp_length), DropReason::TruncatedL4},
        {"TCP header cut short", ipv6_frame({}, kProtoTcp, data(19)), DropReason::TruncatedL4},
        {"TCP data offset 4", ipv6_frame({}, kProtoTcp, tcp_offset_4), DropReason::TruncatedL4},
        {"TCP data offset beyond the segment", ipv6_frame({}, kProtoTcp, tcp_offset_beyond), DropReason::TruncatedL4},
        {"ICMPv6 cut short", ipv6_frame({}, kProtoIcmpv6, data(3)), DropReason::TruncatedL4},
        {"SCTP cut short", ipv6_frame({}, kProtoSctp, data(15)), DropReason::TruncatedL4},
        {"GRE", ipv6_frame({}, 47, data(8)), DropReason::UnsupportedProtocol},
        {"ICMP (v4) over IPv6", ipv6_frame({}, kProtoIcmp, data(8)), DropReason::UnsupportedProtocol},
    };
}

TEST(Ipv6Parser, EveryDropHasItsReason) {
    for (const DropCase& c : drop_cases()) {
        ParsedIpv6 parsed;
        const ParseOutcome outcome = parse(c.frame, parsed, 0, c.contiguous);
        EXPECT_EQ(outcome.kind, PacketKind::Invalid) << c.name;
        EXPECT_EQ(drop_reason_name(outcome.reason), drop_reason_name(c.expected)) << c.name << "\n" << hex(c.frame);
    }
}

// Every IPv6 reason in counters.h is produced by some case above (a reason nothing produces is dead).
TEST(Ipv6Parser, EveryIpv6ParserReasonIsReachable) {
    std::unordered_set<std::string_view> produced;
    for (const DropCase& c : drop_cases()) produced.insert(drop_reason_name(c.expected));
    for (const DropReason reason :
         {DropReason::TruncatedIpv6, DropReason::Ipv6ExtTruncated, DropReason::Ipv6ExtLimit,
          DropReason::Ipv6HopByHopNotFirst, DropReason::Ipv6RoutingType0, DropReason::Ipv6FragmentNoUpperLayer,
          DropReason::Ipv6FragmentMalformed, DropReason::Ipv6ExtUnsupported, DropReason::Ipv6UdpZeroChecksum}) {
        EXPECT_TRUE(produced.contains(drop_reason_name(reason))) << drop_reason_name(reason);
    }
}

// ---------------------------------------------------------------------------------------------
// FlowKey6

TEST(FlowKey6, LayoutReversalAndHash) {
    static_assert(sizeof(FlowKey6) == 40);
    const ParsedIpv6 parsed = parse_valid(ipv6_frame({}, kProtoTcp, tcp6(40000, 80, 0x02)));
    const FlowKey6 key = parsed.key;
    const FlowKey6 back = key.reversed();
    EXPECT_EQ(0, std::memcmp(back.src_addr, kVip6.data(), 16));
    EXPECT_EQ(0, std::memcmp(back.dst_addr, kClient6.data(), 16));
    EXPECT_EQ(back.src_port, key.dst_port);
    EXPECT_EQ(back.dst_port, key.src_port);
    EXPECT_EQ(back.protocol, kProtoTcp);
    EXPECT_EQ(back.reversed(), key);
    EXPECT_FALSE(back == key);
    EXPECT_EQ(hash_flow_key(key, 1), hash_flow_key(parsed.key, 1));
    EXPECT_NE(hash_flow_key(key, 1), hash_flow_key(back, 1));
    EXPECT_NE(hash_flow_key(key, 1), hash_flow_key(key, 2));
    // Every byte of the tuple reaches the hash: flip each in turn.
    for (size_t byte = 0; byte < 37; ++byte) {
        FlowKey6 changed = key;
        reinterpret_cast<uint8_t*>(&changed)[byte] ^= 0x01;
        EXPECT_NE(hash_flow_key(changed, 1), hash_flow_key(key, 1)) << "byte " << byte;
    }
}

// ---------------------------------------------------------------------------------------------
// Sweep

std::vector<Bytes> seed_frames() {
    Bytes first_udp = udp6(5000, 53, data(16));
    put16(first_udp, 4, 600);
    return {
        ipv6_frame({}, kProtoUdp, udp6(5000, 53, data(12))),
        ipv6_frame({}, kProtoTcp, tcp6(1, 80, 0x12, {}, 28), {}, {.vlan = kPortVlan}),
        ipv6_frame({hop_by_hop(16), destination_options(), routing_header(4, 1, 40), destination_options(24)},
                   kProtoUdp, udp6(1, 2, data(5))),
        ipv6_frame({fragment_header(0, true)}, kProtoUdp, first_udp),
        ipv6_frame({hop_by_hop(), fragment_header(512, true)}, kProtoTcp, data(64)),
        ipv6_frame({destination_options()}, kProtoIcmpv6, icmp6(128)),
        ipv6_frame(std::vector<Ipv6Extension>(8, destination_options(8)), kProtoSctp, data(20)),
        ipv6_frame({}, kIpv6NoNextHeader, {}),
    };
}

TEST(Ipv6ParserFuzz, TruncationsAndMutationsNeverMisbehave) {
    constexpr int kIterations = 40000;
    std::mt19937 random(20261205);
    const std::vector<Bytes> seeds = seed_frames();
    int accepted = 0;
    int invalid = 0;
    for (int i = 0; i < kIterations; ++i) {
        Bytes frame = seeds[random() % seeds.size()];
        if (random() % 2 == 0) frame.resize(random() % (frame.size() + 1));
        const int mutations = static_cast<int>(random() % 4);
        for (int m = 0; m < mutations && !frame.empty(); ++m) {
            // Mostly the fixed header and the chain: where the parser decides.
            const size_t limit = std::min<size_t>(frame.size(), random() % 2 == 0 ? 140 : frame.size());
            frame[random() % limit] = static_cast<uint8_t>(random());
        }
        const auto contiguous = static_cast<uint32_t>(random() % 3 == 0 ? random() % (frame.size() + 1) : frame.size());
        const size_t shift = random() % 2;  // odd addresses too (UBSan checks alignment)
        auto storage = std::make_unique<uint8_t[]>(contiguous + shift);
        uint8_t* buffer = storage.get() + shift;
        std::copy_n(frame.begin(), contiguous, buffer);
        const uint16_t port_vlan = random() % 2 == 0 ? 0 : kPortVlan;
        ParsedPacket ethernet;
        const auto length = static_cast<uint32_t>(frame.size());
        if (parse_packet(buffer, contiguous, length, port_vlan, false, ethernet).kind != PacketKind::Ipv6) continue;
        ParsedIpv6 parsed;
        const ParseOutcome outcome = parse_ipv6(buffer, contiguous, length, ethernet.l3_offset, parsed);
        if (outcome.kind == PacketKind::Invalid) {
            ++invalid;
            ASSERT_LT(static_cast<size_t>(outcome.reason), kDropReasonCount) << "iteration " << i;
            continue;
        }
        ASSERT_EQ(outcome.kind, PacketKind::Ipv6) << "iteration " << i;
        ++accepted;
        // What it vouched for lies inside the datagram and the first segment.
        ASSERT_LE(parsed.l3_offset + 40u + parsed.payload_length, length) << "iteration " << i << "\n" << hex(frame);
        ASSERT_LE(parsed.l4_offset, std::min(contiguous, length)) << "iteration " << i << "\n" << hex(frame);
        ASSERT_LE(parsed.l4_offset - parsed.l3_offset - 40u, kMaxIpv6ChainBytes) << "iteration " << i;
        ASSERT_LE(parsed.extension_headers, kMaxIpv6ExtensionHeaders);
    }
    // Both outcomes in bulk (a VLAN mismatch or a mutated ethertype never reaches parse_ipv6).
    EXPECT_GT(accepted, kIterations / 20);
    EXPECT_GT(invalid, kIterations / 8);
}

}  // namespace
}  // namespace vipgate
