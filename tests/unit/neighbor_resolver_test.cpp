// NeighborResolver: answering ARP for our addresses, learning, and the hardening of RFC 5227
// (claims on our addresses) and against poisoning by unsolicited ARP.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include <rte_arp.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "control/neighbor_resolver.h"
#include "dataplane/packet_parser.h"
#include "dataplane/packet_responses.h"
#include "tests/support/packet_builder.h"
#include "tests/unit/neighbor_test_fixture.h"

namespace vipgate {
namespace {

using test::ipv4;
using test::kClientAddr;
using test::kClientMac;
using test::kGatewayMac;

constexpr uint32_t kOwnAddr = ipv4("198.18.0.1");
constexpr uint32_t kVip = ipv4("198.18.100.1");
constexpr uint32_t kRouter = ipv4("198.18.0.254");
constexpr rte_ether_addr kRouterMac = test::mac("02:00:00:00:00:fe");
constexpr rte_ether_addr kIntruderMac = test::mac("02:00:00:00:0b:ad");
constexpr uint16_t kPortId = test::kNeighborTestPortId;

const char* const kConfig = R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]
[[services.endpoints]]
address = "198.18.0.20"
)";

struct ArpSeen {
    uint16_t operation;
    rte_ether_addr ethernet_destination;
    ArpMessage message;
};

class NeighborResolverTest : public test::NeighborPortTest {
protected:
    NeighborResolverTest() {
        build_port(test::load_config_or_throw(kConfig, "neighbor_resolver_test"));
        ring_ = create_ring("nr_test_", RING_F_SP_ENQ | RING_F_SC_DEQ);
        table_ = std::make_unique<NeighborTable>();
        resolver_ = std::make_unique<NeighborResolver>(*table_, ports_, ring_);
    }

    void receive(const test::ArpSpec& arp, uint64_t now_ms = 1000) {
        test::MbufPtr packet = test::to_mbuf(test::arp_frame(arp));
        packet->port = kPortId;
        resolver_->handle(packet.release(), *snapshot_, now_ms);
    }

    // Everything the resolver transmitted since the last call, parsed.
    std::vector<ArpSeen> sent() {
        std::vector<ArpSeen> seen;
        void* object = nullptr;
        while (rte_ring_dequeue(ring_, &object) == 0) {
            auto* packet = static_cast<rte_mbuf*>(object);
            const auto* frame = rte_pktmbuf_mtod(packet, const uint8_t*);
            ParsedPacket parsed{};
            ArpMessage message{};
            const ParseOutcome outcome =
                parse_packet(frame, rte_pktmbuf_data_len(packet), rte_pktmbuf_pkt_len(packet), 0, false, parsed);
            if (outcome.kind == PacketKind::Arp && parse_arp(frame, rte_pktmbuf_data_len(packet), parsed, message)) {
                seen.push_back({message.operation, rte_pktmbuf_mtod(packet, const rte_ether_hdr*)->dst_addr, message});
            }
            rte_pktmbuf_free(packet);
        }
        return seen;
    }

    bool neighbor_mac(uint32_t address, rte_ether_addr& mac) const { return table_->lookup(address, mac); }

    rte_ring* ring_ = nullptr;
    std::unique_ptr<NeighborTable> table_;
    std::unique_ptr<NeighborResolver> resolver_;
};

TEST_F(NeighborResolverTest, AnswersRequestsForOwnAddressesAndVipsAndLearnsTheAsker) {
    for (uint32_t target : {kOwnAddr, kVip}) {
        receive({.sender_addr = kClientAddr, .target_addr = target});
        const std::vector<ArpSeen> replies = sent();
        ASSERT_EQ(replies.size(), 1u);
        EXPECT_EQ(replies[0].operation, RTE_ARP_OP_REPLY);
        EXPECT_TRUE(rte_is_same_ether_addr(&replies[0].message.sender_mac, &kGatewayMac));
        EXPECT_EQ(replies[0].message.sender_addr, target);
    }
    rte_ether_addr mac;
    ASSERT_TRUE(neighbor_mac(kClientAddr, mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kClientMac));
}

