// Golden packets for SCTP ClusterIPs, through the real pipeline in both NAT modes: an
// association's life (INIT, INIT ACK, COOKIE ECHO, DATA, ABORT or SHUTDOWN ... COMPLETE), the
// refusals (ABORT), stray chunks, malformed packets, ICMP errors quoting SCTP, and the hand-off
// between workers. Every expected frame is built by packet_builder with its bitwise CRC32c, so
// byte-for-byte equality also proves the checksum the gateway wrote.
#include <gtest/gtest.h>

#include <rte_byteorder.h>

#include "dataplane/pipeline.h"
#include "dataplane/sctp.h"
#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::Bytes;
using test::Ipv4Spec;
using test::SctpSpec;
using Counters = std::map<std::string, uint64_t>;

constexpr uint32_t kSctpVip = ipv4("198.18.100.20");       // SCTP 3868 -> 3869, three endpoints
constexpr uint32_t kEmptySctpVip = ipv4("198.18.100.21");  // SCTP 3868, no endpoints
constexpr uint16_t kSctpPort = 3868;
constexpr uint16_t kSctpTargetPort = 3869;
constexpr uint32_t kClientTag = 0xC11E47;  // the client's initiate tag: the endpoint's packets carry it
constexpr uint32_t kEndpointTag = 0xE4D9;  // the endpoint's initiate tag: the client's packets carry it
constexpr uint32_t kIntermediateRouterAddr = ipv4("198.19.0.254");

const Counters kToEndpoint{{"conntrack_hits", 1}, {"forwarded_to_endpoint", 1}};
const Counters kToClient{{"conntrack_hits", 1}, {"forwarded_to_client", 1}};

Expectation forwarded(uint16_t port_index, Bytes frame, Counters counters) {
    return {.verdict = Verdict::Forwarded,
            .target = port_index,
            .frame = std::move(frame),
            .counters = std::move(counters)};
}

Expectation answered(Bytes frame, DropReason reason) {
    return {.verdict = Verdict::Answered,
            .target = kClientPortId,
            .reason = reason,
            .frame = std::move(frame),
            .counters = {{"resets_sent", 1}}};
}

Expectation dropped(DropReason reason) {
    return {.verdict = Verdict::Dropped, .reason = reason};
}

Flow sctp_flow(uint16_t client_port, uint32_t vip = kSctpVip) {
    return {.protocol = kProtoSctp, .client_port = client_port, .vip = vip, .vip_port = kSctpPort};
}

SctpSpec init() {
    return {.tag = 0, .chunks = test::sctp_init_chunk(kClientTag)};
}
SctpSpec init_ack() {
    return {.tag = kClientTag, .chunks = test::sctp_init_chunk(kEndpointTag, kSctpInitAck)};
}
SctpSpec from_client(Bytes chunks) {
    return {.tag = kEndpointTag, .chunks = std::move(chunks)};
}
SctpSpec from_endpoint(Bytes chunks) {
    return {.tag = kClientTag, .chunks = std::move(chunks)};
}

// What the gateway answers a client's packet with: an ABORT (or SHUTDOWN COMPLETE) from VIP:port.
Bytes abort_to_client(const Flow& flow, uint32_t tag, uint8_t flags, uint8_t type = kSctpAbort) {
    SctpSpec abort{
        .src_port = flow.vip_port, .dst_port = flow.client_port, .tag = tag, .chunks = test::sctp_chunk(type, flags)};
    return test::sctp_frame(abort, answer_ip(flow.vip, flow.client), to_router());
}

TopologySpec sctp_topology(NatMode mode, uint16_t workers = 1) {
    TopologySpec spec;
    spec.nat_mode = mode;
    spec.workers = workers;
    spec.services.push_back({"diameter",
                             test::ipv4_to_string(kSctpVip),
                             {{"diameter", "SCTP", kSctpPort, kSctpTargetPort}},
                             {{test::ipv4_to_string(kWebEndpoint1)},
                              {test::ipv4_to_string(kWebEndpoint2)},
                              {test::ipv4_to_string(kWebEndpoint3)}}});
    spec.services.push_back(
        {"diameter-empty", test::ipv4_to_string(kEmptySctpVip), {{"diameter", "SCTP", kSctpPort, 0}}, {}});
    return spec;
}

