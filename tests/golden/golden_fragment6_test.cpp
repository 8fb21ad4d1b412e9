// Golden packets for IPv6 fragments (fragment6_path.h): as IPv4's (golden_fragment_test.cpp),
// the first fragment is translated like any packet of its flow and later fragments follow it with
// the same addresses, whatever order they arrive in; overlapping and never-completed datagrams
// are dropped and counted; fragments meet on their home worker and follow the first to the
// connection's owner; ICMPv6 errors quoting a first fragment are translated, those quoting a
// later one dropped. Expected fragments are cut from the whole translated datagram (written by
// the independent IPv6 builder), so byte equality also proves that the first fragment's L4
// checksum update covers the whole datagram and that later fragments keep their bytes. Both
// NAT modes.
#include <gtest/gtest.h>

#include <rte_byteorder.h>

#include "dataplane/fragment_table.h"
#include "dataplane/icmp6_responses.h"
#include "tests/golden/fragment_helpers.h"
#include "tests/golden/nat66_topology.h"

namespace vipgate::golden {
namespace {

using namespace nat66;  // NOLINT(google-build-using-namespace): the topology is this file's vocabulary

constexpr size_t kIpv6HeaderLength = 40;
constexpr size_t kFragmentHeaderLength = 8;
constexpr uint32_t kDatagramId = 0x51525354;
constexpr size_t kPayloadLength = 100;  // UDP: 108 bytes after the IPv6 header, cut at 48 and 96
const std::vector<uint16_t> kCuts{48, 96};

size_t l3_offset_of(const Bytes& frame) {
    return (frame[12] << 8 | frame[13]) == RTE_ETHER_TYPE_VLAN ? 18 : 14;
}

// Cuts the whole IPv6 frame `whole` (no extension headers) into fragments of datagram `id` at
// `cuts` (offsets into its payload, each a multiple of 8): [0, cuts[0]), ... [cuts.back(), end).
std::vector<Bytes> fragments_of(const Bytes& whole, const std::vector<uint16_t>& cuts, uint32_t id = kDatagramId) {
    const size_t l3 = l3_offset_of(whole);
    const size_t payload_start = l3 + kIpv6HeaderLength;
    const uint8_t protocol = whole[l3 + 6];
    const std::vector<size_t> bounds = fragment_bounds(cuts, whole.size() - payload_start);
    std::vector<Bytes> pieces;
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
        Bytes frame(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(payload_start));
        const auto length = static_cast<uint16_t>(kFragmentHeaderLength + bounds[i + 1] - bounds[i]);
        test::put16(frame, l3 + 4, length);
        frame[l3 + 6] = kIpv6Fragment;
        const bool more = i + 2 < bounds.size();
        const auto field = static_cast<uint16_t>(bounds[i] | (more ? 1 : 0));
        const Bytes header = {protocol,
                              0,
                              static_cast<uint8_t>(field >> 8),
                              static_cast<uint8_t>(field),
                              static_cast<uint8_t>(id >> 24),
                              static_cast<uint8_t>(id >> 16),
                              static_cast<uint8_t>(id >> 8),
                              static_cast<uint8_t>(id)};
        test::append_bytes(frame, header);
        for (size_t b = bounds[i]; b < bounds[i + 1]; ++b) frame.push_back(whole[payload_start + b]);
        pieces.push_back(std::move(frame));
    }
    return pieces;
}

// A TCP segment with `payload`, its checksum summed from scratch for the leg's pseudo-header.
auto tcp_data(uint8_t flags, size_t payload) {
    return [flags, payload](const Ipv6Spec& ip, uint16_t source, uint16_t destination) {
        Bytes segment = test::tcp6(source, destination, flags, ip);
        test::append_bytes(segment, test::payload_bytes(payload));
        test::put16(segment, 16, 0);
        test::put16(segment, 16, test::ipv6_l4_checksum(ip.src, ip.dst, kProtoTcp, segment));
        return segment;
    };
}

const auto kDatagram = udp(test::payload_bytes(kPayloadLength));

Flow6 udp_flow(uint16_t client_port) {
    return {.protocol = kProtoUdp, .client_port = client_port, .vip_port = 53};
}

class GoldenFragments6 : public GoldenNat66 {};

TEST_P(GoldenFragments6, InOrderUdpFragmentsFollowTheFirstToItsEndpoint) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow = udp_flow(42000);
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kProtoUdp, kDatagram), kCuts);
    RunResult result = harness.run(0, on_port(input, kClientPortId));
    const std::optional<Translation6> found = translation(harness, flow);
    ASSERT_TRUE(found) << "the first fragment opened the flow";
    if (fullnat()) {
        EXPECT_EQ(text(found->source), text(kSnat));
    }
    expect_transmitted(result, kEndpointPortId, fragments_of(gateway_to_endpoint(*found, kProtoUdp, kDatagram), kCuts));
    // Parsed before the burst's first fragment is handled, the later ones wait for it briefly.
    expect_counters(result, {{"rx_packets", 3},
                             {"rx_bytes", bytes_of(input)},
                             {"new_connections", 1},
                             {"forwarded_to_endpoint", 1},
                             {"fragments_held", 2},
                             {"fragments_forwarded", 2},
                             {"fragment_datagrams_completed", 1}});
    EXPECT_EQ(harness.worker(0).fragments6.size(), 0u) << "a complete datagram frees its entry";
}