// RFC 5227: a gratuitous ARP from another MAC claiming our address is not confirmed with a
// unicast reply, and not learnt; the gateway announces the address as its own, once per
// defend interval.
TEST_F(NeighborResolverTest, ClaimOnOwnAddressIsDefendedWithAnAnnouncementNotAReply) {
    for (uint32_t claimed : {kOwnAddr, kVip}) {
        receive({.sender_mac = kIntruderMac, .sender_addr = claimed, .target_addr = claimed}, 1000);
        const std::vector<ArpSeen> out = sent();
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].operation, RTE_ARP_OP_REQUEST) << "an announcement, not a reply";
        EXPECT_TRUE(rte_is_broadcast_ether_addr(&out[0].ethernet_destination));
        EXPECT_EQ(out[0].message.sender_addr, claimed);
        EXPECT_EQ(out[0].message.target_addr, claimed);
        EXPECT_TRUE(rte_is_same_ether_addr(&out[0].message.sender_mac, &kGatewayMac));
        rte_ether_addr mac;
        EXPECT_FALSE(neighbor_mac(claimed, mac)) << "our own address must never become a neighbor";
    }
    // A claim by reply, within the defend interval: counted, not answered again.
    receive({.operation = RTE_ARP_OP_REPLY,
             .sender_mac = kIntruderMac,
             .sender_addr = kOwnAddr,
             .target_addr = kClientAddr},
            5000);
    EXPECT_TRUE(sent().empty());
    receive({.sender_mac = kIntruderMac, .sender_addr = kOwnAddr, .target_addr = kOwnAddr},
            1000 + NeighborResolver::kDefendIntervalMs);
    EXPECT_EQ(sent().size(), 1u) << "defended again once the interval has passed";
    EXPECT_EQ(resolver_->statistics().conflicts, 4u);
    EXPECT_EQ(resolver_->statistics().announcements_sent, 3u);
}

TEST_F(NeighborResolverTest, UnsolicitedReplyCreatesNoEntry) {
    receive({.operation = RTE_ARP_OP_REPLY, .sender_mac = kRouterMac, .sender_addr = kRouter, .target_addr = kOwnAddr});
    rte_ether_addr mac;
    EXPECT_FALSE(neighbor_mac(kRouter, mac));
}

// A known neighbor's MAC changes only through an answer to our own request: unsolicited news
// of another MAC is refused and starts a probe, and the answer to the probe decides.
TEST_F(NeighborResolverTest, UnsolicitedMacChangeIsRefusedUntilAProbeIsAnswered) {
    receive({.sender_mac = kRouterMac, .sender_addr = kRouter, .target_addr = kOwnAddr});
    sent();
    rte_ether_addr mac;
    ASSERT_TRUE(neighbor_mac(kRouter, mac));

    receive(
        {.operation = RTE_ARP_OP_REPLY, .sender_mac = kIntruderMac, .sender_addr = kRouter, .target_addr = kOwnAddr},
        2000);
    receive({.sender_mac = kIntruderMac, .sender_addr = kRouter, .target_addr = kOwnAddr}, 2001);
    ASSERT_TRUE(neighbor_mac(kRouter, mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kRouterMac)) << "poisoned by unsolicited ARP";
    EXPECT_EQ(resolver_->statistics().updates_refused, 2u);
    std::vector<ArpSeen> out = sent();
    size_t probes = 0;
    for (const ArpSeen& seen : out) {
        probes += seen.operation == RTE_ARP_OP_REQUEST && seen.message.target_addr == kRouter;
    }
    EXPECT_EQ(probes, 1u) << "one verification probe, not one per unsolicited frame";

    // The neighbor really moved (a failover): its answer to the probe moves the entry.
    constexpr rte_ether_addr kNewRouterMac = test::mac("02:00:00:00:01:fe");
    receive(
        {.operation = RTE_ARP_OP_REPLY, .sender_mac = kNewRouterMac, .sender_addr = kRouter, .target_addr = kOwnAddr},
        2100);
    ASSERT_TRUE(neighbor_mac(kRouter, mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kNewRouterMac));
}

}  // namespace
}  // namespace vipgate
