// NeighborDiscovery: the control thread's half of IPv6 Neighbor Discovery (RFC 4861), the
// IPv6 counterpart of NeighborResolver (neighbor_resolver.h), with its rules and bounds.
//
// Design note: workers check ND messages and punt Neighbor Solicitations and Advertisements,
// and translated packets whose next hop has no MAC, through the ARP punt ring
// (dataplane/nd_path.h). This class answers solicitations for the gateway's IPv6 addresses,
// IPv6 VIPs and SNAT6 addresses with solicited advertisements (to the all-nodes group for
// duplicate address detection from ::), holds packets per unresolved next hop and solicits it
// at its solicited-node group, learns from the advertisement, and re-probes and ages entries:
// NeighborResolver's timers and limits (kReachableMs, kProbeIntervalMs, kMaxProbes, held
// packets per neighbor and in all, pending neighbors).
//
// Hardening, as for ARP: entries are created only by solicitations aimed at us (their source
// link-layer option, RFC 4861 7.2.3) and by advertisements answering our own solicitations; a
// known neighbor's MAC changes only through an advertisement while we are asking for it, and
// unsolicited news of another MAC is refused, counted, and starts a probe. An advertisement or
// solicitation claiming one of our addresses from another MAC is never learnt; the gateway
// restates its claim with an unsolicited advertisement to all nodes (override set), at most
// once per kDefendIntervalMs per address. Router advertisements and redirects never get here.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

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

class NeighborDiscovery {
public:
    NeighborDiscovery(NeighborTable6& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring);
    ~NeighborDiscovery();

    // True for what a worker punted for this class (an IPv6 frame): handle() takes it.
    static bool takes(const rte_mbuf* packet) noexcept;
    // Takes ownership of a punted packet.
    void handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    // Retransmits solicitations, gives up on silent next hops, re-probes old entries.
    void tick(const Snapshot& snapshot, uint64_t now_ms);
    const NdStatistics& statistics() const noexcept { return statistics_; }
    size_t learnt_count() const noexcept { return learnt_.size(); }

private:
    struct Pending {
        uint16_t port_index = 0;
        uint32_t probes = 0;
        uint64_t last_probe_ms = 0;
        std::vector<rte_mbuf*> held;
    };
    struct Learnt {
        uint16_t port_index = 0;
        uint64_t confirmed_ms = 0;
        uint64_t last_probe_ms = 0;
        uint32_t probes = 0;
    };

    void handle_message(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void answer(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, const NdMessage& message);
    bool owned(const Snapshot& snapshot, const Ipv6Bytes& address);
    void defend(const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& address, uint64_t now_ms);
    bool asking_for(const Ipv6Bytes& address) const;
    void verify(const Snapshot& snapshot, const Ipv6Bytes& address, uint64_t now_ms);
    void hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void learn(const Ipv6Bytes& address, const rte_ether_addr& mac, uint16_t port_index, uint64_t now_ms);
    void solicit(const Snapshot& snapshot, uint16_t port_index, const Ipv6Bytes& target);
    void transmit(rte_mbuf* packet);
    uint16_t port_index_of(uint16_t port_id) const noexcept;

    NeighborTable6& table_;
    const std::vector<PortRuntime>& ports_;
    rte_ring* transmit_ring_;
    std::set<Ipv6Bytes> owned_;  // our addresses in the snapshot of owned_generation_
    uint64_t owned_generation_ = ~0ull;
    std::map<Ipv6Bytes, uint64_t> last_defended_ms_;  // our own addresses only: bounded
    std::map<Ipv6Bytes, Pending> pending_;
    std::map<Ipv6Bytes, Learnt> learnt_;
    size_t held_total_ = 0;
    NdStatistics statistics_;
};

}  // namespace vipgate
