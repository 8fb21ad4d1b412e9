// SnapshotBuilder: compiles resolved services into dataplane Snapshots, one change at a time.
//
// Design note: the builder is the only place that remembers things between snapshots: the
// stable id of every service port and the slot of every endpoint (so connections stay pinned
// across updates), the Maglev table of every service port with the exact inputs it was built
// from (a service whose endpoints did not change keeps its table byte for byte, and a change to
// one service never rebuilds another's), the current chunked tables the next snapshot starts
// from, and the shared lookup hashes. An update touches only the services it is told changed,
// so its cost does not grow with the number of services.
//
// Updating the shared hashes follows the publication (see snapshot.h): prepare() computes the
// next snapshot and the hash edits without touching anything a worker can see (it may throw, and
// then nothing changed); before_publish() removes the keys of deleted entries; the caller
// publishes; after_publish() adds the keys of new entries, and, once every worker is known to
// have moved on, recycles the hash positions of removed keys.
//
// The implementation is split by job: snapshot_builder.cpp (an update as a whole),
// snapshot_builder_ports.cpp (service ports, both families in one template),
// snapshot_builder_slots.cpp (ids and slots), snapshot_builder_hashes.cpp (the shared hashes),
// snapshot_builder_settings.cpp (what comes from the configuration); dpdk_tables.h makes the
// DPDK tables and snapshot_inputs.h derives the builder's other inputs from a config.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/service_store.h"
#include "control/default_routers.h"
#include "control/maglev_batch.h"
#include "control/snapshot_inputs.h"
#include "dataplane/snapshot.h"

struct rte_rcu_qsbr;

namespace vipgate {

// "namespace/name:port" (the port's name, or its number when unnamed): how statistics, the API
// and metrics name a service port (ServicePort::service_name).
std::string service_port_label(const std::string& namespace_name, const std::string& service_name,
                               const std::string& port_name, uint16_t port);

struct BuildStatistics {
    uint32_t service_ports = 0;  // live service ports after the update
    uint32_t maglev_built = 0;
    uint32_t maglev_reused = 0;
    uint32_t endpoints_added = 0;
    uint32_t endpoints_removed = 0;
};

class SnapshotBuilder {
public:
    static constexpr uint32_t kMaxEndpointSlots = 1u << 18;
    static constexpr uint32_t kMaxServicePorts = 1u << 16;

    // `ports` gives the runtime identity (DPDK port id, MAC) of each configured port, in order.
    // `max_endpoint_slots` bounds the endpoints of all services together (the workers' per-endpoint
    // counter arrays are sized by it).
    SnapshotBuilder(uint16_t worker_count, std::vector<PortIdentity> ports,
                    uint32_t max_endpoint_slots = kMaxEndpointSlots, uint32_t max_service_ports = kMaxServicePorts);
    ~SnapshotBuilder();
    SnapshotBuilder(const SnapshotBuilder&) = delete;
    SnapshotBuilder& operator=(const SnapshotBuilder&) = delete;

    // The QSBR variable the workers report quiescent states to (the Publisher's), before the
    // first prepare(). The shared hash tables then hand a removed key's position back through
    // that same variable (rte_hash_rcu_qsbr_add, defer-queue mode): one grace period for
    // snapshots and key positions alike. Without it the builder assumes no concurrent readers
    // (tests, tools) and recycles positions at once. The variable must outlive the builder.
    void set_readers(rte_rcu_qsbr* readers) noexcept { readers_ = readers; }
    // The CPUs a large update may build its Maglev tables on (control/maglev_batch.h): the
    // control CPUs, never a worker's. Empty or one: the calling thread builds them all.
    void set_build_cpus(std::vector<unsigned> cpus) { build_cpus_ = std::move(cpus); }

