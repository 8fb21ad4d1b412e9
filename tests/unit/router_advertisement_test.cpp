// Router advertisements on a port with accept_router_advertisements (docs/ipv6.md): the worker
// punts them, the control thread checks RFC 4861 6.1.2 (each rule refused and counted), learns
// the router's MAC, keeps each router for its lifetime on an injected clock (DefaultRouters) and
// picks one; the snapshot's IPv6 default route is below every static route. Frames are built
// byte by byte with the independent checksum of tests/support/ipv6_builder.h.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/default_routers.h"
#include "control/neighbor_discovery.h"
#include "control/snapshot_builder.h"
#include "dataplane/nd_path.h"
#include "tests/support/ipv6_builder.h"
#include "tests/unit/neighbor_test_fixture.h"

namespace vipgate {
namespace {

using test::Bytes;
using test::ipv6;
using test::kGatewayMac;

constexpr rte_ether_addr kRouterMac = test::mac("02:00:00:00:00:fe");
const test::Ipv6Address kRouter = ipv6("fe80::1");
const test::Ipv6Address kOffLink = ipv6("2001:db8:99::5");

std::string config_text(bool accept, const std::string& routes = "") {
    return std::string(R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8::1/64"]
)") + (accept ? "accept_router_advertisements = true\n" : "") +
           routes;
}

config::Config load(const std::string& text) {
    return test::load_config_or_throw(text, "router_advertisement_test");
}

struct RaSpec {
    test::Ipv6Address src = kRouter;
    test::Ipv6Address dst = ipv6("ff02::1");
    uint8_t hop_limit = 255;
    uint8_t code = 0;
    uint16_t lifetime_s = 1800;
    uint8_t preference_bits = 0;  // RFC 4191: 01 high, 00 medium, 11 low, 10 reserved
    bool link_layer_option = true;
    Bytes extra_options;
    size_t message_length = 0;  // nonzero: the ICMP message cut to this length
    bool corrupt_checksum = false;
};

Bytes ra_frame(const RaSpec& spec) {
    Bytes icmp(16, 0);
    icmp[0] = kNdRouterAdvertisement;
    icmp[1] = spec.code;
    icmp[4] = 64;  // current hop limit
    icmp[5] = static_cast<uint8_t>(spec.preference_bits << 3);
    test::put16(icmp, 6, spec.lifetime_s);
    if (spec.link_layer_option) {
        icmp.push_back(1);
        icmp.push_back(1);
        for (uint8_t byte : kRouterMac.addr_bytes) icmp.push_back(byte);
    }
    icmp.insert(icmp.end(), spec.extra_options.begin(), spec.extra_options.end());
    if (spec.message_length != 0) icmp.resize(spec.message_length);
    uint16_t checksum = test::ipv6_l4_checksum(spec.src, spec.dst, 58, icmp);
    if (spec.corrupt_checksum) checksum ^= 0x0101;
    test::put16(icmp, 2, checksum);
    return test::ipv6_frame({}, 58, icmp, {.src = spec.src, .dst = spec.dst, .hop_limit = spec.hop_limit},
                            {.src = kRouterMac, .dst = multicast_mac(kAllNodes)});
}

class RouterAdvertisementTest : public test::NeighborDiscoveryFixture {
protected:
    void start(bool accept) { NeighborDiscoveryFixture::start(load(config_text(accept))); }

