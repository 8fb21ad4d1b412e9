// Golden packets for IPv6 as it stands (docs/ipv6.md): parsed and counted, not served. Each
// frame goes through the real pipeline and must end freed with exactly one drop reason: the
// parser's precise one when malformed or unsupported, ipv6_not_served when well-formed and for
// us (our MAC, or an IPv6 multicast MAC, where Neighbor Discovery arrives), not_for_us for
// another unicast MAC. Nothing is sent, no connection is opened. Both NAT modes.
#include <gtest/gtest.h>

#include "dataplane/ipv6_parser.h"
#include "tests/golden/golden_harness.h"
#include "tests/support/ipv6_builder.h"

namespace vipgate::golden {
namespace {

using test::fragment_header;
using test::ipv6;
using test::ipv6_frame;
using test::Ipv6Extension;
using test::udp6;

constexpr rte_ether_addr kSolicitedNodeMac = mac("33:33:ff:00:00:01");

Expectation dropped(DropReason reason) {
    return {.verdict = Verdict::Dropped, .reason = reason};
}

test::EthernetSpec to_mac(const rte_ether_addr& destination) {
    test::EthernetSpec ethernet = from_router();
    ethernet.dst = destination;
    return ethernet;
}

class GoldenIpv6 : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology() const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        return spec;
    }
};

TEST_P(GoldenIpv6, WellFormedIpv6IsCountedAsNotServed) {
    GoldenHarness harness(topology());
    const test::EthernetSpec router = from_router();
    const test::EthernetSpec endpoint_side{
        .src = mac("02:00:00:00:01:20"), .dst = kEndpointPortMac, .vlan = kEndpointVlan};
    const Bytes solicitation = ipv6_frame({}, kProtoIcmpv6, test::icmp6(135),
                                          {.dst = ipv6("ff02::1:ff00:1"), .hop_limit = 255}, to_mac(kSolicitedNodeMac));
    const GoldenCase cases[] = {
        {"UDP to an IPv6 address", ipv6_frame({}, kProtoUdp, udp6(5000, 53, test::payload_bytes(8)), {}, router),
         kClientPortId, dropped(DropReason::Ipv6NotServed)},
        {"TCP SYN behind hop-by-hop and destination options",
         ipv6_frame({test::hop_by_hop(), test::destination_options(16)}, kProtoTcp, test::tcp6(40000, 80, 0x02), {},
                    router),
         kClientPortId, dropped(DropReason::Ipv6NotServed)},
        {"first fragment of a UDP datagram",
         ipv6_frame({fragment_header(0, true)}, kProtoUdp, udp6(5000, 53, test::payload_bytes(8)), {}, router),
         kClientPortId, dropped(DropReason::Ipv6NotServed)},
        {"neighbor solicitation to the solicited-node multicast MAC", solicitation, kClientPortId,
         dropped(DropReason::Ipv6NotServed)},
        {"tagged IPv6 on the VLAN 100 port", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {}, endpoint_side),
         kEndpointPortId, dropped(DropReason::Ipv6NotServed)},
        {"no next header", ipv6_frame({}, kIpv6NoNextHeader, {}, {}, router), kClientPortId,
         dropped(DropReason::Ipv6NotServed)},
        {"unicast to another MAC", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {}, to_mac(mac("02:00:00:00:00:99"))),
         kClientPortId, dropped(DropReason::NotForUs)},
        {"untagged IPv6 on the VLAN 100 port", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}), {}, to_mac(kEndpointPortMac)),
         kEndpointPortId, dropped(DropReason::VlanMismatch)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u);
}

