// IPv6 Neighbor Discovery: the workers' checks (nd_path.h: RFC 4861 7.1, counted drops, punts)
// and the control thread's answers, learning and held packets (NeighborDiscovery). Frames are
// built byte by byte here with the independent checksum of tests/support/ipv6_builder.h.
#include <gtest/gtest.h>

#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "control/neighbor_discovery.h"
#include "dataplane/nd_path.h"
#include "tests/support/ipv6_builder.h"
#include "tests/unit/neighbor_test_fixture.h"

namespace vipgate {
namespace {

using test::Bytes;
using test::ipv6;
using test::kGatewayMac;

constexpr uint16_t kPortId = test::kNeighborTestPortId;
constexpr rte_ether_addr kHostMac = test::mac("02:00:00:00:00:21");
constexpr rte_ether_addr kIntruderMac = test::mac("02:00:00:00:0b:ad");
const test::Ipv6Address kOwn = ipv6("2001:db8::1");
const test::Ipv6Address kVip = ipv6("2001:db8:100::1");
const test::Ipv6Address kHost = ipv6("2001:db8::21");
const test::Ipv6Address kOther = ipv6("2001:db8::99");

const char* const kConfig = R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8::1/64"]
[[services]]
name = "web"
cluster_ip = "2001:db8:100::1"
selector = { app = "web" }
ports = [{ port = 80 }]
[[routes]]
prefix = "2001:db8:77::/48"
via = "2001:db8::fe"
)";

struct NdSpec {
    uint8_t type = kNdNeighborSolicitation;
    uint8_t code = 0;
    uint8_t flags = 0;
    test::Ipv6Address src = kHost;
    test::Ipv6Address dst = solicited_node_group(kOwn);
    test::Ipv6Address target = kOwn;
    uint8_t hop_limit = 255;
    bool link_layer_option = true;
    rte_ether_addr link_layer = kHostMac;
    rte_ether_addr ethernet_src = kHostMac;
    rte_ether_addr ethernet_dst = multicast_mac(solicited_node_group(kOwn));
    bool corrupt_checksum = false;
};

Bytes nd_frame(const NdSpec& spec) {
    Bytes icmp(24, 0);
    icmp[0] = spec.type;
    icmp[1] = spec.code;
    icmp[4] = spec.flags;
    std::copy(spec.target.begin(), spec.target.end(), icmp.begin() + 8);
    if (spec.link_layer_option) {
        icmp.push_back(spec.type == kNdNeighborSolicitation ? 1 : 2);
        icmp.push_back(1);
        for (uint8_t byte : spec.link_layer.addr_bytes) icmp.push_back(byte);
    }
    uint16_t checksum = test::ipv6_l4_checksum(spec.src, spec.dst, 58, icmp);
    if (spec.corrupt_checksum) checksum ^= 0x0101;
    test::put16(icmp, 2, checksum);
    return test::ipv6_frame({}, 58, icmp, {.src = spec.src, .dst = spec.dst, .hop_limit = spec.hop_limit},
                            {.src = spec.ethernet_src, .dst = spec.ethernet_dst});
}

class NeighborDiscoveryTest : public test::NeighborDiscoveryFixture {
protected:
    NeighborDiscoveryTest() { start(test::load_config_or_throw(kConfig, "neighbor_discovery_test")); }

    // What the control thread transmitted, each parsed as ND (or type 0 when it is not ND).
    struct Sent {
        rte_ether_addr ethernet_dst;
        NdMessage message;
        Bytes frame;
    };
    std::vector<Sent> sent() {
        std::vector<Sent> seen;
        void* object = nullptr;
        while (rte_ring_dequeue(tx_ring_, &object) == 0) {
            auto* packet = static_cast<rte_mbuf*>(object);
            const auto* bytes = rte_pktmbuf_mtod(packet, const uint8_t*);
            Sent one{rte_pktmbuf_mtod(packet, const rte_ether_hdr*)->dst_addr,
                     {},
                     Bytes(bytes, bytes + rte_pktmbuf_data_len(packet))};
            ParsedIpv6 parsed{};
            if (parse_ipv6(bytes, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), sizeof(rte_ether_hdr),
                           parsed)
                        .kind == PacketKind::Ipv6 &&
                !parse_nd(bytes, rte_pktmbuf_data_len(packet), parsed, one.message)) {
                one.message.type = 0;
            }
            seen.push_back(one);
            rte_pktmbuf_free(packet);
        }
        return seen;
    }
};

