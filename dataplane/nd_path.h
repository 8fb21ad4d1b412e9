// A worker's part of Neighbor Discovery, the IPv6 counterpart of its ARP handling
// (pipeline.cpp): ND messages are checked (RFC 4861 7.1) and punted to the control thread,
// which answers and learns (control/neighbor_discovery.h); a packet whose IPv6 next hop has no
// MAC yet is punted, translated, to wait there for one. Both go through the punt ring and
// budget that ARP uses.
#pragma once

#include <cstdint>

#include "dataplane/ipv6_parser.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_mbuf;

namespace vipgate {

// An ICMPv6 message of types 133-137 that parse_ipv6 accepted: punted (NS, NA; router
// advertisements on a port with accept_router_advertisements, unchecked: the control thread
// checks them) or dropped (nd_invalid; nd_ignored: router solicitations, other router
// advertisements, redirects; not_for_us).
void handle_nd_frame(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet, const ParsedIpv6& parsed,
                     const PortIdentity& port) noexcept;

// The MAC of `next_hop` on the port: a static neighbor (the snapshot) first, then a learnt one.
bool next_hop_mac6(const WorkerContext& context, const Snapshot& snapshot, const uint8_t next_hop[16],
                   uint16_t port_index, rte_ether_addr& mac) noexcept;

// A translated packet (Ethernet source and tag already the egress port's) for the control
// thread to hold until its next hop answers a solicitation.
void hold_for_neighbor6(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet,
                        uint16_t out_port_id) noexcept;

}  // namespace vipgate
