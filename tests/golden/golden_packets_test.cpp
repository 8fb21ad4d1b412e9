// Golden packets: frames through the real pipeline (process_burst) on a snapshot built from a
// TOML configuration, compared byte for byte with frames built independently by
// packet_builder, with the verdict and every counter change checked. See golden_harness.h for
// the topology and what each check covers. Every behaviour that depends on the NAT mode runs in
// both modes (the test parameter).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <rte_byteorder.h>
#include <rte_mempool.h>
#include <rte_tcp.h>

#include "dataplane/pipeline.h"
#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::Ipv4Spec;
using test::TcpSpec;
using test::UdpSpec;

constexpr uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr uint8_t kAck = RTE_TCP_ACK_FLAG;
constexpr uint8_t kRst = RTE_TCP_RST_FLAG;
constexpr uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr uint8_t kPsh = RTE_TCP_PSH_FLAG;
constexpr uint8_t kTosInternetworkControl = 0xC0;    // what the gateway's ICMP errors carry
constexpr uint32_t kUdpTimeoutMs = 120'000;          // udp_timeout in the golden configuration
constexpr uint32_t kUdpUnrepliedTimeoutMs = 30'000;  // udp_unreplied_timeout in the golden configuration
constexpr uint32_t kIntermediateRouterAddr = ipv4("198.19.0.254");

using Counters = std::map<std::string, uint64_t>;

Expectation forwarded(uint16_t port_index, Bytes frame, Counters counters) {
    return {.verdict = Verdict::Forwarded,
            .target = port_index,
            .frame = std::move(frame),
            .counters = std::move(counters)};
}

Expectation answered(uint16_t port_index, Bytes frame, std::optional<DropReason> reason, Counters counters) {
    return {.verdict = Verdict::Answered,
            .target = port_index,
            .reason = reason,
            .frame = std::move(frame),
            .counters = std::move(counters)};
}

Expectation dropped(DropReason reason, Counters counters = {}) {
    return {.verdict = Verdict::Dropped, .reason = reason, .counters = std::move(counters)};
}

Expectation handed_off(uint16_t worker, Bytes unchanged_frame) {
    return {.verdict = Verdict::HandedOff,
            .target = worker,
            .frame = std::move(unchanged_frame),
            .counters = {{"handoffs_out", 1}}};
}

std::string address(uint32_t network_order) {
    return test::ipv4_to_string(network_order);
}

Flow tcp_flow(uint16_t client_port = 40000, uint32_t vip = kWebVip, uint16_t vip_port = 80) {
    return {.protocol = kProtoTcp, .client_port = client_port, .vip = vip, .vip_port = vip_port};
}

Flow udp_flow(uint16_t client_port = 40000, uint32_t vip = kWebVip, uint16_t vip_port = 53) {
    return {.protocol = kProtoUdp, .client_port = client_port, .vip = vip, .vip_port = vip_port};
}

Flow with_client_port(Flow flow, uint16_t port) {
    flow.client_port = port;
    return flow;
}

class GoldenPackets : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology(uint16_t workers = 1) const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        spec.workers = workers;
        return spec;
    }
    bool fullnat() const { return GetParam() == NatMode::FullNat; }
};