TEST_F(NeighborDiscoveryTest, SolicitationsForOwnAddressAndVipAreAnsweredAndTheAskerLearnt) {
    for (const test::Ipv6Address& target : {kOwn, kVip}) {
        const test::Ipv6Address group = solicited_node_group(target);
        arrive(nd_frame({.dst = group, .target = target, .ethernet_dst = multicast_mac(group)}));
        control();
        const std::vector<Sent> replies = sent();
        ASSERT_EQ(replies.size(), 1u);
        const NdMessage& na = replies[0].message;
        EXPECT_EQ(na.type, kNdNeighborAdvertisement);
        EXPECT_EQ(na.flags, kNaRouter | kNaSolicited | kNaOverride);
        EXPECT_EQ(na.target, target);
        EXPECT_EQ(na.source, target);
        EXPECT_EQ(na.destination, kHost);
        EXPECT_TRUE(na.has_link_layer);
        EXPECT_TRUE(rte_is_same_ether_addr(&na.link_layer, &kGatewayMac));
        EXPECT_TRUE(rte_is_same_ether_addr(&replies[0].ethernet_dst, &kHostMac));
        // Hop limit 255 and a checksum the independent builder agrees with.
        EXPECT_EQ(replies[0].frame[14 + 7], 255);
        const Bytes icmp(replies[0].frame.begin() + 54, replies[0].frame.end());
        Bytes zeroed = icmp;
        zeroed[2] = zeroed[3] = 0;
        EXPECT_EQ(test::ipv6_l4_checksum(target, kHost, 58, zeroed), uint16_t(icmp[2] << 8 | icmp[3]));
    }
    rte_ether_addr mac;
    ASSERT_TRUE(table_->lookup(kHost.data(), mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kHostMac));
    EXPECT_EQ(worker_->counters.punted, 2u);
    EXPECT_EQ(discovery_->statistics().advertisements_sent, 2u);
}

TEST_F(NeighborDiscoveryTest, DuplicateAddressDetectionIsAnsweredToAllNodes) {
    arrive(nd_frame({.src = {}, .link_layer_option = false}));
    control();
    const std::vector<Sent> replies = sent();
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].message.destination, kAllNodes);
    EXPECT_EQ(replies[0].message.flags, kNaRouter | kNaOverride);
    const rte_ether_addr all_nodes_mac = test::mac("33:33:00:00:00:01");
    EXPECT_TRUE(rte_is_same_ether_addr(&replies[0].ethernet_dst, &all_nodes_mac));
    EXPECT_EQ(discovery_->statistics().conflicts, 1u);
}

TEST_F(NeighborDiscoveryTest, InvalidMessagesAreDroppedAndCounted) {
    const NdSpec cases[] = {
        {.hop_limit = 64},            // forwarded: not on-link
        {.code = 1},                  // code not 0
        {.corrupt_checksum = true},   // checksum
        {.target = ipv6("ff02::1")},  // multicast target
        {.src = {}},                  // DAD with a source link-layer option
        {.type = kNdNeighborAdvertisement, .flags = kNaSolicited, .dst = kAllNodes, .target = kHost},  // S to multicast
    };
    for (const NdSpec& spec : cases) arrive(nd_frame(spec));
    EXPECT_EQ(drops(DropReason::NdInvalid), std::size(cases));
    NdSpec ignored;
    for (uint8_t type : {kNdRouterSolicitation, kNdRouterAdvertisement, kNdRedirect}) {
        ignored.type = type;
        arrive(nd_frame(ignored));
    }
    EXPECT_EQ(drops(DropReason::NdIgnored), 3u);
    NdSpec elsewhere;
    elsewhere.ethernet_dst = test::mac("02:00:00:00:00:77");
    arrive(nd_frame(elsewhere));
    EXPECT_EQ(drops(DropReason::NotForUs), 1u);
    EXPECT_EQ(worker_->counters.punted, 0u);
    control();
    EXPECT_TRUE(sent().empty());
}

