// Golden packets for IPv4 fragments (fragment_table.h, the note at the top of pipeline.cpp): the
// first fragment is translated like any packet of its flow, and later fragments follow it with
// the same addresses, whatever order they arrive in; overlapping, tiny, oversized and
// never-completed datagrams are dropped and counted. Expected fragments are cut from the whole
// translated datagram, so byte equality also proves that the first fragment's L4 checksum
// update covers the whole datagram. Both NAT modes.
#include <gtest/gtest.h>

#include <rte_ip.h>
#include <rte_tcp.h>

#include "dataplane/fragment_table.h"
#include "dataplane/pipeline.h"
#include "tests/golden/fragment_helpers.h"
#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::Ipv4Spec;
using test::UdpSpec;

constexpr uint16_t kIpv4HeaderLength = 20;
constexpr uint16_t kDatagramId = 0x5151;
constexpr size_t kPayloadLength = 100;  // UDP: 108 bytes of IP payload, cut at 48 and 96

// Cuts the whole IPv4 frame `whole` into fragments at `cuts` (offsets into its IP payload, each
// a multiple of 8): [0, cuts[0]), [cuts[0], cuts[1]), ... [cuts.back(), end).
std::vector<Bytes> fragments_of(const Bytes& whole, const std::vector<uint16_t>& cuts) {
    const test::FrameLayout layout = test::layout_of(whole);
    const size_t l3 = layout.l3_offset;
    const std::vector<size_t> bounds = fragment_bounds(cuts, whole.size() - layout.l4_offset);
    std::vector<Bytes> pieces;
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
        Bytes frame(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(layout.l4_offset));
        for (size_t b = bounds[i]; b < bounds[i + 1]; ++b) frame.push_back(whole[layout.l4_offset + b]);
        const auto total = static_cast<uint16_t>(kIpv4HeaderLength + bounds[i + 1] - bounds[i]);
        const bool more = i + 2 < bounds.size();
        const auto field = static_cast<uint16_t>((more ? RTE_IPV4_HDR_MF_FLAG : 0) | bounds[i] / 8);
        frame[l3 + 2] = static_cast<uint8_t>(total >> 8);
        frame[l3 + 3] = static_cast<uint8_t>(total);
        frame[l3 + 6] = static_cast<uint8_t>(field >> 8);
        frame[l3 + 7] = static_cast<uint8_t>(field);
        frame[l3 + 10] = 0;
        frame[l3 + 11] = 0;
        const uint16_t checksum =
            test::internet_checksum(std::span<const uint8_t>(frame).subspan(l3, kIpv4HeaderLength));
        frame[l3 + 10] = static_cast<uint8_t>(checksum >> 8);
        frame[l3 + 11] = static_cast<uint8_t>(checksum);
        pieces.push_back(std::move(frame));
    }
    return pieces;
}

Flow udp_flow(uint16_t client_port) {
    return {.protocol = kProtoUdp, .client_port = client_port, .vip = kWebVip, .vip_port = 53};
}

const UdpSpec kDatagram{.payload = test::payload_bytes(kPayloadLength)};
const Ipv4Spec kFragmentedIp{.id = kDatagramId, .flags_fragment = 0};
const std::vector<uint16_t> kCuts{48, 96};

class GoldenFragments : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology(uint16_t workers = 1) const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        spec.workers = workers;
        return spec;
    }
};

TEST_P(GoldenFragments, InOrderFragmentsFollowTheFirstToItsEndpoint) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(42000);
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kDatagram, kFragmentedIp), kCuts);
    RunResult result = harness.run(0, on_port(input, kClientPortId));
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation) << "the first fragment opened the flow";
    expect_transmitted(result, kEndpointPortId,
                       fragments_of(gateway_to_endpoint(*translation, kDatagram, kFragmentedIp), kCuts));
    // Parsed before the burst's first fragment is handled, the later ones wait for it briefly.
    expect_counters(result, {{"rx_packets", 3},
                             {"rx_bytes", bytes_of(input)},
                             {"new_connections", 1},
                             {"forwarded_to_endpoint", 1},
                             {"fragments_held", 2},
                             {"fragments_forwarded", 2},
                             {"fragment_datagrams_completed", 1}});
    EXPECT_EQ(harness.worker(0).fragments.size(), 0u) << "a complete datagram frees its entry";
}

