// Response tests, golden style: each answer built in a real mbuf is compared byte for byte with
// the frame the builder makes from scratch (checksums included), with and without a VLAN tag.
#include "dataplane/packet_responses.h"

#include <gtest/gtest.h>

#include <string>

#include "dataplane/sctp.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using namespace vipgate::test;

constexpr uint16_t kVlans[] = {0, 100};

ParsedPacket parse_or_fail(const rte_mbuf* m, uint16_t vlan) {
    ParsedPacket parsed;
    const ParseOutcome outcome = parse_packet(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m),
                                              rte_pktmbuf_pkt_len(m), vlan, true, parsed);
    EXPECT_NE(outcome.kind, PacketKind::Invalid) << drop_reason_name(outcome.reason);
    return parsed;
}

// The Ethernet header of an answer to a frame from the client to the gateway.
EthernetSpec back_to_client(uint16_t vlan) {
    return {.src = kGatewayMac, .dst = kClientMac, .vlan = vlan};
}

// The IPv4 header fields every answer carries: TTL 64, DF clear, identification 0.
Ipv4Spec answer_header(uint32_t src, uint32_t dst, uint8_t tos = 0) {
    return {.src = src, .dst = dst, .ttl = 64, .tos = tos, .id = 0, .flags_fragment = 0};
}

// ---------------------------------------------------------------------------------------------
// TCP reset

struct ResetCase {
    std::string name;
    TcpSpec segment;
    uint32_t expected_seq;
    uint32_t expected_ack;
    uint8_t expected_flags;
};

TEST(TcpReset, SeqAndAckFollowRfc793) {
    constexpr uint8_t kRst = RTE_TCP_RST_FLAG;
    constexpr uint8_t kRstAck = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
    const ResetCase cases[] = {
        {"SYN", {.seq = 1000, .flags = RTE_TCP_SYN_FLAG}, 0, 1001, kRstAck},
        {"SYN with payload", {.seq = 1000, .flags = RTE_TCP_SYN_FLAG, .payload = payload_bytes(10)}, 0, 1011, kRstAck},
        {"SYN with options", {.seq = 7, .flags = RTE_TCP_SYN_FLAG, .options = Bytes(20, 1)}, 0, 8, kRstAck},
        {"FIN without ACK", {.seq = 500, .flags = RTE_TCP_FIN_FLAG, .payload = payload_bytes(3)}, 0, 504, kRstAck},
        {"sequence wraps", {.seq = 0xFFFFFFFF, .flags = RTE_TCP_SYN_FLAG}, 0, 0, kRstAck},
        {"ACK with payload",
         {.seq = 1000, .ack = 5555, .flags = RTE_TCP_ACK_FLAG, .payload = payload_bytes(100)},
         5555,
         0,
         kRst},
        {"SYN-ACK", {.seq = 1, .ack = 9, .flags = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG}, 9, 0, kRst},
        {"FIN-ACK", {.seq = 1, .ack = 77, .flags = RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG}, 77, 0, kRst},
    };
    for (const uint16_t vlan : kVlans) {
        for (const ResetCase& c : cases) {
            SCOPED_TRACE(c.name + ", vlan " + std::to_string(vlan));
            TcpSpec segment = c.segment;
            segment.src_port = 40000;
            segment.dst_port = 80;
            MbufPtr m = to_mbuf(tcp_frame(segment, {.src = kClientAddr, .dst = kVipAddr, .tos = 0x2B},
                                          {.src = kClientMac, .dst = kGatewayMac, .vlan = vlan}));
            ASSERT_TRUE(make_tcp_reset(m.get(), parse_or_fail(m.get(), vlan)));

            // TOS keeps the DSCP and drops the ECN bits.
            const Bytes expected = tcp_frame({.src_port = 80,
                                              .dst_port = 40000,
                                              .seq = c.expected_seq,
                                              .ack = c.expected_ack,
                                              .flags = c.expected_flags,
                                              .window = 0},
                                             answer_header(kVipAddr, kClientAddr, 0x28), back_to_client(vlan));
            EXPECT_TRUE(frames_equal(to_bytes(m.get()), expected));
            EXPECT_TRUE(all_checksums_ok(to_bytes(m.get())));
            EXPECT_TRUE(l4_payload_of(to_bytes(m.get())).empty());
        }
    }
}