TEST_F(NeighborDiscoveryTest, HeldPacketsLeaveWhenTheSolicitedNeighborAnswers) {
    // Three translated packets to an unresolved next hop: held, one solicitation to its group.
    rte_ether_addr mac;
    ASSERT_FALSE(next_hop_mac6(*worker_, *snapshot_, kOther.data(), 0, mac));
    for (int i = 0; i < 3; ++i) {
        test::MbufPtr packet =
            test::to_mbuf(test::ipv6_frame({}, 6, test::tcp6(80, 40000 + i, 0x12), {.src = kVip, .dst = kOther},
                                           {.src = kGatewayMac, .dst = kHostMac}));
        hold_for_neighbor6(*worker_, *snapshot_, packet.release(), kPortId);
    }
    control(1000);
    std::vector<Sent> out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].message.type, kNdNeighborSolicitation);
    EXPECT_EQ(out[0].message.target, kOther);
    EXPECT_EQ(out[0].message.source, kOwn);
    EXPECT_EQ(out[0].message.destination, solicited_node_group(kOther));
    const rte_ether_addr group_mac = multicast_mac(solicited_node_group(kOther));
    EXPECT_TRUE(rte_is_same_ether_addr(&out[0].ethernet_dst, &group_mac));

    // An unsolicited advertisement for another address teaches nothing (no poisoning).
    arrive(nd_frame(
        {.type = kNdNeighborAdvertisement, .src = kHost, .dst = kOwn, .target = kHost, .ethernet_dst = kGatewayMac}));
    control(1100);
    EXPECT_FALSE(table_->lookup(kHost.data(), mac));

    // The answer: learnt, the three packets leave with its MAC.
    const rte_ether_addr answer_mac = test::mac("02:00:00:00:00:99");
    arrive(nd_frame({.type = kNdNeighborAdvertisement,
                     .flags = kNaSolicited | kNaOverride,
                     .src = kOther,
                     .dst = kOwn,
                     .target = kOther,
                     .link_layer = answer_mac,
                     .ethernet_src = answer_mac,
                     .ethernet_dst = kGatewayMac}));
    control(1200);
    out = sent();
    ASSERT_EQ(out.size(), 3u);
    for (const Sent& packet : out) EXPECT_TRUE(rte_is_same_ether_addr(&packet.ethernet_dst, &answer_mac));
    ASSERT_TRUE(next_hop_mac6(*worker_, *snapshot_, kOther.data(), 0, mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &answer_mac));
    EXPECT_EQ(discovery_->statistics().held_sent, 3u);
    EXPECT_EQ(discovery_->statistics().learnt, 1u);

    // A later unsolicited claim of another MAC is refused and starts a probe.
    arrive(nd_frame({.type = kNdNeighborAdvertisement,
                     .flags = kNaOverride,
                     .src = kOther,
                     .dst = kOwn,
                     .target = kOther,
                     .link_layer = kIntruderMac,
                     .ethernet_src = kIntruderMac,
                     .ethernet_dst = kGatewayMac}));
    control(1300);
    ASSERT_TRUE(table_->lookup(kOther.data(), mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &answer_mac));
    EXPECT_EQ(discovery_->statistics().updates_refused, 1u);
    out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].message.type, kNdNeighborSolicitation);
}

TEST_F(NeighborDiscoveryTest, SilentNextHopGivesUpAfterThreeSolicitations) {
    test::MbufPtr packet = test::to_mbuf(test::ipv6_frame(
        {}, 6, test::tcp6(80, 40000, 0x12), {.src = kVip, .dst = kOther}, {.src = kGatewayMac, .dst = kHostMac}));
    hold_for_neighbor6(*worker_, *snapshot_, packet.release(), kPortId);
    control(1000);
    for (uint64_t now = 2000; now <= 4000; now += 1000) discovery_->tick(*snapshot_, now);
    EXPECT_EQ(sent().size(), 3u);
    EXPECT_EQ(discovery_->statistics().solicitations_sent, 3u);
    EXPECT_EQ(discovery_->statistics().held_dropped, 1u);
}

TEST_F(NeighborDiscoveryTest, RoutedPacketWaitsForItsGateway) {
    const test::Ipv6Address gateway = ipv6("2001:db8::fe");
    test::MbufPtr packet =
        test::to_mbuf(test::ipv6_frame({}, 6, test::tcp6(80, 40000, 0x12), {.src = kVip, .dst = ipv6("2001:db8:77::5")},
                                       {.src = kGatewayMac, .dst = kHostMac}));
    hold_for_neighbor6(*worker_, *snapshot_, packet.release(), kPortId);
    control(1000);
    std::vector<Sent> out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].message.type, kNdNeighborSolicitation);
    EXPECT_EQ(out[0].message.target, gateway);
    const rte_ether_addr gateway_mac = test::mac("02:00:00:00:00:fe");
    arrive(nd_frame({.type = kNdNeighborAdvertisement,
                     .flags = kNaSolicited | kNaOverride,
                     .src = gateway,
                     .dst = kOwn,
                     .target = gateway,
                     .link_layer = gateway_mac,
                     .ethernet_src = gateway_mac,
                     .ethernet_dst = kGatewayMac}));
    control(1100);
    out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(rte_is_same_ether_addr(&out[0].ethernet_dst, &gateway_mac));
}

TEST_F(NeighborDiscoveryTest, ClaimOnOwnAddressIsDefendedNotLearnt) {
    arrive(nd_frame({.type = kNdNeighborAdvertisement,
                     .flags = kNaOverride,
                     .src = kOwn,
                     .dst = kAllNodes,
                     .target = kOwn,
                     .link_layer = kIntruderMac,
                     .ethernet_src = kIntruderMac,
                     .ethernet_dst = multicast_mac(kAllNodes)}));
    control();
    const std::vector<Sent> out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].message.type, kNdNeighborAdvertisement);
    EXPECT_EQ(out[0].message.target, kOwn);
    EXPECT_EQ(out[0].message.flags, kNaRouter | kNaOverride);
    rte_ether_addr mac;
    EXPECT_FALSE(table_->lookup(kOwn.data(), mac));
    EXPECT_EQ(discovery_->statistics().conflicts, 1u);
}

}  // namespace
}  // namespace vipgate