    // The next snapshot: settings (NAT, timeouts, SNAT, ports, routes, client ranges, hash seed,
    // DNS addresses and upstreams) from `settings`, services from `services`, of which only the
    // keys in `changed` are re-examined (a key missing from `services` is removed; headless and
    // ExternalName services are DNS only and never installed). The snapshot's `dns` is left
    // null: the zone is the caller's (control/dns_publication.h). Throws std::runtime_error with an
    // actionable message; nothing changes then. Must be followed by before_publish(), the
    // publication, and after_publish().
    std::unique_ptr<Snapshot> prepare(const config::Config& settings,
                                      const std::map<std::string, config::ResolvedService>& services,
                                      const std::vector<std::string>& changed);
    void before_publish();
    // Whether `settings` (routes) can be compiled; builds the route table when they changed, so
    // a later prepare() with the same settings cannot fail on it.
    std::optional<std::string> admits_settings(const config::Config& settings);
    // Whether `changed` services fit the tables once applied; a message says why not.
    std::optional<std::string> admits(const std::map<std::string, config::ResolvedService>& services,
                                      const std::vector<std::string>& changed) const;
    // Adds what the update added to the shared tables (after the snapshot that holds its
    // values is published).
    void after_publish();

    // All in one for a whole configuration (tests, tools): resolves `config`'s objects, diffs every
    // service against what is installed and applies the hash edits at once. Only for callers with
    // no concurrent readers of older snapshots.
    std::unique_ptr<Snapshot> build(const config::Config& config);

    const BuildStatistics& last_statistics() const noexcept { return statistics_; }

    // The IPv6 default route learnt from router advertisements (none: no router) that every
    // later snapshot carries (Ipv6Settings::default_router), below the static routes.
    void set_default_route6(const std::optional<DefaultRoute6>& route) { default_route6_ = route; }
    const std::optional<DefaultRoute6>& default_route6() const noexcept { return default_route6_; }

private:
    struct CachedMaglev {
        std::vector<MaglevBackend> inputs;
        uint32_t table_size = 0;
        uint64_t seed = 0;
        std::shared_ptr<const MaglevTable> table;
    };
    struct InstalledPort {
        std::string identity;  // "PROTO|port"
        uint32_t id = 0;
        uint32_t vip = 0;  // network order
        uint8_t protocol = 0;
        VipKey key{};
        std::map<std::pair<uint32_t, uint16_t>, uint32_t> slots;  // (address, target port), host order -> slot
        CachedMaglev maglev;
        // The IPv6 family of a service port (identity "PROTO|port|IPv6"): vip6 and slots6 instead.
        bool ipv6 = false;
        config::Ipv6Address vip6{};
        std::map<std::pair<config::Ipv6Address, uint16_t>, uint32_t> slots6;  // (address, target port) -> slot
    };
    struct InstalledService {
        std::vector<InstalledPort> ports;
    };
    template <typename Key>
    struct HashEdits {
        std::vector<Key> deletes;
        std::vector<std::pair<Key, void*>> sets;
    };

    using ServiceLookup = std::function<const config::ResolvedService*(const std::string& key)>;
    // Throws when `changed` do not fit; returns how many endpoint slots they add (net).
    int64_t check_capacity(const ServiceLookup& services, const std::vector<std::string>& changed) const;

    // Service ports (snapshot_builder_ports.cpp). What differs between the IPv4 and the IPv6
    // family of a port is named by Ipv4Family and Ipv6Family; the steps are templates over them.
    struct Ipv4Family;
    struct Ipv6Family;
    void retire_removed(const std::string& key, const config::ResolvedService* service);
    template <class Family>
    void retire_port(InstalledPort& port, const config::ResolvedService* service);
    void update_service(const std::string& key, const config::ResolvedService& service, const config::Config& settings);
    template <class Family>
    InstalledPort install_port(const config::ResolvedService& service, const config::ResolvedPort& port,
                               InstalledPort* previous, const config::Config& settings);
    template <class Family>
    std::vector<MaglevBackend> install_endpoints(const config::ResolvedPort& port, InstalledPort* previous,
                                                 InstalledPort& out, std::vector<uint32_t>& endpoint_slots);
    template <class Family>
    void release_port(const InstalledPort& port);
    CachedMaglev maglev_for(std::vector<MaglevBackend> backends, const InstalledPort* previous,
                            const config::DataplaneConfig& dataplane);

