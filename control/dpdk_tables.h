// The DPDK tables a snapshot points to: the lock-free lookup hashes every snapshot shares and
// the route table (rte_lpm, rte_lpm6), which SnapshotBuilder builds again only when the routes or
// the ports' addresses change.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "dataplane/snapshot.h"

struct rte_hash;
struct rte_rcu_qsbr;

namespace vipgate {

// rte_hash and rte_lpm names are global to the process and must be unique while the tables
// live: `prefix` followed by a process-wide counter.
std::string unique_table_name(const char* prefix);

// A hash for one writer (the control thread) and lock-free readers (the workers), with room for
// `entries` keys of `key_length` bytes. With `readers`, a removed key's position is recycled by
// the table itself once every reader has been quiescent since the removal; without, the caller
// frees it. Throws std::runtime_error saying what to change.
rte_hash* create_shared_hash(const char* prefix, uint32_t entries, uint32_t key_length, rte_rcu_qsbr* readers);

// The connected subnets of every port, then the configured routes (IPv4 in rte_lpm; IPv6 in
// rte_lpm6, only when there are IPv6 routes). Throws std::runtime_error when they do not fit.
std::shared_ptr<const RouteTable> build_route_table(const config::Config& config);

}  // namespace vipgate
