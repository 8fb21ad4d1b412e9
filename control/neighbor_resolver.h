// NeighborResolver: the control thread's half of ARP.
//
// Design note: workers never wait for ARP. They punt ARP frames and packets whose next hop has
// no MAC yet to the control thread through one ring. The resolver answers ARP requests for the
// gateway's addresses and VIPs, learns from replies (and from requests aimed at us, as Linux
// does), holds a few packets per unresolved neighbor like the kernel's neighbor queue, and
// sends them once the reply arrives. Learnt entries are re-probed after kReachableMs and
// invalidated if they stay silent; static entries from the config never age.
//
// Hardening (RFC 5227, and what ARP spoofing teaches):
// - A frame that claims one of the gateway's own addresses (local, VIP, SNAT, DNS) from another
//   MAC is a conflict: it is never learnt and never answered with a unicast reply (that would
//   confirm the claim to its sender); the gateway defends with a broadcast announcement, at most
//   once per kDefendIntervalMs per address (RFC 5227 DEFEND_INTERVAL).
// - Entries are created only by requests aimed at us and by answers to our own requests (as
//   Linux with arp_accept=0), and a known neighbor's MAC changes only through an answer while we
//   are asking for it. Unsolicited news of a different MAC is refused and counted, and starts a
//   probe: if the neighbor really moved (a failover), its answer moves the entry. Whoever answers
//   a probe first wins; a spoofer that races every probe is beyond what ARP itself can prevent.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

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

class NeighborResolver {
public:
    static constexpr uint64_t kReachableMs = 30'000;
    static constexpr uint64_t kProbeIntervalMs = 1'000;
    static constexpr uint32_t kMaxProbes = 3;
    static constexpr size_t kMaxHeldPerNeighbor = 8;
    // Bounds on what unresolvable traffic (spoofed sources, dead hosts) can pin: held mbufs
    // come out of the ports' pools.
    static constexpr size_t kMaxHeldTotal = 1024;
    static constexpr size_t kMaxPending = 1024;
    static constexpr uint64_t kDefendIntervalMs = 10'000;

    // What the resolver sends goes through `transmit_ring` (worker 0 transmits it).
    NeighborResolver(NeighborTable& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring);
    ~NeighborResolver();

    // The configured static entries (network order); statics no longer listed are removed.
    void set_static(const std::vector<std::pair<uint32_t, rte_ether_addr>>& entries);
    // Takes ownership of a punted packet.
    void handle(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    // Asks for `address` on the port (unless already asking), holding nothing: the kernel
    // exception path's ARP requests, which the kernel retries itself.
    void resolve(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms);
    // Retransmits requests, gives up on silent neighbors, re-probes old entries.
    void tick(const Snapshot& snapshot, uint64_t now_ms);
    const NeighborStatistics& statistics() const noexcept { return statistics_; }

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

    void handle_arp(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void defend(const Snapshot& snapshot, uint16_t port_index, uint32_t address, uint64_t now_ms);
    bool asking_for(uint32_t address) const;
    void verify(const Snapshot& snapshot, uint32_t address, uint64_t now_ms);
    void hold(rte_mbuf* packet, const Snapshot& snapshot, uint64_t now_ms);
    void learn(uint32_t address, const rte_ether_addr& mac, uint16_t port_index, uint64_t now_ms);
    void send_request(const Snapshot& snapshot, uint16_t port_index, uint32_t target);
    void transmit(rte_mbuf* packet);
    uint16_t port_index_of(uint16_t port_id) const noexcept;

    NeighborTable& table_;
    const std::vector<PortRuntime>& ports_;
    rte_ring* transmit_ring_;
    std::map<uint32_t, uint64_t> last_defended_ms_;  // our own addresses only: bounded
    std::map<uint32_t, Pending> pending_;
    std::map<uint32_t, Learnt> learnt_;
    std::set<uint32_t> static_addresses_;
    size_t held_total_ = 0;
    NeighborStatistics statistics_;
};

}  // namespace vipgate