// Later fragments wait for the first (across bursts) and leave after it, in arrival order.
TEST_P(GoldenFragments, OutOfOrderFragmentsWaitForTheFirst) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(42001);
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kDatagram, kFragmentedIp), kCuts);
    RunResult last = harness.run(0, input[2]);
    EXPECT_TRUE(last.transmitted.empty());
    expect_counters(last, {{"rx_packets", 1}, {"rx_bytes", input[2].size()}, {"fragments_held", 1}});
    RunResult middle = harness.run(0, input[1]);
    EXPECT_TRUE(middle.transmitted.empty());
    RunResult first = harness.run(0, input[0]);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation);
    const std::vector<Bytes> expected =
        fragments_of(gateway_to_endpoint(*translation, kDatagram, kFragmentedIp), kCuts);
    expect_transmitted(first, kEndpointPortId, {expected[0], expected[2], expected[1]});
    expect_counters(first, {{"rx_packets", 1},
                            {"rx_bytes", input[0].size()},
                            {"new_connections", 1},
                            {"forwarded_to_endpoint", 1},
                            {"fragments_forwarded", 2},
                            {"fragment_datagrams_completed", 1}});
    EXPECT_EQ(harness.worker(0).fragments.size(), 0u);
}

// Teardrop: a fragment overlapping one already seen is dropped, and so is the rest of its datagram.
TEST_P(GoldenFragments, OverlappingFragmentDropsTheRestOfTheDatagram) {
    GoldenHarness harness(topology());
    const unsigned available = pool_available();
    const Bytes whole = client_to_vip(udp_flow(42002), kDatagram, kFragmentedIp);
    expect_overlap_drops_the_rest(harness, fragments_of(whole, kCuts), fragments_of(whole, {40, 96})[1]);
    EXPECT_EQ(pool_available(), available) << "a fragment was leaked or freed twice";
}

// RFC 1858: a first fragment without the whole TCP header, or a TCP fragment at offset 8.
TEST_P(GoldenFragments, TinyTcpFragmentsAreDropped) {
    GoldenHarness harness(topology());
    const Flow flow{.protocol = kProtoTcp, .client_port = 42003, .vip = kWebVip, .vip_port = 80};
    const Bytes whole = client_to_vip(flow, test::TcpSpec{.payload = test::payload_bytes(64)}, kFragmentedIp);
    const std::vector<Bytes> tiny = fragments_of(whole, {16});
    harness.check({"first fragment with 16 bytes of TCP header",
                   tiny[0],
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::FragmentTiny}});
    const std::vector<Bytes> at_eight = fragments_of(whole, {8});
    harness.check({"TCP fragment at offset 8",
                   at_eight[1],
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::FragmentTiny}});
    EXPECT_FALSE(harness.translation(flow)) << "no connection from a tiny fragment";
}

// The ping of death: a fragment that would end past the largest datagram.
TEST_P(GoldenFragments, FragmentPastTheLargestDatagramIsDropped) {
    GoldenHarness harness(topology());
    const Bytes oversize = client_to_vip(udp_flow(42004), UdpSpec{.payload = test::payload_bytes(16)},
                                         Ipv4Spec{.id = kDatagramId, .flags_fragment = 8189});
    harness.check({"fragment at 65512 with 24 bytes",
                   oversize,
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::FragmentOversize}});
}

// A fragment whose first never comes waits kTimeoutMs on the injected clock, then is dropped;
// a translated datagram missing a fragment is counted as expired when its entry times out.
TEST_P(GoldenFragments, NeverCompletedDatagramsExpire) {
    GoldenHarness harness(topology());
    const unsigned available = pool_available();
    const Flow flow = udp_flow(42005);
    const std::vector<Bytes> waiting = fragments_of(client_to_vip(flow, kDatagram, kFragmentedIp), kCuts);
    const Ipv4Spec other_ip{.id = kDatagramId + 1, .flags_fragment = 0};
    const std::vector<Bytes> gapped = fragments_of(client_to_vip(flow, kDatagram, other_ip), kCuts);
    expect_incomplete_datagrams_expire(harness, harness.worker(0).fragments, waiting, gapped);
    EXPECT_EQ(pool_available(), available) << "the held fragment went back to the pool";

    RunResult late = harness.run(0, waiting[0]);
    EXPECT_EQ(late.transmitted.size(), 1u) << "a first fragment after expiry starts a new entry and is forwarded";
}

