// What the route announcer holds in its kernel table: the served VIPs (a service port with a
// usable endpoint), the aggregate while any is served, nothing while drained; and the changes
// from one state to the next. No netlink: control/route_announcer.cpp applies these.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include <rte_byteorder.h>

#include "config/config.h"
#include "control/announcement_plan.h"
#include "dataplane/snapshot.h"

namespace vipgate {
namespace {

using config::Ipv4Prefix;
using config::Ipv6Address;
using config::Ipv6Prefix;

uint32_t ip(const char* text) {
    return *config::parse_ipv4(text);
}

// Service port `id` at `vip` with `ready` usable endpoints (weight 1 each); 0: an empty table.
void add_port(Snapshot& snapshot, uint32_t id, const char* vip, uint16_t port, uint32_t ready) {
    std::vector<MaglevBackend> backends;
    for (uint32_t i = 0; i < ready; ++i) backends.push_back({i + 1, i, 1});
    ServicePort& entry = snapshot.service_ports.mutable_entry(id);
    entry.incarnation = 1;
    entry.vip = rte_cpu_to_be_32(ip(vip));
    entry.port = rte_cpu_to_be_16(port);
    entry.maglev = std::make_shared<const MaglevTable>(MaglevTable::build(backends, 13, 1));
}

TEST(ServedVips, AVipIsServedWhileAnyOfItsPortsHasAUsableEndpoint) {
    Snapshot snapshot;
    add_port(snapshot, 0, "198.18.100.10", 80, 2);
    add_port(snapshot, 1, "198.18.100.10", 443, 0);  // same VIP, one port without endpoints
    add_port(snapshot, 2, "198.18.100.20", 80, 0);   // every endpoint gone, not ready or drained
    add_port(snapshot, 3, "198.18.100.5", 53, 1);
    add_port(snapshot, 5, "198.18.100.30", 80, 1);
    snapshot.service_ports.mutable_entry(5).incarnation = 0;  // a freed id
    EXPECT_EQ(served_vips(snapshot), (std::vector<uint32_t>{ip("198.18.100.5"), ip("198.18.100.10")}));
}

// An IPv6 service port at `vip` (its `vip` field stays 0, as the snapshot builder leaves it).
void add_port6(Snapshot& snapshot, uint32_t id, const char* vip, uint16_t port, uint32_t ready) {
    add_port(snapshot, id, "0.0.0.0", port, ready);
    ServicePort& entry = snapshot.service_ports.mutable_entry(id);
    entry.ipv6 = true;
    const Ipv6Address address = *config::parse_ipv6(vip);
    std::copy(address.begin(), address.end(), entry.vip6);
}

Ipv6Address ip6(const char* text) {
    return *config::parse_ipv6(text);
}

TEST(ServedVips, EachFamilyByTheSameRule) {
    Snapshot snapshot;
    add_port(snapshot, 0, "198.18.100.10", 80, 1);
    add_port6(snapshot, 1, "2001:db8:100::10", 80, 2);
    add_port6(snapshot, 2, "2001:db8:100::10", 443, 0);  // same VIP, one port without endpoints
    add_port6(snapshot, 3, "2001:db8:100::20", 80, 0);   // every endpoint gone
    add_port6(snapshot, 4, "2001:db8:100::5", 53, 1);
    add_port6(snapshot, 5, "2001:db8:100::30", 80, 1);
    snapshot.service_ports.mutable_entry(5).incarnation = 0;
    EXPECT_EQ(served_vips(snapshot), (std::vector<uint32_t>{ip("198.18.100.10")}))
        << "an IPv6 port is no IPv4 VIP (its `vip` is 0, never 0.0.0.0/32)";
    EXPECT_EQ(served_vips6(snapshot), (std::vector<Ipv6Address>{ip6("2001:db8:100::5"), ip6("2001:db8:100::10")}));
}

TEST(ServedVips, NoServicesNothingServed) {
    Snapshot snapshot;
    EXPECT_TRUE(served_vips(snapshot).empty());
}

TEST(WantedRoutes, OneHostRoutePerVipAndTheAggregateWhileAnyIsServed) {
    const std::optional<Ipv4Prefix> aggregate = Ipv4Prefix{ip("198.18.100.0"), 24};
    const std::vector<uint32_t> vips = {ip("198.18.100.5"), ip("198.18.100.10")};
    EXPECT_EQ(wanted_routes(vips, std::nullopt, false),
              (std::set<Ipv4Prefix>{{ip("198.18.100.5"), 32}, {ip("198.18.100.10"), 32}}));
    EXPECT_EQ(wanted_routes(vips, aggregate, false),
              (std::set<Ipv4Prefix>{{ip("198.18.100.0"), 24}, {ip("198.18.100.5"), 32}, {ip("198.18.100.10"), 32}}));
    EXPECT_TRUE(wanted_routes({}, aggregate, false).empty()) << "no served VIP: no aggregate either";
    EXPECT_TRUE(wanted_routes(vips, aggregate, true).empty()) << "a drained gateway announces nothing";
}

TEST(RouteChanges, AddsWhatIsMissingRemovesWhatIsNoLongerWanted) {
    const Ipv4Prefix a{ip("198.18.100.1"), 32};
    const Ipv4Prefix b{ip("198.18.100.2"), 32};
    const Ipv4Prefix c{ip("198.18.100.3"), 32};
    const Ipv4Prefix aggregate{ip("198.18.100.0"), 24};
    RouteChanges changes = route_changes({a, b}, {b, c, aggregate});
    EXPECT_EQ(changes.add, (std::vector<Ipv4Prefix>{aggregate, c}));
    EXPECT_EQ(changes.remove, (std::vector<Ipv4Prefix>{a}));
    EXPECT_TRUE(route_changes({a, b}, {a, b}).empty());
    changes = route_changes({a, b, aggregate}, {});
    EXPECT_TRUE(changes.add.empty());
    EXPECT_EQ(changes.remove, (std::vector<Ipv4Prefix>{aggregate, a, b}));
}

TEST(RouteChanges, APrefixLengthMakesADifferentRoute) {
    const Ipv4Prefix host{ip("198.18.100.0"), 32};
    const Ipv4Prefix network{ip("198.18.100.0"), 24};
    const RouteChanges changes = route_changes({host}, {network});
    EXPECT_EQ(changes.add, (std::vector<Ipv4Prefix>{network}));
    EXPECT_EQ(changes.remove, (std::vector<Ipv4Prefix>{host}));
}

TEST(WantedRoutes6, OneSlash128PerVipAndTheIpv6AggregateWhileAnyIsServed) {
    const std::optional<Ipv6Prefix> aggregate = Ipv6Prefix{ip6("2001:db8:100::"), 108};
    const std::vector<Ipv6Address> vips = {ip6("2001:db8:100::5"), ip6("2001:db8:100::10")};
    EXPECT_EQ(wanted_routes6(vips, std::nullopt, false),
              (Routes6{{ip6("2001:db8:100::5"), 128}, {ip6("2001:db8:100::10"), 128}}));
    EXPECT_EQ(wanted_routes6(vips, aggregate, false),
              (Routes6{{ip6("2001:db8:100::"), 108}, {ip6("2001:db8:100::5"), 128}, {ip6("2001:db8:100::10"), 128}}));
    EXPECT_TRUE(wanted_routes6({}, aggregate, false).empty()) << "no served IPv6 VIP: no IPv6 aggregate either";
    EXPECT_TRUE(wanted_routes6(vips, aggregate, true).empty()) << "a drained gateway announces nothing";
}

TEST(RouteChanges6, AddsWhatIsMissingRemovesWhatIsNoLongerWanted) {
    const Ipv6Prefix a{ip6("2001:db8:100::1"), 128};
    const Ipv6Prefix b{ip6("2001:db8:100::2"), 128};
    const Ipv6Prefix c{ip6("2001:db8:100::3"), 128};
    const Ipv6Prefix aggregate{ip6("2001:db8:100::"), 108};
    RouteChanges6 changes = route_changes6({a, b}, {b, c, aggregate});
    EXPECT_EQ(changes.add, (std::vector<Ipv6Prefix>{aggregate, c}));
    EXPECT_EQ(changes.remove, (std::vector<Ipv6Prefix>{a}));
    EXPECT_TRUE(route_changes6({a, b}, {a, b}).empty());
    changes = route_changes6({a, b, aggregate}, {});
    EXPECT_TRUE(changes.add.empty());
    EXPECT_EQ(changes.remove, (std::vector<Ipv6Prefix>{aggregate, a, b}));
    const Ipv6Prefix network{ip6("2001:db8:100::1"), 120};
    changes = route_changes6({a}, {network});
    EXPECT_EQ(changes.add, (std::vector<Ipv6Prefix>{network})) << "a prefix length makes a different route";
    EXPECT_EQ(changes.remove, (std::vector<Ipv6Prefix>{a}));
}

}  // namespace
}  // namespace vipgate
