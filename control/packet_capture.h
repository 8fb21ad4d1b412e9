// Packet capture with DPDK's own tools: `dpdk-dumpcap --file-prefix=<prefix> -i <port>` writes
// what a vipgate port receives and sends into a pcapng file that tcpdump and tshark read.
//
// Design note: dumpcap is a secondary DPDK process. rte_pdump_init() lets it ask vipgate (the
// primary) to install RX/TX callbacks on the port's queues; the workers then copy each packet
// they receive or send into dumpcap's ring while it runs, and pay nothing when nobody captures.
// The secondary maps the primary's packet memory, which exists only with hugepages: with
// --no-huge (or --in-memory / --no-shconf, which turn multi-process off) capture is unavailable,
// and the log says why.
#pragma once

#include <string>
#include <vector>

namespace vipgate {

// Call after rte_eal_init. Returns whether dpdk-dumpcap can attach; logs how to run it, or why not.
bool enable_packet_capture(const std::vector<std::string>& eal_args);

// Before rte_eal_cleanup; does nothing if capture was not enabled.
void disable_packet_capture();

}  // namespace vipgate
