// Parser tests: every accepted kind with its fields, every drop reason with its exact
// DropReason, and a fuzz-style sweep of truncated and mutated frames (run it under ASan: each
// frame sits in an exactly-sized heap buffer, so any over-read is caught).
#include "dataplane/packet_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>

#include "dataplane/ipv6_parser.h"
#include "dataplane/nat_rewrite.h"
#include "dataplane/sctp.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using namespace vipgate::test;

constexpr uint16_t kPortVlan = 100;

ParseOutcome parse(const Bytes& frame, ParsedPacket& out, uint16_t port_vlan = 0,
                   std::optional<uint32_t> contiguous = std::nullopt, bool verify_checksum = true) {
    const auto length = static_cast<uint32_t>(frame.size());
    return parse_packet(frame.data(), contiguous.value_or(length), length, port_vlan, verify_checksum, out);
}

ParsedPacket parse_valid(const Bytes& frame, PacketKind expected, uint16_t port_vlan = 0) {
    ParsedPacket parsed;
    const ParseOutcome outcome = parse(frame, parsed, port_vlan);
    EXPECT_EQ(outcome.kind, expected) << "reason " << drop_reason_name(outcome.reason) << "\n" << hex(frame);
    return parsed;
}

FlowKey4 flow(uint32_t src, uint32_t dst, uint16_t src_port, uint16_t dst_port, uint8_t protocol) {
    FlowKey4 key;
    key.src_addr = src;
    key.dst_addr = dst;
    key.src_port = rte_cpu_to_be_16(src_port);
    key.dst_port = rte_cpu_to_be_16(dst_port);
    key.protocol = protocol;
    return key;
}

// ---------------------------------------------------------------------------------------------
// Accepted packets

TEST(PacketParser, TcpUntagged) {
    const Bytes frame = tcp_frame({.src_port = 40001, .dst_port = 80, .flags = RTE_TCP_SYN_FLAG},
                                  {.src = kClientAddr, .dst = kVipAddr, .ttl = 17});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4);
    EXPECT_EQ(parsed.l3_offset, 14);
    EXPECT_EQ(parsed.l4_offset, 34);
    EXPECT_EQ(parsed.vlan_id, 0);
    EXPECT_EQ(parsed.ether_type, RTE_ETHER_TYPE_IPV4);
    EXPECT_EQ(parsed.ip_total_length, 40);
    EXPECT_EQ(parsed.ttl, 17);
    EXPECT_EQ(parsed.tcp_flags, RTE_TCP_SYN_FLAG);
    EXPECT_EQ(parsed.key, flow(kClientAddr, kVipAddr, 40001, 80, kProtoTcp));
    EXPECT_FALSE(parsed.icmp_error);
}

TEST(PacketParser, TcpWithVlanOptionsAndPayload) {
    const Bytes frame = tcp_frame({.src_port = 40002,
                                   .dst_port = 443,
                                   .flags = RTE_TCP_PSH_FLAG | RTE_TCP_ACK_FLAG,
                                   .options = Bytes(12, 1),
                                   .payload = payload_bytes(100)},
                                  {}, {.vlan = kPortVlan});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, kPortVlan);
    EXPECT_EQ(parsed.l3_offset, 18);
    EXPECT_EQ(parsed.l4_offset, 38);
    EXPECT_EQ(parsed.vlan_id, kPortVlan);
    EXPECT_EQ(parsed.ip_total_length, 20 + 32 + 100);
    EXPECT_EQ(parsed.tcp_flags, RTE_TCP_PSH_FLAG | RTE_TCP_ACK_FLAG);
    EXPECT_EQ(parsed.key, flow(kClientAddr, kVipAddr, 40002, 443, kProtoTcp));
}

TEST(PacketParser, UdpWithAndWithoutVlanAndChecksum) {
    for (const uint16_t vlan : {uint16_t{0}, kPortVlan}) {
        for (const bool zero_checksum : {false, true}) {
            const Bytes frame = udp_frame(
                {.src_port = 5353, .dst_port = 53, .payload = payload_bytes(33), .zero_checksum = zero_checksum}, {},
                {.vlan = vlan});
            const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, vlan);
            EXPECT_EQ(parsed.vlan_id, vlan);
            EXPECT_EQ(parsed.l4_offset, parsed.l3_offset + 20);
            EXPECT_EQ(parsed.ip_total_length, 20 + 8 + 33);
            EXPECT_EQ(parsed.key, flow(kClientAddr, kVipAddr, 5353, 53, kProtoUdp));
        }
    }
}

