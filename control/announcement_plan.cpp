#include "control/announcement_plan.h"

#include <algorithm>
#include <iterator>

#include <rte_byteorder.h>

#include "dataplane/snapshot.h"

namespace vipgate {

std::vector<uint32_t> served_vips(const Snapshot& snapshot) {
    std::vector<uint32_t> vips;
    for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
        const ServicePort& port = snapshot.service_ports[id];
        if (port.incarnation == 0 || port.ipv6 || !port.maglev || port.maglev->empty()) continue;
        vips.push_back(rte_be_to_cpu_32(port.vip));
    }
    std::sort(vips.begin(), vips.end());
    vips.erase(std::unique(vips.begin(), vips.end()), vips.end());
    return vips;
}

std::vector<config::Ipv6Address> served_vips6(const Snapshot& snapshot) {
    std::vector<config::Ipv6Address> vips;
    for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
        const ServicePort& port = snapshot.service_ports[id];
        if (port.incarnation == 0 || !port.ipv6 || !port.maglev || port.maglev->empty()) continue;
        config::Ipv6Address vip;
        std::copy(std::begin(port.vip6), std::end(port.vip6), vip.begin());
        vips.push_back(vip);
    }
    std::sort(vips.begin(), vips.end());
    vips.erase(std::unique(vips.begin(), vips.end()), vips.end());
    return vips;
}

std::set<config::Ipv4Prefix> wanted_routes(const std::vector<uint32_t>& vips,
                                           const std::optional<config::Ipv4Prefix>& aggregate, bool drained) {
    std::set<config::Ipv4Prefix> routes;
    if (drained || vips.empty()) return routes;
    for (uint32_t vip : vips) routes.insert(config::Ipv4Prefix{vip, 32});
    if (aggregate) routes.insert(*aggregate);
    return routes;
}

RouteChanges route_changes(const std::set<config::Ipv4Prefix>& held, const std::set<config::Ipv4Prefix>& wanted) {
    RouteChanges changes;
    std::set_difference(wanted.begin(), wanted.end(), held.begin(), held.end(), std::back_inserter(changes.add));
    std::set_difference(held.begin(), held.end(), wanted.begin(), wanted.end(), std::back_inserter(changes.remove));
    return changes;
}

Routes6 wanted_routes6(const std::vector<config::Ipv6Address>& vips, const std::optional<config::Ipv6Prefix>& aggregate,
                       bool drained) {
    Routes6 routes;
    if (drained || vips.empty()) return routes;
    for (const config::Ipv6Address& vip : vips) routes.insert(config::Ipv6Prefix{vip, 128});
    if (aggregate) routes.insert(*aggregate);
    return routes;
}

RouteChanges6 route_changes6(const Routes6& held, const Routes6& wanted) {
    RouteChanges6 changes;
    std::set_difference(wanted.begin(), wanted.end(), held.begin(), held.end(), std::back_inserter(changes.add),
                        Ipv6PrefixOrder{});
    std::set_difference(held.begin(), held.end(), wanted.begin(), wanted.end(), std::back_inserter(changes.remove),
                        Ipv6PrefixOrder{});
    return changes;
}

}  // namespace vipgate
