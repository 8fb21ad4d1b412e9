// Golden packets for NAT66 (docs/ipv6.md, step 3): an IPv6 ClusterIP served in both NAT modes
// through the real pipeline. Expected frames are written by the independent IPv6 builder
// (tests/support/ipv6_builder.h, checksums summed from scratch), so byte-for-byte equality
// also proves the incremental checksum updates. Counters are checked as for IPv4.
//
// Topology, beside the IPv4 one of golden_harness.h:
//   client 2001:db8::10 (on-link, via the router's MAC) --- port 0 "clients"   2001:db8::1/64
//   endpoints 2001:db8:e::20-22 (pods) ------------------- port 1 "endpoints" 2001:db8:e::1/64,
//                                                          VLAN 100           2001:db8:e::2/64 (SNAT6)
//   web6 2001:db8:100::1: TCP 80 -> 8080, UDP 53 -> 5353; empty6 2001:db8:100::2: TCP 80, no pods.
#include <gtest/gtest.h>

#include <rte_byteorder.h>

#include "dataplane/nd_packets.h"
#include "dataplane/pipeline.h"
#include "tests/golden/golden_harness.h"
#include "tests/support/ipv6_builder.h"

namespace vipgate::golden {
namespace {

using test::ipv6;
using test::ipv6_frame;
using test::Ipv6Address;
using test::Ipv6Spec;

using Counters = std::map<std::string, uint64_t>;

const Ipv6Address kClient = test::kClient6;  // 2001:db8::10
const Ipv6Address kVip = test::kVip6;        // 2001:db8:100::1
const Ipv6Address kEmptyVip = ipv6("2001:db8:100::2");
const Ipv6Address kUnknownVip = ipv6("2001:db8:100::99");
const Ipv6Address kSnat = ipv6("2001:db8:e::2");
const char* const kEndpoints[] = {"2001:db8:e::20", "2001:db8:e::21", "2001:db8:e::22"};

rte_ether_addr endpoint_mac(const Ipv6Address& address) {
    return {{0x02, 0x00, 0x00, 0x00, 0x06, address[15]}};
}

std::string ipv6_config() {
    std::string text;
    text += "[[neighbors]]\naddress = \"2001:db8::10\"\nmac = \"02:00:00:00:00:01\"\n\n";
    for (const char* endpoint : kEndpoints) {
        const rte_ether_addr mac = endpoint_mac(ipv6(endpoint));
        char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
        rte_ether_format_addr(mac_text, sizeof(mac_text), &mac);
        text.append("[[neighbors]]\naddress = \"").append(endpoint).append("\"\nmac = \"").append(mac_text);
        text.append("\"\n\n");
    }
    text +=
        "[[services]]\nname = \"web6\"\ncluster_ip = \"2001:db8:100::1\"\nselector = { app = \"web6\" }\n"
        "[[services.ports]]\nname = \"http\"\nprotocol = \"TCP\"\nport = 80\ntarget_port = 8080\n"
        "[[services.ports]]\nname = \"dns\"\nprotocol = \"UDP\"\nport = 53\ntarget_port = 5353\n\n"
        "[[services]]\nname = \"empty6\"\ncluster_ip = \"2001:db8:100::2\"\nselector = { app = \"none\" }\n"
        "[[services.ports]]\nname = \"http\"\nprotocol = \"TCP\"\nport = 80\n\n";
    int index = 1;
    for (const char* endpoint : kEndpoints) {
        text.append("[[pods]]\nname = \"web6-").append(std::to_string(index++)).append("\"\npod_ips = [\"");
        text.append(endpoint).append("\"]\nlabels = { app = \"web6\" }\n\n");
    }
    return text;
}

TopologySpec ipv6_topology(NatMode mode, uint16_t workers = 1) {
    TopologySpec spec;
    spec.nat_mode = mode;
    spec.workers = workers;
    spec.client_port_addresses6 = {"2001:db8::1/64"};
    spec.endpoint_port_addresses6 = {"2001:db8:e::1/64", "2001:db8:e::2/64"};
    spec.snat_addresses6 = {"2001:db8:e::2"};
    spec.extra_toml = ipv6_config();
    return spec;
}

// A client's IPv6 flow to a service port. Ports in host order.
struct Flow6 {
    uint8_t protocol = kProtoTcp;
    uint16_t client_port = 40000;
    Ipv6Address vip = kVip;
    uint16_t vip_port = 80;