TEST(PacketParser, UdpLengthShorterThanIpPayloadIsAccepted) {
    const Bytes frame = udp_frame({.payload = payload_bytes(20), .length = 12});
    parse_valid(frame, PacketKind::Ipv4);
}

// The first fragment carries the ports and the whole datagram's UDP length; a later one has
// neither, and its "L4 offset" is where its payload starts.
TEST(PacketParser, UdpFragmentsCarryTheirPlaceInTheDatagram) {
    const Bytes first =
        udp_frame({.src_port = 40001, .dst_port = 53, .payload = payload_bytes(40), .length = 1000},
                  {.src = kClientAddr, .dst = kVipAddr, .id = 0x4321, .flags_fragment = RTE_IPV4_HDR_MF_FLAG});
    const ParsedPacket head = parse_valid(first, PacketKind::Ipv4);
    EXPECT_EQ(head.fragment, FragmentKind::First);
    EXPECT_TRUE(head.more_fragments);
    EXPECT_EQ(head.fragment_offset, 0);
    EXPECT_EQ(head.ip_id, rte_cpu_to_be_16(0x4321));
    EXPECT_EQ(head.key, flow(kClientAddr, kVipAddr, 40001, 53, kProtoUdp));

    const Bytes last = udp_frame({.payload = payload_bytes(40)},
                                 {.src = kClientAddr, .dst = kVipAddr, .id = 0x4321, .flags_fragment = 6});
    const ParsedPacket tail = parse_valid(last, PacketKind::Ipv4);
    EXPECT_EQ(tail.fragment, FragmentKind::Later);
    EXPECT_FALSE(tail.more_fragments);
    EXPECT_EQ(tail.fragment_offset, 48);
    EXPECT_EQ(tail.l4_offset, 34);
    EXPECT_EQ(tail.key, flow(kClientAddr, kVipAddr, 0, 0, kProtoUdp)) << "no ports in a later fragment";

    const ParsedPacket whole = parse_valid(udp_frame({}, {.flags_fragment = RTE_IPV4_HDR_DF_FLAG}), PacketKind::Ipv4);
    EXPECT_EQ(whole.fragment, FragmentKind::None);
}

TEST(PacketParser, SctpInit) {
    const Bytes frame = sctp_frame({.src_port = 40004, .dst_port = 3868, .chunks = sctp_init_chunk(0xA1B2C3D4)}, {},
                                   {.vlan = kPortVlan});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, kPortVlan);
    EXPECT_EQ(parsed.l4_offset, 38);
    EXPECT_EQ(parsed.ip_total_length, 20 + 12 + 20);
    EXPECT_EQ(parsed.key, flow(kClientAddr, kVipAddr, 40004, 3868, kProtoSctp));
    EXPECT_EQ(parsed.sctp_chunk_type, kSctpInit);
    EXPECT_EQ(parsed.sctp_chunk_flags, 0);
    EXPECT_EQ(parsed.tcp_flags, RTE_TCP_SYN_FLAG);
}

TEST(PacketParser, SctpDataAbortAndPadding) {
    const Bytes data = sctp_frame({.tag = 7, .chunks = sctp_data_chunk(1, payload_bytes(5))});
    ParsedPacket parsed = parse_valid(data, PacketKind::Ipv4);
    EXPECT_EQ(parsed.sctp_chunk_type, kSctpData);
    EXPECT_EQ(parsed.sctp_chunk_flags, 0x03);
    EXPECT_EQ(parsed.tcp_flags, RTE_TCP_ACK_FLAG);
    // Two chunks, Ethernet padding behind the datagram.
    Bytes chunks = sctp_chunk(kSctpSack, 0, Bytes(12, 0));
    const Bytes abort = sctp_chunk(kSctpAbort, kSctpChunkFlagT);
    chunks.insert(chunks.end(), abort.begin(), abort.end());
    parsed = parse_valid(with_padding(sctp_frame({.tag = 7, .chunks = chunks}), 10), PacketKind::Ipv4);
    EXPECT_EQ(parsed.sctp_chunk_type, kSctpSack);
    parsed = parse_valid(sctp_frame({.tag = 7, .chunks = abort}), PacketKind::Ipv4);
    EXPECT_EQ(parsed.sctp_chunk_flags, kSctpChunkFlagT);
    EXPECT_EQ(parsed.tcp_flags, RTE_TCP_RST_FLAG);
    // Only the headers need be contiguous; the CRC32c is the endpoint's to check.
    parse_valid(sctp_frame({.tag = 7, .chunks = sctp_data_chunk(1, payload_bytes(5)), .bad_checksum = true}),
                PacketKind::Ipv4);
    ParsedPacket split;
    EXPECT_EQ(parse(data, split, 0, 14 + 20 + 16).kind, PacketKind::Ipv4);
}

