// KernelPath: the kernel exception path. A port with `kernel_interface` gets a net_tap device
// whose Linux interface carries the port's MAC, addresses and MTU, so what vipgate does not
// serve at its own addresses (BGP, SSH, ICMP other than echo) is the kernel's to answer.
//
// Design note: the tap is never a worker's port. Workers pass such packets through one ring,
// each within its own token bucket (pipeline.cpp, to_kernel), and the control thread writes
// them to the tap, so a flood at the gateway's addresses costs a worker one token check per
// packet and the control thread and kernel at most the budget. The control thread also reads
// the tap each loop: the kernel's IPv4 and IPv6 frames get the port's MAC as source and the next
// hop's MAC from vipgate's neighbor tables (holding and resolving through the resolver or
// Neighbor Discovery as the workers' packets do) and leave through worker 0, which counts them
// (from_kernel). ARP and ND stay vipgate's: wire ARP and ND never reach the kernel, and the
// kernel's ARP requests and neighbor solicitations are answered here from the neighbor tables (a
// proxied answer; an unknown neighbor is resolved on the wire and the kernel's retry gets the
// answer), never sent as they are. Anything else from the kernel (multicast and broadcast: router
// solicitations, MLD, IGMP; its neighbor advertisements) goes to worker 0 only to be counted as
// kernel_frame_refused. The IPv6 half is kernel_path6.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/neighbor_discovery.h"
#include "control/neighbor_resolver.h"
#include "control/port_setup.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/neighbor_table6.h"
#include "dataplane/snapshot.h"

struct rte_mbuf;
struct rte_ring;

namespace vipgate {

struct KernelPathStatistics {
    uint64_t written_to_tap = 0;  // packets the workers passed that the tap took
    uint64_t tap_refused = 0;     // ... that the tap did not take (kernel queue full)
    uint64_t arp_answered = 0;    // the kernel's ARP requests answered from the neighbor table
    uint64_t arp_resolving = 0;   // ... for a neighbor not known yet: resolved on the wire
    uint64_t nd_answered = 0;     // the kernel's neighbor solicitations answered from the IPv6 table
    uint64_t nd_resolving = 0;    // ... for a neighbor not known yet: resolved on the wire
    uint64_t ring_full = 0;       // the kernel's frames lost because worker 0's ring was full
};

class KernelPath {
public:
    // Creates and starts a tap per port with a kernel interface (none: do not construct one).
    // Throws std::runtime_error naming the port and what failed.
    KernelPath(const config::Config& config, const std::vector<PortRuntime>& ports, const NeighborTable& neighbors,
               NeighborResolver& resolver, const NeighborTable6& neighbors6, NeighborDiscovery& discovery);
    ~KernelPath();
    KernelPath(const KernelPath&) = delete;
    KernelPath& operator=(const KernelPath&) = delete;

    static bool wanted(const config::Config& config);

    rte_ring* to_kernel_ring() const noexcept { return to_kernel_; }      // workers -> control thread
    rte_ring* from_kernel_ring() const noexcept { return from_kernel_; }  // control thread -> worker 0
    // One control-loop step: the workers' packets to the taps, a bounded burst from each tap.
    void poll(const Snapshot& snapshot, uint64_t now_ms);
    const KernelPathStatistics& statistics() const noexcept { return statistics_; }

private:
    struct Tap {
        uint16_t port_index = 0;  // the DPDK port it belongs to, by index
        uint16_t tap_port_id = 0;
        std::string device;     // the vdev name
        std::string interface;  // the Linux interface
    };

    void write_to_taps();
    void read_tap(const Tap& tap, const Snapshot& snapshot, uint64_t now_ms);
    void answer_arp(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms);
    void send_out(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms);
    void read_ipv6(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms);  // kernel_path6.cpp
    void answer_solicitation(const Tap& tap, rte_mbuf* frame, const ParsedIpv6& parsed, const Snapshot& snapshot,
                             uint64_t now_ms);
    void send_out6(const Tap& tap, rte_mbuf* frame, const uint8_t destination[16], const Snapshot& snapshot,
                   uint64_t now_ms);
    bool neighbor_mac6(const Snapshot& snapshot, uint16_t port_index, const uint8_t address[16],
                       rte_ether_addr& mac) const;
    rte_ether_hdr* frame_for_port(const Tap& tap, rte_mbuf*& frame, const Snapshot& snapshot);
    bool write_to_tap(const Tap& tap, rte_mbuf* frame);
    void refuse(rte_mbuf* frame);
    void release();
    void pass_to_worker(rte_mbuf* frame);

    const std::vector<PortRuntime>& ports_;
    const NeighborTable& neighbors_;
    NeighborResolver& resolver_;
    const NeighborTable6& neighbors6_;
    NeighborDiscovery& discovery_;
    std::vector<Tap> taps_;
    rte_ring* to_kernel_ = nullptr;
    rte_ring* from_kernel_ = nullptr;
    KernelPathStatistics statistics_;
};

}  // namespace vipgate