class GoldenSctp : public testing::TestWithParam<NatMode> {
protected:
    bool fullnat() const { return GetParam() == NatMode::FullNat; }

    // Sends the INIT of a new association and checks it reached the Maglev endpoint's target
    // port, translated, with a CRC32c that is right for the new ports.
    Translation start(GoldenHarness& harness, const Flow& flow, uint16_t worker = 0) {
        const Bytes input = client_to_vip(flow, init());
        RunResult result = harness.run(worker, input);
        const std::optional<Translation> translation = harness.translation(flow, worker);
        if (!translation) {
            ADD_FAILURE() << "no connection entry for the INIT";
            return {};
        }
        EXPECT_EQ(translation->endpoint, harness.maglev_choice(flow).address);
        EXPECT_EQ(translation->endpoint_port, kSctpTargetPort);
        EXPECT_EQ(translation->source, fullnat() ? kSnatAddr : flow.client);
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*translation, init()),
                               {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
        return *translation;
    }

    TcpState state_of(GoldenHarness& harness, const Flow& flow, uint16_t worker = 0) {
        const ConnLookupResult entry = harness.connections(worker).lookup(flow.key());
        return entry.connection == nullptr ? TcpState::None : entry.connection->tcp_state;
    }
};

TEST_P(GoldenSctp, AssociationHandshakeDataAndAbort) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow flow = sctp_flow(40000);
    const Translation translation = start(harness, flow);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(state_of(harness, flow), TcpState::SynSent);

    const SctpSpec cookie_echo = from_client(test::sctp_chunk(kSctpCookieEcho, 0, test::payload_bytes(64)));
    const SctpSpec cookie_ack = from_endpoint(test::sctp_chunk(kSctpCookieAck));
    const SctpSpec request = from_client(test::sctp_data_chunk(1, test::payload_bytes(700)));
    const SctpSpec answer = from_endpoint(test::sctp_data_chunk(1, test::payload_bytes(1200, 5)));
    harness.check({"INIT ACK goes back to the client from VIP:3868", endpoint_to_gateway(translation, init_ack()),
                   kEndpointPortId, forwarded(kClientPortId, gateway_to_client(flow, init_ack()), kToClient)});
    EXPECT_EQ(state_of(harness, flow), TcpState::SynReceived);
    harness.check({"COOKIE ECHO completes the handshake", client_to_vip(flow, cookie_echo), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, cookie_echo), kToEndpoint)});
    EXPECT_EQ(state_of(harness, flow), TcpState::Established);
    harness.check({"COOKIE ACK", endpoint_to_gateway(translation, cookie_ack), kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, cookie_ack), kToClient)});
    harness.check({"DATA to the endpoint", client_to_vip(flow, request), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, request), kToEndpoint)});
    harness.check({"DATA to the client", endpoint_to_gateway(translation, answer), kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, answer), kToClient)});
    EXPECT_EQ(state_of(harness, flow), TcpState::Established);

    const SctpSpec abort = from_endpoint(test::sctp_chunk(kSctpAbort));
    harness.check({"ABORT from the endpoint is forwarded and closes the entry", endpoint_to_gateway(translation, abort),
                   kEndpointPortId, forwarded(kClientPortId, gateway_to_client(flow, abort), kToClient)});
    EXPECT_EQ(state_of(harness, flow), TcpState::Closed);

    // A new INIT on the same ports after the close is a new association on the same entry.
    harness.check({"INIT after ABORT reopens", client_to_vip(flow, init()), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, init()), kToEndpoint)});
    EXPECT_EQ(state_of(harness, flow), TcpState::SynSent);
}

