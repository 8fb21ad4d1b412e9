// vipgen's traffic is reproducible: flow tuples and visit orders are pure functions of the
// seed, so a test (or a person reading a capture) can predict which flow is which.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <stdexcept>
#include <utility>

#include "pktgen/flow_space.h"
#include "pktgen/traffic_pattern.h"

namespace vipgen {
namespace {

TEST(FlowSpace, IdsBelowTheSizeGetDistinctTuplesInsideTheSpace) {
    const ClientSpace clients{0xC6130000u, 4, 2000, 2009};  // 4 addresses x 10 ports: 8 ports used
    const FlowSpace space(clients, 3, 42);
    ASSERT_EQ(space.size(), 32u);
    EXPECT_EQ(space.ports_used(), 8u);
    std::set<std::pair<uint32_t, uint16_t>> seen;
    for (uint32_t id = 0; id < 32; ++id) {
        const FlowTuple tuple = space.tuple(id);
        EXPECT_TRUE(space.is_client_address(tuple.client_address));
        EXPECT_GE(tuple.client_port, 2000);
        EXPECT_LE(tuple.client_port, 2007);
        EXPECT_EQ(tuple.target_index, id % 3);
        seen.emplace(tuple.client_address, tuple.client_port);
    }
    EXPECT_EQ(seen.size(), 32u);
    EXPECT_FALSE(space.is_client_address(0xC6130004u));
}

TEST(FlowSpace, TargetIndexIsTheExactModuloForEveryId) {
    const ClientSpace clients{0xC6130000u, 1u << 16, 1024, 65535};
    for (uint32_t targets : {1u, 3u, 7u, 1000u, 10000u, 65537u}) {
        const FlowSpace space(clients, targets, 1);
        for (uint32_t id : {0u, 1u, 12345u, 99999999u, 0x7fffffffu, 0xfffffffeu, 0xffffffffu}) {
            EXPECT_EQ(space.tuple(id).target_index, id % targets) << id << " % " << targets;
        }
    }
}

TEST(FlowSpace, ConsecutiveIdsSpreadOverAddressesAndPorts) {
    const FlowSpace space(ClientSpace{0xC6130000u, 1u << 16, 1024, 65535}, 1, 3);
    std::set<uint32_t> addresses;
    std::set<uint16_t> ports;
    for (uint32_t id = 0; id < 1000; ++id) {
        addresses.insert(space.tuple(id).client_address);
        ports.insert(space.tuple(id).client_port);
    }
    EXPECT_GT(addresses.size(), 900u);
    EXPECT_GT(ports.size(), 900u);
}

TEST(FlowSpace, TheSeedDecidesTheTuples) {
    const ClientSpace clients{0xC6130000u, 1u << 16, 1024, 65535};
    const FlowSpace a(clients, 1, 1), again(clients, 1, 1), other(clients, 1, 2);
    int differing = 0;
    for (uint32_t id = 0; id < 100; ++id) {
        EXPECT_EQ(a.tuple(id).client_address, again.tuple(id).client_address);
        EXPECT_EQ(a.tuple(id).client_port, again.tuple(id).client_port);
        differing += a.tuple(id).client_port != other.tuple(id).client_port ? 1 : 0;
    }
    EXPECT_GT(differing, 90);
}

TEST(FlowSpace, RejectsAnEmptySpace) {
    EXPECT_THROW(FlowSpace(ClientSpace{0xC6130000u, 0, 1024, 2000}, 1, 1), std::invalid_argument);
    EXPECT_THROW(FlowSpace(ClientSpace{0xC6130000u, 3, 1024, 2000}, 1, 1), std::invalid_argument);
    EXPECT_THROW(FlowSpace(ClientSpace{0xC6130000u, 1, 3000, 2000}, 1, 1), std::invalid_argument);
    EXPECT_THROW(FlowSpace(ClientSpace{0xC6130000u, 1, 1024, 2000}, 0, 1), std::invalid_argument);
}

TEST(TrafficPattern, EstablishedVisitsEveryFlowOncePerRoundInAScatteredOrder) {
    PatternConfig config;
    config.flows = 1000;
    config.seed = 5;
    TrafficPattern pattern(config);
    std::set<uint32_t> round;
    uint32_t in_order = 0, previous = 0;
    for (int i = 0; i < 1000; ++i) {
        const NextPacket next = pattern.next();
        EXPECT_EQ(next.kind, PacketKind::Data);
        EXPECT_LT(next.flow_id, 1000u);
        in_order += next.flow_id == previous + 1 ? 1 : 0;
        previous = next.flow_id;
        round.insert(next.flow_id);
    }
    EXPECT_EQ(round.size(), 1000u);
    EXPECT_LT(in_order, 10u) << "consecutive packets should not visit consecutive flows";
}

TEST(TrafficPattern, SameSeedSameSequence) {
    PatternConfig config;
    config.flows = 777;
    config.seed = 9;
    TrafficPattern a(config), b(config);
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(a.next().flow_id, b.next().flow_id);
}

TEST(TrafficPattern, NewFlowsNeverRepeatAcrossLcores) {
    std::set<uint32_t> ids;
    for (uint32_t lcore = 0; lcore < 3; ++lcore) {
        PatternConfig config;
        config.pattern = Pattern::New;
        config.flows = 100;
        config.lcore = lcore;
        config.lcore_count = 3;
        TrafficPattern pattern(config);
        for (int i = 0; i < 1000; ++i) {
            const NextPacket next = pattern.next();
            EXPECT_EQ(next.kind, PacketKind::Open);
            EXPECT_GE(next.flow_id, 100u) << "new flows must not reuse the established ids";
            ids.insert(next.flow_id);
        }
    }
    EXPECT_EQ(ids.size(), 3000u);
}

TEST(TrafficPattern, MixedOpensExactlyItsShareOfNewFlows) {
    PatternConfig config;
    config.pattern = Pattern::Mixed;
    config.flows = 500;
    config.new_share = 0.25;
    TrafficPattern pattern(config);
    int opened = 0;
    for (int i = 0; i < 1000; ++i) opened += pattern.next().kind == PacketKind::Open ? 1 : 0;
    EXPECT_EQ(opened, 250);
}

// Flood: legit_share of all packets are legitimate SYNs, new_share of the rest spoofed SYNs, the
// rest established data; each class's ids are distinct across lcores and classify back.
TEST(TrafficPattern, FloodMixesItsThreeClassesInTheirSharesWithDistinctIds) {
    std::set<uint32_t> opened;
    for (uint32_t lcore = 0; lcore < 2; ++lcore) {
        PatternConfig config;
        config.pattern = Pattern::Flood;
        config.flows = 1'000;
        config.new_share = 0.5;
        config.legit_share = 0.1;
        config.lcore = lcore;
        config.lcore_count = 2;
        TrafficPattern pattern(config);
        EXPECT_TRUE(pattern.opens_flows()) << "the established flows are opened first";
        std::array<int, 3> by_class{};
        for (int i = 0; i < 10'000; ++i) {
            const NextPacket next = pattern.next();
            const FlowClass of_flow = flow_class(next.flow_id, config.flows);
            ++by_class[static_cast<size_t>(of_flow)];
            EXPECT_EQ(next.kind, of_flow == FlowClass::Established ? PacketKind::Data : PacketKind::Open);
            if (next.kind == PacketKind::Open) {
                EXPECT_TRUE(opened.insert(next.flow_id).second) << next.flow_id;
            }
        }
        EXPECT_EQ(by_class[static_cast<size_t>(FlowClass::Legitimate)], 1'000);
        EXPECT_EQ(by_class[static_cast<size_t>(FlowClass::Spoofed)], 4'500);
        EXPECT_EQ(by_class[static_cast<size_t>(FlowClass::Established)], 4'500);
    }
}

TEST(TrafficPattern, LifecycleOpensCarriesDataClosesThenReopensWithFreshIds) {
    PatternConfig config;
    config.pattern = Pattern::Lifecycle;
    config.flows = 4;
    config.data_packets = 2;
    TrafficPattern pattern(config);
    const PacketKind expected[] = {PacketKind::Open, PacketKind::Data, PacketKind::Data, PacketKind::Close};
    for (uint32_t generation = 0; generation < 3; ++generation) {
        for (PacketKind kind : expected) {
            for (uint32_t slot = 0; slot < 4; ++slot) {
                const NextPacket next = pattern.next();
                EXPECT_EQ(next.kind, kind);
                EXPECT_EQ(next.flow_id, generation * 4 + slot);
            }
        }
    }
}

TEST(TrafficPattern, RejectsFewerFlowsThanLcores) {
    PatternConfig config;
    config.flows = 2;
    config.lcore_count = 4;
    EXPECT_THROW(TrafficPattern{config}, std::invalid_argument);
}

}  // namespace
}  // namespace vipgen