// Fragments of a reply go back to the client with the reply's translation.
TEST_P(GoldenFragments, ReplyFragmentsAreTranslatedBackToTheClient) {
    GoldenHarness harness(topology());
    const Flow flow = udp_flow(42006);
    RunResult opened = harness.run(0, client_to_vip(flow, UdpSpec{.payload = test::payload_bytes(16)}));
    ASSERT_EQ(opened.transmitted.size(), 1u);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation);
    const Ipv4Spec reply_ip{.id = 0x6161, .flags_fragment = 0};
    const std::vector<Bytes> input = fragments_of(endpoint_to_gateway(*translation, kDatagram, reply_ip), kCuts);
    // Last fragment first: the reply's later fragments wait too.
    RunResult result = harness.run(0, on_port({input[2], input[0], input[1]}, kEndpointPortId));
    const std::vector<Bytes> expected = fragments_of(gateway_to_client(flow, kDatagram, reply_ip), kCuts);
    expect_transmitted(result, kClientPortId, {expected[0], expected[2], expected[1]});
    expect_counters(result, {{"rx_packets", 3},
                             {"rx_bytes", bytes_of(input)},
                             {"conntrack_hits", 1},
                             {"forwarded_to_client", 1},
                             {"fragments_held", 2},
                             {"fragments_forwarded", 2},
                             {"fragment_datagrams_completed", 1}});
}

// Two workers: RSS gave every fragment to worker 1; their home is worker 0, which hands the
// datagram to the connection's owner, worker 1, where all three are translated.
TEST_P(GoldenFragments, FragmentsMeetAtTheirHomeAndFollowTheFirstToItsOwner) {
    GoldenHarness harness(topology(2));
    const Snapshot& snapshot = harness.snapshot();
    const uint16_t client_port = harness.find_client_port(
        42100, [](uint16_t port) { return connection_owner(kClientAddr, rte_cpu_to_be_16(port), 2) == 1; });
    uint16_t id = 1;
    while (fragment_home({kClientAddr, kWebVip, rte_cpu_to_be_16(id), kProtoUdp, 0}, snapshot.hash_seed, 2) != 0) ++id;
    const Flow flow = udp_flow(client_port);
    const Ipv4Spec ip{.id = id, .flags_fragment = 0};
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kDatagram, ip), kCuts);
    RunResult owner = through_home_to_owner(harness, input);
    EXPECT_EQ(harness.worker(0).fragments.size(), 0u) << "the home keeps nothing";
    const std::optional<Translation> translation = harness.translation(flow, 1);
    ASSERT_TRUE(translation);
    const std::vector<Bytes> expected = fragments_of(gateway_to_endpoint(*translation, kDatagram, ip), kCuts);
    expect_transmitted(owner, kEndpointPortId, {expected[0], expected[2], expected[1]});
    expect_counters(owner, {{"handoffs_in", 3},
                            {"new_connections", 1},
                            {"forwarded_to_endpoint", 1},
                            {"fragments_held", 2},
                            {"fragments_forwarded", 2},
                            {"fragment_datagrams_completed", 1}});
}

// A datagram in fragments to the gateway's own address, with a kernel interface on the port:
// the first fragment goes to the kernel as any unserved packet does, and the later ones follow it
// there (whatever order they came in), for the kernel to reassemble.
TEST_P(GoldenFragments, FragmentsToTheGatewayFollowTheFirstToTheKernel) {
    TopologySpec spec = topology();
    spec.client_kernel_interface = "vg-clients";
    GoldenHarness harness(spec);
    const Flow to_gateway{.protocol = kProtoUdp, .client_port = 42200, .vip = kGatewayAddr, .vip_port = 4789};
    expect_fragments_follow_the_first_to_the_kernel(
        harness, fragments_of(client_to_vip(to_gateway, kDatagram, kFragmentedIp), kCuts));
    EXPECT_EQ(harness.worker(0).fragments.size(), 0u) << "a complete datagram frees its entry";
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenFragments, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