TEST_P(GoldenSctp, GracefulShutdownClosesTheEntry) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow flow = sctp_flow(40001);
    const Translation translation = start(harness, flow);
    ASSERT_FALSE(HasFailure());
    harness.run(0, endpoint_to_gateway(translation, init_ack()), kEndpointPortId);
    harness.run(0, client_to_vip(flow, from_client(test::sctp_chunk(kSctpCookieEcho, 0, test::payload_bytes(8)))));
    ASSERT_EQ(state_of(harness, flow), TcpState::Established);

    const SctpSpec shutdown = from_client(test::sctp_chunk(kSctpShutdown, 0, Bytes{0, 0, 0, 1}));
    const SctpSpec shutdown_ack = from_endpoint(test::sctp_chunk(kSctpShutdownAck));
    const SctpSpec complete = from_client(test::sctp_chunk(kSctpShutdownComplete));
    harness.check({"SHUTDOWN", client_to_vip(flow, shutdown), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, shutdown), kToEndpoint)});
    EXPECT_EQ(state_of(harness, flow), TcpState::Closing);
    harness.check({"SHUTDOWN ACK", endpoint_to_gateway(translation, shutdown_ack), kEndpointPortId,
                   forwarded(kClientPortId, gateway_to_client(flow, shutdown_ack), kToClient)});
    harness.check({"SHUTDOWN COMPLETE", client_to_vip(flow, complete), kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(translation, complete), kToEndpoint)});
    EXPECT_EQ(state_of(harness, flow), TcpState::Closed);
}

TEST_P(GoldenSctp, RefusalsStrayChunksAndMalformedPackets) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow empty = sctp_flow(40010, kEmptySctpVip);
    Flow wrong_port = sctp_flow(40011);
    wrong_port.vip_port = 3869;
    const Flow web_sctp = {.protocol = kProtoSctp, .client_port = 40012, .vip = kWebVip, .vip_port = 80};
    const Bytes data = test::sctp_data_chunk(3, test::payload_bytes(20));
    Bytes long_chunk = client_to_vip(sctp_flow(40015), from_client(data));
    long_chunk[14 + 20 + 14] = 0x01;  // high byte of the first chunk's length: 0x01xx, past the packet

    const std::vector<GoldenCase> cases = {
        {"INIT to a service without endpoints: ABORT with the initiate tag, T clear", client_to_vip(empty, init()),
         kClientPortId, answered(abort_to_client(empty, kClientTag, 0), DropReason::NoEndpoint)},
        {"DATA to a service without endpoints: ABORT, tag reflected, T set", client_to_vip(empty, from_client(data)),
         kClientPortId, answered(abort_to_client(empty, kEndpointTag, kSctpChunkFlagT), DropReason::NoEndpoint)},
        {"INIT to a VIP port that is not served", client_to_vip(wrong_port, init()), kClientPortId,
         answered(abort_to_client(wrong_port, kClientTag, 0), DropReason::VipPortRefused)},
        {"SCTP to the VIP's TCP port", client_to_vip(web_sctp, init()), kClientPortId,
         answered(abort_to_client(web_sctp, kClientTag, 0), DropReason::VipPortRefused)},
        {"ABORT of an unknown association is dropped, never answered",
         client_to_vip(sctp_flow(40013), from_client(test::sctp_chunk(kSctpAbort))), kClientPortId,
         dropped(DropReason::NotSyn)},
        {"SHUTDOWN COMPLETE of an unknown association is dropped",
         client_to_vip(sctp_flow(40014), from_client(test::sctp_chunk(kSctpShutdownComplete))), kClientPortId,
         dropped(DropReason::NotSyn)},
        {"ABORT to a service without endpoints is not answered",
         client_to_vip(empty, from_client(test::sctp_chunk(kSctpAbort))), kClientPortId, dropped(DropReason::NotSyn)},
        {"SCTP common header without a chunk",
         test::ipv4_frame(kProtoSctp, Bytes(12, 1), {.dst = kSctpVip}, from_router()), kClientPortId,
         dropped(DropReason::TruncatedL4)},
        {"first chunk longer than the packet", long_chunk, kClientPortId, dropped(DropReason::MalformedSctp)},
        {"DATA with verification tag 0", client_to_vip(sctp_flow(40016), SctpSpec{.tag = 0, .chunks = data}),
         kClientPortId, dropped(DropReason::MalformedSctp)},
    };
    for (const auto& golden : cases) harness.check(golden);
    EXPECT_EQ(harness.connections(0).size(), 0u) << "a refusal or drop opened an association";
}