TEST(PacketParser, IcmpErrorQuotingSctp) {
    const Bytes original =
        sctp_frame({.src_port = 40005, .dst_port = 3868, .tag = 9, .chunks = sctp_data_chunk(1, payload_bytes(40))},
                   {.src = kGatewayAddr, .dst = kEndpointAddr});
    const Bytes frame =
        icmp_error_frame({.quoted = quote_of(original, 28)}, {.src = kEndpointAddr, .dst = kGatewayAddr});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4);
    EXPECT_TRUE(parsed.icmp_error);
    EXPECT_EQ(parsed.inner_key, flow(kGatewayAddr, kEndpointAddr, 40005, 3868, kProtoSctp));
}

TEST(PacketParser, IcmpEcho) {
    const Bytes frame = icmp_echo_frame({.identifier = 0x1234, .sequence = 7, .payload = payload_bytes(56)},
                                        {.dst = kGatewayAddr}, {.vlan = kPortVlan});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, kPortVlan);
    EXPECT_EQ(parsed.icmp_type, RTE_IP_ICMP_ECHO_REQUEST);
    EXPECT_EQ(parsed.icmp_code, 0);
    EXPECT_EQ(parsed.icmp_identifier, rte_cpu_to_be_16(0x1234));
    EXPECT_EQ(parsed.key, flow(kClientAddr, kGatewayAddr, 0, 0, kProtoIcmp));
    EXPECT_FALSE(parsed.icmp_error);
}

TEST(PacketParser, IcmpErrorCarriesInnerTuple) {
    const Bytes original = udp_frame({.src_port = 40003, .dst_port = 53, .payload = payload_bytes(40)},
                                     {.src = kGatewayAddr, .dst = kEndpointAddr});
    for (const uint16_t vlan : {uint16_t{0}, kPortVlan}) {
        for (const size_t quote_length : {size_t{28}, size_t{68}}) {
            const Bytes frame = icmp_error_frame({.type = 3, .code = 3, .quoted = quote_of(original, quote_length)},
                                                 {.src = kEndpointAddr, .dst = kGatewayAddr}, {.vlan = vlan});
            const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, vlan);
            EXPECT_TRUE(parsed.icmp_error);
            EXPECT_EQ(parsed.icmp_type, 3);
            EXPECT_EQ(parsed.icmp_code, 3);
            EXPECT_EQ(parsed.inner_l3_offset, parsed.l4_offset + 8);
            EXPECT_EQ(parsed.key, flow(kEndpointAddr, kGatewayAddr, 0, 0, kProtoIcmp));
            EXPECT_EQ(parsed.inner_key, flow(kGatewayAddr, kEndpointAddr, 40003, 53, kProtoUdp));
        }
    }
}

TEST(PacketParser, TimeExceededAndParameterProblemAreIcmpErrors) {
    const Bytes original = tcp_frame({.src_port = 40004, .dst_port = 8080});
    for (const uint8_t type : {uint8_t{11}, uint8_t{12}}) {
        const Bytes frame = icmp_error_frame({.type = type, .code = 0, .quoted = quote_of(original)},
                                             {.src = kEndpointAddr, .dst = kClientAddr});
        const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4);
        EXPECT_TRUE(parsed.icmp_error);
        EXPECT_EQ(parsed.inner_key, flow(kClientAddr, kVipAddr, 40004, 8080, kProtoTcp));
    }
}

