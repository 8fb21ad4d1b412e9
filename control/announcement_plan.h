// What the gateway announces: the served VIPs as /32 host routes (and, optionally, the service
// CIDR), and the changes that take the kernel table from what it holds to that. Pure functions,
// no netlink: route_announcer.cpp applies the changes, the unit test checks the rules.
//
// The rule: a ClusterIP is announced while at least one of its service ports can take a new
// connection (its Maglev table is not empty: some endpoint is ready and has a weight). A VIP
// whose endpoints are all gone, not ready or drained is withdrawn, so the router sends its new
// flows to a gateway that can serve them, or nowhere. A drained gateway announces nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "config/config.h"

namespace vipgate {

class Snapshot;

// The ClusterIPs (host order, sorted, each once) with a service port that has a usable endpoint.
std::vector<uint32_t> served_vips(const Snapshot& snapshot);

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

}  // namespace vipgate
