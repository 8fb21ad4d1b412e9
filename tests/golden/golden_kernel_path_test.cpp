// Golden packets for the kernel exception path (control/kernel_path.h): with a kernel interface
// on port 0, what the gateway's own address does not serve goes to the kernel ring unchanged,
// within the worker's kernel budget; pings stay vipgate's; without one, the refusal is as before.
#include <gtest/gtest.h>

#include <rte_ring.h>
#include <rte_tcp.h>

#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using Counters = std::map<std::string, uint64_t>;

class KernelRing {
public:
    KernelRing() : ring_(rte_ring_create("golden_kernel", 2048, SOCKET_ID_ANY, RING_F_SC_DEQ)) {}
    ~KernelRing() {
        take();
        rte_ring_free(ring_);
    }
    rte_ring* get() const { return ring_; }
    // Every frame in the ring, freed.
    std::vector<std::pair<Bytes, uint16_t>> take() {
        std::vector<std::pair<Bytes, uint16_t>> frames;
        void* packet = nullptr;
        while (rte_ring_sc_dequeue(ring_, &packet) == 0) {
            test::MbufPtr mbuf(static_cast<rte_mbuf*>(packet));
            frames.emplace_back(test::to_bytes(mbuf.get()), mbuf->port);
        }
        return frames;
    }

private:
    rte_ring* ring_;
};

TopologySpec with_kernel_interface() {
    TopologySpec spec;
    spec.client_kernel_interface = "vg-clients";
    return spec;
}

Bytes syn_to_gateway(uint16_t client_port, uint16_t port = 179) {
    const Flow flow{.protocol = kProtoTcp, .client_port = client_port, .vip = kGatewayAddr, .vip_port = port};
    return client_to_vip(flow, test::TcpSpec{.seq = 5, .flags = RTE_TCP_SYN_FLAG});
}

TEST(GoldenKernelPath, UnservedTrafficToTheGatewayGoesToTheKernelUnchanged) {
    GoldenHarness harness(with_kernel_interface());
    ASSERT_TRUE(harness.snapshot().ports[kClientPortId].kernel_interface);
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const Flow udp{.protocol = kProtoUdp, .client_port = 40001, .vip = kGatewayAddr, .vip_port = 3784};
    const Bytes bfd = client_to_vip(udp, test::UdpSpec{});
    const Bytes echo_reply =
        test::icmp_echo_frame({.request = false}, {.src = kClientAddr, .dst = kGatewayAddr}, from_router());
    for (const Bytes& frame : {syn_to_gateway(40000), bfd, echo_reply}) {
        const unsigned available_before = rte_mempool_avail_count(test::test_mempool());
        RunResult result = harness.run(0, frame);
        EXPECT_TRUE(result.transmitted.empty()) << "refused (RST or ICMP) instead of passed to the kernel";
        EXPECT_EQ(result.counter_changes, (Counters{{"rx_packets", 1}, {"rx_bytes", frame.size()}, {"to_kernel", 1}}));
        const auto passed = ring.take();
        ASSERT_EQ(passed.size(), 1u);
        EXPECT_EQ(passed[0].first, frame) << "the kernel gets the frame as it came";
        EXPECT_EQ(passed[0].second, kClientPortId) << "packet->port names the port whose kernel interface takes it";
        EXPECT_EQ(rte_mempool_avail_count(test::test_mempool()), available_before);
    }
}

TEST(GoldenKernelPath, PingsOfTheGatewayStayVipgates) {
    GoldenHarness harness(with_kernel_interface());
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const Bytes echo = test::icmp_echo_frame({}, {.src = kClientAddr, .dst = kGatewayAddr}, from_router());
    RunResult result = harness.run(0, echo);
    EXPECT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(result.counter_changes["icmp_sent"], 1u);
    EXPECT_EQ(result.counter_changes.count("to_kernel"), 0u);
    EXPECT_TRUE(ring.take().empty());
}

TEST(GoldenKernelPath, WithoutAKernelInterfaceTheGatewayStillRefuses) {
    GoldenHarness harness(TopologySpec{});
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();  // a kernel interface on another port
    RunResult result = harness.run(0, syn_to_gateway(40000));
    ASSERT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(test::tcp_of(result.transmitted[0].frame).tcp_flags, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG);
    EXPECT_EQ(result.counter_changes["resets_sent"], 1u);
    EXPECT_EQ(result.counter_changes[drop_counter(DropReason::NoService)], 1u);
    EXPECT_TRUE(ring.take().empty());
}

// The budget is RateLimits::kernel (10000/s, burst 1000): at one clock instant the first 1000
// pass, the rest are dropped and counted; a millisecond later 10 tokens have come back.
TEST(GoldenKernelPath, AFloodIsCutAtTheKernelBudget) {
    GoldenHarness harness(with_kernel_interface());
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const RateLimit budget = harness.snapshot().rate_limits.kernel;
    ASSERT_EQ(budget.burst, 1000u);
    uint64_t passed = 0;
    uint64_t limited = 0;
    uint16_t client_port = 10000;
    for (uint32_t burst = 0; burst < 40; ++burst) {
        std::vector<std::pair<Bytes, uint16_t>> frames;
        for (uint16_t i = 0; i < kBurstSize; ++i) frames.emplace_back(syn_to_gateway(client_port++), kClientPortId);
        RunResult result = harness.run(0, frames);
        EXPECT_TRUE(result.transmitted.empty());
        passed += result.counter_changes["to_kernel"];
        limited += result.counter_changes[drop_counter(DropReason::KernelRateLimited)];
        ring.take();
    }
    EXPECT_EQ(passed, budget.burst);
    EXPECT_EQ(limited, 40u * kBurstSize - budget.burst);
    harness.worker(0).now_ms += 1;
    std::vector<std::pair<Bytes, uint16_t>> frames;
    for (uint16_t i = 0; i < kBurstSize; ++i) frames.emplace_back(syn_to_gateway(client_port++), kClientPortId);
    RunResult later = harness.run(0, frames);
    EXPECT_EQ(later.counter_changes["to_kernel"], budget.rate_per_s / 1000) << "1 ms of tokens";
    EXPECT_EQ(ring.take().size(), budget.rate_per_s / 1000);
}

}  // namespace
}  // namespace vipgate::golden