TEST(PacketParser, IcmpErrorWithUnusableQuoteIsPlainIcmp) {
    const Bytes with_options = tcp_frame({}, {.options = Bytes(4, 1)});
    const struct {
        const char* name;
        Bytes quoted;
    } cases[] = {
        {"header only", quote_of(tcp_frame(), 20)},
        {"seven L4 bytes", quote_of(tcp_frame(), 27)},
        {"inner options", quote_of(with_options, 32)},
        {"inner version 6", quote_of(tcp_frame({}, {.version = 6}))},
        {"inner non-first fragment", quote_of(tcp_frame({}, {.flags_fragment = 100}))},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const ParsedPacket parsed = parse_valid(icmp_error_frame({.quoted = c.quoted}), PacketKind::Ipv4);
        EXPECT_FALSE(parsed.icmp_error);
        EXPECT_EQ(parsed.icmp_type, 3);
    }
}

TEST(PacketParser, IcmpErrorNeedsQuotedTcpChecksumContiguous) {
    // 40 quoted TCP bytes, but the first segment ends 10 bytes into the quoted TCP header: a
    // rewrite could not reach the quoted checksum, so the error is not translatable.
    const Bytes frame = icmp_error_frame({.quoted = quote_of(tcp_frame({.payload = payload_bytes(20)}), 60)});
    const uint32_t inner_l4 = 14 + 20 + 8 + 20;
    ParsedPacket parsed;
    ASSERT_EQ(parse(frame, parsed, 0, inner_l4 + 10).kind, PacketKind::Ipv4);
    EXPECT_FALSE(parsed.icmp_error);
    ASSERT_EQ(parse(frame, parsed, 0, inner_l4 + 20).kind, PacketKind::Ipv4);
    EXPECT_TRUE(parsed.icmp_error);
}

TEST(PacketParser, Arp) {
    for (const uint16_t vlan : {uint16_t{0}, kPortVlan}) {
        const Bytes frame = arp_frame({}, EthernetSpec{.dst = kBroadcastMac, .vlan = vlan});
        const ParsedPacket parsed = parse_valid(frame, PacketKind::Arp, vlan);
        EXPECT_EQ(parsed.l3_offset, vlan == 0 ? 14 : 18);
        EXPECT_EQ(parsed.ether_type, RTE_ETHER_TYPE_ARP);
        EXPECT_EQ(parsed.vlan_id, vlan);
    }
}

TEST(PacketParser, TrailingEthernetPaddingIsAllowed) {
    const Bytes frame = with_padding(udp_frame({.payload = payload_bytes(2)}), 20);
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4);
    EXPECT_EQ(parsed.ip_total_length, 30);
    parse_valid(with_padding(arp_frame(), 18), PacketKind::Arp);
}

TEST(PacketParser, PriorityTagMatchesUntaggedPort) {
    const Bytes frame = tcp_frame({}, {}, {.tagged_with_vlan_zero = true});
    const ParsedPacket parsed = parse_valid(frame, PacketKind::Ipv4, 0);
    EXPECT_EQ(parsed.l3_offset, 18);
    EXPECT_EQ(parsed.vlan_id, 0);
}

TEST(PacketParser, HeadersInFirstSegmentSuffice) {
    const Bytes frame = tcp_frame({.payload = payload_bytes(1400)});
    ParsedPacket parsed;
    EXPECT_EQ(parse(frame, parsed, 0, 54).kind, PacketKind::Ipv4);
    EXPECT_EQ(parsed.ip_total_length, 1440);
}

TEST(PacketParser, ChecksumIgnoredWhenNotAsked) {
    const Bytes frame = tcp_frame({}, {.bad_checksum = true});
    ParsedPacket parsed;
    EXPECT_EQ(parse(frame, parsed, 0, std::nullopt, false).kind, PacketKind::Ipv4);
}

// ---------------------------------------------------------------------------------------------
// Drops: one table, one exact reason each

struct DropCase {
    std::string name;
    Bytes frame;
    DropReason expected;
    uint16_t port_vlan = 0;
    std::optional<uint32_t> contiguous = std::nullopt;
};

Bytes truncated(Bytes frame, size_t length) {
    frame.resize(length);
    return frame;
}

Bytes with_byte(Bytes frame, size_t offset, uint8_t value) {
    frame.at(offset) = value;
    return frame;
}

