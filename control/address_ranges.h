// Client ranges: the configured prefixes allowed to reach ClusterIPs, compiled into the sorted,
// disjoint ranges that Snapshot::client_allowed and client_allowed6 search.
#pragma once

#include <vector>

#include "config/config.h"
#include "dataplane/snapshot.h"

namespace vipgate {

// Host order in and out. Host bits of a prefix are ignored (10.1.2.3/8 is 10.0.0.0/8);
// overlapping and adjacent prefixes become one range. Empty in, empty out (anyone may connect).
std::vector<AddressRange> merge_client_ranges(const std::vector<config::Ipv4Prefix>& prefixes);

// The same for IPv6 prefixes (network-order bytes in, numbers out).
std::vector<AddressRange6> merge_client_ranges6(const std::vector<config::Ipv6Prefix>& prefixes);

}  // namespace vipgate