// A TCP segment in fragments on an open connection, later fragments first, each in its own
// burst: they wait for the first and leave after it, in arrival order.
TEST_P(GoldenFragments6, OutOfOrderTcpFragmentsWaitForTheFirst) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow{.client_port = 42001};
    const Translation6 found = start_flow(harness, flow, kProtoTcp, tcp(kSyn));
    ASSERT_FALSE(HasFailure());
    const auto segment = tcp_data(kAck | kPsh, 200);
    const std::vector<uint16_t> cuts{96, 176};
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kProtoTcp, segment), cuts);
    RunResult last = harness.run(0, input[2]);
    EXPECT_TRUE(last.transmitted.empty());
    expect_counters(last, {{"rx_packets", 1}, {"rx_bytes", input[2].size()}, {"fragments_held", 1}});
    RunResult middle = harness.run(0, input[1]);
    EXPECT_TRUE(middle.transmitted.empty());
    RunResult first = harness.run(0, input[0]);
    const std::vector<Bytes> expected = fragments_of(gateway_to_endpoint(found, kProtoTcp, segment), cuts);
    expect_transmitted(first, kEndpointPortId, {expected[0], expected[2], expected[1]});
    expect_counters(first, {{"rx_packets", 1},
                            {"rx_bytes", input[0].size()},
                            {"conntrack_hits", 1},
                            {"forwarded_to_endpoint", 1},
                            {"fragments_forwarded", 2},
                            {"fragment_datagrams_completed", 1}});
    EXPECT_EQ(harness.worker(0).fragments6.size(), 0u);
}

// Fragments of a reply go back to the client with the reply's translation.
TEST_P(GoldenFragments6, ReplyFragmentsAreTranslatedBackToTheClient) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow = udp_flow(42002);
    const Translation6 found = start_flow(harness, flow, kProtoUdp, udp({1, 2, 3, 4}));
    ASSERT_FALSE(HasFailure());
    const std::vector<Bytes> input = fragments_of(endpoint_to_gateway(found, kProtoUdp, kDatagram), kCuts, 0x6161);
    RunResult result = harness.run(0, on_port({input[2], input[0], input[1]}, kEndpointPortId));
    const std::vector<Bytes> expected = fragments_of(gateway_to_client(flow, kProtoUdp, kDatagram), kCuts, 0x6161);
    expect_transmitted(result, kClientPortId, {expected[0], expected[2], expected[1]});
    expect_counters(result, {{"rx_packets", 3},
                             {"rx_bytes", bytes_of(input)},
                             {"conntrack_hits", 1},
                             {"forwarded_to_client", 1},
                             {"fragments_held", 2},
                             {"fragments_forwarded", 2},
                             {"fragment_datagrams_completed", 1}});
}

