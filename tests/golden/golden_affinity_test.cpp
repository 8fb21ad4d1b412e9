// Golden packets for sessionAffinity: ClientIP and for the cluster's client ranges, through the
// real pipeline in both NAT modes. See golden_harness.h for the topology; here "web"
// (198.18.100.1, TCP 80 -> 8080 on 198.19.0.20-22) gets ClientIP affinity unless a test says
// otherwise.
#include <gtest/gtest.h>

#include <set>

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include "dataplane/pipeline.h"
#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::TcpSpec;
using test::UdpSpec;
using Counters = std::map<std::string, uint64_t>;

constexpr uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr uint8_t kAck = RTE_TCP_ACK_FLAG;
constexpr uint32_t kAffinityTimeoutS = 10;
constexpr uint32_t kAffinityTimeoutMs = kAffinityTimeoutS * 1000;
constexpr uint32_t kAddedEndpoint = kOtherEndpoint;       // has a static neighbor entry (reloads add none)
constexpr uint32_t kOutsideClient = ipv4("198.18.1.10");  // outside 198.18.0.0/24

const TcpSpec kSynSpec{.seq = 1, .flags = kSyn};

std::string address(uint32_t network_order) {
    return test::ipv4_to_string(network_order);
}

// 198.18.0.n, routed through the router like kClientAddr.
uint32_t client_number(uint32_t n) {
    return rte_cpu_to_be_32((198u << 24) | (18u << 16) | n);
}

Flow web_flow(uint32_t client, uint16_t client_port) {
    return {.protocol = kProtoTcp, .client = client, .client_port = client_port, .vip = kWebVip, .vip_port = 80};
}

Expectation dropped(DropReason reason) {
    return {.verdict = Verdict::Dropped, .reason = reason};
}

// "Fragmentation needed" from a router outside the client ranges about the reply VIP -> client
// of `flow`, addressed to the VIP (the reply's source).
Bytes router_error_about_reply(const Flow& flow) {
    const Bytes reply = gateway_to_client(flow, TcpSpec{.seq = 9, .ack = 2, .flags = kAck});
    return test::icmp_error_frame({.type = 3, .code = 4, .rest_of_header = 1400, .quoted = test::quote_of(reply)},
                                  {.src = kOutsideClient, .dst = kWebVip}, from_router());
}

class GoldenAffinity : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology(uint16_t workers = 1, bool affinity = true) const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        spec.workers = workers;
        spec.service("web").client_ip_affinity = affinity;
        spec.service("web").affinity_timeout_s = kAffinityTimeoutS;
        return spec;
    }
};

// Opens a TCP connection (a SYN) and checks that it went to endpoint slot `expected_slot`, frame
// and counters: `remembered` says the affinity table named the endpoint (affinity_hits).
// Returns the endpoint's address.
uint32_t open_connection(GoldenHarness& harness, const Flow& flow, uint32_t expected_slot, bool remembered,
                         uint16_t worker = 0) {
    SCOPED_TRACE("connection from " + address(flow.client) + ":" + std::to_string(flow.client_port));
    const Bytes input = client_to_vip(flow, kSynSpec);
    RunResult result = harness.run(worker, input);
    const std::optional<Translation> translation = harness.translation(flow, worker);
    if (!translation) {
        ADD_FAILURE() << "no connection entry";
        return 0;
    }
    const EndpointSlot& expected = harness.snapshot().endpoints[expected_slot];
    EXPECT_EQ(address(translation->endpoint), address(expected.address));
    Counters counters{{"new_connections", 1}, {"forwarded_to_endpoint", 1}};
    if (remembered) counters["affinity_hits"] = 1;
    check_result(result,
                 {.verdict = Verdict::Forwarded,
                  .target = kEndpointPortId,
                  .frame = gateway_to_endpoint(*translation, kSynSpec),
                  .counters = counters},
                 1, input.size(), false);
    return translation->endpoint;
}

// ---------------------------------------------------------------------------------------------
// sessionAffinity: ClientIP

