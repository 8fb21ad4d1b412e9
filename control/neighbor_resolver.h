// NeighborResolver: the control thread's half of ARP.
//
// Design note: workers punt ARP frames and packets whose next hop has no MAC yet to the control
// thread through one ring. The resolver answers ARP requests for the gateway's addresses and VIPs
// and learns from replies (and from requests aimed at us, as Linux does); holding, probing, ageing
// and the hardening rules are NeighborCache's (neighbor_cache.h), shared with IPv6 ND. A claim on
// one of our addresses is answered with a broadcast announcement (an ARP request whose sender and
// target are the address, RFC 5227 2.4 (c)), never with a unicast reply (that would confirm the
// claim to its sender).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "control/neighbor_cache.h"
#include "control/neighbor_counts.h"
#include "control/port_setup.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/snapshot.h"

struct rte_mbuf;
struct rte_ring;

namespace vipgate {

struct NeighborStatistics {
    uint64_t arp_requests_sent = 0;
    uint64_t arp_replies_sent = 0;
    uint64_t learnt = 0;
    uint64_t held_sent = 0;
    uint64_t held_dropped = 0;        // neighbor never answered, or too many packets waiting
    uint64_t conflicts = 0;           // another MAC claimed one of our addresses
    uint64_t announcements_sent = 0;  // our defence against those claims
    uint64_t updates_refused = 0;     // unsolicited ARP that would have changed a neighbor's MAC
};

// ARP as a NeighborCache family (neighbor_cache.h).
struct ArpFamily {
    using Address = uint32_t;  // network order
    using Table = NeighborTable;
    using Statistics = NeighborStatistics;
    static constexpr uint64_t NeighborStatistics::*kRequestsSent = &NeighborStatistics::arp_requests_sent;
    static constexpr uint64_t NeighborStatistics::*kDefencesSent = &NeighborStatistics::announcements_sent;
    static constexpr const char* kNeighbor = "neighbor";
    static constexpr const char* kRequests = "ARP requests";
    static constexpr const char* kProtocol = "ARP";
    static uint32_t key(uint32_t address) noexcept { return address; }
    static std::string text(uint32_t address);
    static bool lookup(const NeighborTable& table, const Snapshot& snapshot, uint16_t port_index, uint32_t address,
                       rte_ether_addr& mac);
    static bool write_request(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, uint32_t target);
    static bool write_defence(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, uint32_t address);
};

class NeighborResolver : public NeighborCacheLimits {
public:
    // What the resolver sends goes through `transmit_ring` (worker 0 transmits it).
    NeighborResolver(NeighborTable& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring);

    // The configured static entries (network order); statics no longer listed are removed.
    void set_static(const std::vector<std::pair<uint32_t, rte_ether_addr>>& entries);
    // Takes ownership of a punted packet.
    void handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    // Asks for `address` on the port (unless already asking), holding nothing: the kernel
    // exception path's ARP requests, which the kernel retries itself.
    void resolve(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms);
    // Retransmits requests, gives up on silent neighbors, re-probes old entries.
    void tick(const Snapshot& snapshot, uint64_t now_ms) { cache_.tick(snapshot, now_ms); }
    const NeighborStatistics& statistics() const noexcept { return cache_.statistics(); }
    NeighborCounts counts() const noexcept;

private:
    void handle_arp(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);

    NeighborCache<ArpFamily> cache_;
    std::set<uint32_t> static_addresses_;
};

}  // namespace vipgate