    FlowKey6 key() const {
        FlowKey6 key;
        std::memcpy(key.src_addr, kClient.data(), 16);
        std::memcpy(key.dst_addr, vip.data(), 16);
        key.src_port = rte_cpu_to_be_16(client_port);
        key.dst_port = rte_cpu_to_be_16(vip_port);
        key.protocol = protocol;
        return key;
    }
};

// What the endpoint sees: its address and port, and the source (SNAT6 or the client).
struct Translation6 {
    Ipv6Address endpoint{};
    uint16_t endpoint_port = 0;
    Ipv6Address source{};
    uint16_t source_port = 0;
};

std::optional<Translation6> translation(GoldenHarness& harness, const Flow6& flow, uint16_t worker = 0) {
    ConnTable6& table = harness.connections6(worker);
    const ConnLookupResult6 hit = table.lookup(flow.key());
    if (hit.connection == nullptr) return std::nullopt;
    const FlowKey6 reply = table.reply_key(*hit.connection);
    Translation6 out;
    std::memcpy(out.endpoint.data(), reply.src_addr, 16);
    out.endpoint_port = rte_be_to_cpu_16(reply.src_port);
    std::memcpy(out.source.data(), reply.dst_addr, 16);
    out.source_port = rte_be_to_cpu_16(reply.dst_port);
    return out;
}

// Frames of each leg for an upper-layer header made by `l4(ip spec)` (checksums over that leg's
// pseudo-header). The gateway's outputs carry hop limit - 1.
template <class L4>
Bytes client_to_vip(const Flow6& flow, uint8_t protocol, L4 l4, uint8_t hop_limit = 64) {
    const Ipv6Spec ip{.src = kClient, .dst = flow.vip, .hop_limit = hop_limit};
    return ipv6_frame({}, protocol, l4(ip, flow.client_port, flow.vip_port), ip, from_router());
}
template <class L4>
Bytes gateway_to_endpoint(const Translation6& translation, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = translation.source, .dst = translation.endpoint, .hop_limit = 63};
    return ipv6_frame({}, protocol, l4(ip, translation.source_port, translation.endpoint_port), ip,
                      {.src = kEndpointPortMac, .dst = endpoint_mac(translation.endpoint), .vlan = kEndpointVlan});
}
template <class L4>
Bytes endpoint_to_gateway(const Translation6& translation, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = translation.endpoint, .dst = translation.source, .hop_limit = 64};
    return ipv6_frame({}, protocol, l4(ip, translation.endpoint_port, translation.source_port), ip,
                      {.src = endpoint_mac(translation.endpoint), .dst = kEndpointPortMac, .vlan = kEndpointVlan});
}
template <class L4>
Bytes gateway_to_client(const Flow6& flow, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = flow.vip, .dst = kClient, .hop_limit = 63};
    return ipv6_frame({}, protocol, l4(ip, flow.vip_port, flow.client_port), ip, to_router());
}

auto tcp(uint8_t flags) {
    return [flags](const Ipv6Spec& ip, uint16_t source, uint16_t destination) {
        return test::tcp6(source, destination, flags, ip);
    };
}
auto udp(std::vector<uint8_t> payload) {
    return [payload](const Ipv6Spec& ip, uint16_t source, uint16_t destination) {
        return test::udp6(source, destination, payload, ip);
    };
}

constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kAck = 0x10;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kFin = 0x01;

Expectation forwarded(uint16_t port, Bytes frame, Counters counters) {
    return {.verdict = Verdict::Forwarded, .target = port, .frame = std::move(frame), .counters = std::move(counters)};
}
Expectation dropped(DropReason reason, Counters counters = {}) {
    return {.verdict = Verdict::Dropped, .reason = reason, .counters = std::move(counters)};
}