// Sends the first packet of a new flow and checks it went to the endpoint Maglev picks, with the
// source translated to the SNAT address and a port of the worker's range (full-NAT) or kept
// (DNAT). Returns the translation the connection entry recorded.
template <class L4Spec>
Translation start_flow(GoldenHarness& harness, const Flow& flow, const L4Spec& first, uint16_t worker = 0,
                       const Ipv4Spec& ip = {}) {
    SCOPED_TRACE("new flow from client port " + std::to_string(flow.client_port));
    const uint32_t slot = harness.maglev_slot(flow);
    const EndpointSlot expected = harness.snapshot().endpoints[slot];
    const uint64_t connections_before = harness.endpoint_counters(worker, slot).connections;
    const Bytes input = client_to_vip(flow, first, ip);
    RunResult result = harness.run(worker, input);
    const std::optional<Translation> translation = harness.translation(flow, worker);
    if (!translation) {
        ADD_FAILURE() << "no connection entry for the new flow";
        return {};
    }
    EXPECT_EQ(address(translation->endpoint), address(expected.address));
    EXPECT_EQ(translation->endpoint_port, rte_be_to_cpu_16(expected.port));
    if (harness.snapshot().nat_mode == NatMode::FullNat) {
        EXPECT_EQ(address(translation->source), address(kSnatAddr));
        const auto [first_port, last_port] = harness.snat_range(worker);
        EXPECT_GE(translation->source_port, first_port);
        EXPECT_LE(translation->source_port, last_port);
    } else {
        EXPECT_EQ(address(translation->source), address(flow.client));
        EXPECT_EQ(translation->source_port, flow.client_port);
    }
    check_result(result,
                 forwarded(kEndpointPortId, gateway_to_endpoint(*translation, first, ip),
                           {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                 1, input.size(), false);
    EXPECT_EQ(harness.endpoint_counters(worker, slot).connections, connections_before + 1);
    return *translation;
}

// ---------------------------------------------------------------------------------------------
// TCP and UDP flows

TEST_P(GoldenPackets, NewTcpFlowGoesToTheMaglevEndpointAndStaysThere) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow();
    const TcpSpec syn{.seq = 1000, .flags = kSyn};
    const Translation translation = start_flow(harness, flow, syn);
    ASSERT_FALSE(HasFailure());

    const TcpSpec syn_ack{.seq = 5000, .ack = 1001, .flags = kSyn | kAck};
    const TcpSpec ack{.seq = 1001, .ack = 5001, .flags = kAck};
    const TcpSpec request{.seq = 1001, .ack = 5001, .flags = kAck | kPsh, .payload = test::payload_bytes(100)};
    const TcpSpec response{.seq = 5001, .ack = 1101, .flags = kAck | kPsh, .payload = test::payload_bytes(333, 7)};
    const TcpSpec client_fin{.seq = 1101, .ack = 5334, .flags = kFin | kAck};
    const TcpSpec endpoint_fin{.seq = 5334, .ack = 1102, .flags = kFin | kAck};
    const Counters to_endpoint{{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}};
    const Counters to_client{{"conntrack_hits", 1}, {"forwarded_to_client", 1}};
    const std::vector<GoldenCase> cases = {
        {"SYN-ACK from the endpoint goes back to the client from VIP:80", endpoint_to_gateway(translation, syn_ack),
         kEndpointPortId, forwarded(kClientPortId, gateway_to_client(flow, syn_ack), to_client)},
        {"handshake ACK follows the connection entry", client_to_vip(flow, ack), kClientPortId,
         forwarded(kEndpointPortId, gateway_to_endpoint(translation, ack), to_endpoint)},
        {"request with payload", client_to_vip(flow, request), kClientPortId,
         forwarded(kEndpointPortId, gateway_to_endpoint(translation, request), to_endpoint)},
        {"response with payload", endpoint_to_gateway(translation, response), kEndpointPortId,
         forwarded(kClientPortId, gateway_to_client(flow, response), to_client)},
        {"client FIN", client_to_vip(flow, client_fin), kClientPortId,
         forwarded(kEndpointPortId, gateway_to_endpoint(translation, client_fin), to_endpoint)},
        {"endpoint FIN", endpoint_to_gateway(translation, endpoint_fin), kEndpointPortId,
         forwarded(kClientPortId, gateway_to_client(flow, endpoint_fin), to_client)},
    };
    for (const auto& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 1u);
    const EndpointCounters& endpoint = harness.endpoint_counters(0, harness.maglev_slot(flow));
    EXPECT_EQ(endpoint.connections, 1u);
    EXPECT_EQ(endpoint.packets, 4u);  // SYN, ACK, request, FIN: the client -> endpoint direction

    // Maglev really decides per flow: a flow Maglev sends elsewhere goes elsewhere.
    const uint16_t other_port = harness.find_client_port(40001, [&](uint16_t port) {
        return harness.maglev_slot(with_client_port(flow, port)) != harness.maglev_slot(flow);
    });
    const Translation other = start_flow(harness, with_client_port(flow, other_port), syn);
    EXPECT_NE(address(other.endpoint), address(translation.endpoint));
}

// The time from forwarding the SYN to the endpoint's SYN-ACK lands in the endpoint's connect
// latency histogram; a SYN nobody answers counts as unanswered when its entry expires.
TEST_P(GoldenPackets, HandshakeLatencyAndUnansweredSynsPerEndpoint) {
    GoldenHarness harness(topology());
    WorkerContext& worker = harness.worker(0);
    worker.now_us = 1'000'000;
    const Flow flow = tcp_flow();
    const TcpSpec syn{.seq = 1000, .flags = kSyn};
    const Translation translation = start_flow(harness, flow, syn);
    ASSERT_FALSE(HasFailure());
    const uint32_t slot = harness.maglev_slot(flow);

    worker.now_us += 50'000;  // the SYN-ACK comes 50 ms later
    const TcpSpec syn_ack{.seq = 5000, .ack = 1001, .flags = kSyn | kAck};
    harness.check({"SYN-ACK after 50 ms", endpoint_to_gateway(translation, syn_ack), kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, syn_ack),
                             {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});
    const EndpointHandshakes& handshakes = harness.endpoint_handshakes(0, slot);
    EXPECT_EQ(handshakes.latency[connect_latency_bucket(50'000)], 1u);
    EXPECT_EQ(handshakes.latency_sum_us, 50'000u);
    uint64_t recorded = 0;
    for (uint64_t count : handshakes.latency) recorded += count;
    EXPECT_EQ(recorded, 1u);
    // A second SYN-ACK (retransmission) is not a second handshake.
    worker.now_us += 1'000;
    harness.run(0, endpoint_to_gateway(translation, syn_ack), kEndpointPortId);
    EXPECT_EQ(handshakes.latency_sum_us, 50'000u);
    EXPECT_EQ(harness.endpoint_counters(0, slot).syn_unanswered, 0u);

    // A SYN to another client port that nobody answers: one failure when it expires.
    const Flow silent = with_client_port(flow, harness.find_client_port(40001, [&](uint16_t port) {
        return harness.maglev_slot(with_client_port(flow, port)) == slot;
    }));
    start_flow(harness, silent, syn);
    ASSERT_FALSE(HasFailure());
    worker.now_ms += harness.snapshot().timeouts.tcp_syn_ms;
    harness.connections(0).expire(worker.now_ms, 1u << 20);
    EXPECT_EQ(harness.endpoint_counters(0, slot).syn_unanswered, 1u);
    EXPECT_EQ(harness.endpoint_handshakes(0, slot).latency_sum_us, 50'000u);
}

TEST_P(GoldenPackets, UdpFlowAndReply) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow();
    const UdpSpec query{.payload = test::payload_bytes(40)};
    const Translation translation = start_flow(harness, flow, query);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(translation.endpoint_port, 5353);

    const UdpSpec answer{.payload = test::payload_bytes(120, 3)};
    harness.check({"answer from the endpoint goes back from VIP:53", endpoint_to_gateway(translation, answer),
                   kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, answer),
                             {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});
    harness.check({"second query follows the connection", client_to_vip(flow, query), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, query),
                             {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}})});
}

TEST_P(GoldenPackets, UdpWithoutChecksumKeepsChecksumZero) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(40002);
    const UdpSpec query{.payload = test::payload_bytes(17), .zero_checksum = true};
    const Translation translation = start_flow(harness, flow, query);
    ASSERT_FALSE(HasFailure());
    const UdpSpec answer{.payload = test::payload_bytes(9), .zero_checksum = true};
    harness.check({"checksum-less answer stays checksum-less", endpoint_to_gateway(translation, answer),
                   kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, answer),
                             {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});
}

TEST_P(GoldenPackets, PriorityTaggedFrameLeavesWithOneTagOnTheVlanPort) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(40500);
    const TcpSpec syn{.src_port = 40500, .dst_port = 80, .seq = 9, .flags = kSyn};
    // 802.1Q tag with VLAN id 0 (priority only): the untagged port accepts it as untagged.
    test::EthernetSpec priority_tagged = from_router();
    priority_tagged.tagged_with_vlan_zero = true;
    const Bytes input = test::tcp_frame(syn, {.src = flow.client, .dst = flow.vip}, priority_tagged);
    RunResult result = harness.run(0, input);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    // The tag is rewritten to VLAN 100, not stacked under a second tag.
    check_result(result,
                 forwarded(kEndpointPortId, gateway_to_endpoint(*translation, syn),
                           {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                 1, input.size(), false);
}

TEST_P(GoldenPackets, BurstOfOneNewFlowMakesOneConnection) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(41000);
    std::vector<UdpSpec> datagrams;
    std::vector<std::pair<Bytes, uint16_t>> burst;
    uint64_t bytes = 0;
    for (uint8_t i = 0; i < 5; ++i) {
        datagrams.push_back({.payload = test::payload_bytes(10 + i, i)});
        burst.emplace_back(client_to_vip(flow, datagrams.back()), kClientPortId);
        bytes += burst.back().first.size();
    }
    RunResult result = harness.run(0, burst);
    EXPECT_EQ(harness.connections(0).size(), 1u);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    EXPECT_EQ(address(translation->endpoint), address(harness.maglev_choice(flow).address));
    ASSERT_EQ(result.transmitted.size(), datagrams.size());
    for (size_t i = 0; i < datagrams.size(); ++i) {
        SCOPED_TRACE("datagram " + std::to_string(i));
        EXPECT_EQ(result.transmitted[i].port_index, kEndpointPortId);
        EXPECT_EQ(test::hex(result.transmitted[i].frame), test::hex(gateway_to_endpoint(*translation, datagrams[i])));
    }
    const Counters expected{{"rx_packets", 5},
                            {"rx_bytes", bytes},
                            {"new_connections", 1},
                            {"conntrack_hits", 4},
                            {"forwarded_to_endpoint", 5}};
    EXPECT_EQ(result.counter_changes, expected);
}

TEST_P(GoldenPackets, InterleavedNewFlowsInOneBurst) {
    GoldenHarness harness(topology());
    const Flow first = tcp_flow(42000);
    const Flow second = udp_flow(42001);
    const TcpSpec syn{.seq = 77, .flags = kSyn};
    const UdpSpec query{.payload = test::payload_bytes(8)};
    RunResult result = harness.run(0, {{client_to_vip(first, syn), kClientPortId},
                                       {client_to_vip(second, query), kClientPortId},
                                       {client_to_vip(first, syn), kClientPortId},
                                       {client_to_vip(second, query), kClientPortId}});
    EXPECT_EQ(harness.connections(0).size(), 2u);
    const std::optional<Translation> first_translation = harness.translation(first);
    const std::optional<Translation> second_translation = harness.translation(second);
    ASSERT_TRUE(first_translation && second_translation);
    ASSERT_EQ(result.transmitted.size(), 4u);
    EXPECT_EQ(test::hex(result.transmitted[0].frame), test::hex(gateway_to_endpoint(*first_translation, syn)));
    EXPECT_EQ(test::hex(result.transmitted[1].frame), test::hex(gateway_to_endpoint(*second_translation, query)));
    EXPECT_EQ(test::hex(result.transmitted[2].frame), test::hex(gateway_to_endpoint(*first_translation, syn)));
    EXPECT_EQ(test::hex(result.transmitted[3].frame), test::hex(gateway_to_endpoint(*second_translation, query)));
    EXPECT_EQ(result.counter_changes["new_connections"], 2u);
}

// The handshake's ACK and the first data in the same burst as the SYN: the batched lookup missed
// them all, yet they belong to the connection the SYN opened (not a mid-stream pickup, which
// full-NAT would reset).
TEST_P(GoldenPackets, SynAndItsFollowersInOneBurstShareTheConnection) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(42500);
    const TcpSpec syn{.seq = 100, .flags = kSyn};
    const TcpSpec ack{.seq = 101, .ack = 1, .flags = kAck};
    const TcpSpec data{.seq = 101, .ack = 1, .flags = kAck, .payload = test::payload_bytes(12)};
    RunResult result = harness.run(0, {{client_to_vip(flow, syn), kClientPortId},
                                       {client_to_vip(flow, ack), kClientPortId},
                                       {client_to_vip(flow, data), kClientPortId}});
    EXPECT_EQ(harness.connections(0).size(), 1u);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    ASSERT_EQ(result.transmitted.size(), 3u);
    EXPECT_EQ(test::hex(result.transmitted[0].frame), test::hex(gateway_to_endpoint(*translation, syn)));
    EXPECT_EQ(test::hex(result.transmitted[1].frame), test::hex(gateway_to_endpoint(*translation, ack)));
    EXPECT_EQ(test::hex(result.transmitted[2].frame), test::hex(gateway_to_endpoint(*translation, data)));
    EXPECT_EQ(result.counter_changes["new_connections"], 1u);
    EXPECT_EQ(result.counter_changes["resets_sent"], 0u);
}

TEST_P(GoldenPackets, SameClientPortToOneEndpointThroughTwoVips) {
    GoldenHarness harness(topology());
    // "alias" has web's first endpoint as its only endpoint.
    const Flow via_web = tcp_flow(harness.find_client_port(
        52000, [&](uint16_t port) { return harness.maglev_choice(tcp_flow(port)).address == kWebEndpoint1; }));
    const Flow via_alias = tcp_flow(via_web.client_port, kAliasVip);
    const TcpSpec syn{.seq = 1, .flags = kSyn};
    const Translation web_translation = start_flow(harness, via_web, syn);
    ASSERT_FALSE(HasFailure());
    if (fullnat()) {
        // Each flow has its own SNAT port, so the endpoint's replies are told apart.
        const Translation alias_translation = start_flow(harness, via_alias, syn);
        EXPECT_NE(alias_translation.source_port, web_translation.source_port);
    } else {
        // Both flows would be answered from 198.19.0.20:8080 to the same client port.
        harness.check({"second VIP, same endpoint and client port", client_to_vip(via_alias, syn), kClientPortId,
                       dropped(DropReason::ReplyTupleInUse)});
        EXPECT_FALSE(harness.translation(via_alias).has_value());
        const TcpSpec syn_ack{.seq = 7, .ack = 2, .flags = kSyn | kAck};
        harness.check({"the reply still belongs to the first flow", endpoint_to_gateway(web_translation, syn_ack),
                       kEndpointPortId,
                       forwarded(kClientPortId, gateway_to_client(via_web, syn_ack),
                                 {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});
    }
}

// Fills worker 0's connection table with half-open TCP connections (evictable under pressure),
// client ports from 10000 up, and returns their flows.
std::vector<Flow> fill_with_half_open(GoldenHarness& harness) {
    std::vector<Flow> flows;
    ConnTable& table = harness.connections(0);
    for (uint32_t port = 10000; table.size() < table.capacity(); ++port) {
        if (port >= 10000 + 2 * table.capacity()) throw std::runtime_error("the table never filled");
        flows.push_back(tcp_flow(static_cast<uint16_t>(port)));
        harness.run(0, client_to_vip(flows.back(), TcpSpec{.flags = kSyn}));
    }
    return flows;
}

TEST_P(GoldenPackets, HitIsLookedUpAgainAfterAnEvictionInTheSameBurst) {
    const TcpSpec syn{.seq = 5, .flags = kSyn};
    const Flow newcomer = tcp_flow(5000);
    // A rehearsal on an identical harness finds the connection the newcomer's SYN evicts.
    Flow victim;
    {
        GoldenHarness rehearsal(topology());
        const std::vector<Flow> flows = fill_with_half_open(rehearsal);
        RunResult result = rehearsal.run(0, client_to_vip(newcomer, syn));
        ASSERT_EQ(result.counter_changes["conntrack_evictions"], 1u);
        const auto evicted =
            std::find_if(flows.begin(), flows.end(), [&](const Flow& flow) { return !rehearsal.translation(flow); });
        ASSERT_NE(evicted, flows.end());
        victim = *evicted;
    }
    GoldenHarness harness(topology());
    fill_with_half_open(harness);
    ASSERT_TRUE(harness.translation(victim).has_value());
    // The victim's RST is a hit in the burst's batched lookup, but by the time it is handled
    // the newcomer has taken its entry: it must be treated as untracked (an untracked RST is
    // dropped), not translated with whatever the entry now holds.
    const Bytes newcomer_syn = client_to_vip(newcomer, syn);
    const Bytes victim_rst = client_to_vip(victim, TcpSpec{.seq = 6, .ack = 1, .flags = kRst | kAck});
    RunResult result = harness.run(0, {{newcomer_syn, kClientPortId}, {victim_rst, kClientPortId}});
    const std::optional<Translation> translation = harness.translation(newcomer);
    ASSERT_TRUE(translation.has_value());
    EXPECT_FALSE(harness.translation(victim).has_value());
    ASSERT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(test::hex(result.transmitted[0].frame), test::hex(gateway_to_endpoint(*translation, syn)));
    const Counters expected{{"rx_packets", 2},
                            {"rx_bytes", newcomer_syn.size() + victim_rst.size()},
                            {"new_connections", 1},
                            {"conntrack_evictions", 1},
                            {"forwarded_to_endpoint", 1},
                            {drop_counter(DropReason::NotSyn), 1}};
    EXPECT_EQ(result.counter_changes, expected);
}

// A UDP flow nobody answered expires after the short unreplied timeout; an answered one after
// udp_timeout. Either way the next datagram opens a new connection.
TEST_P(GoldenPackets, ExpiredUdpConnectionIsReplacedAfterAgeing) {
    GoldenHarness harness(topology());
    const UdpSpec query{.payload = test::payload_bytes(12)};
    const Flow unanswered = udp_flow(43000);
    const Flow answered = udp_flow(43001);
    start_flow(harness, unanswered, query);
    const Translation translation = start_flow(harness, answered, query);
    ASSERT_FALSE(HasFailure());
    const UdpSpec answer{.payload = test::payload_bytes(5)};
    harness.check({"the answer promotes the flow to udp_timeout", endpoint_to_gateway(translation, answer),
                   kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(answered, answer),
                             {{"conntrack_hits", 1}, {"forwarded_to_client", 1}})});

    WorkerContext& worker = harness.worker(0);
    ConnTable& table = harness.connections(0);
    const uint32_t start = worker.now_ms;
    EXPECT_EQ(table.expire(start + kUdpUnrepliedTimeoutMs - 1, 1024), 0u) << "expired too early";
    EXPECT_EQ(table.expire(start + kUdpUnrepliedTimeoutMs, 1024), 1u);
    EXPECT_FALSE(harness.translation(unanswered).has_value());
    EXPECT_TRUE(harness.translation(answered).has_value());
    EXPECT_EQ(table.expire(start + kUdpTimeoutMs - 1, 1024), 0u) << "the answered flow expired too early";
    EXPECT_EQ(table.expire(start + kUdpTimeoutMs, 1024), 1u);
    EXPECT_FALSE(harness.translation(answered).has_value());

    worker.now_ms = start + kUdpTimeoutMs;
    start_flow(harness, unanswered, query);  // a new connection, to the same Maglev endpoint
}

// ---------------------------------------------------------------------------------------------
// TTL

TEST_P(GoldenPackets, TtlOneIsAnsweredWithTimeExceeded) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(44000);
    const Bytes input = client_to_vip(flow, TcpSpec{.flags = kSyn}, Ipv4Spec{.ttl = 1});
    // A packet that is not forwarded must not count as forwarded nor open a connection.
    harness.check(
        {"SYN with TTL 1 to a VIP", input, kClientPortId,
         answered(kClientPortId,
                  test::icmp_error_frame({.type = 11, .code = 0, .quoted = test::quote_of(input)},
                                         answer_ip(kGatewayAddr, kClientAddr, kTosInternetworkControl), to_router()),
                  DropReason::TtlExceeded, {{"icmp_sent", 1}})});
    EXPECT_FALSE(harness.translation(flow).has_value()) << "a connection was opened for an expired packet";
}

TEST_P(GoldenPackets, TtlOneFromTheEndpointIsAnsweredOnTheEndpointVlan) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(44001);
    const Translation translation = start_flow(harness, flow, TcpSpec{.flags = kSyn});
    ASSERT_FALSE(HasFailure());
    const Bytes input = endpoint_to_gateway(translation, TcpSpec{.ack = 1001, .flags = kSyn | kAck}, {.ttl = 1});
    harness.check(
        {"SYN-ACK with TTL 1 from the endpoint", input, kEndpointPortId,
         answered(kEndpointPortId,
                  test::icmp_error_frame({.type = 11, .code = 0, .quoted = test::quote_of(input)},
                                         answer_ip(kEndpointSideAddr, translation.endpoint, kTosInternetworkControl),
                                         to_neighbor(translation.endpoint)),
                  DropReason::TtlExceeded, {{"conntrack_hits", 1}, {"icmp_sent", 1}})});
}