TEST_P(GoldenAffinity, OneClientsConnectionsAllGoToOneEndpoint) {
    GoldenHarness harness(topology());
    const Flow first = web_flow(kClientAddr, 40000);
    const uint32_t slot = harness.affinity_slot(first);
    const uint32_t endpoint = open_connection(harness, first, slot, false);
    std::set<uint32_t> per_flow_choices;
    for (uint16_t port = 40001; port < 40033; ++port) {
        const Flow flow = web_flow(kClientAddr, port);
        per_flow_choices.insert(harness.maglev_slot(flow));
        EXPECT_EQ(address(open_connection(harness, flow, slot, true)), address(endpoint));
    }
    EXPECT_GT(per_flow_choices.size(), 1u) << "the 5-tuple hash alone would have spread these connections";
    EXPECT_EQ(harness.endpoint_counters(0, slot).connections, 33u);
}

TEST_P(GoldenAffinity, DifferentClientsSpreadOverTheEndpoints) {
    GoldenHarness harness(topology());
    std::set<uint32_t> endpoints;
    for (uint32_t n = 1; n <= 60; ++n) {
        const Flow flow = web_flow(client_number(n), 40000);
        endpoints.insert(open_connection(harness, flow, harness.affinity_slot(flow), false));
    }
    EXPECT_EQ(endpoints.size(), 3u) << "every endpoint of web gets clients";
}

TEST_P(GoldenAffinity, UdpFollowsTheSameAffinity) {
    GoldenHarness harness(topology());
    const Flow first{
        .protocol = kProtoUdp, .client = kClientAddr, .client_port = 50000, .vip = kWebVip, .vip_port = 53};
    const uint32_t slot = harness.affinity_slot(first);
    const UdpSpec query{.payload = test::payload_bytes(20)};
    for (uint16_t port = 50000; port < 50016; ++port) {
        Flow flow = first;
        flow.client_port = port;
        harness.run(0, client_to_vip(flow, query));
        const std::optional<Translation> translation = harness.translation(flow);
        ASSERT_TRUE(translation.has_value());
        EXPECT_EQ(address(translation->endpoint), address(harness.snapshot().endpoints[slot].address));
    }
    EXPECT_EQ(harness.worker(0).counters.affinity_hits, 15u);
}

TEST_P(GoldenAffinity, EveryWorkerPicksTheSameEndpointForAClient) {
    GoldenHarness harness(topology(2));
    const auto owned_by = [&](uint16_t worker) {
        return harness.find_client_port(
            40000, [&](uint16_t port) { return connection_owner(kClientAddr, rte_cpu_to_be_16(port), 2) == worker; });
    };
    const Flow on_worker0 = web_flow(kClientAddr, owned_by(0));
    const Flow on_worker1 = web_flow(kClientAddr, owned_by(1));
    const uint32_t slot = harness.affinity_slot(on_worker0);
    EXPECT_EQ(address(open_connection(harness, on_worker0, slot, false, 0)),
              address(open_connection(harness, on_worker1, slot, false, 1)));
}

