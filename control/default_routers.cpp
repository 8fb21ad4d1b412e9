#include "control/default_routers.h"

#include <cstring>

namespace vipgate {

Ipv6OnLink default_route_link(const DefaultRoute6& route) noexcept {
    Ipv6OnLink link;
    link.length = 0;
    link.port_index = route.port_index;
    link.via_gateway = true;
    std::memcpy(link.gateway, route.router.data(), sizeof(link.gateway));
    return link;
}

DefaultRouters::Outcome DefaultRouters::advertised(const Ipv6Bytes& router, uint16_t port_index, uint16_t lifetime_s,
                                                   int8_t preference, uint64_t now_ms) {
    const auto key = std::make_pair(port_index, router);
    auto known = routers_.find(key);
    if (lifetime_s == 0) {
        if (known == routers_.end()) return Outcome::NotKnown;
        routers_.erase(known);
        return Outcome::Withdrawn;
    }
    const Router entry{preference, now_ms + uint64_t{lifetime_s} * 1000};
    if (known != routers_.end()) {
        known->second = entry;
        return Outcome::Refreshed;
    }
    if (routers_.size() >= kMaxRouters) return Outcome::Full;
    routers_.emplace(key, entry);
    return Outcome::Added;
}

std::vector<LearntRouter> DefaultRouters::expire(uint64_t now_ms) {
    std::vector<LearntRouter> expired;
    for (auto it = routers_.begin(); it != routers_.end();) {
        if (now_ms < it->second.expires_ms) {
            ++it;
            continue;
        }
        expired.push_back({it->first.second, it->first.first, it->second.preference, it->second.expires_ms, false});
        it = routers_.erase(it);
    }
    return expired;
}

// Highest preference; among equals the lowest address, then the lowest port (the map's order is
// (port, address), so the address comparison is explicit).
std::optional<DefaultRoute6> DefaultRouters::chosen() const {
    const std::pair<const std::pair<uint16_t, Ipv6Bytes>, Router>* best = nullptr;
    for (const auto& candidate : routers_) {
        if (best == nullptr || candidate.second.preference > best->second.preference ||
            (candidate.second.preference == best->second.preference &&
             (candidate.first.second < best->first.second ||
              (candidate.first.second == best->first.second && candidate.first.first < best->first.first)))) {
            best = &candidate;
        }
    }
    if (best == nullptr) return std::nullopt;
    return DefaultRoute6{best->first.second, best->first.first};
}

std::vector<LearntRouter> DefaultRouters::routers() const {
    const std::optional<DefaultRoute6> installed = chosen();
    std::vector<LearntRouter> out;
    for (const auto& [key, router] : routers_) {
        const bool is_chosen = installed && installed->router == key.second && installed->port_index == key.first;
        out.push_back({key.second, key.first, router.preference, router.expires_ms, is_chosen});
    }
    return out;
}

}  // namespace vipgate