// ---------------------------------------------------------------------------------------------
// Refusals and answers

TEST_P(GoldenPackets, RefusalsAndAnswers) {
    GoldenHarness harness(topology());
    const auto reset = [](uint32_t from, uint16_t from_port, TcpSpec answer) {
        answer.src_port = from_port;
        answer.dst_port = 40000;
        answer.window = 0;
        return test::tcp_frame(answer, answer_ip(from, kClientAddr), to_router());
    };
    const auto port_unreachable = [](uint32_t from, const Bytes& input) {
        return test::icmp_error_frame({.type = 3, .code = 3, .quoted = test::quote_of(input)},
                                      answer_ip(from, kClientAddr, kTosInternetworkControl), to_router());
    };
    const Bytes syn_to_empty = client_to_vip(tcp_flow(40000, kEmptyVip), TcpSpec{.seq = 1000, .flags = kSyn});
    const Bytes data_to_empty =
        client_to_vip(tcp_flow(40000, kEmptyVip),
                      TcpSpec{.seq = 1000, .ack = 7777, .flags = kAck | kPsh, .payload = test::payload_bytes(10)});
    const Bytes fin_to_empty = client_to_vip(tcp_flow(40000, kEmptyVip),
                                             TcpSpec{.seq = 1000, .flags = kFin, .payload = test::payload_bytes(5)});
    const Bytes rst_to_empty = client_to_vip(tcp_flow(40000, kEmptyVip), TcpSpec{.flags = kRst});
    const Bytes udp_to_empty = client_to_vip(udp_flow(40000, kEmptyVip), UdpSpec{.payload = test::payload_bytes(30)});
    const Bytes syn_to_drained = client_to_vip(tcp_flow(40000, kDrainedVip), TcpSpec{.seq = 1, .flags = kSyn});
    const Bytes udp_to_drained = client_to_vip(udp_flow(40000, kDrainedVip), UdpSpec{});
    const Bytes syn_to_wrong_port = client_to_vip(tcp_flow(40000, kWebVip, 81), TcpSpec{.seq = 99, .flags = kSyn});
    const Bytes rst_to_wrong_port = client_to_vip(tcp_flow(40000, kWebVip, 81), TcpSpec{.flags = kRst | kAck});
    const Bytes udp_to_wrong_port = client_to_vip(udp_flow(40000, kWebVip, 54), UdpSpec{});
    const Bytes tcp_as_udp_port = client_to_vip(tcp_flow(40000, kWebVip, 53), TcpSpec{.seq = 5, .flags = kSyn});
    const Bytes syn_to_gateway = client_to_vip(tcp_flow(40000, kGatewayAddr, 22), TcpSpec{.seq = 5, .flags = kSyn});
    const Bytes udp_to_gateway = client_to_vip(udp_flow(40000, kGatewayAddr, 161), UdpSpec{});
    const Bytes ack_to_web = client_to_vip(tcp_flow(45000), TcpSpec{.seq = 10, .ack = 20, .flags = kRst | kAck});

    const std::vector<GoldenCase> cases = {
        {"SYN to a service without endpoints: RST|ACK acknowledging the SYN", syn_to_empty, kClientPortId,
         answered(kClientPortId, reset(kEmptyVip, 80, {.seq = 0, .ack = 1001, .flags = kRst | kAck}),
                  DropReason::NoEndpoint, {{"resets_sent", 1}})},
        {"data with ACK to a service without endpoints: RST with seq = SEG.ACK", data_to_empty, kClientPortId,
         answered(kClientPortId, reset(kEmptyVip, 80, {.seq = 7777, .ack = 0, .flags = kRst}), DropReason::NoEndpoint,
                  {{"resets_sent", 1}})},
        {"FIN with payload, no ACK: ack = seq + payload + 1", fin_to_empty, kClientPortId,
         answered(kClientPortId, reset(kEmptyVip, 80, {.seq = 0, .ack = 1006, .flags = kRst | kAck}),
                  DropReason::NoEndpoint, {{"resets_sent", 1}})},
        {"RST to a service without endpoints is not answered", rst_to_empty, kClientPortId,
         dropped(DropReason::NotSyn)},
        {"UDP to a service without endpoints: port unreachable from the VIP", udp_to_empty, kClientPortId,
         answered(kClientPortId, port_unreachable(kEmptyVip, udp_to_empty), DropReason::NoEndpoint,
                  {{"icmp_sent", 1}})},
        {"SYN to a service whose endpoints are draining (weight 0) or not ready", syn_to_drained, kClientPortId,
         answered(kClientPortId, reset(kDrainedVip, 80, {.seq = 0, .ack = 2, .flags = kRst | kAck}),
                  DropReason::NoEndpoint, {{"resets_sent", 1}})},
        {"UDP to a service whose endpoints are draining or not ready", udp_to_drained, kClientPortId,
         answered(kClientPortId, port_unreachable(kDrainedVip, udp_to_drained), DropReason::NoEndpoint,
                  {{"icmp_sent", 1}})},
        {"SYN to a VIP port that is not served", syn_to_wrong_port, kClientPortId,
         answered(kClientPortId, reset(kWebVip, 81, {.seq = 0, .ack = 100, .flags = kRst | kAck}),
                  DropReason::VipPortRefused, {{"resets_sent", 1}})},
        {"RST to a VIP port that is not served is dropped, not answered", rst_to_wrong_port, kClientPortId,
         dropped(DropReason::VipPortRefused)},
        {"UDP to a VIP port that is not served", udp_to_wrong_port, kClientPortId,
         answered(kClientPortId, port_unreachable(kWebVip, udp_to_wrong_port), DropReason::VipPortRefused,
                  {{"icmp_sent", 1}})},
        {"TCP to the VIP's UDP-only port", tcp_as_udp_port, kClientPortId,
         answered(kClientPortId, reset(kWebVip, 53, {.seq = 0, .ack = 6, .flags = kRst | kAck}),
                  DropReason::VipPortRefused, {{"resets_sent", 1}})},
        {"SYN to the gateway's own address", syn_to_gateway, kClientPortId,
         answered(kClientPortId, reset(kGatewayAddr, 22, {.seq = 0, .ack = 6, .flags = kRst | kAck}),
                  DropReason::NoService, {{"resets_sent", 1}})},
        {"UDP to the gateway's own address", udp_to_gateway, kClientPortId,
         answered(kClientPortId, port_unreachable(kGatewayAddr, udp_to_gateway), DropReason::NoService,
                  {{"icmp_sent", 1}})},
        {"untracked RST|ACK to a served VIP port is dropped", ack_to_web, kClientPortId, dropped(DropReason::NotSyn)},
    };
    for (const auto& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u) << "a refusal opened a connection";
    // Each refusal for want of an endpoint is counted against its service port (six cases above);
    // a port that is not served has no service port to count against.
    uint64_t refusals = 0;
    for (uint32_t id = 0; id < harness.snapshot().service_ports.capacity() && id < 64; ++id) {
        const uint64_t count = harness.service_port_refusals(0, id);
        if (count != 0) {
            const std::string& name = harness.snapshot().service_ports[id].service_name;
            EXPECT_TRUE(name.find("empty") != std::string::npos || name.find("drained") != std::string::npos) << name;
        }
        refusals += count;
    }
    EXPECT_EQ(refusals, 6u);
}