// The affinity expires kAffinityTimeoutS after the client's last new connection; until then an
// endpoint added to the service does not move the client.
TEST_P(GoldenAffinity, AnAddedEndpointMovesAClientOnlyAfterItsAffinityExpires) {
    TopologySpec spec = topology();
    GoldenHarness harness(spec);
    TopologySpec grown = spec;
    grown.service("web").endpoints.push_back({address(kAddedEndpoint)});

    // Every client opens one connection; after the reload, the clients whose hash now picks
    // another endpoint are the ones the table must hold.
    std::vector<Flow> clients;
    std::vector<uint32_t> first_endpoint;
    for (uint32_t n = 1; n <= 40; ++n) {
        clients.push_back(web_flow(client_number(n), 40000));
        first_endpoint.push_back(
            open_connection(harness, clients.back(), harness.affinity_slot(clients.back()), false));
    }
    const std::vector<uint32_t> slot_before = [&] {
        std::vector<uint32_t> slots;
        for (const Flow& flow : clients) slots.push_back(harness.affinity_slot(flow));
        return slots;
    }();
    harness.reload(grown);
    std::vector<size_t> moved_by_hash;
    for (size_t i = 0; i < clients.size(); ++i) {
        if (harness.affinity_slot(clients[i]) != slot_before[i]) moved_by_hash.push_back(i);
    }
    ASSERT_FALSE(moved_by_hash.empty()) << "no client's hash moved: the test proves nothing";

    WorkerContext& worker = harness.worker(0);
    for (size_t i : moved_by_hash) {
        SCOPED_TRACE("client " + address(clients[i].client));
        EXPECT_EQ(address(open_connection(harness, web_flow(clients[i].client, 40001), slot_before[i], true)),
                  address(first_endpoint[i]))
            << "a fresh affinity moved";
    }
    // Just before the timeout the affinity still holds, and that connection refreshes it.
    worker.now_ms += kAffinityTimeoutMs - 1;
    const size_t kept = moved_by_hash.front();
    open_connection(harness, web_flow(clients[kept].client, 40002), slot_before[kept], true);
    // The others' last new connection was kAffinityTimeoutMs - 1 ago; one more millisecond and
    // they go where the hash says, the new endpoint included.
    worker.now_ms += 1;
    for (size_t i : moved_by_hash) {
        if (i == kept) continue;
        open_connection(harness, web_flow(clients[i].client, 40003), harness.affinity_slot(clients[i]), false);
    }
    EXPECT_EQ(address(open_connection(harness, web_flow(clients[kept].client, 40004), slot_before[kept], true)),
              address(first_endpoint[kept]))
        << "the refreshed affinity expired early";
    worker.now_ms += kAffinityTimeoutMs;
    EXPECT_NE(address(open_connection(harness, web_flow(clients[kept].client, 40005),
                                      harness.affinity_slot(clients[kept]), false)),
              address(first_endpoint[kept]));
    // A client new to the service goes to the added endpoint when its hash says so.
    for (uint32_t n = 100; n < 250; ++n) {
        const Flow newcomer = web_flow(client_number(n), 40000);
        const uint32_t slot = harness.affinity_slot(newcomer);
        if (harness.snapshot().endpoints[slot].address != kAddedEndpoint) continue;
        EXPECT_EQ(address(open_connection(harness, newcomer, slot, false)), address(kAddedEndpoint));
        return;
    }
    ADD_FAILURE() << "no client of 198.18.0.100-249 hashes to the added endpoint";
}

// A remembered endpoint that may no longer take new connections is replaced by the client's hash
// choice in the current snapshot, and that choice is remembered from then on.
TEST_P(GoldenAffinity, AnUnusableRememberedEndpointIsPickedAgain) {
    struct Change {
        const char* description;
        void (*apply)(ServiceSpec& web, uint32_t endpoint);
    };
    const Change changes[] = {
        {"removed",
         [](ServiceSpec& web, uint32_t endpoint) {
             std::erase_if(web.endpoints, [&](const EndpointSpec& e) { return ipv4(e.address) == endpoint; });
         }},
        {"removed, then its slot reused by a new endpoint (stale slot generation)",
         [](ServiceSpec& web, uint32_t endpoint) {
             std::erase_if(web.endpoints, [&](const EndpointSpec& e) { return ipv4(e.address) == endpoint; });
         }},
        {"not ready",
         [](ServiceSpec& web, uint32_t endpoint) {
             for (auto& e : web.endpoints) e.ready = e.ready && ipv4(e.address) != endpoint;
         }},
        {"drained (weight 0)",
         [](ServiceSpec& web, uint32_t endpoint) {
             for (auto& e : web.endpoints) e.weight = ipv4(e.address) == endpoint ? 0 : e.weight;
         }},
        {"terminating while others are ready",
         [](ServiceSpec& web, uint32_t endpoint) {
             for (auto& e : web.endpoints) e.terminating = e.terminating || ipv4(e.address) == endpoint;
         }},
    };
    for (const Change& change : changes) {
        SCOPED_TRACE(std::string("remembered endpoint ") + change.description);
        TopologySpec spec = topology();
        GoldenHarness harness(spec);
        const Flow flow = web_flow(kClientAddr, 40000);
        const uint32_t old_slot = harness.affinity_slot(flow);
        const uint32_t old_endpoint = open_connection(harness, flow, old_slot, false);
        const uint32_t old_generation = harness.snapshot().endpoints[old_slot].generation;
        change.apply(spec.service("web"), old_endpoint);
        harness.reload(spec);
        if (std::string(change.description).find("reused") != std::string::npos) {
            // A slot freed by one build is reused by the next.
            spec.service("web").endpoints.push_back({address(kAddedEndpoint)});
            harness.reload(spec);
            ASSERT_EQ(address(harness.snapshot().endpoints[old_slot].address), address(kAddedEndpoint))
                << "the slot was not reused";
            ASSERT_NE(harness.snapshot().endpoints[old_slot].generation, old_generation);
        }
        const uint32_t new_slot = harness.affinity_slot(web_flow(kClientAddr, 40001));
        const uint32_t repicked = open_connection(harness, web_flow(kClientAddr, 40001), new_slot, false);
        EXPECT_NE(address(repicked), address(old_endpoint));
        open_connection(harness, web_flow(kClientAddr, 40002), new_slot, true);  // remembered again
    }
}

