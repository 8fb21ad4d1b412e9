// SnapshotBuilder: compiles a validated Config into an immutable dataplane Snapshot.
//
// Design note: the builder is the only place that remembers things between snapshots:
// endpoint slot numbers (so connections stay pinned to the same slot across updates) and the
// Maglev table of every service port with the exact inputs it was built from (so a service
// whose endpoints did not change keeps its table, byte for byte, and its flows never move), and
// the route table with its inputs (a 64 MiB rte_lpm is not rebuilt for a service update).
// A build works on copies of that memory and commits them only when the snapshot is complete,
// so a failed build leaves the builder exactly as it was.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dataplane/snapshot.h"

namespace vipgate {

struct BuildStatistics {
    uint32_t service_ports = 0;
    uint32_t maglev_built = 0;
    uint32_t maglev_reused = 0;
    uint32_t endpoints_added = 0;
    uint32_t endpoints_removed = 0;
};

class SnapshotBuilder {
public:
    static constexpr uint32_t kMaxEndpointSlots = 1u << 18;

    // `ports` gives the runtime identity (DPDK port id, MAC) of each configured port, in order.
    // `max_endpoint_slots` bounds the endpoints of all services together (the workers' per-endpoint
    // counter arrays are sized by it).
    SnapshotBuilder(uint16_t worker_count, std::vector<PortIdentity> ports,
                    uint32_t max_endpoint_slots = kMaxEndpointSlots);

    // Throws std::runtime_error with an actionable message on failure; nothing is committed then.
    std::unique_ptr<Snapshot> build(const config::Config& config);
    const BuildStatistics& last_statistics() const noexcept { return statistics_; }

private:
    struct CachedMaglev {
        std::vector<MaglevBackend> inputs;
        uint32_t table_size = 0;
        uint64_t seed = 0;
        std::shared_ptr<const MaglevTable> table;
    };
    struct Memory {
        std::map<std::string, uint32_t> slot_by_endpoint;  // endpoint identity -> slot
        std::vector<uint32_t> slot_generation;             // last generation given to each slot
        std::vector<uint32_t> free_slots;
        uint32_t next_endpoint_generation = 1;
        std::map<std::string, CachedMaglev> maglev_by_service_port;
        uint64_t snapshot_generation = 0;
        struct RouteInputs {
            std::vector<std::vector<config::Ipv4Prefix>> port_addresses;
            std::vector<config::RouteConfig> routes;
            bool operator==(const RouteInputs&) const = default;
        };
        RouteInputs route_inputs;
        std::shared_ptr<const RouteTable> route_table;  // shared while its inputs do not change
    };

    void add_services(const config::Config& config, Snapshot& snapshot, Memory& memory);
    void add_addresses_and_routes(const config::Config& config, Snapshot& snapshot, Memory& memory);

    uint16_t worker_count_;
    uint32_t max_endpoint_slots_;
    std::vector<PortIdentity> ports_;
    Memory memory_;
    BuildStatistics statistics_;
};

}  // namespace vipgate