    // Worker, then control thread at `now_ms`.
    void arrive(const Bytes& frame, uint64_t now_ms = 1000) {
        NeighborDiscoveryFixture::arrive(frame);
        control(now_ms);
    }
    const RouterAdvertisementCounts& counts() const { return discovery_->router_advertisement_counts(); }
};

TEST_F(RouterAdvertisementTest, IgnoredOnAPortThatDoesNotAcceptThem) {
    start(false);
    EXPECT_FALSE(snapshot_->ports[0].accept_router_advertisements);
    arrive(ra_frame({}));
    EXPECT_EQ(drops(DropReason::NdIgnored), 1u);
    EXPECT_EQ(worker_->counters.punted, 0u);
    EXPECT_EQ(counts().accepted, 0u);
    EXPECT_FALSE(discovery_->default_route());
}

TEST_F(RouterAdvertisementTest, ValidAdvertisementMakesItsRouterTheDefaultAndLearnsItsMac) {
    start(true);
    ASSERT_TRUE(snapshot_->ports[0].accept_router_advertisements);
    arrive(ra_frame({}));
    EXPECT_EQ(worker_->counters.punted, 1u);
    EXPECT_EQ(drops(DropReason::NdIgnored), 0u);
    EXPECT_EQ(counts().accepted, 1u);
    EXPECT_EQ(counts().refused, 0u);
    const std::optional<DefaultRoute6> route = discovery_->default_route();
    ASSERT_TRUE(route);
    EXPECT_EQ(route->router, kRouter);
    EXPECT_EQ(route->port_index, 0);
    rte_ether_addr mac;
    ASSERT_TRUE(table_->lookup(kRouter.data(), mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kRouterMac));
    const RouterAdvertisementView view = discovery_->router_advertisements(1000);
    ASSERT_EQ(view.routers.size(), 1u);
    EXPECT_EQ(view.routers[0].expires_ms, 1000u + 1800u * 1000u);
    EXPECT_TRUE(view.routers[0].chosen);
}

// RFC 4861 6.1.2: every rule, each refused on its own and counted; nothing learnt.
TEST_F(RouterAdvertisementTest, EachValidityRuleIsRefusedAndCounted) {
    start(true);
    struct Case {
        RaSpec spec;
        RaCheck expected;
    };
    const Case cases[] = {
        {{.src = ipv6("2001:db8::fe")}, RaCheck::NotLinkLocal},
        {{.hop_limit = 254}, RaCheck::HopLimit},
        {{.code = 1}, RaCheck::Code},
        {{.link_layer_option = false, .message_length = 12}, RaCheck::Length},
        {{.corrupt_checksum = true}, RaCheck::Checksum},
        {{.extra_options = {3, 0, 0, 0, 0, 0, 0, 0}}, RaCheck::Options},  // an option of length 0
        {{.extra_options = {3, 4, 0, 0, 0, 0, 0, 0}}, RaCheck::Options},  // 32 bytes claimed, 8 there
    };
    uint64_t refused = 0;
    for (const Case& one : cases) {
        const Bytes frame = ra_frame(one.spec);
        ParsedIpv6 parsed{};
        ASSERT_EQ(parse_ipv6(frame.data(), frame.size(), frame.size(), sizeof(rte_ether_hdr), parsed).kind,
                  PacketKind::Ipv6);
        RouterAdvertisement advertisement;
        EXPECT_EQ(parse_router_advertisement(frame.data(), frame.size(), parsed, advertisement), one.expected)
            << ra_check_name(one.expected);
        arrive(frame);
        EXPECT_EQ(counts().refused, ++refused) << ra_check_name(one.expected);
    }
    EXPECT_EQ(counts().accepted, 0u);
    EXPECT_FALSE(discovery_->default_route());
    rte_ether_addr mac;
    EXPECT_FALSE(table_->lookup(kRouter.data(), mac));
}

TEST_F(RouterAdvertisementTest, PreferenceAndLifetimeAreRead) {
    const struct {
        uint8_t bits;
        uint16_t lifetime;
        int8_t preference;
    } cases[] = {{1, 600, 1}, {0, 600, 0}, {3, 600, -1}, {2, 600, 0}, {1, 0, 0}};
    for (const auto& one : cases) {
        const Bytes frame = ra_frame({.lifetime_s = one.lifetime, .preference_bits = one.bits});
        ParsedIpv6 parsed{};
        ASSERT_EQ(parse_ipv6(frame.data(), frame.size(), frame.size(), sizeof(rte_ether_hdr), parsed).kind,
                  PacketKind::Ipv6);
        RouterAdvertisement advertisement;
        ASSERT_EQ(parse_router_advertisement(frame.data(), frame.size(), parsed, advertisement), RaCheck::Valid);
        EXPECT_EQ(advertisement.lifetime_s, one.lifetime);
        EXPECT_EQ(advertisement.preference, one.preference) << int{one.bits};
        EXPECT_TRUE(advertisement.has_link_layer);
    }
}

TEST_F(RouterAdvertisementTest, LifetimeRunsOutOnTheInjectedClockAndZeroWithdraws) {
    start(true);
    arrive(ra_frame({.lifetime_s = 10}), 1000);
    ASSERT_TRUE(discovery_->default_route());
    discovery_->tick(*snapshot_, 10'999);
    EXPECT_TRUE(discovery_->default_route());
    arrive(ra_frame({.lifetime_s = 10}), 5000);  // refreshed: now until 15 000
    discovery_->tick(*snapshot_, 11'000);
    EXPECT_TRUE(discovery_->default_route());
    discovery_->tick(*snapshot_, 15'000);
    EXPECT_FALSE(discovery_->default_route());
    EXPECT_EQ(counts().expired, 1u);
    arrive(ra_frame({.lifetime_s = 10}), 20'000);
    ASSERT_TRUE(discovery_->default_route());
    arrive(ra_frame({.lifetime_s = 0}), 21'000);
    EXPECT_FALSE(discovery_->default_route());
    EXPECT_EQ(counts().withdrawn, 1u);
    EXPECT_EQ(counts().accepted, 4u);
}

TEST(DefaultRouters, HighestPreferenceThenLowestAddressIsChosen) {
    DefaultRouters routers;
    EXPECT_FALSE(routers.chosen());
    EXPECT_EQ(routers.advertised(ipv6("fe80::9"), 0, 600, 0, 0), DefaultRouters::Outcome::Added);
    EXPECT_EQ(routers.advertised(ipv6("fe80::2"), 0, 600, 0, 0), DefaultRouters::Outcome::Added);
    EXPECT_EQ(routers.chosen()->router, ipv6("fe80::2"));
    routers.advertised(ipv6("fe80::1"), 1, 600, -1, 0);
    EXPECT_EQ(routers.chosen()->router, ipv6("fe80::2"));  // lower address, but low preference
    routers.advertised(ipv6("fe80::9"), 0, 600, 1, 0);     // now high
    EXPECT_EQ(routers.chosen()->router, ipv6("fe80::9"));
    EXPECT_EQ(routers.advertised(ipv6("fe80::9"), 0, 0, 0, 0), DefaultRouters::Outcome::Withdrawn);
    EXPECT_EQ(routers.chosen()->router, ipv6("fe80::2"));
    EXPECT_EQ(routers.advertised(ipv6("fe80::5"), 0, 0, 0, 0), DefaultRouters::Outcome::NotKnown);
    EXPECT_EQ(routers.size(), 2u);
}

TEST(DefaultRouters, AtMostKMaxRoutersAreKept) {
    DefaultRouters routers;
    for (size_t i = 0; i < DefaultRouters::kMaxRouters; ++i) {
        test::Ipv6Address address = ipv6("fe80::");
        address[15] = static_cast<uint8_t>(i + 1);
        EXPECT_EQ(routers.advertised(address, 0, 600, 0, 0), DefaultRouters::Outcome::Added);
    }
    EXPECT_EQ(routers.advertised(ipv6("fe80::ff"), 0, 600, 1, 0), DefaultRouters::Outcome::Full);
    EXPECT_EQ(routers.advertised(ipv6("fe80::1"), 0, 600, 1, 0), DefaultRouters::Outcome::Refreshed);
    EXPECT_EQ(routers.size(), DefaultRouters::kMaxRouters);
    EXPECT_EQ(routers.expire(599'999).size(), 0u);
    EXPECT_EQ(routers.expire(600'000).size(), DefaultRouters::kMaxRouters);
    EXPECT_FALSE(routers.chosen());
}

// The learnt default route in the snapshot: used where no prefix or route matches, never over a
// static ::/0, and gone once withdrawn.
struct Built {
    std::unique_ptr<SnapshotBuilder> builder;
    std::unique_ptr<Snapshot> snapshot;
};
const Ipv6OnLink* route_with(const std::string& routes, const std::optional<DefaultRoute6>& learnt, Built& built) {
    built.snapshot.reset();
    built.builder = std::make_unique<SnapshotBuilder>(1, test::neighbor_test_port_identities());
    built.builder->set_default_route6(learnt);
    built.snapshot = built.builder->build(load(config_text(true, routes)));
    return built.snapshot->route6(kOffLink.data());
}

TEST(DefaultRoute6, IsBelowEveryStaticRoute) {
    const DefaultRoute6 learnt{kRouter, 0};
    Built snapshot;
    EXPECT_EQ(route_with("", std::nullopt, snapshot), nullptr);
    const Ipv6OnLink* link = route_with("", learnt, snapshot);
    ASSERT_NE(link, nullptr);
    EXPECT_TRUE(link->via_gateway);
    EXPECT_EQ(0, std::memcmp(link->next_hop(kOffLink.data()), kRouter.data(), 16));
    // On-link destinations stay on-link.
    const test::Ipv6Address on_link = ipv6("2001:db8::77");
    EXPECT_FALSE(snapshot.snapshot->route6(on_link.data())->via_gateway);
    const std::string other = "[[routes]]\nprefix = \"2001:db8:77::/48\"\nvia = \"2001:db8::fe\"\n";
    link = route_with(other, learnt, snapshot);  // the route table (rte_lpm6) misses: the learnt one
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(0, std::memcmp(link->next_hop(kOffLink.data()), kRouter.data(), 16));
    const std::string static_default = "[[routes]]\nprefix = \"::/0\"\nvia = \"2001:db8::fe\"\n";
    link = route_with(static_default, learnt, snapshot);
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(0, std::memcmp(link->next_hop(kOffLink.data()), ipv6("2001:db8::fe").data(), 16));
}

TEST(AcceptRouterAdvertisementsConfig, DecodedValidatedDumpedAndRestartOnly) {
    const config::Config accepting = load(config_text(true));
    EXPECT_TRUE(accepting.ports[0].accept_router_advertisements);
    EXPECT_FALSE(load(config_text(false)).ports[0].accept_router_advertisements);
    const std::string dumped = config::format_config(accepting);
    EXPECT_NE(dumped.find("accept_router_advertisements = true"), std::string::npos);
    EXPECT_TRUE(load(dumped).ports[0].accept_router_advertisements);
    EXPECT_EQ(config::format_config(load(config_text(false))).find("accept_router_advertisements"), std::string::npos);
    const std::vector<std::string> differences = config::restart_only_differences(load(config_text(false)), accepting);
    ASSERT_EQ(differences.size(), 1u);
    EXPECT_EQ(differences[0], "ports[0].accept_router_advertisements");

    const std::string ipv4_only = R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
accept_router_advertisements = true
)";
    config::LoadResult refused = config::load_config_string(ipv4_only, "ipv4_only");
    EXPECT_FALSE(refused.config);
    EXPECT_NE(config::describe_errors(refused.errors).find("ports[0].accept_router_advertisements"), std::string::npos);
    config::LoadResult mistyped =
        config::load_config_string(config_text(false) + "accept_router_advertisements = \"yes\"\n", "mistyped");
    EXPECT_FALSE(mistyped.config);
}

}  // namespace
}  // namespace vipgate