TEST(TcpReset, ResetIsNeverAnswered) {
    MbufPtr m = to_mbuf(tcp_frame({.flags = RTE_TCP_RST_FLAG}));
    const Bytes before = to_bytes(m.get());
    EXPECT_FALSE(make_tcp_reset(m.get(), parse_or_fail(m.get(), 0)));
    EXPECT_TRUE(frames_equal(to_bytes(m.get()), before));
}

TEST(TcpReset, MultiSegmentSegmentIsCutToOneSegment) {
    const unsigned pool_before = rte_mempool_avail_count(test_mempool());
    {
        MbufPtr m = to_mbuf(tcp_frame({.seq = 10, .flags = RTE_TCP_SYN_FLAG, .payload = payload_bytes(3000)}), 100);
        ASSERT_GE(m->nb_segs, 2);
        ASSERT_TRUE(make_tcp_reset(m.get(), parse_or_fail(m.get(), 0)));
        EXPECT_EQ(m->nb_segs, 1);
        EXPECT_EQ(rte_pktmbuf_pkt_len(m.get()), 54u);
        EXPECT_EQ(rte_be_to_cpu_32(tcp_of(to_bytes(m.get())).recv_ack), 10u + 3000 + 1);
        EXPECT_TRUE(all_checksums_ok(to_bytes(m.get())));
    }
    EXPECT_EQ(rte_mempool_avail_count(test_mempool()), pool_before) << "segments leaked";
}

// ---------------------------------------------------------------------------------------------
// SCTP abort

struct AbortCase {
    std::string name;
    uint32_t tag;
    Bytes chunks;
    uint32_t expected_tag;
    uint8_t expected_type;
    uint8_t expected_flags;
};

TEST(SctpAbort, TagAndTypeFollowRfc9260OutOfTheBlueRules) {
    const AbortCase cases[] = {
        {"INIT: its initiate tag, T clear", 0, sctp_init_chunk(0xCAFEF00D), 0xCAFEF00D, kSctpAbort, 0},
        {"DATA: tag reflected, T set", 0x1234, sctp_data_chunk(1, payload_bytes(100)), 0x1234, kSctpAbort,
         kSctpChunkFlagT},
        {"COOKIE ECHO", 0x55, sctp_chunk(kSctpCookieEcho, 0, payload_bytes(32)), 0x55, kSctpAbort, kSctpChunkFlagT},
        {"SHUTDOWN ACK: SHUTDOWN COMPLETE", 0x77, sctp_chunk(kSctpShutdownAck), 0x77, kSctpShutdownComplete,
         kSctpChunkFlagT},
    };
    for (const uint16_t vlan : kVlans) {
        for (const AbortCase& c : cases) {
            SCOPED_TRACE(c.name + ", vlan " + std::to_string(vlan));
            MbufPtr m = to_mbuf(sctp_frame({.src_port = 40000, .dst_port = 3868, .tag = c.tag, .chunks = c.chunks},
                                           {.src = kClientAddr, .dst = kVipAddr, .tos = 0x2B},
                                           {.src = kClientMac, .dst = kGatewayMac, .vlan = vlan}));
            ASSERT_TRUE(make_sctp_abort(m.get(), parse_or_fail(m.get(), vlan)));
            const Bytes expected = sctp_frame({.src_port = 3868,
                                               .dst_port = 40000,
                                               .tag = c.expected_tag,
                                               .chunks = sctp_chunk(c.expected_type, c.expected_flags)},
                                              answer_header(kVipAddr, kClientAddr, 0x28), back_to_client(vlan));
            EXPECT_TRUE(frames_equal(to_bytes(m.get()), expected));
            EXPECT_TRUE(all_checksums_ok(to_bytes(m.get())));
        }
    }
}

