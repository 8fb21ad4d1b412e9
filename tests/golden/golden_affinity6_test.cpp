// Golden packets for sessionAffinity: ClientIP over IPv6 (affinity_table.h), both NAT modes: a
// client's new connections go to one endpoint, the worker's IPv6 affinity table keeps that
// choice when an added pod moves the client's hash, and the choice ends with its timeout.
// web6 of the NAT66 topology (nat66_topology.h) gets the affinity here.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <rte_byteorder.h>

#include "dataplane/affinity_table.h"
#include "tests/golden/nat66_topology.h"

namespace vipgate::golden {
namespace {

using namespace nat66;  // NOLINT(google-build-using-namespace): the topology is this file's vocabulary

constexpr uint32_t kTimeoutMs = 10'000;

// web6 with ClientIP affinity (10 s), and `extra_pods` more pods 2001:db8:e::30, ::31, ...
// with static neighbors (the MAC endpoint_mac() expects).
TopologySpec affinity_topology(NatMode mode, int extra_pods = 0) {
    TopologySpec spec = ipv6_topology(mode);
    const std::string web6_selector = "selector = { app = \"web6\" }\n";
    const size_t at = spec.extra_toml.find(web6_selector);
    spec.extra_toml.insert(at + web6_selector.size(),
                           "session_affinity = \"ClientIP\"\nsession_affinity_timeout = 10\n");
    for (int i = 0; i < extra_pods; ++i) {
        const std::string suffix = std::to_string(30 + i);  // hex in both the address and the MAC
        spec.extra_toml += "[[neighbors]]\naddress = \"2001:db8:e::" + suffix + "\"\nmac = \"02:00:00:00:06:";
        spec.extra_toml += suffix + "\"\n\n[[pods]]\nname = \"web6-extra-" + suffix;
        spec.extra_toml += "\"\npod_ips = [\"2001:db8:e::" + suffix + "\"]\nlabels = { app = \"web6\" }\n\n";
    }
    return spec;
}

// The endpoint the client's address picks on web6's Maglev table in the current snapshot.
std::string hashed_endpoint(const GoldenHarness& harness) {
    const Snapshot& snapshot = harness.snapshot();
    const int32_t index = snapshot.find_service_port(VipKey::ipv6(kVip.data(), rte_cpu_to_be_16(80), kProtoTcp));
    if (index < 0) throw std::logic_error("web6:80 is not a service port");
    uint8_t client[16];
    std::memcpy(client, kClient.data(), sizeof(client));
    const uint32_t slot =
        snapshot.service_ports[static_cast<uint32_t>(index)].maglev->lookup(affinity_hash6(client, snapshot.hash_seed));
    Ipv6Address address;
    std::memcpy(address.data(), snapshot.endpoints[slot].address6, address.size());
    return text(address);
}

class GoldenAffinity6 : public GoldenNat66 {
protected:
    // A SYN from the client's `port`; the endpoint its connection went to, and whether the
    // affinity table named it.
    std::pair<std::string, bool> connect(GoldenHarness& harness, uint16_t port) {
        const Flow6 flow{.client_port = port};
        RunResult result = harness.run(0, client_to_vip(flow, kProtoTcp, tcp(kSyn)));
        const std::optional<Translation6> found = translation(harness, flow);
        if (!found) {
            ADD_FAILURE() << "no connection entry for client port " << port;
            return {};
        }
        EXPECT_EQ(result.counter_changes["new_connections"], 1u);
        return {text(found->endpoint), result.counter_changes["affinity_hits"] == 1};
    }
};

TEST_P(GoldenAffinity6, OneClientsConnectionsAllGoToItsHashedEndpoint) {
    GoldenHarness harness(affinity_topology(GetParam()));
    const std::string endpoint = hashed_endpoint(harness);
    EXPECT_EQ(connect(harness, 40000), std::make_pair(endpoint, false)) << "the first choice is the hash's";
    for (uint16_t port = 40001; port < 40032; ++port) {
        EXPECT_EQ(connect(harness, port), std::make_pair(endpoint, true)) << "client port " << port;
    }
    EXPECT_EQ(harness.affinity6(0).size(), 1u);
    EXPECT_EQ(harness.affinity(0).size(), 0u) << "IPv6 clients stay out of the IPv4 table";
}

TEST_P(GoldenAffinity6, AnAddedPodMovesTheClientOnlyAfterItsAffinityExpires) {
    GoldenHarness harness(affinity_topology(GetParam()));
    const std::string first = connect(harness, 40000).first;
    int extra = 0;
    while (hashed_endpoint(harness) == first && extra < 12) harness.reload(affinity_topology(GetParam(), ++extra));
    const std::string moved_to = hashed_endpoint(harness);
    ASSERT_NE(moved_to, first) << "no added pod moved the client's hash: the test proves nothing";

    WorkerContext& worker = harness.worker(0);
    EXPECT_EQ(connect(harness, 40001), std::make_pair(first, true)) << "a fresh affinity moved";
    worker.now_ms += kTimeoutMs - 1;
    EXPECT_EQ(connect(harness, 40002), std::make_pair(first, true)) << "just before the timeout; refreshed";
    worker.now_ms += kTimeoutMs - 1;
    EXPECT_EQ(connect(harness, 40003), std::make_pair(first, true)) << "the refresh expired early";
    worker.now_ms += kTimeoutMs;
    EXPECT_EQ(connect(harness, 40004), std::make_pair(moved_to, false)) << "expired: the hash decides again";
    EXPECT_EQ(connect(harness, 40005), std::make_pair(moved_to, true)) << "and that choice is remembered";
}

INSTANTIATE_TEST_SUITE_P(BothModes, GoldenAffinity6, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
