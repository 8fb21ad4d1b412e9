// The set-up the neighbor tests share (neighbor_resolver_test, neighbor_discovery_test,
// router_advertisement_test), so a change to how vipgate wires a port, its rings or its worker
// is made once. NeighborPortTest: the gateway's one port (kNeighborTestPortId, kGatewayMac) in a
// snapshot built from a config text, the control thread's PortRuntime for it, and rings freed
// with whatever mbufs are left in them. NeighborDiscoveryFixture adds what IPv6 Neighbor
// Discovery needs, driven as vipgate drives it: the worker's half (parse, check, punt or a
// counted drop), then the control thread's half on the punted packets at an injected time.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/config.h"
#include "control/neighbor_discovery.h"
#include "control/snapshot_builder.h"
#include "dataplane/nd_path.h"
#include "tests/support/packet_builder.h"

namespace vipgate::test {

constexpr uint16_t kNeighborTestPortId = 3;

inline config::Config load_config_or_throw(const std::string& text, const std::string& origin) {
    config::LoadResult loaded = config::load_config_string(text, origin);
    if (!loaded.config) throw std::runtime_error(config::describe_errors(loaded.errors));
    return *loaded.config;
}

inline std::vector<PortIdentity> neighbor_test_port_identities() {
    PortIdentity identity;
    identity.port_id = kNeighborTestPortId;
    identity.mac = kGatewayMac;
    return {identity};
}

class NeighborPortTest : public ::testing::Test {
protected:
    // Runs after the derived fixture's members (resolver, discovery) are gone.
    ~NeighborPortTest() override {
        for (rte_ring* ring : rings_) {
            free_mbufs(ring);
            rte_ring_free(ring);
        }
    }

    // The snapshot of `config` for the one port, and the control thread's PortRuntime for it.
    void build_port(const config::Config& config) {
        builder_ = std::make_unique<SnapshotBuilder>(1, neighbor_test_port_identities());
        snapshot_ = builder_->build(config);
        PortRuntime runtime;
        runtime.name = "p0";
        runtime.port_id = kNeighborTestPortId;
        runtime.mac = kGatewayMac;
        runtime.pool = test_mempool();
        ports_.push_back(runtime);
    }

    // A ring named `prefix` and a number no other ring of this process has, freed with the test.
    rte_ring* create_ring(const char* prefix, unsigned flags) {
        std::string name = prefix;
        name += std::to_string(++rings_created_);
        rte_ring* ring = rte_ring_create(name.c_str(), 256, SOCKET_ID_ANY, flags);
        if (ring == nullptr) {
            name += ": rte_ring_create failed";
            throw std::runtime_error(name);
        }
        rings_.push_back(ring);
        return ring;
    }

    static void free_mbufs(rte_ring* ring) {
        void* object = nullptr;
        while (rte_ring_dequeue(ring, &object) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(object));
    }

    std::unique_ptr<SnapshotBuilder> builder_;
    std::unique_ptr<Snapshot> snapshot_;
    std::vector<PortRuntime> ports_;

private:
    static inline int rings_created_ = 0;
    std::vector<rte_ring*> rings_;
};

class NeighborDiscoveryFixture : public NeighborPortTest {
protected:
    void start(const config::Config& config) {
        build_port(config);
        tx_ring_ = create_ring("nd_tx_", RING_F_SP_ENQ | RING_F_SC_DEQ);
        punt_ring_ = create_ring("nd_punt_", RING_F_SC_DEQ);
        table_ = std::make_unique<NeighborTable6>();
        discovery_ = std::make_unique<NeighborDiscovery>(*table_, ports_, tx_ring_);
        worker_ = std::make_unique<WorkerContext>();
        worker_->punt_ring = punt_ring_;
        worker_->neighbors6 = table_.get();
    }

    // The worker's half: parse, check, punt or drop (counted in worker_->counters).
    void arrive(const Bytes& frame) {
        MbufPtr packet = to_mbuf(frame);
        packet->port = kNeighborTestPortId;
        ParsedIpv6 parsed{};
        const auto* bytes = rte_pktmbuf_mtod(packet.get(), const uint8_t*);
        ASSERT_EQ(parse_ipv6(bytes, rte_pktmbuf_data_len(packet.get()), rte_pktmbuf_pkt_len(packet.get()),
                             sizeof(rte_ether_hdr), parsed)
                      .kind,
                  PacketKind::Ipv6);
        handle_nd_frame(*worker_, *snapshot_, packet.release(), parsed, snapshot_->ports[0]);
    }
    // The control thread's half: whatever the worker punted.
    void control(uint64_t now_ms = 1000) {
        void* object = nullptr;
        while (rte_ring_dequeue(punt_ring_, &object) == 0) {
            auto* packet = static_cast<rte_mbuf*>(object);
            ASSERT_TRUE(NeighborDiscovery::takes(packet));
            discovery_->handle(packet, *snapshot_, now_ms);
        }
    }
    uint64_t drops(DropReason reason) const { return worker_->counters.drops[static_cast<size_t>(reason)]; }

    rte_ring* tx_ring_ = nullptr;
    rte_ring* punt_ring_ = nullptr;
    std::unique_ptr<NeighborTable6> table_;
    std::unique_ptr<NeighborDiscovery> discovery_;
    std::unique_ptr<WorkerContext> worker_;
};

}  // namespace vipgate::test
