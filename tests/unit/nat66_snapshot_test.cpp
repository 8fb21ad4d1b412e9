// NAT66 configuration and snapshot (docs/ipv6.md, step 3): IPv6 entries of ports' and [snat]
// addresses and of [[neighbors]], what they are refused for, pods' IPv6 addresses as endpoints
// of IPv6 cluster IPs, the builder's IPv6 service ports (their own ids, Maglev tables and
// endpoint slots, kept across updates) and SNAT6 slots that stay put across reloads.
//
// Every snapshot holds an rte_lpm of 64 MiB and the test EAL has 256 MiB: at most two alive.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <string>

#include <rte_byteorder.h>

#include "config/config.h"
#include "control/snapshot_builder.h"
#include "control/snapshot_text.h"

namespace vipgate {
namespace {

std::array<uint8_t, 16> v6(const char* text) {
    std::array<uint8_t, 16> address{};
    if (inet_pton(AF_INET6, text, address.data()) != 1) throw std::invalid_argument(text);
    return address;
}

std::string config_text(const std::string& snat, const std::string& pods, bool dual_stack = true) {
    const std::string addresses = dual_stack ? "cluster_ips = [\"198.18.100.1\", \"2001:db8:100::1\"]\n"
                                               "ip_family_policy = \"PreferDualStack\"\n"
                                             : "cluster_ip = \"198.18.100.1\"\n";
    return "[dataplane]\nworker_lcores = [1, 2]\nnat_mode = \"fullnat\"\n\n"
           "[snat]\naddresses = [" +
           snat +
           "]\nport_range = [2000, 2999]\n\n"
           "[[ports]]\nname = \"p0\"\ndevice = \"net_null0\"\naddresses = [\"198.18.0.1/24\", \"2001:db8::1/64\"]\n\n"
           "[[ports]]\nname = \"p1\"\ndevice = \"net_null1\"\n"
           "addresses = [\"198.19.0.1/24\", \"2001:db8:e::1/64\", \"2001:db8:e::2/64\", \"2001:db8:e::3/64\"]\n\n"
           "[[neighbors]]\naddress = \"2001:db8:e::20\"\nmac = \"02:00:00:00:06:20\"\n\n"
           "[[services]]\nname = \"web\"\n" +
           addresses +
           "selector = { app = \"web\" }\n"
           "ports = [{ name = \"http\", protocol = \"TCP\", port = 80, target_port = \"http\" }]\n\n" +
           pods;
}

std::string pod(const std::string& name, const std::string& ips, uint16_t http_port) {
    return "[[pods]]\nname = \"" + name + "\"\npod_ips = [" + ips + "]\nlabels = { app = \"web\" }\n" +
           "ports = [{ name = \"http\", protocol = \"TCP\", port = " + std::to_string(http_port) + " }]\n\n";
}

config::Config load(const std::string& text) {
    config::LoadResult loaded = config::load_config_string(text, "nat66_snapshot_test");
    std::string errors;
    for (const auto& error : loaded.errors) errors += error.to_string() + "\n";
    if (!loaded.config) throw std::runtime_error("test configuration rejected:\n" + errors + text);
    return *loaded.config;
}

std::string errors_of(const std::string& text) {
    config::LoadResult loaded = config::load_config_string(text, "nat66_snapshot_test");
    std::string errors;
    for (const auto& error : loaded.errors) errors += error.to_string() + "\n";
    return errors;
}

std::vector<PortIdentity> two_ports() {
    return {PortIdentity{.port_id = 0}, PortIdentity{.port_id = 1}};
}

const ServicePort& ipv6_port(const Snapshot& snapshot, const char* vip, uint16_t port) {
    const auto address = v6(vip);
    const int32_t id = snapshot.find_service_port(VipKey::ipv6(address.data(), rte_cpu_to_be_16(port), kProtoTcp));
    if (id < 0) throw std::invalid_argument("no IPv6 service port");
    return snapshot.service_ports[static_cast<uint32_t>(id)];
}

const std::string kTwoPods =
    pod("web-1", "\"198.19.0.20\", \"2001:db8:e::20\"", 8080) + pod("web-2", "\"2001:db8:e::21\"", 8081);

TEST(Nat66Config, PortsSnatAndNeighborsTakeIpv6) {
    const config::Config config = load(config_text("\"198.18.0.1\", \"2001:db8:e::2\"", kTwoPods));
    ASSERT_EQ(config.ports.size(), 2u);
    EXPECT_EQ(config.ports[0].addresses.size(), 1u);
    ASSERT_EQ(config.ports[0].addresses6.size(), 1u);
    EXPECT_EQ(config.ports[0].addresses6[0].length, 64);
    EXPECT_EQ(config.ports[1].addresses6.size(), 3u);
    ASSERT_EQ(config.snat.addresses6.size(), 1u);
    EXPECT_EQ(config.snat.addresses6[0], v6("2001:db8:e::2"));
    ASSERT_EQ(config.neighbors.size(), 1u);
    EXPECT_EQ(config.neighbors[0].address, 0u);
    EXPECT_EQ(config.neighbors[0].port, "p1");  // from its on-link prefix
    // The dump reads back to the same settings.
    const config::Config again = load(config::format_config(config));
    EXPECT_EQ(again.ports, config.ports);
    EXPECT_EQ(again.snat, config.snat);
    EXPECT_EQ(again.neighbors, config.neighbors);
}

TEST(Nat66Config, SnatDefaultsToTheFirstIpv6PortAddress) {
    const config::Config config = load(config_text("\"198.18.0.1\"", ""));
    ASSERT_EQ(config.snat.addresses6.size(), 1u);
    EXPECT_EQ(config.snat.addresses6[0], v6("2001:db8::1"));
}

TEST(Nat66Config, BadIpv6AddressesAreRefusedWithTheField) {
    EXPECT_NE(errors_of(config_text("\"2001:db8:77::2\"", "")).find("not one of the ports' own IPv6 addresses"),
              std::string::npos);
    std::string text = config_text("\"198.18.0.1\"", "");
    text.replace(text.find("\"2001:db8::1/64\""), 16, "\"2001:db8::1\"");
    EXPECT_NE(errors_of(text).find("is not an IPv6 interface address"), std::string::npos) << errors_of(text);
    text = config_text("\"198.18.0.1\"", "") +
           "[[neighbors]]\naddress = \"2001:db8:99::5\"\nmac = \"02:00:00:00:00:09\"\n";
    EXPECT_NE(errors_of(text).find("not inside any port's IPv6 prefix"), std::string::npos) << errors_of(text);
}

// IPv6 [[routes]] (docs/ipv6.md, step 5): next hops on a port's IPv6 prefix, one rte_lpm6 with the
// on-link prefixes, longest prefix first; the dump reads back; bad routes are refused by field.
const char* const kRoutes6 =
    "[[routes]]\nprefix = \"2001:db8:70::/44\"\nvia = \"2001:db8:e::fe\"\n\n"
    "[[routes]]\nprefix = \"2001:db8:77::/48\"\nvia = \"2001:db8::fe\"\n\n"
    "[[routes]]\nprefix = \"198.18.50.0/24\"\nvia = \"198.19.0.254\"\n\n";

TEST(Nat66Config, Ipv6RoutesTakeAnOnLinkNextHopAndRoundTrip) {
    const config::Config config = load(config_text("\"2001:db8:e::2\"", kTwoPods) + kRoutes6);
    ASSERT_EQ(config.routes.size(), 3u);
    EXPECT_TRUE(config.routes[0].ipv6);
    EXPECT_EQ(config.routes[0].prefix6.length, 44);
    EXPECT_EQ(config.routes[0].via6, v6("2001:db8:e::fe"));
    EXPECT_EQ(config.routes[0].port, "p1");
    EXPECT_EQ(config.routes[1].port, "p0");
    EXPECT_FALSE(config.routes[2].ipv6);
    EXPECT_EQ(load(config::format_config(config)).routes, config.routes);

    const std::string base = config_text("\"2001:db8:e::2\"", kTwoPods);
    std::string errors = errors_of(base + "[[routes]]\nprefix = \"2001:db8:70::/44\"\nvia = \"2001:db8:99::1\"\n");
    EXPECT_NE(errors.find("routes[0].via"), std::string::npos) << errors;
    EXPECT_NE(errors.find("not inside any port's IPv6 prefix"), std::string::npos) << errors;
    errors = errors_of(base + "[[routes]]\nprefix = \"2001:db8:70::/44\"\nvia = \"198.19.0.254\"\n");
    EXPECT_NE(errors.find("must be of the prefix's family (IPv6)"), std::string::npos) << errors;
    errors = errors_of(base + "[[routes]]\nprefix = \"2001:db8:70::1/44\"\nvia = \"2001:db8:e::fe\"\n");
    EXPECT_NE(errors.find("host bits set"), std::string::npos) << errors;
    errors = errors_of(base + kRoutes6 + "[[routes]]\nprefix = \"2001:db8:77::/48\"\nvia = \"2001:db8::fd\"\n");
    EXPECT_NE(errors.find("duplicate route to 2001:db8:77::/48"), std::string::npos) << errors;
}

TEST(Nat66Snapshot, Ipv6RoutesLongestPrefixFirstOnLinkDirect) {
    SnapshotBuilder builder(2, two_ports());
    // Without IPv6 routes: no rte_lpm6, the on-link scan.
    std::unique_ptr<Snapshot> plain = builder.build(load(config_text("\"2001:db8:e::2\"", kTwoPods)));
    EXPECT_EQ(plain->routes->lpm6, nullptr);
    plain.reset();
    std::unique_ptr<Snapshot> snapshot = builder.build(load(config_text("\"2001:db8:e::2\"", kTwoPods) + kRoutes6));
    ASSERT_NE(snapshot->routes->lpm6, nullptr);
    auto route = [&](const char* destination) { return snapshot->route6(v6(destination).data()); };
    const auto destination = v6("2001:db8:77::5");
    const Ipv6OnLink* longest = route("2001:db8:77::5");  // in the /44 and the /48: the /48 wins
    ASSERT_NE(longest, nullptr);
    EXPECT_EQ(longest->port_index, 0);
    EXPECT_EQ(std::memcmp(longest->next_hop(destination.data()), v6("2001:db8::fe").data(), 16), 0);
    const Ipv6OnLink* wider = route("2001:db8:71::5");
    ASSERT_NE(wider, nullptr);
    EXPECT_EQ(wider->port_index, 1);
    EXPECT_EQ(std::memcmp(wider->gateway, v6("2001:db8:e::fe").data(), 16), 0);
    const auto endpoint = v6("2001:db8:e::20");
    const Ipv6OnLink* direct = route("2001:db8:e::20");  // on-link: the destination is the next hop
    ASSERT_NE(direct, nullptr);
    EXPECT_EQ(direct->port_index, 1);
    EXPECT_FALSE(direct->via_gateway);
    EXPECT_EQ(direct->next_hop(endpoint.data()), endpoint.data());
    EXPECT_EQ(route("2001:db8:99::1"), nullptr);
    // The IPv4 route is unchanged.
    ASSERT_NE(snapshot->route(rte_cpu_to_be_32(0xC6123205)), nullptr);
    EXPECT_EQ(snapshot->route(rte_cpu_to_be_32(0xC6123205))->port_index, 1);
}

TEST(Nat66Snapshot, Ipv6ServicePortHasItsOwnEndpointsAndMaglev) {
    SnapshotBuilder builder(2, two_ports());
    std::unique_ptr<Snapshot> snapshot =
        builder.build(load(config_text("\"198.18.0.1\", \"2001:db8:e::2\"", kTwoPods)));
    const ServicePort& port6 = ipv6_port(*snapshot, "2001:db8:100::1", 80);
    EXPECT_TRUE(port6.ipv6);
    EXPECT_EQ(vip_text(port6), "[2001:db8:100::1]:80");
    EXPECT_EQ(port6.service_name, "default/web:http/IPv6");
    ASSERT_EQ(port6.endpoint_slots.size(), 2u);
    std::set<std::string> endpoints;
    for (uint32_t slot : port6.endpoint_slots) endpoints.insert(endpoint_text(snapshot->endpoints[slot]));
    // The named target port resolves per pod, as for IPv4.
    EXPECT_EQ(endpoints, (std::set<std::string>{"[2001:db8:e::20]:8080", "[2001:db8:e::21]:8081"}));
    std::set<uint32_t> used(port6.maglev->slots().begin(), port6.maglev->slots().end());
    EXPECT_EQ(used, std::set<uint32_t>(port6.endpoint_slots.begin(), port6.endpoint_slots.end()));
    // The IPv4 family keeps its single IPv4 endpoint.
    const int32_t id4 =
        snapshot->find_service_port(VipKey::ipv4(rte_cpu_to_be_32(0xC6126401), rte_cpu_to_be_16(80), kProtoTcp));
    ASSERT_GE(id4, 0);
    EXPECT_EQ(snapshot->service_ports[static_cast<uint32_t>(id4)].endpoint_slots.size(), 1u);
    // Settings: on-link prefixes, the static neighbor, the SNAT6 slot.
    const auto endpoint = v6("2001:db8:e::20");
    const Ipv6OnLink* link = snapshot->route6(endpoint.data());
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(link->port_index, 1);
    EXPECT_NE(snapshot->neighbor6(endpoint.data(), 1), nullptr);
    EXPECT_EQ(snapshot->neighbor6(endpoint.data(), 0), nullptr);
    EXPECT_EQ(snapshot->route6(v6("2001:db8:99::1").data()), nullptr);
    EXPECT_EQ(snapshot->snat6_slot_of(v6("2001:db8:e::2").data()), 0);
    EXPECT_TRUE(snapshot->is_local6(v6("2001:db8::1").data()));
}

TEST(Nat66Snapshot, EndpointSlotsKeptAcrossUpdatesAndReleasedWithTheFamily) {
    SnapshotBuilder builder(2, two_ports());
    std::unique_ptr<Snapshot> first = builder.build(load(config_text("\"2001:db8:e::2\"", kTwoPods)));
    const ServicePort& before = ipv6_port(*first, "2001:db8:100::1", 80);
    std::map<std::string, std::pair<uint32_t, uint32_t>> slots;
    for (uint32_t slot : before.endpoint_slots) {
        slots[endpoint_text(first->endpoints[slot])] = {slot, first->endpoints[slot].generation};
    }
    first.reset();
    // One more pod: the two there keep their slot and generation.
    std::unique_ptr<Snapshot> second =
        builder.build(load(config_text("\"2001:db8:e::2\"", kTwoPods + pod("web-3", "\"2001:db8:e::22\"", 8080))));
    const ServicePort& after = ipv6_port(*second, "2001:db8:100::1", 80);
    EXPECT_EQ(after.endpoint_slots.size(), 3u);
    for (uint32_t slot : after.endpoint_slots) {
        auto kept = slots.find(endpoint_text(second->endpoints[slot]));
        if (kept == slots.end()) continue;
        EXPECT_EQ(kept->second.first, slot);
        EXPECT_EQ(kept->second.second, second->endpoints[slot].generation);
    }
    second.reset();
    // Without its IPv6 cluster IP the IPv6 port and its slots go.
    std::unique_ptr<Snapshot> third = builder.build(load(config_text("\"2001:db8:e::2\"", kTwoPods, false)));
    const auto vip = v6("2001:db8:100::1");
    EXPECT_LT(third->find_service_port(VipKey::ipv6(vip.data(), rte_cpu_to_be_16(80), kProtoTcp)), 0);
    EXPECT_EQ(builder.last_statistics().endpoints_removed, 3u);
}

TEST(Nat66Snapshot, SnatSlotsStayPutAcrossReloads) {
    SnapshotBuilder builder(2, two_ports());
    std::unique_ptr<Snapshot> first =
        builder.build(load(config_text("\"2001:db8:e::2\", \"2001:db8:e::3\"", kTwoPods)));
    EXPECT_EQ(first->snat6_slot_of(v6("2001:db8:e::2").data()), 0);
    EXPECT_EQ(first->snat6_slot_of(v6("2001:db8:e::3").data()), 1);
    EXPECT_EQ(first->ipv6.snat_active, (std::vector<uint8_t>{0, 1}));
    first.reset();
    // ::2 removed: ::3 keeps slot 1, slot 0 is retired (entries using it still translate).
    std::unique_ptr<Snapshot> second = builder.build(load(config_text("\"2001:db8:e::3\"", kTwoPods)));
    EXPECT_EQ(second->snat6_slot_of(v6("2001:db8:e::3").data()), 1);
    EXPECT_EQ(second->ipv6.snat_active, (std::vector<uint8_t>{1}));
    EXPECT_EQ(second->ipv6.snat_slots.size(), 2u);
    second.reset();
    // Back again: its old slot.
    std::unique_ptr<Snapshot> third =
        builder.build(load(config_text("\"2001:db8:e::3\", \"2001:db8:e::2\"", kTwoPods)));
    EXPECT_EQ(third->ipv6.snat_active, (std::vector<uint8_t>{1, 0}));
}

}  // namespace
}  // namespace vipgate