TEST_P(GoldenPackets, EchoRequestsToOwnAddressesAreAnswered) {
    GoldenHarness harness(topology());
    const test::IcmpEchoSpec request{.identifier = 0x4242, .sequence = 7, .payload = test::payload_bytes(56)};
    test::IcmpEchoSpec reply = request;
    reply.request = false;
    const auto echo = [&](uint32_t to) {
        return test::icmp_echo_frame(request, {.src = kClientAddr, .dst = to, .id = 0x3333}, from_router());
    };
    const auto echo_reply = [&](uint32_t from) {
        return test::icmp_echo_frame(
            reply, {.src = from, .dst = kClientAddr, .ttl = 64, .id = 0x3333, .flags_fragment = 0}, to_router());
    };
    const Bytes echo_from_endpoint =
        test::icmp_echo_frame(request, {.src = kWebEndpoint1, .dst = kSnatAddr}, from_neighbor(kWebEndpoint1));
    const Bytes echo_reply_to_endpoint = test::icmp_echo_frame(
        reply, {.src = kSnatAddr, .dst = kWebEndpoint1, .ttl = 64, .flags_fragment = 0}, to_neighbor(kWebEndpoint1));
    const Bytes reply_to_vip = test::icmp_echo_frame(reply, {.src = kClientAddr, .dst = kWebVip}, from_router());
    const Bytes echo_to_stranger = echo(ipv4("198.18.77.77"));
    const Bytes unreachable_to_vip = test::icmp_error_frame({.type = 3, .code = 1, .quoted = Bytes(8, 0)},
                                                            {.src = kClientAddr, .dst = kWebVip}, from_router());
    const std::vector<GoldenCase> cases = {
        {"ping a VIP", echo(kWebVip), kClientPortId,
         answered(kClientPortId, echo_reply(kWebVip), std::nullopt, {{"icmp_sent", 1}})},
        {"ping a VIP without endpoints", echo(kEmptyVip), kClientPortId,
         answered(kClientPortId, echo_reply(kEmptyVip), std::nullopt, {{"icmp_sent", 1}})},
        {"ping a VIP with TTL 1: delivered here, so answered",
         test::icmp_echo_frame(request, {.src = kClientAddr, .dst = kWebVip, .ttl = 1, .id = 0x3333}, from_router()),
         kClientPortId, answered(kClientPortId, echo_reply(kWebVip), std::nullopt, {{"icmp_sent", 1}})},
        {"ping the gateway's own address", echo(kGatewayAddr), kClientPortId,
         answered(kClientPortId, echo_reply(kGatewayAddr), std::nullopt, {{"icmp_sent", 1}})},
        {"an endpoint pings the SNAT address (tagged port)", echo_from_endpoint, kEndpointPortId,
         answered(kEndpointPortId, echo_reply_to_endpoint, std::nullopt, {{"icmp_sent", 1}})},
        {"ping an address that is not ours", echo_to_stranger, kClientPortId, dropped(DropReason::NoService)},
        {"echo reply to a VIP", reply_to_vip, kClientPortId, dropped(DropReason::IcmpUnsupported)},
        {"ICMP error without a translatable quote", unreachable_to_vip, kClientPortId,
         dropped(DropReason::IcmpUnsupported)},
    };
    for (const auto& golden : cases) harness.check(golden);
}

// ---------------------------------------------------------------------------------------------
// ARP, neighbors, routes

TEST_P(GoldenPackets, ArpAndNeighborMisses) {
    GoldenHarness harness(topology());
    const Bytes request =
        test::arp_frame({.sender_mac = kRouterMac, .sender_addr = kRouterAddr, .target_addr = kGatewayAddr});
    const Bytes reply_to_us = test::arp_frame({.operation = RTE_ARP_OP_REPLY,
                                               .sender_mac = kRouterMac,
                                               .sender_addr = kRouterAddr,
                                               .target_mac = kClientPortMac,
                                               .target_addr = kGatewayAddr});
    const Bytes reply_to_other = test::arp_frame({.operation = RTE_ARP_OP_REPLY,
                                                  .sender_mac = kRouterMac,
                                                  .sender_addr = kRouterAddr,
                                                  .target_mac = mac("02:00:00:00:09:09"),
                                                  .target_addr = ipv4("198.18.200.9")});
    Bytes malformed = request;
    malformed[14 + 4] = 8;  // hardware address length 8
    const Bytes request_on_vlan = test::arp_frame(
        {.sender_mac = neighbor_mac(kWebEndpoint1), .sender_addr = kWebEndpoint1, .target_addr = kSnatAddr},
        test::EthernetSpec{.src = neighbor_mac(kWebEndpoint1), .dst = test::kBroadcastMac, .vlan = kEndpointVlan});
    const std::vector<GoldenCase> cases = {
        {"broadcast ARP request goes to the control thread",
         request,
         kClientPortId,
         {.verdict = Verdict::Punted, .frame = request, .counters = {{"punted", 1}}}},
        {"ARP reply to our MAC goes to the control thread",
         reply_to_us,
         kClientPortId,
         {.verdict = Verdict::Punted, .frame = reply_to_us, .counters = {{"punted", 1}}}},
        {"tagged ARP request on the endpoint port",
         request_on_vlan,
         kEndpointPortId,
         {.verdict = Verdict::Punted, .frame = request_on_vlan, .counters = {{"punted", 1}}}},
        {"ARP reply to another MAC", reply_to_other, kClientPortId, dropped(DropReason::NotForUs)},
        {"ARP with a hardware length of 8", malformed, kClientPortId, dropped(DropReason::MalformedArp)},
    };
    for (const auto& golden : cases) harness.check(golden);
}