TEST_P(GoldenIpv6, MalformedIpv6GetsTheParsersReason) {
    GoldenHarness harness(topology());
    const test::EthernetSpec router = from_router();
    const Bytes udp = udp6(1, 2, test::payload_bytes(8));
    Bytes truncated = ipv6_frame({}, kProtoUdp, udp, {}, router);
    truncated.resize(14 + 30);
    const std::vector<Ipv6Extension> nine(kMaxIpv6ExtensionHeaders + 1, test::destination_options());
    const GoldenCase cases[] = {
        {"IPv6 header cut short", truncated, kClientPortId, dropped(DropReason::TruncatedIpv6)},
        {"version 4 under the IPv6 ethertype", ipv6_frame({}, kProtoUdp, udp, {.version = 4}, router), kClientPortId,
         dropped(DropReason::BadIpVersion)},
        {"payload length beyond the frame", ipv6_frame({}, kProtoUdp, udp, {.payload_length = 200}, router),
         kClientPortId, dropped(DropReason::BadIpLength)},
        {"extension header beyond the datagram",
         ipv6_frame({test::destination_options(16)}, kProtoUdp, {}, {.payload_length = 8}, router), kClientPortId,
         dropped(DropReason::Ipv6ExtTruncated)},
        {"nine extension headers", ipv6_frame(nine, kProtoUdp, udp, {}, router), kClientPortId,
         dropped(DropReason::Ipv6ExtLimit)},
        {"hop-by-hop not first",
         ipv6_frame({test::destination_options(), test::hop_by_hop()}, kProtoUdp, udp, {}, router), kClientPortId,
         dropped(DropReason::Ipv6HopByHopNotFirst)},
        {"routing header type 0", ipv6_frame({test::routing_header(0, 1)}, kProtoUdp, udp, {}, router), kClientPortId,
         dropped(DropReason::Ipv6RoutingType0)},
        {"first fragment without its TCP header",
         ipv6_frame({fragment_header(0, true)}, kProtoTcp, test::payload_bytes(8), {}, router), kClientPortId,
         dropped(DropReason::Ipv6FragmentNoUpperLayer)},
        {"two fragment headers",
         ipv6_frame({fragment_header(0, true), fragment_header(0, true)}, kProtoUdp, test::payload_bytes(16), {},
                    router),
         kClientPortId, dropped(DropReason::Ipv6FragmentMalformed)},
        {"fragment past 65535",
         ipv6_frame({fragment_header(65528, false)}, kProtoUdp, test::payload_bytes(16), {}, router), kClientPortId,
         dropped(DropReason::FragmentOversize)},
        {"ESP", ipv6_frame({}, kIpv6Esp, test::payload_bytes(32), {}, router), kClientPortId,
         dropped(DropReason::Ipv6ExtUnsupported)},
        {"UDP checksum 0", ipv6_frame({}, kProtoUdp, udp6(1, 2, {}, {}, 0), {}, router), kClientPortId,
         dropped(DropReason::Ipv6UdpZeroChecksum)},
        {"TCP header cut short", ipv6_frame({}, kProtoTcp, test::payload_bytes(12), {}, router), kClientPortId,
         dropped(DropReason::TruncatedL4)},
        {"GRE", ipv6_frame({}, 47, test::payload_bytes(8), {}, router), kClientPortId,
         dropped(DropReason::UnsupportedProtocol)},
        {"malformed to the multicast MAC: still the parser's reason",
         ipv6_frame({test::routing_header(0, 0)}, kProtoUdp, udp, {}, to_mac(kSolicitedNodeMac)), kClientPortId,
         dropped(DropReason::Ipv6RoutingType0)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u);
}

// IPv4 beside IPv6 in one burst: the IPv4 SYN is forwarded as ever.
TEST_P(GoldenIpv6, Ipv4InTheSameBurstIsUnaffected) {
    GoldenHarness harness(topology());
    const Flow flow{.protocol = kProtoTcp, .client_port = 41000, .vip = kWebVip, .vip_port = 80};
    const Bytes syn = client_to_vip(flow, test::TcpSpec{.flags = RTE_TCP_SYN_FLAG});
    const Bytes v6 = ipv6_frame({}, kProtoTcp, test::tcp6(41000, 80, 0x02), {}, from_router());
    RunResult result = harness.run(0, {{v6, kClientPortId}, {syn, kClientPortId}, {v6, kClientPortId}});
    ASSERT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(result.transmitted[0].port_index, kEndpointPortId);
    EXPECT_EQ(result.counter_changes["drop:ipv6_not_served"], 2u);
    EXPECT_EQ(result.counter_changes["forwarded_to_endpoint"], 1u);
    EXPECT_TRUE(harness.translation(flow).has_value());
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenIpv6, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