// Teardrop: a fragment overlapping one already seen is dropped, and so is the rest of its datagram.
TEST_P(GoldenFragments6, OverlappingFragmentDropsTheRestOfTheDatagram) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const unsigned available = pool_available();
    const Bytes whole = client_to_vip(udp_flow(42003), kProtoUdp, kDatagram);
    expect_overlap_drops_the_rest(harness, fragments_of(whole, kCuts), fragments_of(whole, {40, 96})[1]);
    EXPECT_EQ(pool_available(), available) << "a fragment was leaked or freed twice";
}

// A fragment whose first never comes waits kTimeoutMs on the injected clock, then is dropped;
// a translated datagram missing a fragment is counted as expired when its entry times out.
TEST_P(GoldenFragments6, NeverCompletedDatagramsExpire) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const unsigned available = pool_available();
    const Bytes whole = client_to_vip(udp_flow(42004), kProtoUdp, kDatagram);
    expect_incomplete_datagrams_expire(harness, harness.worker(0).fragments6, fragments_of(whole, kCuts),
                                       fragments_of(whole, kCuts, kDatagramId + 1));
    EXPECT_EQ(pool_available(), available) << "the held fragment went back to the pool";
}

// SCTP and ICMPv6 are not served in fragments: dropped as `fragment`, as IPv4's are.
TEST_P(GoldenFragments6, FragmentsOfOtherProtocolsAreDropped) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    Bytes echo(64, 0xab);
    echo[0] = kIcmp6EchoRequest;
    echo[1] = 0;
    const Ipv6Spec ip{.src = kClient, .dst = kVip};
    test::put16(echo, 2, 0);
    test::put16(echo, 2, test::ipv6_l4_checksum(ip.src, ip.dst, kProtoIcmpv6, echo));
    const std::vector<Bytes> pieces = fragments_of(ipv6_frame({}, kProtoIcmpv6, echo, ip, from_router()), {32});
    harness.check({"first fragment of an echo request", pieces[0], kClientPortId, dropped(DropReason::Fragment)});
    harness.check({"its last fragment", pieces[1], kClientPortId, dropped(DropReason::Fragment)});
    EXPECT_EQ(harness.worker(0).fragments6.size(), 0u);
}

// Two workers: RSS gave every fragment to worker 1; their home is worker 0, which hands the
// datagram to the connection's owner, worker 1, where all three are translated.
TEST_P(GoldenFragments6, FragmentsMeetAtTheirHomeAndFollowTheFirstToItsOwner) {
    GoldenHarness harness(ipv6_topology(GetParam(), 2));
    const Snapshot& snapshot = harness.snapshot();
    const uint16_t client_port = harness.find_client_port(
        42100, [](uint16_t port) { return connection_owner6(kClient.data(), rte_cpu_to_be_16(port), 2) == 1; });
    uint32_t id = 1;
    auto home_of = [&](uint32_t candidate) {
        FragmentKey6 key;
        key.src_addr = kClient;
        key.dst_addr = kVip;
        key.id = rte_cpu_to_be_32(candidate);
        return fragment_home6(key, snapshot.hash_seed, 2);
    };
    while (home_of(id) != 0) ++id;
    const Flow6 flow = udp_flow(client_port);
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kProtoUdp, kDatagram), kCuts, id);
    RunResult owner = through_home_to_owner(harness, input);
    EXPECT_EQ(harness.worker(0).fragments6.size(), 0u) << "the home keeps nothing";
    const std::optional<Translation6> found = translation(harness, flow, 1);
    ASSERT_TRUE(found);
    const std::vector<Bytes> expected = fragments_of(gateway_to_endpoint(*found, kProtoUdp, kDatagram), kCuts, id);
    expect_transmitted(owner, kEndpointPortId, {expected[0], expected[2], expected[1]});
    expect_counters(owner, {{"handoffs_in", 3},
                            {"new_connections", 1},
                            {"forwarded_to_endpoint", 1},
                            {"fragments_held", 2},
                            {"fragments_forwarded", 2},
                            {"fragment_datagrams_completed", 1}});
}

