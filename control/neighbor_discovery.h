// NeighborDiscovery: the control thread's half of IPv6 Neighbor Discovery (RFC 4861), the
// IPv6 counterpart of NeighborResolver (neighbor_resolver.h), with its rules and bounds.
//
// Design note: workers check ND messages and punt Neighbor Solicitations and Advertisements,
// and translated packets whose next hop has no MAC, through the ARP punt ring
// (dataplane/nd_path.h). This class answers solicitations for the gateway's IPv6 addresses,
// IPv6 VIPs and SNAT6 addresses with solicited advertisements (to the all-nodes group for
// duplicate address detection from ::) and learns from solicitations aimed at us (their source
// link-layer option, RFC 4861 7.2.3) and from advertisements. Holding packets per next hop,
// soliciting it at its solicited-node group, re-probing and ageing, and the hardening rules are
// NeighborCache's (neighbor_cache.h), shared with ARP: the same timers and bounds. A claim on one
// of our addresses (an advertisement for it, or a solicitation from it) from another MAC is
// answered with an unsolicited advertisement to all nodes, override set (RFC 4861 7.2.6).
// Redirects never get here, nor router advertisements but those of ports with
// accept_router_advertisements: those are checked (RFC 4861 6.1.2), their source link-layer option
// is news of the router (learnt as from a solicitation aimed at us) and their router lifetime
// feeds DefaultRouters (default_routers.h), which the control loop turns into the snapshot's
// IPv6 default route.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "control/default_routers.h"
#include "control/neighbor_cache.h"
#include "control/neighbor_counts.h"
#include "control/port_setup.h"
#include "dataplane/nd_packets.h"
#include "dataplane/neighbor_table6.h"
#include "dataplane/snapshot.h"

struct rte_mbuf;
struct rte_ring;

namespace vipgate {

struct NdStatistics {
    uint64_t solicitations_sent = 0;
    uint64_t advertisements_sent = 0;  // answers, and defences of our addresses
    uint64_t learnt = 0;
    uint64_t held_sent = 0;
    uint64_t held_dropped = 0;     // next hop never answered, or too many packets waiting
    uint64_t conflicts = 0;        // another MAC claimed one of our addresses (or probed for it: DAD)
    uint64_t updates_refused = 0;  // unsolicited news that would have changed a neighbor's MAC
    uint64_t not_ours = 0;         // solicitations for addresses that are not the gateway's
};

// IPv6 Neighbor Discovery as a NeighborCache family (neighbor_cache.h).
struct NdFamily {
    using Address = Ipv6Bytes;
    using Table = NeighborTable6;
    using Statistics = NdStatistics;
    static constexpr uint64_t NdStatistics::*kRequestsSent = &NdStatistics::solicitations_sent;
    static constexpr uint64_t NdStatistics::*kDefencesSent = &NdStatistics::advertisements_sent;
    static constexpr const char* kNeighbor = "IPv6 neighbor";
    static constexpr const char* kRequests = "solicitations";
    static constexpr const char* kProtocol = "ND";
    static const uint8_t* key(const Ipv6Bytes& address) noexcept { return address.data(); }
    static std::string text(const Ipv6Bytes& address);
    // The configured neighbors in the snapshot first, then the learnt ones.
    static bool lookup(const NeighborTable6& table, const Snapshot& snapshot, uint16_t port_index,
                       const Ipv6Bytes& address, rte_ether_addr& mac);
    static bool write_request(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& target);
    static bool write_defence(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index,
                              const Ipv6Bytes& address);
};

class NeighborDiscovery {
public:
    NeighborDiscovery(NeighborTable6& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring);

    // True for what a worker punted for this class (an IPv6 frame): handle() takes it.
    static bool takes(const rte_mbuf* packet) noexcept;
    // Takes ownership of a punted packet.
    void handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    // Retransmits solicitations, gives up on silent next hops, re-probes old entries; expires
    // default routers.
    void tick(const Snapshot& snapshot, uint64_t now_ms);
    const NdStatistics& statistics() const noexcept { return cache_.statistics(); }
    size_t learnt_count() const noexcept { return cache_.learnt_count(); }
    NeighborCounts counts() const noexcept;
    // The IPv6 default route the routers' advertisements ask for now (none: no router).
    std::optional<DefaultRoute6> default_route() const { return routers_.chosen(); }
    const RouterAdvertisementCounts& router_advertisement_counts() const noexcept { return ra_counts_; }
    RouterAdvertisementView router_advertisements(uint64_t now_ms) const;

private:
    void handle_message(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void answer(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, const NdMessage& message);
    bool owned(const Snapshot& snapshot, const Ipv6Bytes& address);
    void hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void handle_router_advertisement(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);

    NeighborCache<NdFamily> cache_;
    std::set<Ipv6Bytes> owned_;  // our addresses in the snapshot of owned_generation_
    uint64_t owned_generation_ = ~0ull;
    DefaultRouters routers_;
    RouterAdvertisementCounts ra_counts_;
};

}  // namespace vipgate
