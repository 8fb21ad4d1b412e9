// Golden packets for ICMPv6 (docs/ipv6.md, step 4) in both NAT modes, through the real pipeline:
// echo replies, refusals answered as IPv4 answers them (RST, ICMPv6 port unreachable), Time
// Exceeded, Packet Too Big, and ICMPv6 errors from pods and routers translated back to the
// client (and the client's to the pod). Expected frames come from the independent IPv6 builder:
// byte equality proves every checksum, the pseudo-header ones included.
#include <gtest/gtest.h>

#include "dataplane/icmp6_responses.h"
#include "tests/golden/nat66_topology.h"

namespace vipgate::golden {
namespace {

using namespace nat66;  // NOLINT(google-build-using-namespace): the topology is this file's vocabulary

const Ipv6Address kClientPortAddress = ipv6("2001:db8::1");
const Ipv6Address kRouter = ipv6("2001:db8:e::99");  // a router on the pods' side
constexpr uint16_t kEndpointSideMtu = 1400;
constexpr size_t kEthernet = 14;
constexpr size_t kEthernetVlan = 18;

// The IPv6 packet of a frame (from its IPv6 header on), cut to `limit` bytes.
Bytes ipv6_packet(const Bytes& frame, size_t l3, size_t limit = 1232) {
    return Bytes(frame.begin() + static_cast<std::ptrdiff_t>(l3),
                 frame.begin() + static_cast<std::ptrdiff_t>(std::min(frame.size(), l3 + limit)));
}

// An ICMPv6 message of `type`/`code` with its 32-bit parameter and `body`, checksummed for `ip`.
Bytes icmp6_message(uint8_t type, uint8_t code, uint32_t parameter, const Bytes& body, const Ipv6Spec& ip) {
    Bytes icmp = {type,
                  code,
                  0,
                  0,
                  static_cast<uint8_t>(parameter >> 24),
                  static_cast<uint8_t>(parameter >> 16),
                  static_cast<uint8_t>(parameter >> 8),
                  static_cast<uint8_t>(parameter)};
    test::append_bytes(icmp, body);
    test::put16(icmp, 2, test::ipv6_l4_checksum(ip.src, ip.dst, kProtoIcmpv6, icmp));
    return icmp;
}
Bytes icmp6_frame(uint8_t type, uint8_t code, uint32_t parameter, const Bytes& quote, const Ipv6Spec& ip,
                  const test::EthernetSpec& ethernet) {
    return ipv6_frame({}, kProtoIcmpv6, icmp6_message(type, code, parameter, quote, ip), ip, ethernet);
}

// The gateway's ICMPv6 error about a frame the client sent (hop limit 64, back to the router).
Bytes error_to_client(uint8_t type, uint8_t code, uint32_t parameter, const Ipv6Address& source, const Bytes& input) {
    return icmp6_frame(type, code, parameter, ipv6_packet(input, kEthernet), {.src = source, .dst = kClient},
                       to_router());
}

// RST for a segment from the client: RST|ACK acknowledging `ack` when the segment had no ACK,
// else RST with seq = its ack (the builder's segments carry seq 0 and ack 0).
Bytes reset_to_client(const Flow6& flow, uint8_t flags, uint32_t ack) {
    const Ipv6Spec ip{.src = flow.vip, .dst = kClient};
    Bytes tcp(20, 0);
    test::put16(tcp, 0, flow.vip_port);
    test::put16(tcp, 2, flow.client_port);
    tcp[8] = static_cast<uint8_t>(ack >> 24);
    tcp[9] = static_cast<uint8_t>(ack >> 16);
    tcp[10] = static_cast<uint8_t>(ack >> 8);
    tcp[11] = static_cast<uint8_t>(ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    test::put16(tcp, 16, test::ipv6_l4_checksum(ip.src, ip.dst, kProtoTcp, tcp));
    return ipv6_frame({}, kProtoTcp, tcp, ip, to_router());
}

// An SCTP packet (common header with `tag`, then `chunks`) with its CRC32c (the bitwise reference).
Bytes sctp6(uint16_t src_port, uint16_t dst_port, uint32_t tag, const Bytes& chunks) {
    Bytes sctp(12, 0);
    test::put16(sctp, 0, src_port);
    test::put16(sctp, 2, dst_port);
    for (int i = 0; i < 4; ++i) sctp[4 + i] = static_cast<uint8_t>(tag >> (24 - 8 * i));
    test::append_bytes(sctp, chunks);
    const uint32_t checksum = test::sctp_checksum_reference(sctp);
    std::memcpy(sctp.data() + 8, &checksum, sizeof(checksum));
    return sctp;
}

Expectation answered(uint16_t port, DropReason reason, Bytes frame, Counters counters) {
    return {.verdict = Verdict::Answered,
            .target = port,
            .reason = reason,
            .frame = std::move(frame),
            .counters = std::move(counters)};
}

constexpr uint8_t kRst = 0x04;

class GoldenIcmp6 : public GoldenNat66 {
protected:
    TopologySpec topology(uint16_t workers = 1) const {
        TopologySpec spec = ipv6_topology(GetParam(), workers);
        spec.endpoint_port_mtu = kEndpointSideMtu;
        return spec;
    }
};

TEST_P(GoldenIcmp6, EchoRequestsToOwnAddressesAndVipsAreAnswered) {
    GoldenHarness harness(topology());
    // To the gateway (from the router), or the gateway's reply (to the router).
    auto echo = [](const Ipv6Address& gateway_side, uint8_t type, bool to_gateway = true) {
        const Ipv6Spec ip =
            to_gateway ? Ipv6Spec{.src = kClient, .dst = gateway_side} : Ipv6Spec{.src = gateway_side, .dst = kClient};
        return ipv6_frame({}, kProtoIcmpv6, test::icmp6(type, 0, ip), ip, to_gateway ? from_router() : to_router());
    };
    for (const Ipv6Address& own : {kClientPortAddress, kSnat, kVip}) {
        harness.check({"echo request to " + text(own),
                       echo(own, kIcmp6EchoRequest),
                       kClientPortId,
                       {.verdict = Verdict::Answered,
                        .target = kClientPortId,
                        .frame = echo(own, kIcmp6EchoReply, false),
                        .counters = {{"icmp_sent", 1}}}});
    }
    harness.check({"echo request to an address nobody has", echo(kUnknownVip, kIcmp6EchoRequest), kClientPortId,
                   dropped(DropReason::NoService)});
    harness.check({"echo reply to the gateway", echo(kClientPortAddress, kIcmp6EchoReply), kClientPortId,
                   dropped(DropReason::IcmpUnsupported)});
    const Ipv6Spec solicitation{.src = kClient, .dst = kClientPortAddress};
    harness.check({"Neighbor Discovery is not echo's: its own path (nd_path.h) finds hop limit 64 invalid",
                   ipv6_frame({}, kProtoIcmpv6, test::icmp6(135, 0, solicitation), solicitation, from_router()),
                   kClientPortId, dropped(DropReason::NdInvalid)});
}

TEST_P(GoldenIcmp6, RefusalsAreAnsweredAsForIpv4) {
    GoldenHarness harness(topology());
    const Flow6 unserved_tcp{.vip_port = 81};
    const Flow6 unserved_udp{.protocol = kProtoUdp, .vip_port = 54};
    const Flow6 empty{.vip = nat66::kEmptyVip};
    const Flow6 own{.vip = kClientPortAddress, .vip_port = 22};
    const Bytes udp_input = client_to_vip(unserved_udp, kProtoUdp, udp({1, 2, 3}));
    const std::vector<GoldenCase> cases = {
        {"SYN to a port the VIP does not serve: RST|ACK", client_to_vip(unserved_tcp, kProtoTcp, tcp(kSyn)),
         kClientPortId,
         answered(kClientPortId, DropReason::VipPortRefused, reset_to_client(unserved_tcp, kRst | kAck, 1),
                  {{"resets_sent", 1}})},
        {"UDP to a port the VIP does not serve: port unreachable from the VIP", udp_input, kClientPortId,
         answered(kClientPortId, DropReason::VipPortRefused,
                  error_to_client(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, kVip, udp_input),
                  {{"icmp_sent", 1}})},
        {"SYN to a service without pods: RST|ACK", client_to_vip(empty, kProtoTcp, tcp(kSyn)), kClientPortId,
         answered(kClientPortId, DropReason::NoEndpoint, reset_to_client(empty, kRst | kAck, 1), {{"resets_sent", 1}})},
        {"SYN to the gateway's own address: RST|ACK", client_to_vip(own, kProtoTcp, tcp(kSyn)), kClientPortId,
         answered(kClientPortId, DropReason::NoService, reset_to_client(own, kRst | kAck, 1), {{"resets_sent", 1}})},
        {"a RST is never answered", client_to_vip(unserved_tcp, kProtoTcp, tcp(kRst)), kClientPortId,
         dropped(DropReason::VipPortRefused)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    // SCTP is not served at the VIP: an INIT gets an ABORT carrying its initiate tag, T clear.
    const Ipv6Spec to_vip{.src = kClient, .dst = kVip};
    const Bytes init =
        ipv6_frame({}, kProtoSctp, sctp6(40010, 9, 0, test::sctp_init_chunk(0x0A0B0C0D)), to_vip, from_router());
    const Bytes abort = ipv6_frame({}, kProtoSctp, sctp6(9, 40010, 0x0A0B0C0D, test::sctp_chunk(6)),
                                   {.src = kVip, .dst = kClient}, to_router());
    harness.check({"SCTP INIT to a protocol the VIP does not serve: ABORT", init, kClientPortId,
                   answered(kClientPortId, DropReason::VipPortRefused, abort, {{"resets_sent", 1}})});
    if (fullnat()) {
        const Flow6 web;
        harness.check(
            {"mid-stream ACK under full-NAT: RST", client_to_vip(web, kProtoTcp, tcp(kAck)), kClientPortId,
             answered(kClientPortId, DropReason::NotSyn, reset_to_client(web, kRst, 0), {{"resets_sent", 1}})});
    }
    EXPECT_EQ(harness.connections6(0).size(), 0u);
}

TEST_P(GoldenIcmp6, HopLimitOneIsAnsweredWithTimeExceeded) {
    GoldenHarness harness(topology());
    const Flow6 web;
    const Bytes new_flow = client_to_vip(web, kProtoTcp, tcp(kSyn), 1);
    harness.check(
        {"SYN with hop limit 1", new_flow, kClientPortId,
         answered(kClientPortId, DropReason::Ipv6HopLimitExceeded,
                  error_to_client(kIcmp6TimeExceeded, 0, 0, kClientPortAddress, new_flow), {{"icmp_sent", 1}})});
    start_flow(harness, web, kProtoTcp, tcp(kSyn));
    ASSERT_FALSE(HasFailure());
    const Bytes tracked = client_to_vip(web, kProtoTcp, tcp(kAck), 1);
    harness.check({"tracked ACK with hop limit 1", tracked, kClientPortId,
                   answered(kClientPortId, DropReason::Ipv6HopLimitExceeded,
                            error_to_client(kIcmp6TimeExceeded, 0, 0, kClientPortAddress, tracked),
                            {{"icmp_sent", 1}, {"conntrack_hits", 1}})});
}

TEST_P(GoldenIcmp6, TooBigForTheEgressIsAnsweredWithPacketTooBig) {
    GoldenHarness harness(topology());
    const Flow6 flow{.protocol = kProtoUdp, .vip_port = 53};
    // 40 + 8 + payload = MTU + 1: one byte too many. The error quotes 1232 bytes (1280 in all).
    const Bytes too_big = client_to_vip(flow, kProtoUdp, udp(std::vector<uint8_t>(kEndpointSideMtu - 48 + 1, 7)));
    const Bytes expected = error_to_client(kIcmp6PacketTooBig, 0, kEndpointSideMtu, kClientPortAddress, too_big);
    EXPECT_EQ(expected.size(), kEthernet + 1280u);
    harness.check({"datagram one byte over the pods' port MTU", too_big, kClientPortId,
                   answered(kClientPortId, DropReason::MtuExceeded, expected,
                            {{"icmp_sent", 1}, {"new_connections", 1}, {"forwarded_to_endpoint", 1}})});
    const Bytes fits = client_to_vip(flow, kProtoUdp, udp(std::vector<uint8_t>(kEndpointSideMtu - 48, 7)));
    harness.check({"datagram of exactly the MTU",
                   fits,
                   kClientPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kEndpointPortId,
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}}}});
}

TEST_P(GoldenIcmp6, ErrorsAboutTrackedFlowsAreTranslated) {
    GoldenHarness harness(topology());
    const Flow6 flow;
    const Translation6 translation = start_flow(harness, flow, kProtoTcp, tcp(kSyn));
    ASSERT_FALSE(HasFailure());
    // What the gateway sent the pod (hop limit 63) and what the client sent (as the client sees it).
    const Bytes sent_to_pod = ipv6_packet(gateway_to_endpoint(translation, kProtoTcp, tcp(kAck | kPsh)), kEthernetVlan);
    const Ipv6Spec client_leg{.src = kClient, .dst = kVip, .hop_limit = 63};
    const Bytes as_client_sent =
        ipv6_packet(ipv6_frame({}, kProtoTcp, test::tcp6(flow.client_port, flow.vip_port, kAck | kPsh, client_leg),
                               client_leg, from_router()),
                    kEthernet);
    const test::EthernetSpec from_pod{
        .src = endpoint_mac(translation.endpoint), .dst = kEndpointPortMac, .vlan = kEndpointVlan};
    auto from_side = [&](uint8_t type, uint8_t code, uint32_t parameter, const Ipv6Address& reporter) {
        return icmp6_frame(type, code, parameter, sent_to_pod, {.src = reporter, .dst = translation.source}, from_pod);
    };
    auto to_client = [&](uint8_t type, uint8_t code, uint32_t parameter, const Ipv6Address& reporter) {
        return icmp6_frame(type, code, parameter, as_client_sent, {.src = reporter, .dst = kClient, .hop_limit = 63},
                           to_router());
    };
    const Counters translated{{"icmp_errors_translated", 1}};
    const std::vector<GoldenCase> cases = {
        {"Packet Too Big from the pod reaches the client from the VIP",
         from_side(kIcmp6PacketTooBig, 0, 1280, translation.endpoint), kEndpointPortId,
         forwarded(kClientPortId, to_client(kIcmp6PacketTooBig, 0, 1280, kVip), translated)},
        {"Packet Too Big from a router keeps the router as source", from_side(kIcmp6PacketTooBig, 0, 1300, kRouter),
         kEndpointPortId, forwarded(kClientPortId, to_client(kIcmp6PacketTooBig, 0, 1300, kRouter), translated)},
        {"Time Exceeded from a router", from_side(kIcmp6TimeExceeded, 0, 0, kRouter), kEndpointPortId,
         forwarded(kClientPortId, to_client(kIcmp6TimeExceeded, 0, 0, kRouter), translated)},
        {"Destination Unreachable from the pod",
         from_side(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, translation.endpoint), kEndpointPortId,
         forwarded(kClientPortId, to_client(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, kVip), translated)},
        {"Parameter Problem from the pod (pointer kept)",
         from_side(kIcmp6ParameterProblem, 0, 40, translation.endpoint), kEndpointPortId,
         forwarded(kClientPortId, to_client(kIcmp6ParameterProblem, 0, 40, kVip), translated)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);

    // A router quoting only 8 bytes of TCP (RFC 4443 asks for more, old routers send less): the
    // ports are rewritten, the TCP checksum is not in the quote and nothing else changes.
    const Bytes short_from_router =
        icmp6_frame(kIcmp6TimeExceeded, 0, 0, Bytes(sent_to_pod.begin(), sent_to_pod.begin() + 48),
                    {.src = kRouter, .dst = translation.source}, from_pod);
    const Bytes short_to_client =
        icmp6_frame(kIcmp6TimeExceeded, 0, 0, Bytes(as_client_sent.begin(), as_client_sent.begin() + 48),
                    {.src = kRouter, .dst = kClient, .hop_limit = 63}, to_router());
    harness.check({"Time Exceeded quoting 8 bytes of TCP", short_from_router, kEndpointPortId,
                   forwarded(kClientPortId, short_to_client, translated)});

    // A quote with a destination options header between IPv6 and TCP (NAT66 keeps a client's
    // extension headers): walked over, the TCP header behind it translated.
    const Ipv6Spec pod_side{.src = translation.source, .dst = translation.endpoint, .hop_limit = 63};
    const Bytes quoted_with_options = ipv6_packet(
        ipv6_frame({test::destination_options()}, kProtoTcp,
                   test::tcp6(translation.source_port, translation.endpoint_port, kAck, pod_side), pod_side, from_pod),
        kEthernetVlan);
    const Bytes client_with_options = ipv6_packet(
        ipv6_frame({test::destination_options()}, kProtoTcp,
                   test::tcp6(flow.client_port, flow.vip_port, kAck, client_leg), client_leg, from_router()),
        kEthernet);
    harness.check({"Packet Too Big quoting a destination options header",
                   icmp6_frame(kIcmp6PacketTooBig, 0, 1280, quoted_with_options,
                               {.src = kRouter, .dst = translation.source}, from_pod),
                   kEndpointPortId,
                   forwarded(kClientPortId,
                             icmp6_frame(kIcmp6PacketTooBig, 0, 1280, client_with_options,
                                         {.src = kRouter, .dst = kClient, .hop_limit = 63}, to_router()),
                             translated)});

    // The client reports on a reply: the pod hears about its own flow (from the SNAT6 address
    // under full-NAT; DNAT-only leaves the client's address).
    const Bytes reply_to_client = ipv6_packet(gateway_to_client(flow, kProtoTcp, tcp(kAck)), kEthernet);
    const Ipv6Spec pod_leg{.src = translation.endpoint, .dst = translation.source, .hop_limit = 63};
    const Bytes as_pod_sent = ipv6_packet(
        ipv6_frame({}, kProtoTcp, test::tcp6(translation.endpoint_port, translation.source_port, kAck, pod_leg),
                   pod_leg, from_pod),
        kEthernetVlan);
    const Bytes from_client = icmp6_frame(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, reply_to_client,
                                          {.src = kClient, .dst = kVip}, from_router());
    const Bytes to_pod =
        icmp6_frame(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, as_pod_sent,
                    {.src = translation.source, .dst = translation.endpoint, .hop_limit = 63},
                    {.src = kEndpointPortMac, .dst = endpoint_mac(translation.endpoint), .vlan = kEndpointVlan});
    harness.check({"the client's unreachable about a reply goes to the pod", from_client, kClientPortId,
                   forwarded(kEndpointPortId, to_pod, translated)});

    const Bytes untracked_quote = ipv6_packet(gateway_to_endpoint(translation, kProtoTcp, tcp(kAck)), kEthernetVlan);
    Bytes unmatched = untracked_quote;
    unmatched[40 + 2] ^= 0x01;  // another destination port: no connection
    harness.check(
        {"an error about no tracked flow",
         icmp6_frame(kIcmp6PacketTooBig, 0, 1280, unmatched, {.src = kRouter, .dst = translation.source}, from_pod),
         kEndpointPortId, dropped(DropReason::Icmp6ErrorUnmatched)});
    harness.check(
        {"an error quoting no IPv6 packet",
         icmp6_frame(kIcmp6PacketTooBig, 0, 1280, Bytes(16, 0), {.src = kRouter, .dst = translation.source}, from_pod),
         kEndpointPortId, dropped(DropReason::Icmp6ErrorUnmatched)});
    harness.check({"an error with hop limit 1 is dropped, never answered",
                   icmp6_frame(kIcmp6PacketTooBig, 0, 1280, sent_to_pod,
                               {.src = kRouter, .dst = translation.source, .hop_limit = 1}, from_pod),
                   kEndpointPortId, dropped(DropReason::Ipv6HopLimitExceeded)});
}

// IPv6 answers spend the same per-worker budget as IPv4's (token_bucket.h): with a burst of 2,
// an IPv4 RST and an IPv6 one leave, the third refusal (IPv6 Time Exceeded) is rate-limited.
TEST_P(GoldenIcmp6, AnswersShareTheWorkersBudgetWithIpv4) {
    TopologySpec spec = topology();
    spec.limits.answers = {1, 2};
    GoldenHarness harness(spec);
    const Bytes ipv4_refused = test::tcp_frame({.src_port = 40000, .dst_port = 81, .flags = RTE_TCP_SYN_FLAG},
                                               {.src = kClientAddr, .dst = kWebVip}, from_router());
    RunResult result = harness.run(0, {{ipv4_refused, kClientPortId},
                                       {client_to_vip(Flow6{.vip_port = 81}, kProtoTcp, tcp(kSyn)), kClientPortId},
                                       {client_to_vip(Flow6{}, kProtoTcp, tcp(kSyn), 1), kClientPortId}});
    EXPECT_EQ(result.transmitted.size(), 2u);
    EXPECT_EQ(result.counter_changes["resets_sent"], 2u);
    EXPECT_EQ(result.counter_changes["drop:answer_rate_limited"], 1u);
    EXPECT_EQ(result.counter_changes.count("icmp_sent"), 0u);
}

// ICMPv6 is handled in burst order: an error right behind the packet that opened its flow, in
// the same burst, finds the connection (the client reports on a reply it has not had yet).
TEST_P(GoldenIcmp6, AnErrorInTheBurstThatOpenedItsFlowFindsIt) {
    GoldenHarness harness(topology());
    const Flow6 flow{.client_port = 40100};
    const Bytes syn = client_to_vip(flow, kProtoTcp, tcp(kSyn));
    const Bytes reply = ipv6_packet(gateway_to_client(flow, kProtoTcp, tcp(kSyn | kAck)), kEthernet);
    const Bytes error = icmp6_frame(kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, reply,
                                    {.src = kClient, .dst = kVip}, from_router());
    RunResult result = harness.run(0, {{syn, kClientPortId}, {error, kClientPortId}});
    ASSERT_EQ(result.transmitted.size(), 2u);
    EXPECT_EQ(result.counter_changes["icmp_errors_translated"], 1u);
    EXPECT_EQ(result.counter_changes["new_connections"], 1u);
    EXPECT_EQ(result.transmitted[1].port_index, kEndpointPortId);
}

TEST_P(GoldenIcmp6, ErrorsGoToTheWorkerThatOwnsTheFlow) {
    GoldenHarness harness(topology(2));
    uint16_t port = 40000;
    while (connection_owner6(kClient.data(), rte_cpu_to_be_16(port), 2) != 1) ++port;
    const Flow6 flow{.client_port = port};
    const Translation6 translation = start_flow(harness, flow, kProtoTcp, tcp(kSyn), 1);
    ASSERT_FALSE(HasFailure());
    const Bytes error = icmp6_frame(
        kIcmp6PacketTooBig, 0, 1280, ipv6_packet(gateway_to_endpoint(translation, kProtoTcp, tcp(kAck)), kEthernetVlan),
        {.src = kRouter, .dst = translation.source},
        {.src = endpoint_mac(translation.endpoint), .dst = kEndpointPortMac, .vlan = kEndpointVlan});
    harness.check({"Packet Too Big about worker 1's flow, arriving at worker 0",
                   error,
                   kEndpointPortId,
                   {.verdict = Verdict::HandedOff, .target = 1, .frame = error, .counters = {{"handoffs_out", 1}}}});
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenIcmp6, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