TEST_P(GoldenAffinity, ATerminatingEndpointKeepsItsClientsWhenNoneIsReady) {
    TopologySpec spec = topology();
    GoldenHarness harness(spec);
    const Flow flow = web_flow(kClientAddr, 40000);
    const uint32_t slot = harness.affinity_slot(flow);
    const uint32_t endpoint = open_connection(harness, flow, slot, false);
    // All of web's endpoints serving-terminating (KEP-1669: they take new connections).
    for (auto& e : spec.service("web").endpoints) e.terminating = true;
    harness.reload(spec);
    EXPECT_EQ(address(open_connection(harness, web_flow(kClientAddr, 40001), slot, true)), address(endpoint));
}

TEST_P(GoldenAffinity, ServicesWithoutAffinityStillHashTheFiveTuple) {
    GoldenHarness harness(topology(1, false));
    std::set<uint32_t> endpoints;
    for (uint16_t port = 40000; port < 40032; ++port) {
        const Flow flow = web_flow(kClientAddr, port);
        endpoints.insert(open_connection(harness, flow, harness.maglev_slot(flow), false));
    }
    EXPECT_GT(endpoints.size(), 1u);
    const int32_t web = harness.snapshot().find_service_port(VipKey::ipv4(kWebVip, rte_cpu_to_be_16(80), kProtoTcp));
    ASSERT_GE(web, 0);
    EXPECT_EQ(harness.affinity(0).find(kClientAddr, static_cast<uint32_t>(web), harness.worker(0).now_ms), nullptr)
        << "a service without affinity wrote to the affinity table";
}

TEST_P(GoldenAffinity, AFullAffinitySetStillServesNewClientsByHash) {
    GoldenHarness harness(topology());
    const int32_t web = harness.snapshot().find_service_port(VipKey::ipv4(kWebVip, rte_cpu_to_be_16(80), kProtoTcp));
    ASSERT_GE(web, 0);
    // Fill the capacity with fresh entries of other (fictitious) service ports: every set is full.
    AffinityTable& table = harness.affinity(0);
    const uint32_t now = harness.worker(0).now_ms;
    for (uint32_t n = 0, stored = 0; stored < table.capacity() && n < 1'000'000; ++n) {
        stored += table.insert(client_number(1 + n % 250), 1000 + n / 250, 0, 1, now, kAffinityTimeoutMs) ? 1 : 0;
    }
    const Flow flow = web_flow(kClientAddr, 40000);
    const uint32_t slot = harness.affinity_slot(flow);
    const Bytes input = client_to_vip(flow, kSynSpec);
    RunResult result = harness.run(0, input);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    EXPECT_EQ(address(translation->endpoint), address(harness.snapshot().endpoints[slot].address));
    check_result(result,
                 {.verdict = Verdict::Forwarded,
                  .target = kEndpointPortId,
                  .frame = gateway_to_endpoint(*translation, kSynSpec),
                  .counters = {{"new_connections", 1}, {"forwarded_to_endpoint", 1}, {"affinity_table_full", 1}}},
                 1, input.size(), false);
}

// ---------------------------------------------------------------------------------------------
// Client ranges