TEST(SctpAbort, NeverAnswersAbortShutdownCompleteErrorOrANonUnicastSource) {
    for (const Bytes& chunk : {sctp_chunk(kSctpAbort, kSctpChunkFlagT), sctp_chunk(kSctpShutdownComplete),
                               sctp_chunk(kSctpError, 0, Bytes(8, 0))}) {
        MbufPtr m = to_mbuf(sctp_frame({.tag = 5, .chunks = chunk}));
        EXPECT_FALSE(make_sctp_abort(m.get(), parse_or_fail(m.get(), 0))) << hex(chunk);
    }
    MbufPtr multicast = to_mbuf(sctp_frame({.chunks = sctp_init_chunk(1)}, {.src = ipv4("224.0.0.5")}));
    EXPECT_FALSE(make_sctp_abort(multicast.get(), parse_or_fail(multicast.get(), 0)));
}

TEST(SctpAbort, MultiSegmentPacketIsCutToOneSegment) {
    const Bytes frame = sctp_frame({.tag = 9, .chunks = sctp_data_chunk(1, payload_bytes(1000))});
    MbufPtr m = to_mbuf(frame, 14 + 20 + 16);
    ASSERT_GT(m->nb_segs, 1);
    ASSERT_TRUE(make_sctp_abort(m.get(), parse_or_fail(m.get(), 0)));
    EXPECT_EQ(m->nb_segs, 1);
    EXPECT_EQ(rte_pktmbuf_pkt_len(m.get()), 14u + 20 + 16);
    EXPECT_TRUE(all_checksums_ok(to_bytes(m.get())));
}

// ---------------------------------------------------------------------------------------------
// ICMP errors

TEST(IcmpError, PortUnreachableQuotesHeaderAndEightBytes) {
    for (const uint16_t vlan : kVlans) {
        SCOPED_TRACE("vlan " + std::to_string(vlan));
        const Bytes request = udp_frame({.src_port = 40000, .dst_port = 53, .payload = payload_bytes(100)},
                                        {.src = kClientAddr, .dst = kVipAddr, .ttl = 9},
                                        {.src = kClientMac, .dst = kGatewayMac, .vlan = vlan});
        MbufPtr m = to_mbuf(request);
        ASSERT_TRUE(make_icmp_error(m.get(), parse_or_fail(m.get(), vlan), 3, 3, kVipAddr));

        // RFC 1812 4.3.2.5: precedence 6 (TOS 0xC0) for ICMP errors.
        const Bytes expected = icmp_error_frame({.type = 3, .code = 3, .quoted = quote_of(request, 28)},
                                                answer_header(kVipAddr, kClientAddr, 0xC0), back_to_client(vlan));
        const Bytes answer = to_bytes(m.get());
        EXPECT_TRUE(frames_equal(answer, expected));
        EXPECT_EQ(ipv4_of(answer).total_length, rte_cpu_to_be_16(20 + 8 + 28));
        EXPECT_TRUE(all_checksums_ok(answer));
        // The answer parses as a translatable ICMP error about the original flow.
        const ParsedPacket parsed = parse_or_fail(m.get(), vlan);
        EXPECT_TRUE(parsed.icmp_error);
        EXPECT_EQ(parsed.inner_key, parse_or_fail(to_mbuf(request).get(), vlan).key);
    }
}

TEST(IcmpError, TimeExceededForTcpAndEcho) {
    const Bytes packets[] = {
        tcp_frame({.flags = RTE_TCP_ACK_FLAG, .payload = payload_bytes(500)}, {.ttl = 1}),
        icmp_echo_frame({}, {.ttl = 1}),
        with_padding(icmp_echo_frame({}, {.ttl = 1}), 20),
    };
    for (const Bytes& packet : packets) {
        MbufPtr m = to_mbuf(packet);
        ASSERT_TRUE(make_icmp_error(m.get(), parse_or_fail(m.get(), 0), 11, 0, kGatewayAddr));
        const Bytes expected = icmp_error_frame({.type = 11, .code = 0, .quoted = quote_of(packet, 28)},
                                                answer_header(kGatewayAddr, kClientAddr, 0xC0), back_to_client(0));
        EXPECT_TRUE(frames_equal(to_bytes(m.get()), expected));
    }
}