    // Port ids and endpoint slots, and their entries in the chunked tables (snapshot_builder_slots.cpp).
    void claim_port_id(InstalledPort& out, const InstalledPort* previous);
    uint32_t allocate_slot();
    void release_slot(uint32_t slot);
    void stage_slot(uint32_t slot, const EndpointSlot& entry);
    void stage_service_port(uint32_t id, ServicePort entry);

    // Who uses each key of the shared hashes, and the edits to them (snapshot_builder_hashes.cpp).
    void ensure_lookup_tables();
    void* endpoint_value(uint64_t packed) const;
    void reference_endpoint(const EndpointKey& key, uint32_t id, bool add);
    void reference_vip_address(uint32_t address, bool add);
    void stage_global_addresses(const config::Config& settings);
    void stage_reference_edits();

    // What the snapshot takes from the configuration (snapshot_builder_settings.cpp).
    void stage_settings(const config::Config& settings, Snapshot& snapshot);
    void stage_ipv6_settings(const config::Config& settings, Snapshot& snapshot);

    uint16_t worker_count_;
    uint32_t max_endpoint_slots_;
    uint32_t max_service_ports_;
    std::vector<PortIdentity> ports_;
    BuildStatistics statistics_;

    std::map<std::string, InstalledService> services_;
    ChunkedTable<ServicePort> service_ports_;
    ChunkedTable<EndpointSlot> endpoints_;
    std::vector<uint32_t> free_ids_;
    std::vector<uint32_t> id_incarnation_;  // last incarnation given to each id
    std::vector<uint32_t> free_slots_;
    std::vector<uint32_t> slot_generation_;  // last generation given to each slot
    uint32_t next_endpoint_generation_ = 1;
    uint64_t snapshot_generation_ = 0;
    uint64_t maglev_seed_ = 0;
    uint32_t maglev_max_table_size_ = 0;

    // What the shared hashes hold, and the edits staged for the current update.
    std::shared_ptr<LookupTables> lookup_;
    // Hashed, not ordered: a bulk update touches every endpoint key (100k for 10k services), and
    // the edits they produce apply in any order. A key's users are almost always one service port,
    // so a small vector of (id, reference) beats a map.
    std::unordered_map<uint64_t, std::vector<std::pair<uint32_t, void*>>> endpoint_users_;  // packed EndpointKey
    std::unordered_map<uint32_t, uint32_t> vip_address_users_;  // VIP (network order) -> service ports
    std::map<uint32_t, AddressKind> global_addresses_;          // local and SNAT addresses (network order)
    // Values before this update (nullptr: absent) of every key it touched, first touch first
    // (later touches of a key are dropped in prepare()). Vectors, because a hash map's clear()
    // walks all its buckets: after a bulk update that would cost every later small update.
    std::vector<std::pair<uint64_t, void*>> endpoint_before_;
    std::vector<std::pair<uint32_t, bool>> vip_address_before_;
    HashEdits<VipKey> vip_edits_;
    HashEdits<EndpointKey> endpoint_edits_;
    HashEdits<uint32_t> address_edits_;
    rte_rcu_qsbr* readers_ = nullptr;
    MaglevBatch maglev_batch_;
    std::vector<unsigned> build_cpus_;

    struct RouteInputs {
        std::vector<std::vector<config::Ipv4Prefix>> port_addresses;
        std::vector<std::vector<config::Ipv6Prefix>> port_addresses6;
        std::vector<config::RouteConfig> routes;
        bool operator==(const RouteInputs&) const = default;
    };
    RouteInputs route_inputs_;
    std::shared_ptr<const RouteTable> route_table_;
    std::optional<DefaultRoute6> default_route6_;
    // SNAT6 slots: append-only for the builder's life (Ipv6Settings::snat_slots).
    std::vector<config::Ipv6Address> snat6_slots_;
    // The hidden service ports that forward DNS queries for names outside the zone, as installed.
    std::map<std::string, config::ResolvedService> dns_upstreams_;
};

}  // namespace vipgate
