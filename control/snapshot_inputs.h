// What SnapshotBuilder is given besides the store's services, derived from a config: the hidden
// services that forward DNS queries, the gateway's own addresses, a config file's objects.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/service_store.h"

namespace vipgate {

// DNS queries for names outside the zone go to the upstreams through an ordinary UDP service
// port on each DNS address, port 53 (Maglev, conntrack and NAT relay the answer back). Keyed
// apart from every store key (which holds a '/'); statistics name them "dns/upstream:53". None
// when there are no upstreams.
std::map<std::string, config::ResolvedService> dns_upstream_services(const config::DnsConfig& dns);

// The gateway's own addresses (port addresses and SNAT), host order: no ClusterIP may take them.
std::vector<uint32_t> gateway_addresses(const config::Config& config);
std::vector<config::Ipv6Address> gateway_addresses6(const config::Config& config);

// The objects of a config file, with its [dns] table (the DNS addresses the store reserves).
config::ObjectSet objects_of(const config::Config& config);

}  // namespace vipgate