TEST(IcmpError, MultiSegmentPacketIsCutToOneSegment) {
    const unsigned pool_before = rte_mempool_avail_count(test_mempool());
    {
        const Bytes request = udp_frame({.payload = payload_bytes(3000)});
        MbufPtr m = to_mbuf(request, 60);
        ASSERT_GE(m->nb_segs, 2);
        ASSERT_TRUE(make_icmp_error(m.get(), parse_or_fail(m.get(), 0), 3, 3, kVipAddr));
        EXPECT_EQ(m->nb_segs, 1);
        const Bytes expected = icmp_error_frame({.quoted = quote_of(request, 28)},
                                                answer_header(kVipAddr, kClientAddr, 0xC0), back_to_client(0));
        EXPECT_TRUE(frames_equal(to_bytes(m.get()), expected));
    }
    EXPECT_EQ(rte_mempool_avail_count(test_mempool()), pool_before) << "segments leaked";
}

TEST(IcmpError, NeedsHeadroom) {
    const Bytes request = udp_frame();
    MbufPtr m(rte_pktmbuf_alloc(test_mempool()));
    ASSERT_TRUE(m);
    m->data_off = 26;  // two bytes short of the 28 the new IPv4 and ICMP headers need
    std::memcpy(rte_pktmbuf_append(m.get(), static_cast<uint16_t>(request.size())), request.data(), request.size());
    EXPECT_FALSE(make_icmp_error(m.get(), parse_or_fail(m.get(), 0), 3, 3, kVipAddr));
    EXPECT_TRUE(frames_equal(to_bytes(m.get()), request));
}

TEST(IcmpError, NeverAboutAnErrorOrANonUnicastSource) {
    const Bytes error = icmp_error_frame({.quoted = quote_of(udp_frame())}, {.src = kEndpointAddr});
    const Bytes other_icmp = ipv4_frame(kProtoIcmp, Bytes{13, 0, 0xF2, 0xFF, 0, 0, 0, 0});  // timestamp request
    // RFC 1122 3.2.2 names these source classes; they are the point of the test, so they are
    // the only addresses here outside 198.18.0.0/15.
    const Bytes from_zero = udp_frame({}, {.src = ipv4("0.0.0.0")});
    const Bytes from_loopback = udp_frame({}, {.src = ipv4("127.0.0.1")});
    const Bytes from_multicast = udp_frame({}, {.src = ipv4("224.0.0.251")});
    const Bytes from_broadcast = udp_frame({}, {.src = ipv4("255.255.255.255")});
    for (const Bytes* packet : {&error, &other_icmp, &from_zero, &from_loopback, &from_multicast, &from_broadcast}) {
        MbufPtr m = to_mbuf(*packet);
        EXPECT_FALSE(make_icmp_error(m.get(), parse_or_fail(m.get(), 0), 3, 3, kVipAddr)) << hex(*packet);
        EXPECT_TRUE(frames_equal(to_bytes(m.get()), *packet));
    }
}

// ---------------------------------------------------------------------------------------------
// Echo reply

TEST(EchoReply, RequestTurnsIntoReplyInPlace) {
    for (const uint16_t vlan : kVlans) {
        SCOPED_TRACE("vlan " + std::to_string(vlan));
        const IcmpEchoSpec echo = {.identifier = 0x0BAD, .sequence = 3, .payload = payload_bytes(56)};
        MbufPtr m = to_mbuf(icmp_echo_frame(echo,
                                            {.src = kClientAddr,
                                             .dst = kGatewayAddr,
                                             .ttl = 3,
                                             .tos = 0x10,
                                             .id = 0x4321,
                                             .flags_fragment = RTE_IPV4_HDR_DF_FLAG},
                                            {.src = kClientMac, .dst = kGatewayMac, .vlan = vlan}));
        ASSERT_TRUE(make_icmp_echo_reply(m.get(), parse_or_fail(m.get(), vlan)));

        IcmpEchoSpec reply = echo;
        reply.request = false;
        Ipv4Spec header = answer_header(kGatewayAddr, kClientAddr, 0x10);
        header.id = 0x4321;
        EXPECT_TRUE(frames_equal(to_bytes(m.get()), icmp_echo_frame(reply, header, back_to_client(vlan))));
    }
}