std::vector<DropCase> drop_cases() {
    const Bytes tcp = tcp_frame();
    const Bytes tagged_tcp = tcp_frame({}, {}, {.vlan = kPortVlan});
    Bytes qinq = ethernet_frame(RTE_ETHER_TYPE_VLAN, Bytes{0x00, 0x64, 0x08, 0x00}, {.vlan = kPortVlan});
    Bytes wrong_arp = with_byte(arp_frame(), 14 + 4, 8);  // hardware address length 8
    const Bytes sctp_data = sctp_frame({.tag = 7, .chunks = sctp_data_chunk(1, payload_bytes(8))});
    const Bytes sctp_init = sctp_frame({.chunks = sctp_init_chunk(0x1234)});
    Bytes init_and_data = sctp_init_chunk(0x1234);
    const Bytes data_chunk = sctp_data_chunk(1, {});
    init_and_data.insert(init_and_data.end(), data_chunk.begin(), data_chunk.end());
    return {
        {"empty frame", {}, DropReason::TruncatedEthernet},
        {"13 bytes", truncated(tcp, 13), DropReason::TruncatedEthernet},
        {"tag cut short", truncated(tagged_tcp, 17), DropReason::TruncatedVlan, kPortVlan},
        {"tagged frame, untagged port", tagged_tcp, DropReason::VlanMismatch, 0},
        {"untagged frame, tagged port", tcp, DropReason::VlanMismatch, kPortVlan},
        {"other VLAN", tcp_frame({}, {}, {.vlan = 200}), DropReason::VlanMismatch, kPortVlan},
        {"802.1ad outer tag", ethernet_frame(RTE_ETHER_TYPE_QINQ, Bytes(40, 0)), DropReason::UnknownEthertype},
        {"802.1ad outer tag, tagged port", ethernet_frame(RTE_ETHER_TYPE_QINQ, Bytes(40, 0)), DropReason::VlanMismatch,
         kPortVlan},
        {"QinQ: second 802.1Q tag", qinq, DropReason::UnknownEthertype, kPortVlan},
        {"IPv4 header cut short", truncated(tcp, 14 + 19), DropReason::TruncatedIpv4},
        {"IPv4 header beyond first segment", tcp, DropReason::TruncatedIpv4, 0, 14 + 19},
        {"version 6", tcp_frame({}, {.version = 6}), DropReason::BadIpVersion},
        {"IHL 4", tcp_frame({}, {.ihl = 4}), DropReason::BadIhl},
        {"IHL 0", tcp_frame({}, {.ihl = 0}), DropReason::BadIhl},
        {"options", tcp_frame({}, {.options = {1, 1, 1, 0}}), DropReason::IpOptions},
        {"IHL 15, beyond the datagram", tcp_frame({}, {.ihl = 15}), DropReason::BadIhl},
        {"total length below header", tcp_frame({}, {.total_length = 19}), DropReason::BadIpLength},
        {"total length beyond frame", tcp_frame({}, {.total_length = 41}), DropReason::BadIpLength},
        {"bad header checksum", tcp_frame({}, {.bad_checksum = true}), DropReason::BadIpChecksum},
        {"ICMP fragment", icmp_echo_frame({}, {.flags_fragment = RTE_IPV4_HDR_MF_FLAG}), DropReason::Fragment},
        {"first TCP fragment cut inside its header",
         tcp_frame({}, {.flags_fragment = RTE_IPV4_HDR_MF_FLAG, .total_length = 20 + 19}), DropReason::FragmentTiny},
        {"first UDP fragment of 4 bytes", udp_frame({}, {.flags_fragment = RTE_IPV4_HDR_MF_FLAG, .total_length = 24}),
         DropReason::FragmentTiny},
        {"TCP fragment at offset 8", tcp_frame({}, {.flags_fragment = 1}), DropReason::FragmentTiny},
        {"fragment without payload", udp_frame({}, {.flags_fragment = 185, .total_length = 20}),
         DropReason::FragmentTiny},
        {"fragment past 65535", udp_frame({}, {.flags_fragment = 8191}), DropReason::FragmentOversize},
        {"TCP data offset 4", tcp_frame({.data_offset = 4}), DropReason::TruncatedL4},
        {"TCP data offset past datagram", tcp_frame({.data_offset = 6}), DropReason::TruncatedL4},
        {"TCP header cut short", tcp_frame({}, {.total_length = 20 + 19}), DropReason::TruncatedL4},
        {"TCP options beyond first segment", tcp_frame({.options = Bytes(8, 1), .payload = payload_bytes(10)}),
         DropReason::TruncatedL4, 0, 14 + 20 + 24},
        {"UDP length 7", udp_frame({.length = 7}), DropReason::TruncatedL4},
        {"UDP length beyond datagram", udp_frame({.payload = payload_bytes(4), .length = 13}), DropReason::TruncatedL4},
        {"UDP header cut short", ipv4_frame(kProtoUdp, Bytes(6, 0)), DropReason::TruncatedL4},
        {"UDP header beyond first segment", udp_frame(), DropReason::TruncatedL4, 0, 14 + 20 + 7},
        {"ICMP header cut short", ipv4_frame(kProtoIcmp, Bytes(7, 0)), DropReason::TruncatedL4},
        {"GRE", ipv4_frame(47, Bytes(8, 0)), DropReason::UnsupportedProtocol},
        {"SCTP without a chunk", ipv4_frame(kProtoSctp, Bytes(12, 0)), DropReason::TruncatedL4},
        {"SCTP chunk header cut short", ipv4_frame(kProtoSctp, Bytes(15, 0)), DropReason::TruncatedL4},
        {"SCTP chunk header beyond first segment", sctp_data, DropReason::TruncatedL4, 0, 14 + 20 + 15},
        {"SCTP INIT beyond first segment", sctp_init, DropReason::TruncatedL4, 0, 14 + 20 + 31},
        {"SCTP chunk length 3", with_byte(sctp_data, 14 + 20 + 15, 3), DropReason::MalformedSctp},
        {"SCTP chunk length past datagram", with_byte(sctp_data, 14 + 20 + 15, 40), DropReason::MalformedSctp},
        {"SCTP tag 0 on DATA", sctp_frame({.tag = 0, .chunks = sctp_data_chunk(1, {})}), DropReason::MalformedSctp},
        {"SCTP INIT with a tag", sctp_frame({.tag = 5, .chunks = sctp_init_chunk(1)}), DropReason::MalformedSctp},
        {"SCTP INIT bundled", sctp_frame({.chunks = init_and_data}), DropReason::MalformedSctp},
        {"SCTP INIT chunk of 16 bytes", sctp_frame({.chunks = sctp_chunk(kSctpInit, 0, Bytes(12, 1))}),
         DropReason::MalformedSctp},
        {"ARP cut short", truncated(arp_frame(), 14 + 27), DropReason::MalformedArp},
        {"ARP beyond first segment", arp_frame(), DropReason::MalformedArp, 0, 14 + 27},
        {"ARP for IPv6", with_byte(arp_frame(), 14 + 2, 0x86), DropReason::MalformedArp},
        {"ARP with 8-byte hardware addresses", wrong_arp, DropReason::MalformedArp},
    };
}