// An ICMPv6 error from the pod quoting the first fragment the gateway sent it reaches the client
// about the first fragment it sent (ports, addresses and the whole datagram's UDP checksum put
// back); one quoting a later fragment has no ports to find its flow by: a counted drop.
TEST_P(GoldenFragments6, ErrorsQuotingAFirstFragmentAreTranslated) {
    GoldenHarness harness(ipv6_topology(GetParam()));
    const Flow6 flow = udp_flow(42005);
    const std::vector<Bytes> input = fragments_of(client_to_vip(flow, kProtoUdp, kDatagram), kCuts);
    RunResult sent = harness.run(0, on_port(input, kClientPortId));
    ASSERT_EQ(sent.transmitted.size(), 3u);
    const std::optional<Translation6> found = translation(harness, flow);
    ASSERT_TRUE(found);
    const std::vector<Bytes> to_pod = fragments_of(gateway_to_endpoint(*found, kProtoUdp, kDatagram), kCuts);
    const std::vector<Bytes> as_client_sent =
        fragments_of(client_to_vip(flow, kProtoUdp, kDatagram, 63), kCuts);  // hop limit as the pod got it
    const test::EthernetSpec from_pod{
        .src = endpoint_mac(found->endpoint), .dst = kEndpointPortMac, .vlan = kEndpointVlan};
    auto error_frame = [](const Bytes& quoted_frame, const Ipv6Spec& ip, const test::EthernetSpec& ethernet) {
        const size_t l3 = l3_offset_of(quoted_frame);
        const Bytes quote(quoted_frame.begin() + static_cast<std::ptrdiff_t>(l3), quoted_frame.end());
        Bytes icmp = {kIcmp6DestinationUnreachable, kIcmp6PortUnreachable, 0, 0, 0, 0, 0, 0};
        test::append_bytes(icmp, quote);
        test::put16(icmp, 2, test::ipv6_l4_checksum(ip.src, ip.dst, kProtoIcmpv6, icmp));
        return ipv6_frame({}, kProtoIcmpv6, icmp, ip, ethernet);
    };
    harness.check(
        {"port unreachable from the pod quoting the first fragment",
         error_frame(to_pod[0], {.src = found->endpoint, .dst = found->source}, from_pod), kEndpointPortId,
         forwarded(kClientPortId,
                   error_frame(as_client_sent[0], {.src = kVip, .dst = kClient, .hop_limit = 63}, to_router()),
                   {{"icmp_errors_translated", 1}})});
    harness.check({"port unreachable from the pod quoting a later fragment",
                   error_frame(to_pod[1], {.src = found->endpoint, .dst = found->source}, from_pod), kEndpointPortId,
                   dropped(DropReason::Icmp6ErrorLaterFragment)});
}

// A datagram in fragments to the gateway port's own IPv6 address, with a kernel interface on the
// port: the first fragment goes to the kernel as any unserved packet does, and the later ones
// follow it there, for the kernel to reassemble.
TEST_P(GoldenFragments6, FragmentsToTheGatewayFollowTheFirstToTheKernel) {
    TopologySpec spec = ipv6_topology(GetParam());
    spec.client_kernel_interface = "vg-clients";
    GoldenHarness harness(spec);
    const Ipv6Address gateway = test::ipv6("2001:db8::1");
    const test::Ipv6Spec ip{.src = kClient, .dst = gateway};
    const Bytes whole = test::ipv6_frame(
        {}, kProtoUdp, test::udp6(42200, 4789, test::payload_bytes(kPayloadLength), ip), ip, from_router());
    expect_fragments_follow_the_first_to_the_kernel(harness, fragments_of(whole, kCuts));
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenFragments6, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
