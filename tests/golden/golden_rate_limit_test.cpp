// Golden packets for the per-worker rate limits ([limits], token_bucket.h): answers (RSTs,
// ICMP errors) past the answer budget and punts past the punt budget are dropped with their own
// reasons, and tokens come back with the worker's clock (WorkerContext::now_ms, set here).
#include <gtest/gtest.h>

#include <rte_arp.h>
#include <rte_tcp.h>

#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using Counters = std::map<std::string, uint64_t>;

constexpr uint32_t kBurst = 5;
constexpr uint32_t kRatePerSecond = 1000;  // one token per millisecond

TopologySpec limited(RateLimit answers, RateLimit punts = {0, 1}) {
    TopologySpec spec;
    spec.limits = RateLimits{.answers = answers, .punts = punts};
    return spec;
}

// `count` SYNs from distinct client ports to a port the web VIP does not serve (each refused
// with a RST), in one burst.
std::vector<std::pair<Bytes, uint16_t>> refused_syns(uint16_t count, uint16_t first_client_port) {
    std::vector<std::pair<Bytes, uint16_t>> frames;
    for (uint16_t i = 0; i < count; ++i) {
        const Flow flow{
            .protocol = kProtoTcp, .client_port = uint16_t(first_client_port + i), .vip = kWebVip, .vip_port = 81};
        frames.emplace_back(client_to_vip(flow, test::TcpSpec{.flags = RTE_TCP_SYN_FLAG}), kClientPortId);
    }
    return frames;
}

uint64_t total_bytes(const std::vector<std::pair<Bytes, uint16_t>>& frames) {
    uint64_t bytes = 0;
    for (const auto& [frame, port] : frames) bytes += frame.size();
    return bytes;
}

// Runs the SYNs and checks that exactly `answered` RSTs left and the rest were rate-limited.
void expect_resets(GoldenHarness& harness, uint16_t count, uint16_t first_client_port, uint64_t answered) {
    const auto frames = refused_syns(count, first_client_port);
    RunResult result = harness.run(0, frames);
    ASSERT_EQ(result.transmitted.size(), answered);
    for (const Transmitted& sent : result.transmitted) {
        EXPECT_EQ(sent.port_index, kClientPortId);
        EXPECT_EQ(test::tcp_of(sent.frame).tcp_flags, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG);
    }
    Counters expected = {{"rx_packets", count}, {"rx_bytes", total_bytes(frames)}};
    if (answered > 0) {
        expected["resets_sent"] = answered;
        expected[drop_counter(DropReason::VipPortRefused)] = answered;
    }
    if (count > answered) expected[drop_counter(DropReason::AnswerRateLimited)] = count - answered;
    EXPECT_EQ(result.counter_changes, expected);
}

TEST(GoldenRateLimit, RefusedSynsBeyondTheBurstAreDroppedUntilTokensComeBack) {
    GoldenHarness harness(limited({kRatePerSecond, kBurst}));
    {
        SCOPED_TRACE("a burst of 8 with a full bucket of 5");
        expect_resets(harness, 8, 42000, kBurst);
    }
    {
        SCOPED_TRACE("at the same instant the bucket is empty");
        expect_resets(harness, 3, 42100, 0);
    }
    harness.worker(0).now_ms += 2;
    {
        SCOPED_TRACE("2 ms later: 2 tokens");
        expect_resets(harness, 3, 42200, 2);
    }
    harness.worker(0).now_ms += 60'000;
    {
        SCOPED_TRACE("a minute later: never more than the burst");
        expect_resets(harness, 8, 42300, kBurst);
    }
}

TEST(GoldenRateLimit, IcmpErrorsShareTheAnswerBudget) {
    GoldenHarness harness(limited({kRatePerSecond, 1}));
    const Flow flow{.protocol = kProtoTcp, .client_port = 42400, .vip = kWebVip, .vip_port = 80};
    const Bytes expired = client_to_vip(flow, test::TcpSpec{.flags = RTE_TCP_SYN_FLAG}, {.ttl = 1});
    RunResult first = harness.run(0, expired);
    EXPECT_EQ(first.transmitted.size(), 1u);
    EXPECT_EQ(first.counter_changes["icmp_sent"], 1u);
    harness.check({"time exceeded past the budget",
                   expired,
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::AnswerRateLimited}});
    harness.check({"a refusal past the budget",
                   refused_syns(1, 42401)[0].first,
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::AnswerRateLimited}});
}

// A packet that gets no answer anyway (a RST to a refused port) takes no token.
TEST(GoldenRateLimit, UnansweredRefusalsTakeNoToken) {
    GoldenHarness harness(limited({kRatePerSecond, 1}));
    const Flow flow{.protocol = kProtoTcp, .client_port = 42500, .vip = kWebVip, .vip_port = 81};
    harness.check({"RST to a refused port",
                   client_to_vip(flow, test::TcpSpec{.flags = RTE_TCP_RST_FLAG}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::VipPortRefused}});
    expect_resets(harness, 1, 42501, 1);
}

TEST(GoldenRateLimit, AReloadChangesTheLimitAtOnce) {
    GoldenHarness harness(limited({kRatePerSecond, kBurst}));
    expect_resets(harness, 8, 42600, kBurst);
    harness.reload(limited({0, 1}));
    expect_resets(harness, 8, 42700, 8);
}

TEST(GoldenRateLimit, PuntsBeyondTheBurstAreDropped) {
    GoldenHarness harness(limited({0, 1}, {kRatePerSecond, 3}));
    std::vector<std::pair<Bytes, uint16_t>> requests;
    for (uint32_t i = 0; i < 5; ++i) {
        requests.emplace_back(test::arp_frame({.sender_mac = kRouterMac, .sender_addr = kRouterAddr}), kClientPortId);
    }
    RunResult result = harness.run(0, requests);
    EXPECT_EQ(result.punted.size(), 3u);
    EXPECT_EQ(result.counter_changes, (Counters{{"rx_packets", 5},
                                                {"rx_bytes", total_bytes(requests)},
                                                {"punted", 3},
                                                {drop_counter(DropReason::PuntRateLimited), 2}}));
    // A packet held for its next hop's MAC shares the budget.
    const Flow unresolved{.protocol = kProtoTcp, .client_port = 42800, .vip = kUnresolvedVip, .vip_port = 80};
    harness.check({"SYN whose endpoint's MAC is unknown, past the punt budget",
                   client_to_vip(unresolved, test::TcpSpec{.flags = RTE_TCP_SYN_FLAG}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped,
                    .reason = DropReason::PuntRateLimited,
                    .counters = {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}}});
    harness.worker(0).now_ms += 1;
    RunResult later = harness.run(0, requests[0].first);
    EXPECT_EQ(later.punted.size(), 1u) << "a token 1 ms later";
}

}  // namespace
}  // namespace vipgate::golden