TEST_P(GoldenPackets, UnresolvedEndpointIsPuntedWithItsAddress) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(40000, kUnresolvedVip);
    const TcpSpec syn{.seq = 3, .flags = kSyn};
    const Bytes input = client_to_vip(flow, syn);
    RunResult result = harness.run(0, input);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    EXPECT_EQ(address(translation->endpoint), address(kUnresolvedEndpoint));
    check_result(result,
                 {.verdict = Verdict::Punted,
                  .counters = {{"new_connections", 1}, {"forwarded_to_endpoint", 1}, {"punted", 1}},
                  .punted_next_hop = kUnresolvedEndpoint},
                 1, input.size(), false);
    ASSERT_EQ(result.punted.size(), 1u);
    EXPECT_EQ(result.punted[0].port_id, kEndpointPortId);
    // Translated and framed for the endpoint port; the destination MAC is the resolver's to fill.
    const Bytes expected = gateway_to_endpoint(*translation, syn);
    const Bytes& actual = result.punted[0].frame;
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_EQ(test::hex({actual.data() + 6, actual.size() - 6}), test::hex({expected.data() + 6, expected.size() - 6}));
}

TEST_P(GoldenPackets, UnresolvedRouterIsPuntedWithTheGatewayAddress) {
    GoldenHarness harness(topology());
    const Flow flow{.protocol = kProtoTcp, .client = kUnresolvedClientAddr, .client_port = 40000};
    const Translation translation = start_flow(harness, flow, TcpSpec{.flags = kSyn});
    ASSERT_FALSE(HasFailure());
    const TcpSpec syn_ack{.ack = 1001, .flags = kSyn | kAck};
    const Bytes input = endpoint_to_gateway(translation, syn_ack);
    RunResult result = harness.run(0, input, kEndpointPortId);
    check_result(result,
                 {.verdict = Verdict::Punted,
                  .counters = {{"conntrack_hits", 1}, {"forwarded_to_client", 1}, {"punted", 1}},
                  .punted_next_hop = kUnresolvedRouterAddr},
                 1, input.size(), false);
    ASSERT_EQ(result.punted.size(), 1u);
    EXPECT_EQ(result.punted[0].port_id, kClientPortId);
    const Bytes expected = gateway_to_client(flow, syn_ack);
    const Bytes& actual = result.punted[0].frame;
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_EQ(test::hex({actual.data() + 6, actual.size() - 6}), test::hex({expected.data() + 6, expected.size() - 6}));
}

TEST_P(GoldenPackets, EndpointWithoutRouteIsDropped) {
    GoldenHarness harness(topology());
    harness.check({"SYN to a service whose endpoint has no route",
                   client_to_vip(tcp_flow(40000, kUnroutableVip), TcpSpec{.flags = kSyn}), kClientPortId,
                   dropped(DropReason::NoRoute, {{"new_connections", 1}, {"forwarded_to_endpoint", 1}})});
}

// ---------------------------------------------------------------------------------------------
// Malformed and foreign frames: dropped with the right reason, nothing emitted

