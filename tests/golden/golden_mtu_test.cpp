// Golden packets for the egress MTU (pipeline.cpp, the note at the top): a packet larger than
// its egress port's MTU is answered with ICMP fragmentation needed (RFC 1191) when DF is set,
// quoting the packet as it arrived and carrying that port's MTU, or dropped without DF. The two
// ports get different MTUs (client side 1400, endpoint side 1500), so every answer shows which
// port's MTU it carries. Both NAT modes.
#include <gtest/gtest.h>

#include <rte_ip.h>
#include <rte_tcp.h>

#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::Ipv4Spec;
using test::UdpSpec;

constexpr uint16_t kClientSideMtu = 1400;
constexpr uint16_t kEndpointSideMtu = 1500;
constexpr uint16_t kIpUdpHeaders = 28;
constexpr uint8_t kTosInternetworkControl = 0xC0;
constexpr uint8_t kDestinationUnreachable = 3;
constexpr uint8_t kFragmentationNeeded = 4;

// A UDP datagram whose IPv4 total length is `total_length`.
UdpSpec udp_of_total_length(uint16_t total_length) {
    return {.payload = test::payload_bytes(total_length - kIpUdpHeaders)};
}

Flow udp_flow(uint16_t client_port) {
    return {.protocol = kProtoUdp, .client_port = client_port, .vip = kWebVip, .vip_port = 53};
}

Bytes fragmentation_needed(const Bytes& received, uint16_t next_hop_mtu, uint32_t from, uint32_t to,
                           const test::EthernetSpec& ethernet) {
    return test::icmp_error_frame({.type = kDestinationUnreachable,
                                   .code = kFragmentationNeeded,
                                   .rest_of_header = next_hop_mtu,
                                   .quoted = test::quote_of(received)},
                                  answer_ip(from, to, kTosInternetworkControl), ethernet);
}

class GoldenMtu : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology(uint16_t client_mtu = kClientSideMtu, uint16_t endpoint_mtu = kEndpointSideMtu) const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        spec.client_port_mtu = client_mtu;
        spec.endpoint_port_mtu = endpoint_mtu;
        return spec;
    }

    // Opens a UDP flow with a small datagram and returns its translation.
    Translation open_flow(GoldenHarness& harness, const Flow& flow) {
        const Bytes first = client_to_vip(flow, UdpSpec{.payload = test::payload_bytes(16)});
        RunResult result = harness.run(0, first);
        const std::optional<Translation> translation = harness.translation(flow);
        if (!translation) {
            ADD_FAILURE() << "the flow was not opened";
            return {};
        }
        check_result(result,
                     {.verdict = Verdict::Forwarded,
                      .target = kEndpointPortId,
                      .counters = {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}},
                     1, first.size(), false);
        return *translation;
    }
};

TEST_P(GoldenMtu, PortsCarryTheirConfiguredMtuIntoTheSnapshot) {
    GoldenHarness harness(topology());
    EXPECT_EQ(harness.snapshot().ports[kClientPortId].mtu, kClientSideMtu);
    EXPECT_EQ(harness.snapshot().ports[kEndpointPortId].mtu, kEndpointSideMtu);
    GoldenHarness unconfigured(topology(0, 0));
    EXPECT_EQ(unconfigured.snapshot().ports[kClientPortId].mtu, 1500) << "the identity's MTU (the device's)";
}

// The flow is opened and counted as forwarded before the egress port is known, as for a packet
// without a route; the sender's retry with smaller datagrams continues it.
TEST_P(GoldenMtu, DfDatagramTooBigForTheEndpointSideIsAnsweredWithItsMtu) {
    GoldenHarness harness(topology());
    const Bytes input = client_to_vip(udp_flow(41000), udp_of_total_length(kEndpointSideMtu + 1));
    harness.check({"DF datagram one byte over the endpoint port's MTU",
                   input,
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .reason = DropReason::MtuExceeded,
                    .frame = fragmentation_needed(input, kEndpointSideMtu, kGatewayAddr, kClientAddr, to_router()),
                    .counters = {{"icmp_sent", 1}, {"new_connections", 1}, {"forwarded_to_endpoint", 1}}}});
}