std::string text(const Ipv6Address& address) {
    char buffer[64];
    inet_ntop(AF_INET6, address.data(), buffer, sizeof(buffer));
    return buffer;
}

std::string mode_name(const testing::TestParamInfo<NatMode>& info) {
    return info.param == NatMode::FullNat ? "FullNat" : "Dnat";
}

class GoldenNat66 : public testing::TestWithParam<NatMode> {
protected:
    bool fullnat() const { return GetParam() == NatMode::FullNat; }

    // Sends a new flow's first packet and checks it reached a web6 pod with the source the mode
    // gives it; returns the translation its entry recorded.
    template <class L4>
    Translation6 start_flow(GoldenHarness& harness, const Flow6& flow, uint8_t protocol, L4 l4, uint16_t worker = 0) {
        const Bytes input = client_to_vip(flow, protocol, l4);
        RunResult result = harness.run(worker, input);
        const std::optional<Translation6> found = translation(harness, flow, worker);
        if (!found) {
            ADD_FAILURE() << "no IPv6 connection entry for the new flow";
            return {};
        }
        const std::string endpoint = text(found->endpoint);
        EXPECT_TRUE(endpoint == kEndpoints[0] || endpoint == kEndpoints[1] || endpoint == kEndpoints[2]) << endpoint;
        EXPECT_EQ(found->endpoint_port, protocol == kProtoTcp ? 8080 : 5353);
        if (fullnat()) {
            EXPECT_EQ(text(found->source), text(kSnat));
            const auto [first_port, last_port] = harness.snat_range(worker);
            EXPECT_GE(found->source_port, first_port);
            EXPECT_LE(found->source_port, last_port);
        } else {
            EXPECT_EQ(text(found->source), text(kClient));
            EXPECT_EQ(found->source_port, flow.client_port);
        }
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*found, protocol, l4),
                               {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
        return *found;
    }
};

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
        {"a tracked packet with hop limit 1 is dropped", client_to_vip(flow, kProtoTcp, tcp(kAck), 1), kClientPortId,
         dropped(DropReason::Ipv6HopLimitExceeded, {{"conntrack_hits", 1}})},
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

TEST_P(GoldenNat66, RefusalsAreDroppedAndCounted) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 web;
    const std::vector<GoldenCase> cases = {
        {"SYN with hop limit 1", client_to_vip(web, kProtoTcp, tcp(kSyn), 1), kClientPortId,
         dropped(DropReason::Ipv6HopLimitExceeded)},
        {"unknown IPv6 VIP", client_to_vip(Flow6{.vip = kUnknownVip}, kProtoTcp, tcp(kSyn)), kClientPortId,
         dropped(DropReason::NoService)},
        {"port the VIP does not serve", client_to_vip(Flow6{.vip_port = 81}, kProtoTcp, tcp(kSyn)), kClientPortId,
         dropped(DropReason::NoService)},
        {"service without pods", client_to_vip(Flow6{.vip = kEmptyVip}, kProtoTcp, tcp(kSyn)), kClientPortId,
         dropped(DropReason::NoEndpoint)},
        {"RST of an unknown flow", client_to_vip(web, kProtoTcp, tcp(0x04)), kClientPortId,
         dropped(DropReason::NotSyn)},
        {"reply nobody tracks",
         endpoint_to_gateway(Translation6{ipv6(kEndpoints[0]), 8080, fullnat() ? kSnat : kClient, 50000}, kProtoTcp,
                             tcp(kAck)),
         kEndpointPortId, dropped(DropReason::NoService)},
    };
    for (const GoldenCase& golden : cases) harness.check(golden);
    if (fullnat()) {
        harness.check({"mid-stream ACK under full-NAT", client_to_vip(web, kProtoTcp, tcp(kAck)), kClientPortId,
                       dropped(DropReason::NotSyn)});
    }
    EXPECT_EQ(harness.connections6(0).size(), 0u);
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