// A chunk other than INIT for an untracked association (after a restart, say). Full-NAT answers
// with an ABORT (T bit, tag reflected): a fresh SNAT port would be an association the endpoint
// never saw. DNAT-only picks it up on the consistent-hash endpoint, half-open, as it does TCP.
TEST_P(GoldenSctp, NonInitFirstPacketIsAbortedUnderFullNatAndPickedUpUnderDnat) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow flow = sctp_flow(40020);
    const SctpSpec data = from_client(test::sctp_data_chunk(9, test::payload_bytes(30)));
    const Bytes input = client_to_vip(flow, data);
    if (fullnat()) {
        harness.check({"mid-association DATA under full-NAT", input, kClientPortId,
                       answered(abort_to_client(flow, kEndpointTag, kSctpChunkFlagT), DropReason::NotSyn)});
        const SctpSpec shutdown_ack = from_client(test::sctp_chunk(kSctpShutdownAck));
        harness.check({"stray SHUTDOWN ACK gets SHUTDOWN COMPLETE (RFC 9260 8.4)", client_to_vip(flow, shutdown_ack),
                       kClientPortId,
                       answered(abort_to_client(flow, kEndpointTag, kSctpChunkFlagT, kSctpShutdownComplete),
                                DropReason::NotSyn)});
        EXPECT_FALSE(harness.translation(flow).has_value());
        return;
    }
    const EndpointSlot& endpoint = harness.maglev_choice(flow);
    const Translation expected{endpoint.address, kSctpTargetPort, flow.client, flow.client_port};
    harness.check({"mid-association DATA under DNAT", input, kClientPortId,
                   forwarded(kEndpointPortId, gateway_to_endpoint(expected, data),
                             {{"new_connections", 1}, {"forwarded_to_endpoint", 1}})});
    EXPECT_EQ(state_of(harness, flow), TcpState::SynReceived);
    harness.run(0, client_to_vip(flow, from_client(test::sctp_chunk(kSctpSack, 0, Bytes(12, 0)))));
    EXPECT_EQ(state_of(harness, flow), TcpState::Established);
}

// A packet chained over several mbuf segments: only the headers are in the first one.
TEST_P(GoldenSctp, MultiSegmentDataIsTranslated) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow flow = sctp_flow(40025);
    const Translation translation = start(harness, flow);
    ASSERT_FALSE(HasFailure());
    const SctpSpec big = from_client(test::sctp_data_chunk(2, test::payload_bytes(1400, 9)));
    const Bytes input = client_to_vip(flow, big);
    test::MbufPtr packet = test::to_mbuf(input, 14 + 20 + 16);
    packet->port = kClientPortId;
    ASSERT_GT(packet->nb_segs, 1);
    const WorkerCounters before = harness.worker(0).counters;
    rte_mbuf* raw = packet.release();
    process_burst(harness.worker(0), harness.snapshot(), &raw, 1, false);
    TxBuffer& tx = harness.worker(0).tx[kEndpointPortId];
    ASSERT_EQ(tx.count, 1u);
    test::MbufPtr out(tx.packets[0]);
    tx.count = 0;
    EXPECT_TRUE(test::frames_equal(test::to_bytes(out.get()), gateway_to_endpoint(translation, big)));
    EXPECT_EQ(harness.worker(0).counters.forwarded_to_endpoint, before.forwarded_to_endpoint + 1);
}

