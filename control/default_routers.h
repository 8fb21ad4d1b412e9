// DefaultRouters: the IPv6 default routers learnt from router advertisements on the ports with
// accept_router_advertisements, and the one that becomes the snapshot's default route.
//
// Design note: a production gateway takes its IPv6 default route from its routers' RAs only when
// told to (as Linux with accept_ra on a forwarding host: accept_ra=2). Each router that
// advertises a nonzero Router Lifetime is a candidate for that long (RFC 4861 6.3.4); a lifetime
// of 0 withdraws it at once, and a silent one expires. One candidate is installed, not ECMP
// (Ipv6OnLink has one next hop): the highest RFC 4191 preference, then the lowest address, then
// the lowest port index, so every gateway that hears the same routers picks the same one and the
// choice does not flap with the order of the advertisements. The choice changes only when a
// router appears, goes or changes preference; refreshes change nothing the workers see, so a
// snapshot is built (ControlPlane::try_set_default_route6) only then. Time is a parameter
// (milliseconds of any monotonic clock), so tests inject it. Prefix information options are not
// used: the gateway's addresses are configured, never autoconfigured.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "control/neighbor_counts.h"
#include "dataplane/nd_packets.h"
#include "dataplane/snapshot.h"

namespace vipgate {

// The default route the snapshot carries: via `router` out of port `port_index`.
struct DefaultRoute6 {
    Ipv6Bytes router{};
    uint16_t port_index = 0;
    bool operator==(const DefaultRoute6&) const = default;
};

// ::/0 via the router: Ipv6Settings::default_router.
Ipv6OnLink default_route_link(const DefaultRoute6& route) noexcept;

// A router as `vipctl get routes` shows it.
struct LearntRouter {
    Ipv6Bytes address{};
    uint16_t port_index = 0;
    int8_t preference = 0;    // 1 high, 0 medium, -1 low
    uint64_t expires_ms = 0;  // on the clock of the advertisements
    bool chosen = false;      // the one in the snapshot (unless a static ::/0 overrides it)
};

class DefaultRouters {
public:
    // Bounds what a link full of (spoofed) routers can make the control thread keep.
    static constexpr size_t kMaxRouters = 16;

    enum class Outcome { Added, Refreshed, Withdrawn, NotKnown, Full };
    // A valid RA from `router` on the port: a nonzero lifetime adds or refreshes it, 0 withdraws it.
    Outcome advertised(const Ipv6Bytes& router, uint16_t port_index, uint16_t lifetime_s, int8_t preference,
                       uint64_t now_ms);
    // Removes the routers whose lifetime has run out at `now_ms`; returns them.
    std::vector<LearntRouter> expire(uint64_t now_ms);
    // The router to install, none when no router is known.
    std::optional<DefaultRoute6> chosen() const;
    std::vector<LearntRouter> routers() const;
    size_t size() const noexcept { return routers_.size(); }

private:
    struct Router {
        int8_t preference = 0;
        uint64_t expires_ms = 0;
    };
    std::map<std::pair<uint16_t, Ipv6Bytes>, Router> routers_;  // (port index, address)
};

// What the control thread learnt, handed to the API and metrics threads (as NeighborCountsBoard):
// copied at every neighbor tick, read under the board's mutex. Remaining lifetimes are computed
// by the reader from `now_ms` of the last copy.
struct RouterAdvertisementView {
    RouterAdvertisementCounts counts;
    std::vector<LearntRouter> routers;
    uint64_t now_ms = 0;
};

class RouterAdvertisementBoard {
public:
    void publish(RouterAdvertisementView view) {
        std::lock_guard lock(mutex_);
        view_ = std::move(view);
    }
    RouterAdvertisementView view() const {
        std::lock_guard lock(mutex_);
        return view_;
    }

private:
    mutable std::mutex mutex_;
    RouterAdvertisementView view_;
};

}  // namespace vipgate
