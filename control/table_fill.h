// How full a worker's per-family tables are: the connection tables (IPv4 and IPv6) and the
// session affinity tables. Operators read it in three places that must agree: Prometheus (a
// `family` label, metrics_families.cpp), `vipctl get stats` (a row a table and family,
// api_handlers.cpp) and DPDK telemetry's /vipgate/workers (telemetry_commands.cpp). A worker
// without IPv6 tables (no port has an IPv6 address) shows its IPv6 rows with capacity 0.
#pragma once

#include <array>
#include <cstdint>

namespace vipgate {

struct WorkerContext;

struct TableFill {
    uint64_t entries = 0;
    uint64_t capacity = 0;
};

// The address families, in FamilyFill's order: the `family` label's values.
inline constexpr std::array<const char*, 2> kAddressFamilies = {"ipv4", "ipv6"};
using FamilyFill = std::array<TableFill, kAddressFamilies.size()>;

// Plain reads of sizes the worker writes (a stale value is fine, as for the counters).
FamilyFill connection_table_fill(const WorkerContext& worker) noexcept;
FamilyFill affinity_table_fill(const WorkerContext& worker) noexcept;

// Family by family: `sum` plus `fill`.
void add_fill(FamilyFill& sum, const FamilyFill& fill) noexcept;

}  // namespace vipgate