TEST_P(GoldenSctp, IcmpErrorsQuotingSctpAreTranslated) {
    GoldenHarness harness(sctp_topology(GetParam()));
    const Flow flow = sctp_flow(40030);
    const Translation translation = start(harness, flow);
    ASSERT_FALSE(HasFailure());
    const SctpSpec data = from_client(test::sctp_data_chunk(4, test::payload_bytes(1300)));
    const Bytes forwarded_data = gateway_to_endpoint(translation, data);
    const auto too_big = [&](size_t quote_length) {
        return test::icmp_error_frame(
            {.type = 3, .code = 4, .rest_of_header = 1200, .quoted = test::quote_of(forwarded_data, quote_length)},
            {.src = kIntermediateRouterAddr, .dst = translation.source}, from_neighbor(kIntermediateRouterAddr));
    };
    const auto too_big_to_client = [&](size_t quote_length) {
        return test::icmp_error_frame({.type = 3,
                                       .code = 4,
                                       .rest_of_header = 1200,
                                       .quoted = test::quote_of(client_to_vip(flow, data, {.ttl = 63}), quote_length)},
                                      {.src = kIntermediateRouterAddr, .dst = kClientAddr, .ttl = 63}, to_router());
    };
    const Counters translated{{"icmp_errors_translated", 1}};
    harness.check({"fragmentation needed, 8 bytes of SCTP quoted", too_big(28), kEndpointPortId,
                   forwarded(kClientPortId, too_big_to_client(28), translated)});
    harness.check({"fragmentation needed, the whole packet quoted: CRC32c translated too", too_big(576),
                   kEndpointPortId, forwarded(kClientPortId, too_big_to_client(576), translated)});
}

TEST_P(GoldenSctp, TwoWorkersHandOffToTheOwner) {
    GoldenHarness harness(sctp_topology(GetParam(), 2));
    const Flow flow = sctp_flow(harness.find_client_port(
        49000, [](uint16_t port) { return connection_owner(kClientAddr, rte_cpu_to_be_16(port), 2) == 1; }));
    const Bytes input = client_to_vip(flow, init());
    RunResult arrival = harness.run(0, input);
    check_result(arrival,
                 {.verdict = Verdict::HandedOff, .target = 1, .frame = input, .counters = {{"handoffs_out", 1}}}, 1,
                 input.size(), false);
    RunResult owner = harness.run_handed_off(1, std::move(arrival.handed_off[1]));
    const std::optional<Translation> translation = harness.translation(flow, 1);
    ASSERT_TRUE(translation.has_value());
    check_result(owner,
                 forwarded(kEndpointPortId, gateway_to_endpoint(*translation, init()),
                           {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                 1, input.size(), true);

    const Bytes reply = endpoint_to_gateway(*translation, init_ack());
    RunResult reply_arrival = harness.run(0, reply, kEndpointPortId);
    check_result(reply_arrival,
                 {.verdict = Verdict::HandedOff, .target = 1, .frame = reply, .counters = {{"handoffs_out", 1}}}, 1,
                 reply.size(), false);
    RunResult reply_owner = harness.run_handed_off(1, std::move(reply_arrival.handed_off[1]));
    check_result(reply_owner, forwarded(kClientPortId, gateway_to_client(flow, init_ack()), kToClient), 1, reply.size(),
                 true);
}

// An endpoint removed from the service: an INIT is rescheduled to a live endpoint, any other
// chunk of its associations is answered with an ABORT, never sent to the dead address.
TEST_P(GoldenSctp, RemovedEndpointAbortsOrReschedules) {
    TopologySpec spec = sctp_topology(GetParam());
    GoldenHarness harness(spec);
    const Flow flow = sctp_flow(40040);
    const Translation translation = start(harness, flow);
    ASSERT_FALSE(HasFailure());
    ServiceSpec& service = spec.service("diameter");
    std::erase_if(service.endpoints,
                  [&](const EndpointSpec& endpoint) { return ipv4(endpoint.address) == translation.endpoint; });
    harness.reload(spec);

    harness.check({"DATA of an association whose endpoint is gone",
                   client_to_vip(flow, from_client(test::sctp_data_chunk(1, {}))), kClientPortId,
                   answered(abort_to_client(flow, kEndpointTag, kSctpChunkFlagT), DropReason::EndpointGone)});
    harness.run(0, client_to_vip(flow, init()));  // reopens on a live endpoint
    const std::optional<Translation> moved = harness.translation(flow);
    ASSERT_TRUE(moved.has_value());
    EXPECT_NE(moved->endpoint, translation.endpoint);
    EXPECT_EQ(moved->endpoint, harness.maglev_choice(flow).address);
}

INSTANTIATE_TEST_SUITE_P(BothNatModes, GoldenSctp, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