TEST_P(GoldenPackets, MalformedFramesAreDroppedWithTheirReason) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(46000);
    const TcpSpec syn{.flags = kSyn};
    const auto client_syn = [&](const Ipv4Spec& ip) { return client_to_vip(flow, syn, ip); };
    Bytes truncated_ipv4 = client_syn({});
    truncated_ipv4.resize(14 + 12);
    Bytes truncated_tcp = client_syn({.total_length = 30});
    truncated_tcp.resize(14 + 30);
    Bytes truncated_vlan = test::ethernet_frame(RTE_ETHER_TYPE_VLAN, Bytes{0x00}, from_router());
    const Bytes long_udp = client_to_vip(udp_flow(), UdpSpec{.payload = test::payload_bytes(4), .length = 200});
    const Bytes long_tcp_header = client_to_vip(flow, TcpSpec{.flags = kSyn, .data_offset = 15});
    const Bytes gre =
        test::ipv4_frame(47, test::payload_bytes(24), {.src = kClientAddr, .dst = kWebVip}, from_router());
    const Bytes ipv6 = test::ethernet_frame(0x86DD, test::payload_bytes(60), from_router());
    const Bytes tagged_on_untagged = test::tcp_frame(syn, {.src = kClientAddr, .dst = kWebVip},
                                                     {.src = kRouterMac, .dst = kClientPortMac, .vlan = 7});
    const Bytes untagged_on_tagged = test::tcp_frame(syn, {.src = kWebEndpoint1, .dst = kSnatAddr},
                                                     {.src = neighbor_mac(kWebEndpoint1), .dst = kEndpointPortMac});
    const Bytes wrong_tag_on_tagged =
        test::tcp_frame(syn, {.src = kWebEndpoint1, .dst = kSnatAddr},
                        {.src = neighbor_mac(kWebEndpoint1), .dst = kEndpointPortMac, .vlan = kEndpointVlan + 1});
    const Bytes wrong_mac = test::tcp_frame(syn, {.src = kClientAddr, .dst = kWebVip},
                                            {.src = kRouterMac, .dst = mac("02:00:00:00:00:99")});
    const Bytes broadcast_ip =
        test::tcp_frame(syn, {.src = kClientAddr, .dst = kWebVip}, {.src = kRouterMac, .dst = test::kBroadcastMac});
    const Bytes other_port_mac =
        test::tcp_frame(syn, {.src = kClientAddr, .dst = kWebVip}, {.src = kRouterMac, .dst = kEndpointPortMac});
    const Bytes to_stranger = client_to_vip(tcp_flow(46000, ipv4("198.18.50.50")), syn);

    const std::vector<GoldenCase> cases = {
        {"runt frame shorter than an Ethernet header", Bytes(10, 0xab), kClientPortId,
         dropped(DropReason::TruncatedEthernet)},
        {"802.1Q tag cut short", truncated_vlan, kClientPortId, dropped(DropReason::TruncatedVlan)},
        {"IPv4 header cut short", truncated_ipv4, kClientPortId, dropped(DropReason::TruncatedIpv4)},
        {"TCP header cut short", truncated_tcp, kClientPortId, dropped(DropReason::TruncatedL4)},
        {"TCP data offset beyond the segment", long_tcp_header, kClientPortId, dropped(DropReason::TruncatedL4)},
        {"UDP length beyond the datagram", long_udp, kClientPortId, dropped(DropReason::TruncatedL4)},
        {"IP version 6 under the IPv4 ethertype", client_syn({.version = 6}), kClientPortId,
         dropped(DropReason::BadIpVersion)},
        {"IHL of 4", client_syn({.ihl = 4}), kClientPortId, dropped(DropReason::BadIhl)},
        {"IP options", client_syn({.options = {0x01, 0x01, 0x01, 0x00}}), kClientPortId,
         dropped(DropReason::IpOptions)},
        {"total length beyond the frame", client_syn({.total_length = 1000}), kClientPortId,
         dropped(DropReason::BadIpLength)},
        {"bad IPv4 header checksum", client_syn({.bad_checksum = true}), kClientPortId,
         dropped(DropReason::BadIpChecksum)},
        {"ICMP fragment (only TCP and UDP are tracked in fragments)",
         test::icmp_echo_frame({}, {.src = kClientAddr, .dst = kWebVip, .flags_fragment = RTE_IPV4_HDR_MF_FLAG},
                               from_router()),
         kClientPortId, dropped(DropReason::Fragment)},
        {"TCP fragment at offset 8 (RFC 1858)", client_syn({.flags_fragment = 1}), kClientPortId,
         dropped(DropReason::FragmentTiny)},
        {"GRE", gre, kClientPortId, dropped(DropReason::UnsupportedProtocol)},
        {"IPv6 ethertype over a version-0 header (golden_ipv6_test.cpp has IPv6 proper)", ipv6, kClientPortId,
         dropped(DropReason::BadIpVersion)},
        {"VLAN 7 tag on the untagged port", tagged_on_untagged, kClientPortId, dropped(DropReason::VlanMismatch)},
        {"untagged frame on the VLAN 100 port", untagged_on_tagged, kEndpointPortId, dropped(DropReason::VlanMismatch)},
        {"VLAN 101 frame on the VLAN 100 port", wrong_tag_on_tagged, kEndpointPortId,
         dropped(DropReason::VlanMismatch)},
        {"unicast to another MAC", wrong_mac, kClientPortId, dropped(DropReason::NotForUs)},
        {"IPv4 to the broadcast MAC", broadcast_ip, kClientPortId, dropped(DropReason::NotForUs)},
        {"to the other port's MAC", other_port_mac, kClientPortId, dropped(DropReason::NotForUs)},
        {"to an address that is neither a VIP nor ours", to_stranger, kClientPortId, dropped(DropReason::NoService)},
    };
    for (const auto& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Snapshot changes

TEST_P(GoldenPackets, RemovedEndpointResetsOrReschedulesItsFlows) {
    GoldenHarness harness(topology());
    const Flow syn_again = tcp_flow(47000);
    const uint32_t gone = harness.maglev_choice(syn_again).address;
    const auto on_gone_endpoint = [&](const Flow& base, uint16_t from) {
        return with_client_port(base, harness.find_client_port(from, [&](uint16_t port) {
            return harness.maglev_choice(with_client_port(base, port)).address == gone;
        }));
    };
    const Flow data_flow = on_gone_endpoint(tcp_flow(), 47001);
    const Flow udp = on_gone_endpoint(udp_flow(), 47001);
    const Flow reply_flow = on_gone_endpoint(tcp_flow(), data_flow.client_port + 1);
    const Flow icmp_flow = on_gone_endpoint(udp_flow(), udp.client_port + 1);

    const TcpSpec syn{.seq = 100, .flags = kSyn};
    const UdpSpec query{.payload = test::payload_bytes(16)};
    start_flow(harness, syn_again, syn);
    start_flow(harness, data_flow, syn);
    start_flow(harness, udp, query);
    const Translation reply_translation = start_flow(harness, reply_flow, syn);
    const Translation icmp_translation = start_flow(harness, icmp_flow, query);
    ASSERT_FALSE(HasFailure());
    ASSERT_EQ(harness.connections(0).size(), 5u);
    std::vector<std::pair<uint32_t, uint32_t>> gone_slots;  // (slot, generation)
    for (uint32_t slot = 0; slot < harness.snapshot().endpoints.capacity(); ++slot) {
        const EndpointSlot& endpoint = harness.snapshot().endpoints[slot];
        const bool of_web = harness.snapshot().service_ports[endpoint.service_port].vip == kWebVip;
        if (endpoint.address == gone && endpoint.generation != 0 && of_web) {
            gone_slots.emplace_back(slot, endpoint.generation);
        }
    }
    ASSERT_EQ(gone_slots.size(), 2u);  // its TCP and its UDP service port

    TopologySpec without = topology();
    auto& endpoints = without.service("web").endpoints;
    std::erase_if(endpoints, [&](const EndpointSpec& endpoint) { return ipv4(endpoint.address) == gone; });
    harness.reload(without);
    for (const auto& [slot, generation] : gone_slots) {
        EXPECT_FALSE(harness.snapshot().endpoint_alive(slot, generation));
    }

    {
        SCOPED_TRACE("a new SYN on the tuple of a flow whose endpoint is gone");
        const EndpointSlot expected = harness.maglev_choice(syn_again);
        EXPECT_NE(address(expected.address), address(gone));
        const Bytes input = client_to_vip(syn_again, syn);
        RunResult result = harness.run(0, input);
        const std::optional<Translation> moved = harness.translation(syn_again);
        ASSERT_TRUE(moved.has_value());
        EXPECT_EQ(address(moved->endpoint), address(expected.address));
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*moved, syn),
                               {{"rescheduled", 1}, {"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
    }
    harness.check(
        {"data of a flow whose endpoint is gone: RST to the client",
         client_to_vip(data_flow, TcpSpec{.seq = 101, .ack = 9000, .flags = kAck, .payload = test::payload_bytes(20)}),
         kClientPortId,
         answered(
             kClientPortId,
             test::tcp_frame(
                 {.src_port = 80, .dst_port = data_flow.client_port, .seq = 9000, .ack = 0, .flags = kRst, .window = 0},
                 answer_ip(kWebVip, kClientAddr), to_router()),
             DropReason::EndpointGone, {{"resets_sent", 1}})});
    EXPECT_FALSE(harness.translation(data_flow).has_value()) << "the dead connection was kept";
    {
        SCOPED_TRACE("a UDP datagram of a flow whose endpoint is gone");
        const Bytes input = client_to_vip(udp, query);
        RunResult result = harness.run(0, input);
        const std::optional<Translation> moved = harness.translation(udp);
        ASSERT_TRUE(moved.has_value());
        EXPECT_EQ(address(moved->endpoint), address(harness.maglev_choice(udp).address));
        EXPECT_NE(address(moved->endpoint), address(gone));
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*moved, query),
                               {{"rescheduled", 1}, {"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
    }
    harness.check({"a late reply from the removed endpoint is dropped",
                   endpoint_to_gateway(reply_translation, TcpSpec{.ack = 101, .flags = kSyn | kAck}), kEndpointPortId,
                   dropped(DropReason::EndpointGone)});
    const Bytes forwarded_query = gateway_to_endpoint(icmp_translation, query);
    harness.check({"an ICMP error from the removed endpoint is dropped",
                   test::icmp_error_frame({.quoted = test::quote_of(forwarded_query)},
                                          {.src = gone, .dst = icmp_translation.source}, from_neighbor(gone)),
                   kEndpointPortId, dropped(DropReason::EndpointGone)});
}

TEST_P(GoldenPackets, BurstAfterEndpointRemovalFollowsTheRescheduledConnection) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(47500);
    const UdpSpec query{.payload = test::payload_bytes(6)};
    const Translation before = start_flow(harness, flow, query);
    ASSERT_FALSE(HasFailure());
    TopologySpec without = topology();
    std::erase_if(without.service("web").endpoints,
                  [&](const EndpointSpec& endpoint) { return ipv4(endpoint.address) == before.endpoint; });
    harness.reload(without);

    // All three were hits on the old entry when looked up; the first reschedules the flow, the
    // other two must follow the new connection.
    std::vector<std::pair<Bytes, uint16_t>> burst(3, {client_to_vip(flow, query), kClientPortId});
    RunResult result = harness.run(0, burst);
    const std::optional<Translation> after = harness.translation(flow);
    ASSERT_TRUE(after.has_value());
    EXPECT_NE(address(after->endpoint), address(before.endpoint));
    EXPECT_EQ(harness.connections(0).size(), 1u);
    ASSERT_EQ(result.transmitted.size(), 3u);
    for (const auto& sent : result.transmitted) {
        EXPECT_EQ(test::hex(sent.frame), test::hex(gateway_to_endpoint(*after, query)));
    }
    const Counters expected{{"rx_packets", 3},     {"rx_bytes", 3 * burst[0].first.size()},
                            {"rescheduled", 1},    {"new_connections", 1},
                            {"conntrack_hits", 2}, {"forwarded_to_endpoint", 3}};
    EXPECT_EQ(result.counter_changes, expected);
}

TEST_P(GoldenPackets, UnchangedServiceKeepsItsFlowsAcrossSnapshots) {
    GoldenHarness harness(topology());
    const Flow other = tcp_flow(48000, kOtherVip);
    const Flow web = tcp_flow(48001);
    const TcpSpec syn{.seq = 1, .flags = kSyn};
    const Translation other_translation = start_flow(harness, other, syn);
    const Translation web_translation = start_flow(harness, web, syn);
    ASSERT_FALSE(HasFailure());
    const auto maglev_of = [&](uint32_t vip, uint16_t port) {
        return harness.snapshot()
            .service_ports[harness.snapshot().find_service_port(VipKey::ipv4(vip, rte_cpu_to_be_16(port), kProtoTcp))]
            .maglev;
    };
    const std::shared_ptr<const MaglevTable> other_table = maglev_of(kOtherVip, 80);
    const std::shared_ptr<const MaglevTable> web_table = maglev_of(kWebVip, 80);

    TopologySpec changed = topology();
    changed.service("web").endpoints.push_back({"198.19.0.26"});
    harness.reload(changed);
    EXPECT_EQ(maglev_of(kOtherVip, 80).get(), other_table.get()) << "the unchanged service's table was rebuilt";
    EXPECT_NE(maglev_of(kWebVip, 80).get(), web_table.get()) << "the changed service's table was kept";

    const TcpSpec ack{.seq = 2, .ack = 1, .flags = kAck};
    harness.check({"unchanged service: the flow stays on its endpoint", client_to_vip(other, ack), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(other_translation, ack),
                             {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}})});
    harness.check({"changed service: the flow stays pinned to its (still present) endpoint", client_to_vip(web, ack),
                   kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(web_translation, ack),
                             {{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}})});
}

// ---------------------------------------------------------------------------------------------
// Two workers