TEST_P(GoldenMtu, DfSegmentTooBigOnAnEstablishedTcpFlowQuotesTheClientsOwnPacket) {
    GoldenHarness harness(topology());
    const Flow flow{.protocol = kProtoTcp, .client_port = 41001, .vip = kWebVip, .vip_port = 80};
    RunResult opened = harness.run(0, client_to_vip(flow, test::TcpSpec{.flags = RTE_TCP_SYN_FLAG}));
    ASSERT_EQ(opened.transmitted.size(), 1u);
    const test::TcpSpec segment{
        .seq = 1001, .ack = 1, .flags = RTE_TCP_ACK_FLAG, .payload = test::payload_bytes(kEndpointSideMtu - 40 + 1)};
    const Bytes input = client_to_vip(flow, segment);
    harness.check({"DF segment one byte over the endpoint port's MTU",
                   input,
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .reason = DropReason::MtuExceeded,
                    .frame = fragmentation_needed(input, kEndpointSideMtu, kGatewayAddr, kClientAddr, to_router()),
                    .counters = {{"icmp_sent", 1}, {"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}}}});
}

TEST_P(GoldenMtu, DatagramOfExactlyTheMtuIsForwarded) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(41002);
    const Translation translation = open_flow(harness, flow);
    ASSERT_FALSE(HasFailure());
    const UdpSpec datagram = udp_of_total_length(kEndpointSideMtu);
    harness.check({"datagram of exactly the endpoint port's MTU",
                   client_to_vip(flow, datagram),
                   kClientPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kEndpointPortId,
                    .frame = gateway_to_endpoint(translation, datagram),
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}}}});
}

// The reply direction: the answer goes back to the endpoint on its VLAN, from the gateway's
// address on that side, quoting the endpoint's own packet (to the SNAT address under full-NAT,
// to the client under DNAT) and carrying the client port's MTU.
TEST_P(GoldenMtu, DfReplyTooBigForTheClientSideIsAnsweredToTheEndpoint) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(41003);
    const Translation translation = open_flow(harness, flow);
    ASSERT_FALSE(HasFailure());
    const Bytes input = endpoint_to_gateway(translation, udp_of_total_length(kClientSideMtu + 1));
    harness.check({"DF reply one byte over the client port's MTU",
                   input,
                   kEndpointPortId,
                   {.verdict = Verdict::Answered,
                    .target = kEndpointPortId,
                    .reason = DropReason::MtuExceeded,
                    .frame = fragmentation_needed(input, kClientSideMtu, kEndpointSideAddr, translation.endpoint,
                                                  to_neighbor(translation.endpoint)),
                    .counters = {{"icmp_sent", 1}, {"conntrack_hits", 1}, {"forwarded_to_client", 1}}}});
    // The flow goes on: a reply that fits is translated as before.
    const UdpSpec fits = udp_of_total_length(kClientSideMtu);
    harness.check({"reply of exactly the client port's MTU",
                   endpoint_to_gateway(translation, fits),
                   kEndpointPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kClientPortId,
                    .frame = gateway_to_client(flow, fits),
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_client", 1}}}});
}

// Dropped, not fragmented (pipeline.cpp explains why).
TEST_P(GoldenMtu, TooBigWithoutDfIsDroppedAndCounted) {
    GoldenHarness harness(topology());
    const Bytes input =
        client_to_vip(udp_flow(41004), udp_of_total_length(kEndpointSideMtu + 1), Ipv4Spec{.flags_fragment = 0});
    harness.check({"datagram without DF over the endpoint port's MTU",
                   input,
                   kClientPortId,
                   {.verdict = Verdict::Dropped,
                    .reason = DropReason::MtuExceeded,
                    .counters = {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}}});
}

TEST_P(GoldenMtu, JumboPortsForwardAJumboDatagramWhole) {
    GoldenHarness harness(topology(9000, 9000));
    const Flow flow = udp_flow(41005);
    const Translation translation = open_flow(harness, flow);
    ASSERT_FALSE(HasFailure());
    const UdpSpec jumbo = udp_of_total_length(9000);
    harness.check({"9000-byte datagram between 9000-byte ports",
                   client_to_vip(flow, jumbo),
                   kClientPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kEndpointPortId,
                    .frame = gateway_to_endpoint(translation, jumbo),
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}}}});
}

// An answer never leaves larger than the port it goes out of: an echo request larger than the
// ingress MTU (a device like net_pcap delivers it) is not mirrored back whole.
TEST_P(GoldenMtu, EchoRequestLargerThanTheIngressMtuIsNotAnswered) {
    GoldenHarness harness(topology());
    const test::IcmpEchoSpec request{.payload = test::payload_bytes(kClientSideMtu + 1 - 28)};
    harness.check({"echo request over the ingress MTU",
                   test::icmp_echo_frame(request, {.src = kClientAddr, .dst = kGatewayAddr}, from_router()),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::MtuExceeded}});
    const test::IcmpEchoSpec fits{.payload = test::payload_bytes(kClientSideMtu - 28)};
    RunResult result =
        harness.run(0, test::icmp_echo_frame(fits, {.src = kClientAddr, .dst = kGatewayAddr}, from_router()));
    ASSERT_EQ(result.transmitted.size(), 1u) << "an echo request of exactly the MTU is answered";
    EXPECT_EQ(result.counter_changes["icmp_sent"], 1u);
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenMtu, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