TEST(EchoReply, OnlyForEchoRequests) {
    MbufPtr m = to_mbuf(icmp_echo_frame({.request = false}));
    EXPECT_FALSE(make_icmp_echo_reply(m.get(), parse_or_fail(m.get(), 0)));
    MbufPtr udp = to_mbuf(udp_frame());
    EXPECT_FALSE(make_icmp_echo_reply(udp.get(), parse_or_fail(udp.get(), 0)));
}

// ---------------------------------------------------------------------------------------------
// ARP

TEST(Arp, ParseRequestAndReply) {
    const Bytes request =
        arp_frame({.sender_mac = kClientMac, .sender_addr = kClientAddr, .target_addr = kGatewayAddr});
    ParsedPacket parsed;
    ASSERT_EQ(parse_packet(request.data(), 42, 42, 0, true, parsed).kind, PacketKind::Arp);
    ArpMessage message;
    ASSERT_TRUE(parse_arp(request.data(), 42, parsed, message));
    EXPECT_EQ(message.operation, RTE_ARP_OP_REQUEST);
    EXPECT_TRUE(same_mac(message.sender_mac, kClientMac));
    EXPECT_EQ(message.sender_addr, kClientAddr);
    EXPECT_EQ(message.target_addr, kGatewayAddr);

    const Bytes reply = arp_frame({.operation = RTE_ARP_OP_REPLY,
                                   .sender_mac = kGatewayMac,
                                   .sender_addr = kGatewayAddr,
                                   .target_mac = kClientMac,
                                   .target_addr = kClientAddr});
    ASSERT_TRUE(parse_arp(reply.data(), 42, parsed, message));
    EXPECT_EQ(message.operation, RTE_ARP_OP_REPLY);
    EXPECT_TRUE(same_mac(message.sender_mac, kGatewayMac));

    EXPECT_FALSE(parse_arp(request.data(), 41, parsed, message)) << "truncated";
    Bytes ipv6_arp = request;
    ipv6_arp[14 + 2] = 0x86;
    EXPECT_FALSE(parse_arp(ipv6_arp.data(), 42, parsed, message)) << "not IPv4";
}

TEST(Arp, RequestForOurAddressTurnsIntoReply) {
    for (const uint16_t vlan : kVlans) {
        for (const size_t padding : {size_t{0}, size_t{18}}) {
            SCOPED_TRACE("vlan " + std::to_string(vlan) + ", padding " + std::to_string(padding));
            const ArpSpec request = {.sender_mac = kClientMac, .sender_addr = kClientAddr, .target_addr = kGatewayAddr};
            MbufPtr m = to_mbuf(with_padding(
                arp_frame(request, EthernetSpec{.src = kClientMac, .dst = kBroadcastMac, .vlan = vlan}), padding));
            ASSERT_TRUE(make_arp_reply(m.get(), parse_or_fail(m.get(), vlan), kGatewayMac));

            const Bytes expected = arp_frame({.operation = RTE_ARP_OP_REPLY,
                                              .sender_mac = kGatewayMac,
                                              .sender_addr = kGatewayAddr,
                                              .target_mac = kClientMac,
                                              .target_addr = kClientAddr},
                                             back_to_client(vlan));
            EXPECT_TRUE(frames_equal(to_bytes(m.get()), with_padding(expected, padding)));
        }
    }
}

TEST(Arp, ReplyIsNotAnsweredWithAReply) {
    MbufPtr m = to_mbuf(arp_frame({.operation = RTE_ARP_OP_REPLY, .target_mac = kGatewayMac}));
    EXPECT_FALSE(make_arp_reply(m.get(), parse_or_fail(m.get(), 0), kGatewayMac));
}

TEST(Arp, WriteBroadcastRequest) {
    for (const uint16_t vlan : kVlans) {
        SCOPED_TRACE("vlan " + std::to_string(vlan));
        MbufPtr m(rte_pktmbuf_alloc(test_mempool()));
        ASSERT_TRUE(m);
        ASSERT_TRUE(write_arp_request(m.get(), kGatewayMac, kGatewayAddr, kEndpointAddr, vlan));
        const Bytes expected = arp_frame({.operation = RTE_ARP_OP_REQUEST,
                                          .sender_mac = kGatewayMac,
                                          .sender_addr = kGatewayAddr,
                                          .target_mac = {},
                                          .target_addr = kEndpointAddr},
                                         EthernetSpec{.src = kGatewayMac, .dst = kBroadcastMac, .vlan = vlan});
        EXPECT_TRUE(frames_equal(to_bytes(m.get()), expected));
        EXPECT_EQ(parse_or_fail(m.get(), vlan).vlan_id, vlan);
    }
}

