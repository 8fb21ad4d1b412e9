// The IPv6 half of a worker's per-packet logic (docs/ipv6.md, step 3): NAT66 of IPv6 ClusterIP
// traffic in both NAT modes. process_burst (pipeline.cpp) parses the Ethernet header of every
// frame and passes the IPv6 ones of a burst here, after its IPv4 ones.
#pragma once

#include <cstdint>

#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_mbuf;

namespace vipgate {

// `l3_offsets[i]`: where parse_packet found packet i's IPv6 header. `from_handoff` as for
// process_burst. At most kBurstSize packets.
void process_ipv6_burst(WorkerContext& context, const Snapshot& snapshot, rte_mbuf** packets,
                        const uint16_t* l3_offsets, uint16_t count, bool from_handoff) noexcept;

}  // namespace vipgate
