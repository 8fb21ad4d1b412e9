// Golden packets for the kernel exception path (control/kernel_path.h): with a kernel interface
// on port 0, what the gateway's own address does not serve goes to the kernel ring unchanged,
// within the worker's kernel budget; pings stay vipgate's; without one, the refusal is as before.
// IPv6 as IPv4: TCP, UDP, SCTP and ICMPv6 other than echo and ND to the port's own IPv6 address,
// under the same budget and counters; Neighbor Discovery stays vipgate's.
#include <gtest/gtest.h>

#include <rte_ring.h>
#include <rte_tcp.h>

#include "dataplane/icmp6_responses.h"
#include "dataplane/nd_packets.h"
#include "tests/golden/golden_harness.h"
#include "tests/golden/nat66_topology.h"

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

// IPv6: the NAT66 topology (port 0: 2001:db8::1/64) with the kernel interface on port 0.
TopologySpec ipv6_with_kernel_interface() {
    TopologySpec spec = nat66::ipv6_topology(NatMode::FullNat);
    spec.client_kernel_interface = "vg-clients";
    return spec;
}

const test::Ipv6Address kGateway6 = test::ipv6("2001:db8::1");

Bytes ipv6_to_gateway(uint8_t protocol, std::span<const uint8_t> upper) {
    return test::ipv6_frame({}, protocol, upper, {.src = nat66::kClient, .dst = kGateway6}, from_router());
}

Bytes syn6_to_gateway(uint16_t client_port, uint16_t port = 179) {
    return ipv6_to_gateway(kProtoTcp,
                           test::tcp6(client_port, port, nat66::kSyn, {.src = nat66::kClient, .dst = kGateway6}));
}

TEST(GoldenKernelPath, UnservedIpv6ToTheGatewayGoesToTheKernelUnchanged) {
    GoldenHarness harness(ipv6_with_kernel_interface());
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const test::Ipv6Spec ip{.src = nat66::kClient, .dst = kGateway6};
    const Bytes udp = ipv6_to_gateway(kProtoUdp, test::udp6(40001, 3784, std::vector<uint8_t>{1, 2, 3, 4}, ip));
    const Bytes echo_reply = ipv6_to_gateway(kProtoIcmpv6, test::icmp6(kIcmp6EchoReply, 0, ip));
    // Port unreachable about the kernel's own flow (from its BGP port): no entry of vipgate's.
    const test::Ipv6Spec kernel_flow{.src = kGateway6, .dst = nat66::kClient};
    const Bytes quoted =
        test::ipv6_frame({}, kProtoTcp, test::tcp6(179, 40000, nat66::kAck, kernel_flow), kernel_flow, to_router());
    Bytes error = {1, 4, 0, 0, 0, 0, 0, 0};
    error.insert(error.end(), quoted.begin() + sizeof(rte_ether_hdr), quoted.end());
    test::put16(error, 2, test::ipv6_l4_checksum(nat66::kClient, kGateway6, kProtoIcmpv6, error));
    const Bytes unreachable = ipv6_to_gateway(kProtoIcmpv6, error);
    for (const Bytes& frame : {syn6_to_gateway(40000), udp, echo_reply, unreachable}) {
        const unsigned available_before = rte_mempool_avail_count(test::test_mempool());
        RunResult result = harness.run(0, frame);
        EXPECT_TRUE(result.transmitted.empty()) << "refused (RST or ICMPv6) instead of passed to the kernel";
        EXPECT_EQ(result.counter_changes, (Counters{{"rx_packets", 1}, {"rx_bytes", frame.size()}, {"to_kernel", 1}}));
        const auto passed = ring.take();
        ASSERT_EQ(passed.size(), 1u);
        EXPECT_EQ(passed[0].first, frame) << "the kernel gets the frame as it came";
        EXPECT_EQ(passed[0].second, kClientPortId);
        EXPECT_EQ(rte_mempool_avail_count(test::test_mempool()), available_before);
    }
}