TEST(Arp, WriteRequestNeedsAnEmptyMbufWithRoom) {
    MbufPtr used = to_mbuf(udp_frame());
    EXPECT_FALSE(write_arp_request(used.get(), kGatewayMac, kGatewayAddr, kEndpointAddr, 0));

    MbufPtr full(rte_pktmbuf_alloc(test_mempool()));
    ASSERT_TRUE(full);
    full->data_off = static_cast<uint16_t>(full->buf_len - 41);  // one byte short of an untagged request
    EXPECT_FALSE(write_arp_request(full.get(), kGatewayMac, kGatewayAddr, kEndpointAddr, 0));
    EXPECT_EQ(rte_pktmbuf_pkt_len(full.get()), 0u);
}

// ---------------------------------------------------------------------------------------------
// The test helpers themselves: the oracles above are only as good as these.

TEST(PacketBuilder, AddressHelpers) {
    const uint32_t address = ipv4("198.18.0.1");
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&address);
    EXPECT_EQ(bytes[0], 198);
    EXPECT_EQ(bytes[3], 1);
    EXPECT_EQ(address, rte_cpu_to_be_32(0xC6120001));
    EXPECT_EQ(ipv4_to_string(ipv4("198.19.255.254")), "198.19.255.254");
    EXPECT_THROW(ipv4("198.18.0"), std::invalid_argument);
    EXPECT_THROW(ipv4("198.18.0.256"), std::invalid_argument);
    EXPECT_THROW(ipv4("198.18.0.1.2"), std::invalid_argument);
    EXPECT_EQ(mac("02:0a:FF:00:00:01").addr_bytes[1], 0x0A);
    EXPECT_EQ(mac("02:0a:FF:00:00:01").addr_bytes[2], 0xFF);
    EXPECT_THROW(mac("02:00:00:00:00"), std::invalid_argument);
}

TEST(PacketBuilder, ChecksumVerifiersAcceptBuiltFramesAndCatchDamage) {
    const Bytes frames[] = {
        tcp_frame({.payload = payload_bytes(33)}),
        udp_frame({.payload = payload_bytes(8)}, {}, {.vlan = 7}),
        icmp_echo_frame({.payload = payload_bytes(5)}),
        icmp_error_frame({.quoted = quote_of(tcp_frame(), 40)}),
    };
    for (const Bytes& frame : frames) {
        EXPECT_TRUE(all_checksums_ok(frame)) << hex(frame);
        for (size_t offset = layout_of(frame).l3_offset; offset < frame.size(); ++offset) {
            Bytes damaged = frame;
            damaged[offset] ^= 0x10;
            EXPECT_FALSE(all_checksums_ok(damaged)) << "offset " << offset << ": " << hex(damaged);
        }
    }
    EXPECT_FALSE(ipv4_header_checksum_ok(tcp_frame({}, {.bad_checksum = true})));
    EXPECT_TRUE(l4_checksum_ok(udp_frame({.zero_checksum = true})));
}

TEST(PacketBuilder, MbufRoundTripAcrossSegments) {
    const Bytes frame = udp_frame({.payload = payload_bytes(5000)});
    MbufPtr chained = to_mbuf(frame, 100);
    EXPECT_EQ(rte_pktmbuf_data_len(chained.get()), 100);
    EXPECT_GE(chained->nb_segs, 3);
    EXPECT_EQ(rte_pktmbuf_pkt_len(chained.get()), frame.size());
    EXPECT_TRUE(frames_equal(to_bytes(chained.get()), frame));
    EXPECT_TRUE(frames_equal(to_bytes(to_mbuf(frame).get()), frame));
}

}  // namespace
}  // namespace vipgate