TEST(PacketParser, EveryDropReason) {
    for (const DropCase& c : drop_cases()) {
        SCOPED_TRACE(c.name + "\n" + hex(c.frame));
        ParsedPacket parsed;
        const ParseOutcome outcome = parse(c.frame, parsed, c.port_vlan, c.contiguous);
        EXPECT_EQ(outcome.kind, PacketKind::Invalid);
        EXPECT_EQ(drop_reason_name(outcome.reason), drop_reason_name(c.expected));
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzz-style sweep

std::vector<Bytes> seed_frames() {
    const Bytes tcp = tcp_frame({.options = Bytes(8, 1), .payload = payload_bytes(30)});
    const Bytes udp = udp_frame({.payload = payload_bytes(17)}, {}, {.vlan = kPortVlan});
    return {
        tcp,
        udp,
        with_padding(udp_frame({.payload = payload_bytes(3)}), 15),
        icmp_echo_frame({.payload = payload_bytes(24)}),
        icmp_error_frame({.quoted = quote_of(tcp, 28)}),
        icmp_error_frame({.quoted = quote_of(tcp, 46)}, {}, {.vlan = kPortVlan}),
        icmp_error_frame({.type = 11, .code = 0, .quoted = quote_of(udp, 60)}),
        sctp_frame({.chunks = sctp_init_chunk(0x1234)}),
        sctp_frame({.tag = 7, .chunks = sctp_data_chunk(1, payload_bytes(21))}, {}, {.vlan = kPortVlan}),
        icmp_error_frame({.quoted = quote_of(sctp_frame({.tag = 7, .chunks = sctp_data_chunk(1, {})}), 40)}),
        arp_frame(),
        arp_frame({}, EthernetSpec{.dst = kBroadcastMac, .vlan = kPortVlan}),
    };
}

struct SweepTally {
    int ipv4 = 0;
    int icmp_errors = 0;
    int arp = 0;
    int invalid = 0;
};

// Parses `frame` from a heap buffer that ends right after the first `contiguous` bytes, so
// reading past the contiguous length is an ASan error, and that starts at an odd address when
// `misaligned` (UBSan checks alignment). Then rewrites whatever parsed as translatable: the
// rewrite must stay inside the headers the parser vouched for.
void parse_exactly_sized(const Bytes& frame, uint32_t contiguous, bool misaligned, uint16_t port_vlan, bool verify,
                         SweepTally& tally) {
    const size_t shift = misaligned ? 1 : 0;
    auto storage = std::make_unique<uint8_t[]>(contiguous + shift);
    uint8_t* buffer = storage.get() + shift;
    std::copy_n(frame.begin(), contiguous, buffer);
    ParsedPacket parsed;
    const ParseOutcome outcome =
        parse_packet(buffer, contiguous, static_cast<uint32_t>(frame.size()), port_vlan, verify, parsed);
    switch (outcome.kind) {
    case PacketKind::Invalid:
        ++tally.invalid;
        ASSERT_LT(static_cast<size_t>(outcome.reason), kDropReasonCount);
        return;
    case PacketKind::Arp:
        ++tally.arp;
        return;
    case PacketKind::Ipv6: {
        // A mutated ethertype: the IPv6 parser takes over, within the same bytes.
        ParsedIpv6 parsed6;
        const ParseOutcome outcome6 =
            parse_ipv6(buffer, contiguous, static_cast<uint32_t>(frame.size()), parsed.l3_offset, parsed6);
        ASSERT_TRUE(outcome6.kind == PacketKind::Ipv6 || outcome6.kind == PacketKind::Invalid);
        return;
    }
    case PacketKind::Ipv4:
        ++tally.ipv4;
        ASSERT_LE(parsed.l3_offset + parsed.ip_total_length, frame.size());
        if (parsed.icmp_error) {
            ++tally.icmp_errors;
            rewrite_icmp_error(buffer, parsed, kGatewayAddr, kClientAddr, {kClientAddr, kVipAddr, 1, 2});
        } else if (parsed.fragment == FragmentKind::Later) {
            // No L4 header: the pipeline rewrites a later fragment's addresses only.
            rewrite_fragment_addresses(buffer, parsed, kGatewayAddr, kEndpointAddr);
        } else {
            rewrite_ipv4_packet(buffer, parsed, {kGatewayAddr, kEndpointAddr, 3, 4});
        }
        return;
    }
    FAIL() << "outcome kind out of range";
}

TEST(PacketParserFuzz, TruncationsAndMutationsNeverMisbehave) {
    constexpr int kIterations = 40000;
    std::mt19937 random(20240611);
    const std::vector<Bytes> seeds = seed_frames();
    SweepTally tally;
    for (int i = 0; i < kIterations; ++i) {
        Bytes frame = seeds[random() % seeds.size()];
        if (random() % 2 == 0) frame.resize(random() % (frame.size() + 1));
        const int mutations = static_cast<int>(random() % 4);
        for (int m = 0; m < mutations && !frame.empty(); ++m) {
            // Mostly headers: that is where the parser makes decisions.
            const size_t limit = std::min<size_t>(frame.size(), random() % 2 == 0 ? 64 : frame.size());
            frame[random() % limit] = static_cast<uint8_t>(random());
        }
        const auto contiguous = static_cast<uint32_t>(random() % 3 == 0 ? random() % (frame.size() + 1) : frame.size());
        const uint16_t port_vlan = random() % 2 == 0 ? 0 : kPortVlan;
        parse_exactly_sized(frame, contiguous, random() % 2 == 0, port_vlan, random() % 2 == 0, tally);
        if (testing::Test::HasFatalFailure()) {
            ADD_FAILURE() << "iteration " << i << ", contiguous " << contiguous << "\n" << hex(frame);
            return;
        }
    }
    // The sweep is only useful if it exercises every path, the rewrites included.
    EXPECT_GT(tally.ipv4, kIterations / 20);
    EXPECT_GT(tally.icmp_errors, kIterations / 100);
    EXPECT_GT(tally.arp, kIterations / 100);
    EXPECT_GT(tally.invalid, kIterations / 4);
}

}  // namespace
}  // namespace vipgate
