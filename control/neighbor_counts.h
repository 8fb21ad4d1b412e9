// NeighborCounts: what ARP and IPv6 Neighbor Discovery did, as an operator reads it (the final
// report, `vipctl get stats`, the vipgate_neighbor_* metrics), and the board through which the
// control thread hands it to the API and metrics threads.
//
// Design note: NeighborResolver and NeighborDiscovery count on the control thread, without
// locks; the control loop copies their counts to the board at each neighbor tick (every 100 ms),
// and readers take the last copy under the board's mutex. A reading is at most one tick old.
#pragma once

#include <cstdint>
#include <mutex>

namespace vipgate {

struct NeighborCounts {
    uint64_t solicitations_sent = 0;   // ARP requests; neighbor solicitations
    uint64_t advertisements_sent = 0;  // ARP replies and announcements; neighbor advertisements
    uint64_t learnt = 0;               // neighbors learnt
    uint64_t held = 0;                 // packets waiting for a neighbor now
    uint64_t held_sent = 0;            // waiting packets sent once their neighbor answered
    uint64_t held_dropped = 0;         // the neighbor never answered, or too many packets waiting
    uint64_t conflicts = 0;            // another MAC claimed one of our addresses
    uint64_t updates_refused = 0;      // unsolicited news that would have changed a neighbor's MAC
};

// Router advertisements on ports with accept_router_advertisements (default_routers.h).
struct RouterAdvertisementCounts {
    uint64_t accepted = 0;   // valid RAs
    uint64_t refused = 0;    // invalid (RFC 4861 6.1.2), or a new router beyond DefaultRouters::kMaxRouters
    uint64_t withdrawn = 0;  // routers removed by a lifetime-0 RA
    uint64_t expired = 0;    // routers whose lifetime ran out
};

class NeighborCountsBoard {
public:
    void publish(const NeighborCounts& arp, const NeighborCounts& nd) {
        std::lock_guard lock(mutex_);
        arp_ = arp;
        nd_ = nd;
    }
    NeighborCounts arp() const {
        std::lock_guard lock(mutex_);
        return arp_;
    }
    NeighborCounts nd() const {
        std::lock_guard lock(mutex_);
        return nd_;
    }

private:
    mutable std::mutex mutex_;
    NeighborCounts arp_;
    NeighborCounts nd_;
};

}  // namespace vipgate