TEST(GoldenKernelPath, Ipv6PingsAndNeighborDiscoveryStayVipgates) {
    GoldenHarness harness(ipv6_with_kernel_interface());
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const test::Ipv6Spec ip{.src = nat66::kClient, .dst = kGateway6};
    RunResult echo = harness.run(0, ipv6_to_gateway(kProtoIcmpv6, test::icmp6(kIcmp6EchoRequest, 0, ip)));
    EXPECT_EQ(echo.transmitted.size(), 1u);
    EXPECT_EQ(echo.counter_changes["icmp_sent"], 1u);
    EXPECT_EQ(echo.counter_changes.count("to_kernel"), 0u);
    // A solicitation for the gateway's address, to its solicited-node group: punted to the
    // control thread's Neighbor Discovery, not the kernel.
    Bytes icmp(24, 0);
    icmp[0] = kNdNeighborSolicitation;
    std::copy(kGateway6.begin(), kGateway6.end(), icmp.begin() + 8);
    test::append_bytes(icmp, Bytes{1, 1, 0x02, 0x00, 0x00, 0x00, 0x00, 0x10});
    const test::Ipv6Address group = solicited_node_group(kGateway6);
    test::put16(icmp, 2, test::ipv6_l4_checksum(nat66::kClient, group, kProtoIcmpv6, icmp));
    test::EthernetSpec ethernet = from_router();
    ethernet.dst = multicast_mac(group);
    const Bytes solicitation =
        test::ipv6_frame({}, kProtoIcmpv6, icmp, {.src = nat66::kClient, .dst = group, .hop_limit = 255}, ethernet);
    RunResult nd = harness.run(0, solicitation);
    EXPECT_EQ(nd.counter_changes["punted"], 1u);
    EXPECT_EQ(nd.counter_changes.count("to_kernel"), 0u);
    EXPECT_TRUE(ring.take().empty());
}

TEST(GoldenKernelPath, WithoutAKernelInterfaceTheGatewayStillRefusesIpv6) {
    GoldenHarness harness(nat66::ipv6_topology(NatMode::FullNat));
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    RunResult result = harness.run(0, syn6_to_gateway(40000));
    ASSERT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(result.counter_changes["resets_sent"], 1u);
    EXPECT_EQ(result.counter_changes[drop_counter(DropReason::NoService)], 1u);
    const test::Ipv6Spec ip{.src = nat66::kClient, .dst = kGateway6};
    RunResult reply = harness.run(0, ipv6_to_gateway(kProtoIcmpv6, test::icmp6(kIcmp6EchoReply, 0, ip)));
    EXPECT_EQ(reply.counter_changes[drop_counter(DropReason::IcmpUnsupported)], 1u);
    EXPECT_TRUE(ring.take().empty());
}

// One budget for both families: a mixed flood passes exactly the burst.
TEST(GoldenKernelPath, Ipv4AndIpv6ShareTheKernelBudget) {
    TopologySpec spec = ipv6_with_kernel_interface();
    GoldenHarness harness(spec);
    KernelRing ring;
    harness.worker(0).kernel_ring = ring.get();
    const RateLimit budget = harness.snapshot().rate_limits.kernel;
    uint64_t passed = 0;
    uint64_t limited = 0;
    uint16_t client_port = 10000;
    for (uint32_t burst = 0; burst < 40; ++burst) {
        std::vector<std::pair<Bytes, uint16_t>> frames;
        for (uint16_t i = 0; i < kBurstSize; ++i) {
            frames.emplace_back(i % 2 == 0 ? syn_to_gateway(client_port) : syn6_to_gateway(client_port), kClientPortId);
            ++client_port;
        }
        RunResult result = harness.run(0, frames);
        passed += result.counter_changes["to_kernel"];
        limited += result.counter_changes[drop_counter(DropReason::KernelRateLimited)];
        ring.take();
    }
    EXPECT_EQ(passed, budget.burst);
    EXPECT_EQ(limited, 40u * kBurstSize - budget.burst);
}

}  // namespace
}  // namespace vipgate::golden
