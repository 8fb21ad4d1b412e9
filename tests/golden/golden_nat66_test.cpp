// Golden packets for NAT66 (docs/ipv6.md, step 3): an IPv6 ClusterIP served in both NAT modes
// through the real pipeline. Expected frames are written by the independent IPv6 builder
// (tests/support/ipv6_builder.h, checksums summed from scratch), so byte-for-byte equality
// also proves the incremental checksum updates. Counters are checked as for IPv4.
#include <gtest/gtest.h>

#include <rte_byteorder.h>

#include "dataplane/nd_packets.h"
#include "tests/golden/nat66_topology.h"

namespace vipgate::golden {
namespace {

using namespace nat66;  // NOLINT(google-build-using-namespace): the topology is this file's vocabulary

TEST_P(GoldenNat66, TcpConnectionBothWays) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow;
    const Translation6 translation = start_flow(harness, flow, kProtoTcp, tcp(kSyn));
    ASSERT_FALSE(HasFailure());
    const Counters to_endpoint{{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}};
    const Counters to_client{{"conntrack_hits", 1}, {"forwarded_to_client", 1}};
    const std::vector<GoldenCase> cases = {
        {"SYN-ACK from the pod goes back to the client from the VIP",
         endpoint_to_gateway(translation, kProtoTcp, tcp(kSyn | kAck)), kEndpointPortId,
         forwarded(kClientPortId, gateway_to_client(flow, kProtoTcp, tcp(kSyn | kAck)), to_client)},
        {"handshake ACK follows the entry", client_to_vip(flow, kProtoTcp, tcp(kAck)), kClientPortId,
         forwarded(kEndpointPortId, gateway_to_endpoint(translation, kProtoTcp, tcp(kAck)), to_endpoint)},
        {"PSH from the pod", endpoint_to_gateway(translation, kProtoTcp, tcp(kAck | kPsh)), kEndpointPortId,
         forwarded(kClientPortId, gateway_to_client(flow, kProtoTcp, tcp(kAck | kPsh)), to_client)},
        {"client FIN", client_to_vip(flow, kProtoTcp, tcp(kFin | kAck)), kClientPortId,
         forwarded(kEndpointPortId, gateway_to_endpoint(translation, kProtoTcp, tcp(kFin | kAck)), to_endpoint)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections6(0).size(), 1u);
    EXPECT_EQ(harness.connections(0).size(), 0u);  // nothing in the IPv4 table
}

// A neighbor solicitation (or another ND type) from the client for `target`, to its
// solicited-node group; checksum from the independent builder.
Bytes nd_from_client(uint8_t type, const Ipv6Address& target, uint8_t hop_limit = 255) {
    Bytes icmp(24, 0);
    icmp[0] = type;
    std::copy(target.begin(), target.end(), icmp.begin() + 8);
    const Bytes option = {1, 1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
    test::append_bytes(icmp, option);
    const Ipv6Address group = solicited_node_group(target);
    test::put16(icmp, 2, test::ipv6_l4_checksum(kClient, group, kProtoIcmpv6, icmp));
    test::EthernetSpec ethernet = from_router();
    ethernet.dst = multicast_mac(group);
    return ipv6_frame({}, kProtoIcmpv6, icmp, {.src = kClient, .dst = group, .hop_limit = hop_limit}, ethernet);
}

// Neighbor Discovery (docs/ipv6.md, step 5): solicitations and advertisements go to the control
// thread, router advertisements and invalid ND are counted drops, and a translated packet whose
// next hop has no MAC (here the client: no static neighbor) is punted to wait for one.
TEST_P(GoldenNat66, NeighborDiscoveryIsPuntedAndUnresolvedNextHopsWait) {
    TopologySpec spec = ipv6_topology(GetParam());
    const std::string client_neighbor = "[[neighbors]]\naddress = \"2001:db8::10\"\nmac = \"02:00:00:00:00:01\"\n\n";
    spec.extra_toml.erase(spec.extra_toml.find(client_neighbor), client_neighbor.size());
    GoldenHarness harness(spec);
    const Flow6 flow;
    const Translation6 translation = start_flow(harness, flow, kProtoTcp, tcp(kSyn));
    ASSERT_FALSE(HasFailure());
    Bytes held = gateway_to_client(flow, kProtoTcp, tcp(kSyn | kAck));
    std::copy(kEndpointPortMac.addr_bytes, kEndpointPortMac.addr_bytes + 6,
              held.begin());  // the control thread sets it
    const Bytes solicitation = nd_from_client(kNdNeighborSolicitation, ipv6("2001:db8::1"));
    const std::vector<GoldenCase> cases = {
        {"SYN-ACK to a client without a MAC yet: translated and punted",
         endpoint_to_gateway(translation, kProtoTcp, tcp(kSyn | kAck)),
         kEndpointPortId,
         {.verdict = Verdict::Punted,
          .frame = held,
          .counters = {{"conntrack_hits", 1}, {"forwarded_to_client", 1}, {"punted", 1}},
          .punted_next_hop = kPuntHeldIpv6}},
        {"neighbor solicitation for the port's address at its solicited-node MAC",
         solicitation,
         kClientPortId,
         {.verdict = Verdict::Punted,
          .frame = solicitation,
          .counters = {{"punted", 1}},
          .punted_next_hop = kPuntNdMessage}},
        {"neighbor solicitation with hop limit 64", nd_from_client(kNdNeighborSolicitation, ipv6("2001:db8::1"), 64),
         kClientPortId, dropped(DropReason::NdInvalid)},
        {"router advertisement", nd_from_client(kNdRouterAdvertisement, ipv6("2001:db8::1")), kClientPortId,
         dropped(DropReason::NdIgnored)},
        {"redirect", nd_from_client(kNdRedirect, ipv6("2001:db8::1")), kClientPortId, dropped(DropReason::NdIgnored)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
}

TEST_P(GoldenNat66, UdpChecksumThatComputesToZeroIsSentAsFfff) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow{.protocol = kProtoUdp, .vip_port = 53};
    const Translation6 translation = start_flow(harness, flow, kProtoUdp, udp({1, 2, 3, 4}));
    ASSERT_FALSE(HasFailure());
    // A payload whose datagram to the pod sums to 0x0000: the builder writes 0xFFFF (RFC 8200
    // 8.1), and so must the gateway's incremental update.
    std::vector<uint8_t> payload = {0, 0};
    bool found = false;
    for (uint32_t value = 0; value <= 0xFFFF && !found; ++value) {
        payload = {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
        const Ipv6Spec leg{.src = translation.source, .dst = translation.endpoint, .hop_limit = 63};
        Bytes datagram = test::udp6(translation.source_port, translation.endpoint_port, payload, leg, 0);
        found = test::ipv6_l4_checksum(leg.src, leg.dst, kProtoUdp, datagram) == 0;
    }
    ASSERT_TRUE(found);
    const Bytes expected = gateway_to_endpoint(translation, kProtoUdp, udp(payload));
    ASSERT_EQ(expected[expected.size() - 2 - 8 + 6], 0xFF);  // the checksum field, 0xFFFF
    harness.check({"datagram whose checksum becomes 0", client_to_vip(flow, kProtoUdp, udp(payload)), kClientPortId,
                   forwarded(kEndpointPortId, expected, {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}})});
    harness.check({"reply datagram", endpoint_to_gateway(translation, kProtoUdp, udp({9, 9, 9})), kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, kProtoUdp, udp({9, 9, 9})),
                             {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});
}

// Refusals that are answered (RST, ICMPv6 errors) are golden_icmp6_test.cpp's.
TEST_P(GoldenNat66, UnansweredRefusalsAreDroppedAndCounted) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 web;
    const std::vector<GoldenCase> cases = {
        {"unknown IPv6 VIP", client_to_vip(Flow6{.vip = kUnknownVip}, kProtoTcp, tcp(kSyn)), kClientPortId,
         dropped(DropReason::NoService)},
        {"RST of an unknown flow", client_to_vip(web, kProtoTcp, tcp(0x04)), kClientPortId,
         dropped(DropReason::NotSyn)},
        {"reply nobody tracks",
         endpoint_to_gateway(Translation6{ipv6(kEndpoints[0]), 8080, fullnat() ? kSnat : kClient, 50000}, kProtoTcp,
                             tcp(kAck)),
         kEndpointPortId, dropped(DropReason::NoService)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections6(0).size(), 0u);
}

TEST_P(GoldenNat66, ClientRangesOfBothFamilies) {
    const Flow6 web;
    {
        TopologySpec spec = ipv6_topology(GetParam());
        spec.client_ranges = {"198.18.0.0/15"};
        GoldenHarness harness(spec);
        harness.check({"IPv4 ranges alone shut IPv6 clients out", client_to_vip(web, kProtoTcp, tcp(kSyn)),
                       kClientPortId, dropped(DropReason::SourceNotAllowed)});
    }
    {
        TopologySpec spec = ipv6_topology(GetParam());
        spec.client_ranges = {"198.18.0.0/15", "2001:db8:1::/48"};
        GoldenHarness harness(spec);
        harness.check({"a client outside the IPv6 ranges", client_to_vip(web, kProtoTcp, tcp(kSyn)), kClientPortId,
                       dropped(DropReason::SourceNotAllowed)});
    }
    TopologySpec spec = ipv6_topology(GetParam());
    spec.client_ranges = {"2001:db8::/64"};  // the client, 2001:db8::10
    GoldenHarness harness(spec);
    start_flow(harness, web, kProtoTcp, tcp(kSyn));
}

// IPv6 has no stateless reply path (IPv4's DNAT-only mode forwards statelessly when its table is
// full because its replies find their VIP through the endpoint table): a new IPv6 flow that
// finds no room is refused in both modes, so no client waits for an answer that cannot come back.
TEST_P(GoldenNat66, FullConnectionTableRefusesNewFlowsInBothModes) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    uint16_t client_port = 10000;
    // Answered UDP connections are never evicted before they expire: fill the table with them.
    while (true) {
        const Flow6 flow{.protocol = kProtoUdp, .client_port = client_port, .vip_port = 53};
        RunResult result = harness.run(0, client_to_vip(flow, kProtoUdp, udp({1, 2, 3, 4})));
        if (result.counter_changes.count("new_connections") == 0) break;
        const std::optional<Translation6> found = translation(harness, flow, 0);
        ASSERT_TRUE(found.has_value());
        RunResult replied = harness.run(0, endpoint_to_gateway(*found, kProtoUdp, udp({5, 6})), kEndpointPortId);
        ASSERT_EQ(replied.counter_changes["forwarded_to_client"], 1u);
        ASSERT_LT(++client_port, 20000) << "the table never filled";
    }
    const size_t filled = harness.connections6(0).size();
    EXPECT_GE(filled, 200u);
    const Flow6 overflow{.protocol = kProtoUdp, .client_port = client_port, .vip_port = 53};
    harness.check({"full IPv6 table: refused", client_to_vip(overflow, kProtoUdp, udp({1, 2, 3, 4})), kClientPortId,
                   dropped(DropReason::ConntrackFull)});
    EXPECT_EQ(harness.connections6(0).size(), filled);
}

TEST_P(GoldenNat66, FlowsAndRepliesGoToTheirOwningWorker) {
    GoldenHarness harness(ipv6_topology(GetParam(), 2));
    // A client port whose flow worker 1 owns, arriving at worker 0: handed off unchanged.
    uint16_t port = 40000;
    while (connection_owner6(kClient.data(), rte_cpu_to_be_16(port), 2) != 1) ++port;
    const Flow6 flow{.client_port = port};
    const Bytes syn = client_to_vip(flow, kProtoTcp, tcp(kSyn));
    harness.check({"SYN owned by worker 1",
                   syn,
                   kClientPortId,
                   {.verdict = Verdict::HandedOff, .target = 1, .frame = syn, .counters = {{"handoffs_out", 1}}}});
    // Its owner opens it; the reply, arriving at worker 0, goes to worker 1 too.
    const Translation6 translation = start_flow(harness, flow, kProtoTcp, tcp(kSyn), 1);
    ASSERT_FALSE(HasFailure());
    const Bytes reply = endpoint_to_gateway(translation, kProtoTcp, tcp(kSyn | kAck));
    harness.check({"reply owned by worker 1",
                   reply,
                   kEndpointPortId,
                   {.verdict = Verdict::HandedOff, .target = 1, .frame = reply, .counters = {{"handoffs_out", 1}}}});
    EXPECT_EQ(harness.connections6(0).size(), 0u);
    EXPECT_EQ(harness.connections6(1).size(), 1u);
}

TEST_P(GoldenNat66, DualStackServiceServesBothFamilies) {
    TopologySpec spec = ipv6_topology(GetParam());
    spec.extra_toml +=
        "[[services]]\nname = \"dual\"\ncluster_ips = [\"198.18.100.20\", \"2001:db8:100::20\"]\n"
        "ip_family_policy = \"PreferDualStack\"\nselector = { app = \"dual\" }\n"
        "[[services.ports]]\nname = \"http\"\nprotocol = \"TCP\"\nport = 80\n\n"
        "[[pods]]\nname = \"dual-1\"\npod_ips = [\"198.19.0.20\", \"2001:db8:e::20\"]\n"
        "labels = { app = \"dual\" }\n\n";
    GoldenHarness harness(spec);
    const Flow6 flow{.vip = ipv6("2001:db8:100::20")};
    const Bytes input = client_to_vip(flow, kProtoTcp, tcp(kSyn));
    RunResult result = harness.run(0, input);
    const std::optional<Translation6> found = translation(harness, flow);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(text(found->endpoint), "2001:db8:e::20");
    EXPECT_EQ(found->endpoint_port, 80);
    check_result(result,
                 forwarded(kEndpointPortId, gateway_to_endpoint(*found, kProtoTcp, tcp(kSyn)),
                           {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                 1, input.size(), false);
    // The IPv4 family of the same service port is still served (its VIP in the IPv4 table).
    EXPECT_GE(harness.snapshot().find_service_port(
                  VipKey::ipv4(test::ipv4("198.18.100.20"), rte_cpu_to_be_16(80), kProtoTcp)),
              0);
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenNat66, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