TEST_P(GoldenAffinity, SourcesOutsideTheClientRangesDoNotReachVips) {
    TopologySpec spec = topology(1, false);
    spec.client_ranges = {"198.18.0.0/24", "198.18.2.0/24"};
    GoldenHarness harness(spec);
    const Flow outside_tcp{
        .protocol = kProtoTcp, .client = kOutsideClient, .client_port = 40000, .vip = kWebVip, .vip_port = 80};
    const Flow outside_udp{
        .protocol = kProtoUdp, .client = kOutsideClient, .client_port = 40000, .vip = kWebVip, .vip_port = 53};
    const Flow outside_unserved_port{
        .protocol = kProtoTcp, .client = kOutsideClient, .client_port = 40000, .vip = kWebVip, .vip_port = 81};
    const test::IcmpEchoSpec request{.identifier = 0x4242, .sequence = 7, .payload = test::payload_bytes(56)};
    const std::vector<GoldenCase> cases = {
        {"TCP SYN from outside: silently dropped, no RST", client_to_vip(outside_tcp, kSynSpec), kClientPortId,
         dropped(DropReason::SourceNotAllowed)},
        {"UDP from outside", client_to_vip(outside_udp, UdpSpec{.payload = test::payload_bytes(8)}), kClientPortId,
         dropped(DropReason::SourceNotAllowed)},
        {"TCP to a port the VIP does not serve, from outside: no RST either",
         client_to_vip(outside_unserved_port, kSynSpec), kClientPortId, dropped(DropReason::SourceNotAllowed)},
        {"ping a VIP from outside: no echo reply",
         test::icmp_echo_frame(request, {.src = kOutsideClient, .dst = kWebVip}, from_router()), kClientPortId,
         dropped(DropReason::SourceNotAllowed)},
        {"an ICMP error from outside is judged by the flow it quotes (untracked here), not by its source",
         router_error_about_reply(web_flow(kClientAddr, 40999)), kClientPortId, dropped(DropReason::IcmpUnsupported)},
        {"ping the gateway's own address from outside: not a VIP, answered",
         test::icmp_echo_frame(request, {.src = kOutsideClient, .dst = kGatewayAddr, .id = 0x3333}, from_router()),
         kClientPortId,
         {.verdict = Verdict::Answered, .target = kClientPortId, .counters = {{"icmp_sent", 1}}}},
    };
    for (const auto& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u);

    // Inside the ranges: connections open, pings are answered.
    const Flow inside = web_flow(kClientAddr, 40000);
    open_connection(harness, inside, harness.maglev_slot(inside), false);
    const Flow inside_other_range = web_flow(ipv4("198.18.2.3"), 40000);
    open_connection(harness, inside_other_range, harness.maglev_slot(inside_other_range), false);
    test::IcmpEchoSpec reply = request;
    reply.request = false;
    harness.check(
        {"ping a VIP from inside",
         test::icmp_echo_frame(request, {.src = kClientAddr, .dst = kWebVip, .id = 0x3333}, from_router()),
         kClientPortId,
         {.verdict = Verdict::Answered,
          .target = kClientPortId,
          .frame = test::icmp_echo_frame(
              reply, {.src = kWebVip, .dst = kClientAddr, .ttl = 64, .id = 0x3333, .flags_fragment = 0}, to_router()),
          .counters = {{"icmp_sent", 1}}}});
}

TEST_P(GoldenAffinity, WithoutClientRangesEveryoneReachesVips) {
    GoldenHarness harness(topology(1, false));
    ASSERT_TRUE(harness.snapshot().client_ranges.empty());
    const Flow outside{
        .protocol = kProtoTcp, .client = kOutsideClient, .client_port = 40000, .vip = kWebVip, .vip_port = 80};
    open_connection(harness, outside, harness.maglev_slot(outside), false);
}

// Tracked connections are not checked: one opened before the ranges shrank continues until it
// ends, while the same client's new connections are refused.
TEST_P(GoldenAffinity, ATrackedConnectionOutlivesAShrinkOfTheRanges) {
    TopologySpec spec = topology(1, false);
    GoldenHarness harness(spec);
    const Flow flow = web_flow(kClientAddr, 40000);
    open_connection(harness, flow, harness.maglev_slot(flow), false);
    const Translation translation = *harness.translation(flow);
    spec.client_ranges = {"198.18.2.0/24"};
    harness.reload(spec);
    const TcpSpec ack{.seq = 2, .ack = 1, .flags = kAck};
    harness.check({"the tracked connection continues",
                   client_to_vip(flow, ack),
                   kClientPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kEndpointPortId,
                    .frame = gateway_to_endpoint(translation, ack),
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}}}});
    harness.check(
        {"an ICMP error about it from a router outside the ranges is translated",
         router_error_about_reply(flow),
         kClientPortId,
         {.verdict = Verdict::Forwarded, .target = kEndpointPortId, .counters = {{"icmp_errors_translated", 1}}}});
    harness.check({"a new connection from the same client is dropped",
                   client_to_vip(web_flow(kClientAddr, 40001), kSynSpec), kClientPortId,
                   dropped(DropReason::SourceNotAllowed)});
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenAffinity, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