TEST_P(GoldenPackets, TwoWorkersHandOffToTheOwner) {
    GoldenHarness harness(topology(2));
    const Flow flow = with_client_port(tcp_flow(), harness.find_client_port(49000, [](uint16_t port) {
        return connection_owner(kClientAddr, rte_cpu_to_be_16(port), 2) == 1;
    }));
    const TcpSpec syn{.seq = 10, .flags = kSyn};
    const Bytes input = client_to_vip(flow, syn);
    RunResult arrival = harness.run(0, input);
    check_result(arrival, handed_off(1, input), 1, input.size(), false);
    EXPECT_EQ(harness.connections(0).size(), 0u);
    ASSERT_EQ(arrival.handed_off[1].size(), 1u);

    RunResult owner = harness.run_handed_off(1, std::move(arrival.handed_off[1]));
    const std::optional<Translation> translation = harness.translation(flow, 1);
    ASSERT_TRUE(translation.has_value());
    EXPECT_EQ(address(translation->endpoint), address(harness.maglev_choice(flow).address));
    if (fullnat()) {
        const auto [first_port, last_port] = harness.snat_range(1);
        EXPECT_GE(translation->source_port, first_port);
        EXPECT_LE(translation->source_port, last_port);
    }
    check_result(owner,
                 forwarded(kEndpointPortId, gateway_to_endpoint(*translation, syn),
                           {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                 1, input.size(), true);

    // The reply lands on worker 0 (RSS does not know the owner): full-NAT routes it by the SNAT
    // port's range, DNAT by the client's address and port.
    const TcpSpec syn_ack{.seq = 50, .ack = 11, .flags = kSyn | kAck};
    const Bytes reply = endpoint_to_gateway(*translation, syn_ack);
    RunResult reply_arrival = harness.run(0, reply, kEndpointPortId);
    check_result(reply_arrival, handed_off(1, reply), 1, reply.size(), false);
    RunResult reply_owner = harness.run_handed_off(1, std::move(reply_arrival.handed_off[1]));
    check_result(
        reply_owner,
        forwarded(kClientPortId, gateway_to_client(flow, syn_ack), {{"conntrack_hits", 1}, {"forwarded_to_client", 1}}),
        1, reply.size(), true);

    // An ICMP error about the flow follows the same owner.
    const Bytes forwarded_syn = gateway_to_endpoint(*translation, syn);
    const Bytes error = test::icmp_error_frame(
        {.type = 3, .code = 4, .rest_of_header = 1400, .quoted = test::quote_of(forwarded_syn)},
        {.src = translation->endpoint, .dst = translation->source}, from_neighbor(translation->endpoint));
    RunResult error_arrival = harness.run(0, error, kEndpointPortId);
    check_result(error_arrival, handed_off(1, error), 1, error.size(), false);
    RunResult error_owner = harness.run_handed_off(1, std::move(error_arrival.handed_off[1]));
    check_result(error_owner,
                 forwarded(kClientPortId,
                           test::icmp_error_frame({.type = 3,
                                                   .code = 4,
                                                   .rest_of_header = 1400,
                                                   .quoted = test::quote_of(client_to_vip(flow, syn, {.ttl = 63}))},
                                                  {.src = kWebVip, .dst = kClientAddr, .ttl = 63}, to_router()),
                           {{"icmp_errors_translated", 1}}),
                 1, error.size(), true);

    // A flow owned by the receiving worker is not handed off.
    const Flow local = with_client_port(tcp_flow(), harness.find_client_port(49000, [](uint16_t port) {
        return connection_owner(kClientAddr, rte_cpu_to_be_16(port), 2) == 0;
    }));
    start_flow(harness, local, syn, 0);
    EXPECT_EQ(harness.connections(1).size(), 1u);
    EXPECT_EQ(harness.connections(0).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// ICMP errors about translated flows

TEST_P(GoldenPackets, IcmpErrorsAreTranslatedBothWays) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(50000);
    const UdpSpec query{.payload = test::payload_bytes(48)};
    const Translation translation = start_flow(harness, flow, query);
    ASSERT_FALSE(HasFailure());
    const Bytes forwarded_query = gateway_to_endpoint(translation, query);
    // The endpoint quotes the whole datagram (as Linux does): the quoted UDP checksum is inside.
    const Bytes unreachable = test::icmp_error_frame(
        {.type = 3, .code = 3, .quoted = test::quote_of(forwarded_query, 1000)},
        {.src = translation.endpoint, .dst = translation.source, .tos = kTosInternetworkControl, .id = 0x55},
        from_neighbor(translation.endpoint));
    const Bytes unreachable_to_client = test::icmp_error_frame(
        {.type = 3, .code = 3, .quoted = test::quote_of(client_to_vip(flow, query, {.ttl = 63}), 1000)},
        {.src = kWebVip, .dst = kClientAddr, .ttl = 63, .tos = kTosInternetworkControl, .id = 0x55}, to_router());

    const Flow tcp = tcp_flow(50001);
    const TcpSpec segment{.seq = 1, .flags = kSyn, .payload = test::payload_bytes(1400)};
    const Translation tcp_translation = start_flow(harness, tcp, segment);
    ASSERT_FALSE(HasFailure());
    // "Fragmentation needed" from a router between the gateway and the endpoint (path MTU
    // discovery), quoting the IP header and 8 bytes, and one quoting the whole TCP header.
    const Bytes forwarded_segment = gateway_to_endpoint(tcp_translation, segment);
    const auto too_big = [&](size_t quote_length) {
        return test::icmp_error_frame(
            {.type = 3, .code = 4, .rest_of_header = 1300, .quoted = test::quote_of(forwarded_segment, quote_length)},
            {.src = kIntermediateRouterAddr, .dst = tcp_translation.source}, from_neighbor(kIntermediateRouterAddr));
    };
    const auto too_big_to_client = [&](size_t quote_length) {
        return test::icmp_error_frame(
            {.type = 3,
             .code = 4,
             .rest_of_header = 1300,
             .quoted = test::quote_of(client_to_vip(tcp, segment, {.ttl = 63}), quote_length)},
            {.src = kIntermediateRouterAddr, .dst = kClientAddr, .ttl = 63}, to_router());
    };

    // The client reports an error about a reply it received: it goes to the endpoint about the
    // packet the endpoint sent.
    const UdpSpec answer{.payload = test::payload_bytes(24)};
    const Bytes answer_to_client = gateway_to_client(flow, answer, {});
    const Bytes client_error =
        test::icmp_error_frame({.type = 3, .code = 3, .quoted = test::quote_of(answer_to_client, 1000)},
                               {.src = kClientAddr, .dst = kWebVip, .tos = kTosInternetworkControl}, from_router());
    const Bytes client_error_to_endpoint = test::icmp_error_frame(
        {.type = 3, .code = 3, .quoted = test::quote_of(endpoint_to_gateway(translation, answer, {.ttl = 63}), 1000)},
        {.src = translation.source, .dst = translation.endpoint, .ttl = 63, .tos = kTosInternetworkControl},
        to_neighbor(translation.endpoint));

    const Bytes about_unknown = test::icmp_error_frame(
        {.quoted = test::quote_of(
             gateway_to_endpoint({translation.endpoint, translation.endpoint_port, translation.source, 50002}, query))},
        {.src = translation.endpoint, .dst = translation.source}, from_neighbor(translation.endpoint));

    const std::vector<GoldenCase> cases = {
        {"port unreachable from the endpoint, whole datagram quoted", unreachable, kEndpointPortId,
         forwarded(kClientPortId, unreachable_to_client, {{"icmp_errors_translated", 1}})},
        {"fragmentation needed from a router, 8 bytes of TCP quoted", too_big(28), kEndpointPortId,
         forwarded(kClientPortId, too_big_to_client(28), {{"icmp_errors_translated", 1}})},
        {"fragmentation needed from a router, TCP header quoted", too_big(40), kEndpointPortId,
         forwarded(kClientPortId, too_big_to_client(40), {{"icmp_errors_translated", 1}})},
        {"port unreachable from the client about a reply", client_error, kClientPortId,
         forwarded(kEndpointPortId, client_error_to_endpoint, {{"icmp_errors_translated", 1}})},
        {"ICMP error about a flow that is not tracked", about_unknown, kEndpointPortId,
         dropped(DropReason::IcmpUnsupported)},
    };
    for (const auto& golden : cases) harness.check(golden);
}

TEST_P(GoldenPackets, IcmpErrorWithTtlOneIsNotForwarded) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(51000);
    const UdpSpec query{.payload = test::payload_bytes(8)};
    const Translation translation = start_flow(harness, flow, query);
    ASSERT_FALSE(HasFailure());
    const Bytes error = test::icmp_error_frame({.quoted = test::quote_of(gateway_to_endpoint(translation, query))},
                                               {.src = translation.endpoint, .dst = translation.source, .ttl = 1},
                                               from_neighbor(translation.endpoint));
    // Never forwarded with TTL 0, and no ICMP error about an ICMP error (RFC 1122 3.2.2).
    harness.check(
        {"ICMP error with TTL 1 from the endpoint", error, kEndpointPortId, dropped(DropReason::TtlExceeded)});
}

// ---------------------------------------------------------------------------------------------
// Resource limits

TEST_P(GoldenPackets, FullConnectionTable) {
    GoldenHarness harness(topology());
    const UdpSpec query{.payload = test::payload_bytes(4)};
    const UdpSpec answer{.payload = test::payload_bytes(6)};
    uint16_t client_port = 10000;
    // Answered UDP connections are never evicted before they expire: fill the table with them.
    while (true) {
        const Flow flow = udp_flow(client_port);
        RunResult result = harness.run(0, client_to_vip(flow, query));
        if (result.counter_changes.count("new_connections") == 0) break;
        ASSERT_EQ(result.transmitted.size(), 1u);
        const std::optional<Translation> translation = harness.translation(flow);
        ASSERT_TRUE(translation.has_value());
        RunResult replied = harness.run(0, endpoint_to_gateway(*translation, answer), kEndpointPortId);
        ASSERT_EQ(replied.counter_changes["forwarded_to_client"], 1u);
        ASSERT_LT(++client_port, 12000) << "the table never filled";
    }
    const uint32_t filled = harness.connections(0).size();
    EXPECT_GE(filled, 1000u);
    const Flow overflow = udp_flow(client_port);
    const Bytes input = client_to_vip(overflow, query);
    if (fullnat()) {
        // Without an entry the reply to the SNAT port could not be translated back.
        harness.check({"full table, full-NAT: dropped", input, kClientPortId, dropped(DropReason::ConntrackFull)});
    } else {
        // DNAT can forward statelessly, and the reply finds its VIP through the endpoint table.
        const EndpointSlot endpoint = harness.maglev_choice(overflow);
        const Translation stateless{endpoint.address, rte_be_to_cpu_16(endpoint.port), kClientAddr, client_port};
        harness.check({"full table, DNAT: forwarded by Maglev without an entry", input, kClientPortId,
                       forwarded(kEndpointPortId, gateway_to_endpoint(stateless, query),
                                 {{"stateless_forwards", 1}, {"forwarded_to_endpoint", 1}})});
        harness.check({"full table, DNAT: the reply is translated back without an entry",
                       endpoint_to_gateway(stateless, answer), kEndpointPortId,
                       forwarded(kClientPortId, gateway_to_client(overflow, answer),
                                 {{"stateless_replies", 1}, {"forwarded_to_client", 1}})});
    }
    EXPECT_EQ(harness.connections(0).size(), filled);
}

// A flood of new UDP flows nobody answers (spoofed sources) fills the table. Unreplied entries
// are evictable, so new TCP and UDP connections are tracked at once rather than dropped
// (full-NAT) or forwarded without state (DNAT) until the flood's entries expire.
TEST_P(GoldenPackets, UnrepliedUdpFloodDoesNotLockOutNewConnections) {
    GoldenHarness harness(topology());
    ConnTable& table = harness.connections(0);
    const UdpSpec query{.payload = test::payload_bytes(4)};
    uint16_t client_port = 10000;
    for (; table.size() < table.capacity(); ++client_port) {
        RunResult result = harness.run(0, client_to_vip(udp_flow(client_port), query));
        ASSERT_EQ(result.counter_changes["new_connections"], 1u) << "client port " << client_port;
    }
    harness.worker(0).now_ms += 1000;  // the flood has stopped; none of its entries has expired

    const auto expect_tracked_at_once = [&](const Flow& flow, const auto& first) {
        SCOPED_TRACE(std::string(protocol_name(flow.protocol)) + " from client port " +
                     std::to_string(flow.client_port));
        const Bytes input = client_to_vip(flow, first);
        RunResult result = harness.run(0, input);
        const std::optional<Translation> translation = harness.translation(flow);
        ASSERT_TRUE(translation.has_value()) << "the new connection is not tracked";
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*translation, first),
                               {{"new_connections", 1}, {"conntrack_evictions", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
    };
    expect_tracked_at_once(tcp_flow(client_port++), TcpSpec{.seq = 9, .flags = kSyn});
    expect_tracked_at_once(udp_flow(client_port++), query);
    EXPECT_EQ(table.size(), table.capacity());
}

INSTANTIATE_TEST_SUITE_P(BothNatModes, GoldenPackets, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

// ---------------------------------------------------------------------------------------------
// Full-NAT only

// A new flow probes at most 16 ports of its worker's slice, from the one its hash and the
// worker's counter name (snat_ports.h), so the per-packet work stays bounded: a slice fills
// most of the way, then a flow whose 16 candidates are all taken is refused and counted.
TEST(GoldenFullNat, SnatPortsExhausted) {
    TopologySpec spec;
    spec.snat_port_min = 20000;
    spec.snat_port_max = 20063;  // 64 ports, the least a worker may have
    GoldenHarness harness(spec);
    const UdpSpec query{.payload = test::payload_bytes(4)};
    // A port is unique per (SNAT address, port, endpoint), so only flows to one endpoint can use
    // up the range.
    const uint32_t endpoint = harness.maglev_choice(udp_flow(30000)).address;
    const auto to_same_endpoint = [&](uint16_t from) {
        return harness.find_client_port(
            from, [&](uint16_t port) { return harness.maglev_choice(udp_flow(port)).address == endpoint; });
    };
    std::set<uint16_t> used;
    uint16_t client_port = 29999;
    uint16_t refused_port = 0;
    for (int flow_number = 0; flow_number < 64 && refused_port == 0; ++flow_number) {
        client_port = to_same_endpoint(static_cast<uint16_t>(client_port + 1));
        RunResult result = harness.run(0, client_to_vip(udp_flow(client_port), query));
        if (result.transmitted.empty()) {
            refused_port = client_port;
            EXPECT_EQ(result.counter_changes["drop:snat_ports_exhausted"], 1u);
            break;
        }
        const std::optional<Translation> translation = harness.translation(udp_flow(client_port));
        ASSERT_TRUE(translation.has_value());
        EXPECT_TRUE(used.insert(translation->source_port).second) << "port given twice";
        EXPECT_GE(translation->source_port, 20000);
        EXPECT_LE(translation->source_port, 20063);
    }
    ASSERT_NE(refused_port, 0) << "64 flows fitted into 64 ports: the probe bound never applied";
    EXPECT_GE(used.size(), 48u) << "a slice should fill at least three quarters before a refusal";
    // Towards another endpoint the same ports are free again.
    const Flow elsewhere = udp_flow(harness.find_client_port(
        client_port + 1, [&](uint16_t port) { return harness.maglev_choice(udp_flow(port)).address != endpoint; }));
    start_flow(harness, elsewhere, query);
}

TEST(GoldenFullNat, IcmpErrorQuotingAnOutOfRangeSnatPortIsNotHandedOffToANonWorker) {
    TopologySpec spec;
    spec.workers = 2;
    spec.snat_port_min = 20000;
    spec.snat_port_max = 20127;  // 64 ports per worker
    GoldenHarness harness(spec);
    // Quotes a packet from the SNAT address with a source port far above the SNAT range: its
    // "owner" by range arithmetic would be worker 625.
    const Bytes quoted = test::quote_of(
        test::udp_frame({.src_port = 60000, .dst_port = 5353}, {.src = kSnatAddr, .dst = kWebEndpoint1}));
    const Bytes error = test::icmp_error_frame({.quoted = quoted}, {.src = kWebEndpoint1, .dst = kSnatAddr},
                                               from_neighbor(kWebEndpoint1));
    harness.check({"ICMP error about an SNAT port outside every worker's range", error, kEndpointPortId,
                   dropped(DropReason::IcmpUnsupported)});
    // And one below the range.
    const Bytes below =
        test::icmp_error_frame({.quoted = test::quote_of(test::udp_frame({.src_port = 80, .dst_port = 5353},
                                                                         {.src = kSnatAddr, .dst = kWebEndpoint1}))},
                               {.src = kWebEndpoint1, .dst = kSnatAddr}, from_neighbor(kWebEndpoint1));
    harness.check({"ICMP error about an SNAT port below every worker's range", below, kEndpointPortId,
                   dropped(DropReason::IcmpUnsupported)});
}

// A TCP segment of a flow the gateway does not track (e.g. after a restart). Full-NAT resets it:
// a fresh SNAT port would be a connection the endpoint never saw. DNAT-only picks it up on the
// consistent-hash endpoint, half-open so stray segments cannot pin entries, and the client's
// next segment makes it established.
TEST_P(GoldenPackets, MidStreamSegmentIsResetUnderFullNatAndPickedUpUnderDnat) {
    GoldenHarness harness(topology());
    const Flow flow = tcp_flow(46000);
    const TcpSpec segment{.seq = 500, .ack = 900, .flags = kAck, .payload = test::payload_bytes(10)};
    const Bytes input = client_to_vip(flow, segment);
    if (fullnat()) {
        TcpSpec reset{.seq = 900, .ack = 0, .flags = kRst};
        reset.src_port = 80;
        reset.dst_port = 46000;
        reset.window = 0;
        harness.check({"mid-stream ACK under full-NAT", input, kClientPortId,
                       answered(kClientPortId, test::tcp_frame(reset, answer_ip(kWebVip, kClientAddr), to_router()),
                                DropReason::NotSyn, {{"resets_sent", 1}})});
        EXPECT_FALSE(harness.translation(flow).has_value());
        return;
    }
    const Translation translation = start_flow(harness, flow, segment);
    ASSERT_FALSE(HasFailure());
    ConnLookupResult entry = harness.connections(0).lookup(flow.key());
    ASSERT_NE(entry.connection, nullptr);
    EXPECT_EQ(entry.connection->tcp_state, TcpState::SynReceived);
    harness.run(0, client_to_vip(flow, TcpSpec{.seq = 510, .ack = 900, .flags = kAck}));
    EXPECT_EQ(entry.connection->tcp_state, TcpState::Established);
    EXPECT_EQ(address(translation.endpoint), address(harness.snapshot().endpoints[harness.maglev_slot(flow)].address));
}

}  // namespace
}  // namespace vipgate::golden
