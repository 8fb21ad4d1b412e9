// What the gateway announces: the served VIPs as host routes, /32 and /128 (and, optionally, the
// service CIDR of each family), and the changes that take the kernel table from what it holds to
// that. Pure functions,
// no netlink: route_announcer.cpp applies the changes, the unit test checks the rules.
//
// The rule: a ClusterIP is announced while at least one of its service ports can take a new
// connection (its Maglev table is not empty: some endpoint is ready and has a weight). A VIP
// whose endpoints are all gone, not ready or drained is withdrawn, so the router sends its new
// flows to a gateway that can serve them, or nowhere. A drained gateway announces nothing.
// IPv6 cluster IPs follow the same rule, family by family: an aggregate (the IPv6 service CIDR)
// is announced while an IPv6 VIP is served, whatever the IPv4 ones do.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "config/config.h"

namespace vipgate {

class Snapshot;

// The IPv4 ClusterIPs (host order, sorted, each once) with a service port that has a usable endpoint.
std::vector<uint32_t> served_vips(const Snapshot& snapshot);
// The same for the IPv6 ClusterIPs (network order).
std::vector<config::Ipv6Address> served_vips6(const Snapshot& snapshot);

// The routes to hold: a /32 per served VIP, plus `aggregate` while any VIP is served; none
// while drained.
std::set<config::Ipv4Prefix> wanted_routes(const std::vector<uint32_t>& vips,
                                           const std::optional<config::Ipv4Prefix>& aggregate, bool drained);

struct RouteChanges {
    std::vector<config::Ipv4Prefix> add;     // wanted, not held
    std::vector<config::Ipv4Prefix> remove;  // held, no longer wanted
    bool empty() const { return add.empty() && remove.empty(); }
};

RouteChanges route_changes(const std::set<config::Ipv4Prefix>& held, const std::set<config::Ipv4Prefix>& wanted);

// IPv6: a /128 per served VIP, the same rules.
struct Ipv6PrefixOrder {
    bool operator()(const config::Ipv6Prefix& a, const config::Ipv6Prefix& b) const {
        return a.address != b.address ? a.address < b.address : a.length < b.length;
    }
};
using Routes6 = std::set<config::Ipv6Prefix, Ipv6PrefixOrder>;

Routes6 wanted_routes6(const std::vector<config::Ipv6Address>& vips, const std::optional<config::Ipv6Prefix>& aggregate,
                       bool drained);

struct RouteChanges6 {
    std::vector<config::Ipv6Prefix> add;
    std::vector<config::Ipv6Prefix> remove;
    bool empty() const { return add.empty() && remove.empty(); }
};

RouteChanges6 route_changes6(const Routes6& held, const Routes6& wanted);

}  // namespace vipgate
