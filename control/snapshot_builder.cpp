#include "control/snapshot_builder.h"

#include "control/address_ranges.h"
#include "dataplane/conn_table6.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <set>
#include <stdexcept>
#include <tuple>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

namespace vipgate {

std::string service_port_label(const std::string& namespace_name, const std::string& service_name,
                               const std::string& port_name, uint16_t port) {
    return namespace_name + "/" + service_name + ":" + (port_name.empty() ? std::to_string(port) : port_name);
}
namespace {

uint32_t to_network(uint32_t host_order) {
    return rte_cpu_to_be_32(host_order);
}
uint16_t to_network16(uint16_t host_order) {
    return rte_cpu_to_be_16(host_order);
}

uint8_t protocol_number(config::Protocol protocol) {
    switch (protocol) {
    case config::Protocol::Tcp:
        return kProtoTcp;
    case config::Protocol::Udp:
        return kProtoUdp;
    case config::Protocol::Sctp:
        return kProtoSctp;
    }
    return 0;
}

uint64_t pack(const EndpointKey& key) {
    return (uint64_t(key.address) << 32) | (uint64_t(key.port) << 16) | key.protocol;
}

EndpointKey unpack(uint64_t packed) {
    return EndpointKey{static_cast<uint32_t>(packed >> 32), static_cast<uint16_t>(packed >> 16),
                       static_cast<uint8_t>(packed), 0};
}

// Keeps the first entry of each key of (key, value before the update) pairs recorded in touch order.
template <typename Key, typename Value>
void first_touches(std::vector<std::pair<Key, Value>>& touches) {
    std::stable_sort(touches.begin(), touches.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    touches.erase(
        std::unique(touches.begin(), touches.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
        touches.end());
}

// rte_hash and rte_lpm names are global to the process and must be unique while the tables live.
std::string unique_name(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    return prefix + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

// One writer (the control thread), lock-free readers (the workers). A removed key's position
// is recycled by the table itself once every reader of `readers` has been quiescent since the
// removal (set_readers() says why); without readers, the builder frees it at once.
rte_hash* create_shared_hash(const char* prefix, uint32_t entries, uint32_t key_length, rte_rcu_qsbr* readers) {
    const std::string name = unique_name(prefix);
    rte_hash_parameters parameters{};
    parameters.name = name.c_str();
    parameters.entries = std::max<uint32_t>(entries, 64);
    parameters.key_len = key_length;
    parameters.hash_func = rte_hash_crc;
    parameters.hash_func_init_val = 0;
    parameters.socket_id = SOCKET_ID_ANY;
    parameters.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    rte_hash* hash = rte_hash_create(&parameters);
    if (hash == nullptr) {
        throw std::runtime_error("cannot create hash table '" + name + "': " + rte_strerror(rte_errno) +
                                 " (is the EAL memory (-m) too small?)");
    }
    if (readers != nullptr) {
        rte_hash_rcu_config reclaim{};
        reclaim.v = readers;
        reclaim.mode = RTE_HASH_QSBR_MODE_DQ;
        if (rte_hash_rcu_qsbr_add(hash, &reclaim) != 0) {
            const std::string reason = rte_strerror(rte_errno);
            rte_hash_free(hash);
            throw std::runtime_error("cannot attach the workers' QSBR variable to hash table '" + name +
                                     "': " + reason + " (is the EAL memory (-m) too small?)");
        }
    }
    return hash;
}

void add_route(rte_lpm* lpm, uint32_t prefix_host, uint8_t length, uint32_t next_hop) {
    // rte_lpm takes depths 1..32; a default route is two /1 halves.
    if (length == 0) {
        add_route(lpm, 0x00000000, 1, next_hop);
        add_route(lpm, 0x80000000, 1, next_hop);
        return;
    }
    if (rte_lpm_add(lpm, prefix_host, length, next_hop) != 0) {
        throw std::runtime_error("cannot add route " + config::format_ipv4(prefix_host) + "/" + std::to_string(length) +
                                 " to the route table");
    }
}

uint16_t port_index_of(const config::Config& config, const std::string& name) {
    for (size_t i = 0; i < config.ports.size(); ++i) {
        if (config.ports[i].name == name) return static_cast<uint16_t>(i);
    }
    return 0;
}

// With IPv6 routes only: the ports' IPv6 prefixes (direct) and the routes in one rte_lpm6, so
// the longest prefix wins between them (RouteTable).
void add_ipv6_routes(const config::Config& config, RouteTable& table) {
    std::vector<Ipv6OnLink> entries;
    for (const auto& route : config.routes) {
        if (!route.ipv6) continue;
        Ipv6OnLink entry;
        std::memcpy(entry.prefix, route.prefix6.address.data(), 16);
        entry.length = route.prefix6.length;
        entry.port_index = port_index_of(config, route.port);
        entry.via_gateway = true;
        std::memcpy(entry.gateway, route.via6.data(), 16);
        entries.push_back(entry);
    }
    if (entries.empty()) return;
    for (size_t port_index = 0; port_index < config.ports.size(); ++port_index) {
        for (const config::Ipv6Prefix& prefix : config.ports[port_index].addresses6) {
            Ipv6OnLink link;
            std::memcpy(link.prefix, prefix.address.data(), 16);
            link.length = prefix.length;
            link.port_index = static_cast<uint16_t>(port_index);
            entries.push_back(link);
        }
    }
    rte_lpm6_config lpm_config{};
    lpm_config.max_rules = static_cast<uint32_t>(entries.size() * 2 + 16);
    lpm_config.number_tbl8s = static_cast<uint32_t>(entries.size() * 16 + 256);
    const std::string name = unique_name("routes6_");
    table.lpm6 = rte_lpm6_create(name.c_str(), SOCKET_ID_ANY, &lpm_config);
    if (table.lpm6 == nullptr) {
        throw std::runtime_error("cannot create the IPv6 route table: " + std::string(rte_strerror(rte_errno)) +
                                 " (it needs 64 MiB of EAL memory)");
    }
    for (uint32_t index = 0; index < entries.size(); ++index) {
        const Ipv6OnLink& entry = entries[index];
        // rte_lpm6 takes depths 1..128: a default route (::/0) is two /1 halves, as for IPv4.
        uint8_t upper_half[16] = {0x80};
        const bool added = entry.length == 0 ? rte_lpm6_add(table.lpm6, entry.prefix, 1, index) == 0 &&
                                                   rte_lpm6_add(table.lpm6, upper_half, 1, index) == 0
                                             : rte_lpm6_add(table.lpm6, entry.prefix, entry.length, index) == 0;
        if (!added) {
            config::Ipv6Address prefix;
            std::memcpy(prefix.data(), entry.prefix, prefix.size());
            throw std::runtime_error("cannot add IPv6 route " + config::format_ipv6(prefix) + "/" +
                                     std::to_string(entry.length) + " to the route table");
        }
    }
    table.routes6 = std::move(entries);
}

// Connected subnets of every port, then the configured routes (their port is filled in by
// config validation).
std::shared_ptr<const RouteTable> build_route_table(const config::Config& config) {
    size_t rule_count = config.routes.size() + 2;
    for (const auto& port : config.ports) rule_count += port.addresses.size();
    rte_lpm_config lpm_config{};
    lpm_config.max_rules = static_cast<uint32_t>(rule_count * 2 + 16);
    lpm_config.number_tbl8s = 256;
    std::string name = unique_name("routes_");
    auto table = std::make_shared<RouteTable>();
    table->lpm = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &lpm_config);
    if (table->lpm == nullptr) {
        throw std::runtime_error("cannot create the route table: " + std::string(rte_strerror(rte_errno)) +
                                 " (it needs 64 MiB of EAL memory)");
    }
    for (size_t port_index = 0; port_index < config.ports.size(); ++port_index) {
        for (const auto& prefix : config.ports[port_index].addresses) {
            uint32_t next_hop = static_cast<uint32_t>(table->next_hops.size());
            table->next_hops.push_back({static_cast<uint16_t>(port_index), 0});
            add_route(table->lpm, prefix.address, prefix.length, next_hop);
        }
    }
    for (const auto& route : config.routes) {
        if (route.ipv6) continue;
        uint32_t next_hop = static_cast<uint32_t>(table->next_hops.size());
        table->next_hops.push_back({port_index_of(config, route.port), to_network(route.via)});
        add_route(table->lpm, route.prefix.address, route.prefix.length, next_hop);
    }
    add_ipv6_routes(config, *table);
    return table;
}

std::string port_identity(const config::ServicePortConfig& port) {
    return std::string(config::protocol_name(port.protocol)) + "|" + std::to_string(port.port);
}

std::string port_identity6(const config::ServicePortConfig& port) {
    return port_identity(port) + "|IPv6";
}

// A Maglev identity for an IPv6 endpoint: two CRCs of the address and the port. The permutation
// derives from it; two endpoints of one port colliding would need both 32-bit CRCs to agree.
uint64_t backend_identity6(const config::Ipv6Address& address, uint16_t port) {
    const uint32_t high = rte_hash_crc(address.data(), address.size(), 0x6a09e667);
    const uint32_t low = rte_hash_crc(address.data(), address.size(), 0xbb67ae85);
    return (uint64_t{high} << 32) | (uint64_t{low & 0xFFFF} << 16) | port;
}

bool same_slot(const EndpointSlot& a, const EndpointSlot& b) {
    return std::tie(a.address, a.port, a.ready, a.terminating, a.generation, a.weight, a.service_port, a.ipv6) ==
               std::tie(b.address, b.port, b.ready, b.terminating, b.generation, b.weight, b.service_port, b.ipv6) &&
           std::memcmp(a.address6, b.address6, sizeof(a.address6)) == 0;
}

// The Maglev backends of a port, whichever family: the ready endpoints, or when none is ready
// the serving terminating ones (KEP-1669), sorted by identity.
class BackendChoice {
public:
    // `expected`: the endpoint count; one allocation instead of one per doubling (a bulk update
    // installs 10k ports).
    explicit BackendChoice(size_t expected) { ready_.reserve(expected); }
    void add(const MaglevBackend& backend, bool ready, bool terminating) {
        if (!ready || backend.weight == 0) return;
        (terminating ? serving_terminating_ : ready_).push_back(backend);
    }
    std::vector<MaglevBackend> take() {
        std::vector<MaglevBackend> backends = ready_.empty() ? std::move(serving_terminating_) : std::move(ready_);
        std::sort(backends.begin(), backends.end(),
                  [](const MaglevBackend& a, const MaglevBackend& b) { return a.identity < b.identity; });
        return backends;
    }

private:
    std::vector<MaglevBackend> ready_;
    std::vector<MaglevBackend> serving_terminating_;
};

}  // namespace

std::map<std::string, config::ResolvedService> dns_upstream_services(const config::DnsConfig& dns) {
    std::map<std::string, config::ResolvedService> services;
    if (dns.upstreams.empty()) return services;
    config::ResolvedPort port;
    port.port.protocol = config::Protocol::Udp;
    port.port.port = dns::kPort;
    for (const config::DnsUpstream& upstream : dns.upstreams) {
        port.endpoints.push_back({upstream.address, upstream.port, true, false, 1, {}, {}});
    }
    std::sort(port.endpoints.begin(), port.endpoints.end(),
              [](const auto& a, const auto& b) { return std::tie(a.address, a.port) < std::tie(b.address, b.port); });
    for (uint32_t address : dns.addresses) {
        config::ResolvedService service;
        service.namespace_name = "dns";
        service.name = "upstream";
        service.cluster_ip = address;
        service.ports.push_back(port);
        services.emplace("dns-upstream|" + config::format_ipv4(address), std::move(service));
    }
    return services;
}

std::vector<uint32_t> gateway_addresses(const config::Config& config) {
    std::vector<uint32_t> addresses(config.snat.addresses);
    for (const auto& port : config.ports) {
        for (const auto& prefix : port.addresses) addresses.push_back(prefix.address);
    }
    return addresses;
}

std::vector<config::Ipv6Address> gateway_addresses6(const config::Config& config) {
    std::vector<config::Ipv6Address> addresses(config.snat.addresses6);
    for (const auto& port : config.ports) {
        for (const auto& prefix : port.addresses6) addresses.push_back(prefix.address);
    }
    return addresses;
}

config::ObjectSet objects_of(const config::Config& config) {
    return config::ObjectSet{config.services, config.pods, config.endpoint_slices, config.dns};
}

SnapshotBuilder::SnapshotBuilder(uint16_t worker_count, std::vector<PortIdentity> ports, uint32_t max_endpoint_slots,
                                 uint32_t max_service_ports)
    : worker_count_(worker_count),
      max_endpoint_slots_(max_endpoint_slots),
      max_service_ports_(max_service_ports),
      ports_(std::move(ports)) {}

SnapshotBuilder::~SnapshotBuilder() = default;

void SnapshotBuilder::ensure_lookup_tables() {
    if (lookup_) return;
    auto lookup = std::make_shared<LookupTables>();
    lookup->vip_table = create_shared_hash("vip_", max_service_ports_ * 2, sizeof(VipKey), readers_);
    lookup->endpoint_table = create_shared_hash("endpoints_", max_endpoint_slots_ * 2, sizeof(EndpointKey), readers_);
    lookup->address_table = create_shared_hash("addr_", max_service_ports_ + 1024, sizeof(uint32_t), readers_);
    lookup_ = std::move(lookup);
}

int64_t SnapshotBuilder::check_capacity(const ServiceLookup& services, const std::vector<std::string>& changed) const {
    int64_t ids = 0;
    int64_t slots = 0;
    for (const std::string& key : changed) {
        auto old = services_.find(key);
        if (old != services_.end()) {
            ids -= static_cast<int64_t>(old->second.ports.size());
            for (const auto& port : old->second.ports) {
                slots -= static_cast<int64_t>(port.slots.size() + port.slots6.size());
            }
        }
        if (const config::ResolvedService* next = services(key)) {
            const int64_t families = (next->cluster_ip != 0 ? 1 : 0) + (next->serves_ipv6() ? 1 : 0);
            ids += families * static_cast<int64_t>(next->ports.size());
            for (const auto& port : next->ports) {
                if (next->cluster_ip != 0) slots += static_cast<int64_t>(port.endpoints.size());
                if (next->serves_ipv6()) slots += static_cast<int64_t>(port.endpoints6.size());
            }
        }
    }
    const int64_t ids_in_use = static_cast<int64_t>(id_incarnation_.size() - free_ids_.size());
    const int64_t slots_in_use = static_cast<int64_t>(slot_generation_.size() - free_slots_.size());
    if (ids_in_use + ids > max_service_ports_) {
        throw std::runtime_error("more than " + std::to_string(max_service_ports_) +
                                 " service ports in total; split the services over gateways");
    }
    if (slots_in_use + slots > max_endpoint_slots_) {
        throw std::runtime_error("more than " + std::to_string(max_endpoint_slots_) +
                                 " endpoints in total; split the load over gateways");
    }
    return slots;
}

std::optional<std::string> SnapshotBuilder::admits(const std::map<std::string, config::ResolvedService>& services,
                                                   const std::vector<std::string>& changed) const {
    try {
        check_capacity(
            [&](const std::string& key) -> const config::ResolvedService* {
                auto found = services.find(key);
                return found != services.end() && found->second.serves_vip() ? &found->second : nullptr;
            },
            changed);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return std::nullopt;
}

std::unique_ptr<Snapshot> SnapshotBuilder::prepare(const config::Config& settings,
                                                   const std::map<std::string, config::ResolvedService>& services,
                                                   const std::vector<std::string>& changed) {
    statistics_ = {};
    maglev_batch_.clear();
    ensure_lookup_tables();
    // The one part that can fail for a reason the input causes (a route table that does not
    // fit) comes before anything is committed.
    if (std::optional<std::string> refusal = admits_settings(settings)) throw std::runtime_error(*refusal);
    std::map<std::string, config::ResolvedService> upstreams = dns_upstream_services(settings.dns);
    auto find = [&](const std::string& key) -> const config::ResolvedService* {
        if (key.find('/') == std::string::npos) {
            auto found = upstreams.find(key);
            return found != upstreams.end() ? &found->second : nullptr;
        }
        auto found = services.find(key);
        return found != services.end() && found->second.serves_vip() ? &found->second : nullptr;
    };
    std::set<std::string> examine(changed.begin(), changed.end());
    if (upstreams != dns_upstreams_) {
        for (const auto& [key, upstream] : dns_upstreams_) examine.insert(key);
        for (const auto& [key, upstream] : upstreams) examine.insert(key);
    }
    // A new seed or table size changes every Maglev table: every service is re-examined.
    if (settings.dataplane.hash_seed != maglev_seed_ ||
        settings.dataplane.maglev_max_table_size != maglev_max_table_size_) {
        for (const auto& [key, installed] : services_) examine.insert(key);
        for (const auto& [key, service] : services) examine.insert(key);
        for (const auto& [key, upstream] : upstreams) examine.insert(key);
    }
    const std::vector<std::string> to_examine(examine.begin(), examine.end());
    const int64_t added_slots = check_capacity(find, to_examine);
    // One rehash for a bulk update (100k endpoints) rather than one per doubling.
    if (added_slots > 0) endpoint_users_.reserve(endpoint_users_.size() + static_cast<size_t>(added_slots));
    // Nothing below throws for a reason the input could cause: the update is committed as it goes.
    maglev_seed_ = settings.dataplane.hash_seed;
    maglev_max_table_size_ = settings.dataplane.maglev_max_table_size;
    for (const std::string& key : to_examine) retire_removed(key, find(key));
    for (const std::string& key : to_examine) {
        if (const config::ResolvedService* service = find(key)) update_service(key, *service, settings);
    }
    maglev_batch_.run(build_cpus_);
    dns_upstreams_ = std::move(upstreams);
    stage_global_addresses(settings);
    first_touches(endpoint_before_);
    for (const auto& [packed, before] : endpoint_before_) {
        void* const after = endpoint_value(packed);
        if (after == before) continue;
        if (after == nullptr) {
            endpoint_edits_.deletes.push_back(unpack(packed));
        } else {
            endpoint_edits_.sets.emplace_back(unpack(packed), after);
        }
    }
    endpoint_before_.clear();
    first_touches(vip_address_before_);
    for (const auto& [address, before] : vip_address_before_) {
        const bool after = vip_address_users_.count(address) > 0;
        if (after == before || global_addresses_.count(address)) continue;
        if (after) {
            address_edits_.sets.emplace_back(address, reinterpret_cast<void*>(uintptr_t(AddressKind::Vip)));
        } else {
            address_edits_.deletes.push_back(address);
        }
    }
    vip_address_before_.clear();

    auto snapshot = std::make_unique<Snapshot>();
    snapshot->generation = ++snapshot_generation_;
    snapshot->nat_mode = settings.dataplane.nat_mode == config::NatMode::FullNat ? NatMode::FullNat : NatMode::DnatOnly;
    snapshot->hash_seed = static_cast<uint32_t>(settings.dataplane.hash_seed ^ (settings.dataplane.hash_seed >> 32));
    const auto& conntrack = settings.conntrack;
    snapshot->timeouts = ConnTimeouts{.tcp_syn_ms = conntrack.tcp_syn_timeout_s * 1000,
                                      .tcp_established_ms = conntrack.tcp_established_timeout_s * 1000,
                                      .tcp_closing_ms = conntrack.tcp_closing_timeout_s * 1000,
                                      .tcp_closed_ms = conntrack.tcp_closed_timeout_s * 1000,
                                      .udp_ms = conntrack.udp_timeout_s * 1000,
                                      .icmp_ms = conntrack.icmp_timeout_s * 1000,
                                      .udp_unreplied_ms = conntrack.udp_unreplied_timeout_s * 1000,
                                      .half_open_min_idle_ms = conntrack.half_open_min_idle_ms};
    const auto& limits = settings.limits;
    snapshot->rate_limits = RateLimits{.answers = {limits.answer_rate, limits.answer_burst},
                                       .punts = {limits.punt_rate, limits.punt_burst}};
    snapshot->ports = ports_;
    for (size_t i = 0; i < settings.ports.size() && i < snapshot->ports.size(); ++i) {
        snapshot->ports[i].vlan = settings.ports[i].vlan;
        snapshot->ports[i].kernel_interface = !settings.ports[i].kernel_interface.empty();
        snapshot->ports[i].accept_router_advertisements = settings.ports[i].accept_router_advertisements;
        // The daemon's identities carry the MTU the device runs (port_setup.cpp); a configured
        // one is the same there (ports are restart-only) and the one that counts elsewhere.
        if (settings.ports[i].mtu) snapshot->ports[i].mtu = *settings.ports[i].mtu;
        if (!settings.ports[i].addresses.empty()) {
            snapshot->ports[i].primary_address = to_network(settings.ports[i].addresses[0].address);
        }
    }
    snapshot->worker_count = worker_count_;
    for (uint32_t address : settings.snat.addresses) snapshot->snat_addresses.push_back(to_network(address));
    stage_ipv6_settings(settings, *snapshot);
    snapshot->idle = {settings.dataplane.idle == config::IdleMode::Adaptive, settings.dataplane.idle_max_sleep_us};
    snapshot->snat_ports = SnatPortSlices::split(settings.snat.port_min, settings.snat.port_max, worker_count_);
    snapshot->client_ranges = merge_client_ranges(settings.cluster.client_ranges);
    snapshot->client_ranges6 = merge_client_ranges6(settings.cluster.client_ranges6);
    snapshot->service_ports = service_ports_;
    snapshot->endpoints = endpoints_;
    snapshot->lookup = lookup_;
    snapshot->routes = route_table_;
    statistics_.service_ports = static_cast<uint32_t>(id_incarnation_.size() - free_ids_.size());
    return snapshot;
}

// Phase one of an update: free what leaves (ports, endpoints) before anything new is allocated,
// so an update that fits the tables once applied never needs room for both at once.
void SnapshotBuilder::retire_removed(const std::string& key, const config::ResolvedService* service) {
    auto installed = services_.find(key);
    if (installed == services_.end()) return;
    std::vector<InstalledPort>& ports = installed->second.ports;
    for (InstalledPort& port : ports) {
        const config::ResolvedPort* next = nullptr;
        if (port.ipv6) {
            retire_removed6(port, service);
            continue;
        }
        if (service != nullptr && service->cluster_ip != 0 && port.vip == to_network(service->cluster_ip)) {
            for (const config::ResolvedPort& candidate : service->ports) {
                if (port_identity(candidate.port) == port.identity) next = &candidate;
            }
        }
        if (next == nullptr) {
            release_port(port);
            port.identity.clear();
            continue;
        }
        std::set<std::pair<uint32_t, uint16_t>> wanted;
        for (const config::ResolvedEndpoint& endpoint : next->endpoints)
            wanted.emplace(endpoint.address, endpoint.port);
        for (auto it = port.slots.begin(); it != port.slots.end();) {
            if (wanted.count(it->first)) {
                ++it;
                continue;
            }
            reference_endpoint(
                EndpointKey{to_network(it->first.first), to_network16(it->first.second), port.protocol, 0}, port.id,
                false);
            release_slot(it->second);
            it = port.slots.erase(it);
        }
    }
    std::erase_if(ports, [](const InstalledPort& port) { return port.identity.empty(); });
    if (service == nullptr) services_.erase(installed);
}

// Phase two: install or refresh every port of `service`, reusing what phase one kept.
void SnapshotBuilder::update_service(const std::string& key, const config::ResolvedService& service,
                                     const config::Config& settings) {
    InstalledService next;
    auto installed = services_.find(key);
    for (const config::ResolvedPort& port : service.ports) {
        // Validation allows one port per (port, protocol); a duplicate would share an identity.
        const bool duplicate = std::any_of(next.ports.begin(), next.ports.end(), [&](const InstalledPort& installed) {
            return installed.identity == port_identity(port.port);
        });
        if (duplicate) continue;
        auto previous_of = [&](const std::string& identity) -> InstalledPort* {
            if (installed == services_.end()) return nullptr;
            for (InstalledPort& candidate : installed->second.ports) {
                if (candidate.identity == identity) return &candidate;
            }
            return nullptr;
        };
        if (service.cluster_ip != 0) {
            next.ports.push_back(install_port(service, port, previous_of(port_identity(port.port)), settings));
        }
        if (service.serves_ipv6()) {
            next.ports.push_back(install_port6(service, port, previous_of(port_identity6(port.port)), settings));
        }
    }
    services_[key] = std::move(next);
}

SnapshotBuilder::InstalledPort SnapshotBuilder::install_port(const config::ResolvedService& service,
                                                             const config::ResolvedPort& port, InstalledPort* previous,
                                                             const config::Config& settings) {
    InstalledPort out;
    out.identity = port_identity(port.port);
    out.vip = to_network(service.cluster_ip);
    out.protocol = protocol_number(port.port.protocol);
    out.key = VipKey::ipv4(out.vip, to_network16(port.port.port), out.protocol);
    claim_port_id(out, previous);

    ServicePort entry;
    entry.incarnation = id_incarnation_[out.id];
    entry.vip = out.vip;
    entry.port = to_network16(port.port.port);
    entry.protocol = out.protocol;
    entry.affinity_timeout_ms =
        service.session_affinity == config::SessionAffinity::ClientIp ? service.affinity_timeout_s * 1000 : 0;
    entry.service_name = service_port_label(service.namespace_name, service.name, port.port.name, port.port.port);

    std::vector<MaglevBackend> backends = install_endpoints(port, previous, out, entry.endpoint_slots);
    out.maglev = maglev_for(std::move(backends), previous, settings.dataplane);
    entry.maglev = out.maglev.table;
    stage_service_port(out.id, std::move(entry));
    return out;
}

// The IPv6 family of a service port: as install_port, keyed by the IPv6 cluster IP. Its
// endpoints take slots from the same table as IPv4 ones (per-endpoint counters, connect
// latencies and statistics need nothing new); the DNAT-only stateless reply path (the endpoint
// hash) is IPv4 only, so IPv6 endpoints are not entered there.
SnapshotBuilder::InstalledPort SnapshotBuilder::install_port6(const config::ResolvedService& service,
                                                              const config::ResolvedPort& port, InstalledPort* previous,
                                                              const config::Config& settings) {
    InstalledPort out;
    out.identity = port_identity6(port.port);
    out.ipv6 = true;
    out.vip6 = service.cluster_ip6;
    out.protocol = protocol_number(port.port.protocol);
    out.key = VipKey::ipv6(out.vip6.data(), to_network16(port.port.port), out.protocol);
    claim_port_id(out, previous);

    ServicePort entry;
    entry.incarnation = id_incarnation_[out.id];
    entry.ipv6 = true;
    std::memcpy(entry.vip6, out.vip6.data(), sizeof(entry.vip6));
    entry.port = to_network16(port.port.port);
    entry.protocol = out.protocol;
    entry.affinity_timeout_ms =
        service.session_affinity == config::SessionAffinity::ClientIp ? service.affinity_timeout_s * 1000 : 0;
    entry.service_name =
        service_port_label(service.namespace_name, service.name, port.port.name, port.port.port) + "/IPv6";

    std::vector<MaglevBackend> backends = install_endpoints6(port, previous, out, entry.endpoint_slots);
    out.maglev = maglev_for(std::move(backends), previous, settings.dataplane);
    entry.maglev = out.maglev.table;
    stage_service_port(out.id, std::move(entry));
    return out;
}

std::vector<MaglevBackend> SnapshotBuilder::install_endpoints6(const config::ResolvedPort& port,
                                                               InstalledPort* previous, InstalledPort& out,
                                                               std::vector<uint32_t>& endpoint_slots) {
    BackendChoice backends(port.endpoints6.size());
    endpoint_slots.reserve(endpoint_slots.size() + port.endpoints6.size());
    for (const config::ResolvedEndpoint6& endpoint : port.endpoints6) {
        const auto identity = std::make_pair(endpoint.address, endpoint.port);
        uint32_t slot;
        if (auto kept =
                previous != nullptr ? previous->slots6.extract(identity) : decltype(previous->slots6)::node_type{}) {
            slot = kept.mapped();
        } else {
            slot = allocate_slot();
        }
        out.slots6.emplace(identity, slot);
        EndpointSlot slot_entry;
        slot_entry.ipv6 = true;
        std::memcpy(slot_entry.address6, endpoint.address.data(), sizeof(slot_entry.address6));
        slot_entry.port = to_network16(endpoint.port);
        slot_entry.ready = endpoint.ready;
        slot_entry.terminating = endpoint.terminating;
        slot_entry.generation = slot_generation_[slot];
        slot_entry.weight = endpoint.weight;
        slot_entry.service_port = out.id;
        stage_slot(slot, slot_entry);
        endpoint_slots.push_back(slot);
        backends.add({backend_identity6(endpoint.address, endpoint.port), slot, endpoint.weight}, endpoint.ready,
                     endpoint.terminating);
    }
    return backends.take();
}

// Phase one for an IPv6 port: released when the service lost its IPv6 cluster IP (or the
// port), else its endpoints that left free their slots.
void SnapshotBuilder::retire_removed6(InstalledPort& port, const config::ResolvedService* service) {
    const config::ResolvedPort* next = nullptr;
    if (service != nullptr && service->serves_ipv6() && service->cluster_ip6 == port.vip6) {
        for (const config::ResolvedPort& candidate : service->ports) {
            if (port_identity6(candidate.port) == port.identity) next = &candidate;
        }
    }
    if (next == nullptr) {
        release_port(port);
        port.identity.clear();
        return;
    }
    std::set<std::pair<config::Ipv6Address, uint16_t>> wanted;
    for (const config::ResolvedEndpoint6& endpoint : next->endpoints6) wanted.emplace(endpoint.address, endpoint.port);
    for (auto it = port.slots6.begin(); it != port.slots6.end();) {
        if (wanted.count(it->first)) {
            ++it;
            continue;
        }
        release_slot(it->second);
        it = port.slots6.erase(it);
    }
}

// The ports' IPv6 prefixes and addresses, static IPv6 neighbors and SNAT6 slots. SNAT6 slots
// only grow (Ipv6Settings); admits_settings() refused more than a connection table holds.
void SnapshotBuilder::stage_ipv6_settings(const config::Config& settings, Snapshot& snapshot) {
    Ipv6Settings& ipv6 = snapshot.ipv6;
    for (size_t port_index = 0; port_index < settings.ports.size(); ++port_index) {
        const auto& addresses6 = settings.ports[port_index].addresses6;
        for (const config::Ipv6Prefix& prefix : addresses6) {
            Ipv6OnLink link;
            for (size_t i = 0; i < 16; ++i) {
                const int bits = std::clamp(int(prefix.length) - int(i) * 8, 0, 8);
                link.prefix[i] = static_cast<uint8_t>(prefix.address[i] & static_cast<uint8_t>(0xFF00 >> bits));
            }
            link.length = prefix.length;
            link.port_index = static_cast<uint16_t>(port_index);
            ipv6.on_link.push_back(link);
            ipv6.local.push_back(prefix.address);
        }
        if (!addresses6.empty() && port_index < snapshot.ports.size()) {
            snapshot.ports[port_index].primary_address6 = addresses6.front().address;
        }
    }
    for (const auto& [key, installed] : services_) {
        for (const InstalledPort& port : installed.ports) {
            if (port.ipv6) ipv6.vips.push_back(port.vip6);
        }
    }
    std::sort(ipv6.vips.begin(), ipv6.vips.end());
    ipv6.vips.erase(std::unique(ipv6.vips.begin(), ipv6.vips.end()), ipv6.vips.end());
    std::stable_sort(ipv6.on_link.begin(), ipv6.on_link.end(),
                     [](const Ipv6OnLink& a, const Ipv6OnLink& b) { return a.length > b.length; });
    for (const config::NeighborConfig& neighbor : settings.neighbors) {
        if (config::is_zero(neighbor.address6)) continue;
        Ipv6Neighbor entry;
        std::memcpy(entry.address, neighbor.address6.data(), sizeof(entry.address));
        for (size_t i = 0; i < settings.ports.size(); ++i) {
            if (settings.ports[i].name == neighbor.port) entry.port_index = static_cast<uint16_t>(i);
        }
        std::memcpy(entry.mac.addr_bytes, neighbor.mac.data(), RTE_ETHER_ADDR_LEN);
        ipv6.neighbors.push_back(entry);
    }
    if (!ipv6.neighbors.empty()) {
        size_t size = 1;
        while (size < 2 * ipv6.neighbors.size()) size *= 2;
        ipv6.neighbor_index.assign(size, 0);
        for (uint32_t i = 0; i < ipv6.neighbors.size(); ++i) {
            const Ipv6Neighbor& neighbor = ipv6.neighbors[i];
            size_t position = ipv6_neighbor_hash(neighbor.address, neighbor.port_index) & (size - 1);
            while (ipv6.neighbor_index[position] != 0) position = (position + 1) & (size - 1);
            ipv6.neighbor_index[position] = i + 1;
        }
    }
    for (const config::Ipv6Address& address : settings.snat.addresses6) {
        auto slot = std::find(snat6_slots_.begin(), snat6_slots_.end(), address);
        if (slot == snat6_slots_.end()) {
            if (snat6_slots_.size() >= ConnTable6::kSnatSlots) continue;
            slot = snat6_slots_.insert(snat6_slots_.end(), address);
        }
        ipv6.snat_active.push_back(static_cast<uint8_t>(slot - snat6_slots_.begin()));
    }
    ipv6.snat_slots.assign(snat6_slots_.begin(), snat6_slots_.end());
    if (default_route6_ && default_route6_->port_index < settings.ports.size()) {
        ipv6.has_default_router = true;
        ipv6.default_router = default_route_link(*default_route6_);
    }
}

// A kept port keeps its id (and so its VIP key); a new one takes a free id with a new
// incarnation, so a worker holding the id's old VIP-table value cannot mistake it for this port.
void SnapshotBuilder::claim_port_id(InstalledPort& out, const InstalledPort* previous) {
    if (previous != nullptr) {
        out.id = previous->id;
        return;
    }
    if (!free_ids_.empty()) {
        out.id = free_ids_.back();
        free_ids_.pop_back();
    } else {
        out.id = static_cast<uint32_t>(id_incarnation_.size());
        id_incarnation_.push_back(0);
    }
    if (++id_incarnation_[out.id] == 0) id_incarnation_[out.id] = 1;
    vip_edits_.sets.emplace_back(out.key, service_port_reference(out.id, id_incarnation_[out.id]));
    if (!out.ipv6) reference_vip_address(out.vip, true);
}

// Gives every endpoint of `port` its slot (kept from `previous` when the endpoint was there
// before), stages slot entries that changed, and returns the Maglev backends: the ready ones,
// or when none is ready the serving terminating ones (KEP-1669), sorted by identity.
std::vector<MaglevBackend> SnapshotBuilder::install_endpoints(const config::ResolvedPort& port, InstalledPort* previous,
                                                              InstalledPort& out,
                                                              std::vector<uint32_t>& endpoint_slots) {
    BackendChoice backends(port.endpoints.size());
    endpoint_slots.reserve(endpoint_slots.size() + port.endpoints.size());
    for (const config::ResolvedEndpoint& endpoint : port.endpoints) {
        const auto identity = std::make_pair(endpoint.address, endpoint.port);
        uint32_t slot;
        if (auto kept =
                previous != nullptr ? previous->slots.extract(identity) : decltype(previous->slots)::node_type{}) {
            slot = kept.mapped();
        } else {
            slot = allocate_slot();
            reference_endpoint(EndpointKey{to_network(endpoint.address), to_network16(endpoint.port), out.protocol, 0},
                               out.id, true);
        }
        out.slots.emplace(identity, slot);
        EndpointSlot slot_entry;
        slot_entry.address = to_network(endpoint.address);
        slot_entry.port = to_network16(endpoint.port);
        slot_entry.ready = endpoint.ready;
        slot_entry.terminating = endpoint.terminating;
        slot_entry.generation = slot_generation_[slot];
        slot_entry.weight = endpoint.weight;
        slot_entry.service_port = out.id;
        stage_slot(slot, slot_entry);
        endpoint_slots.push_back(slot);
        backends.add({(uint64_t(endpoint.address) << 16) | endpoint.port, slot, endpoint.weight}, endpoint.ready,
                     endpoint.terminating);
    }
    return backends.take();
}

// Stages a slot's entry only when it differs from the published one: unchanged slots stay
// shared with the running snapshot.
void SnapshotBuilder::stage_slot(uint32_t slot, const EndpointSlot& entry) {
    const EndpointSlot current = endpoints_.contains(slot) ? endpoints_[slot] : EndpointSlot{};
    if (!same_slot(current, entry)) endpoints_.mutable_entry(slot) = entry;
}

// The previous Maglev table when its inputs (backends, size, seed) are unchanged: building one
// costs milliseconds, and an update usually touches few services.
SnapshotBuilder::CachedMaglev SnapshotBuilder::maglev_for(std::vector<MaglevBackend> backends,
                                                          const InstalledPort* previous,
                                                          const config::DataplaneConfig& dataplane) {
    const uint32_t table_size = maglev_table_size(backends.size(), dataplane.maglev_max_table_size);
    auto same_inputs = [&](const CachedMaglev& old) {
        if (!old.table || old.table_size != table_size || old.seed != dataplane.hash_seed ||
            old.inputs.size() != backends.size()) {
            return false;
        }
        for (size_t i = 0; i < backends.size(); ++i) {
            const auto& a = old.inputs[i];
            const auto& b = backends[i];
            if (a.identity != b.identity || a.value != b.value || a.weight != b.weight) return false;
        }
        return true;
    };
    if (previous != nullptr && same_inputs(previous->maglev)) {
        ++statistics_.maglev_reused;
        return previous->maglev;
    }
    ++statistics_.maglev_built;
    CachedMaglev built;
    built.table_size = table_size;
    built.seed = dataplane.hash_seed;
    built.table = maglev_batch_.add(backends, table_size, dataplane.hash_seed);  // filled at the end of prepare()
    built.inputs = std::move(backends);
    return built;
}

// Copy-on-write: an unchanged entry is not written, so the snapshot keeps sharing its chunk.
void SnapshotBuilder::stage_service_port(uint32_t id, ServicePort entry) {
    static const ServicePort kEmpty{};
    const ServicePort& current = service_ports_.contains(id) ? service_ports_[id] : kEmpty;
    if (current.incarnation != entry.incarnation || current.maglev != entry.maglev ||
        current.endpoint_slots != entry.endpoint_slots || current.affinity_timeout_ms != entry.affinity_timeout_ms ||
        current.service_name != entry.service_name) {
        service_ports_.mutable_entry(id) = std::move(entry);
    }
}

void SnapshotBuilder::release_port(const InstalledPort& port) {
    vip_edits_.deletes.push_back(port.key);
    for (const auto& entry : port.slots6) release_slot(entry.second);
    if (!port.ipv6) reference_vip_address(port.vip, false);
    for (const auto& [identity, slot] : port.slots) {
        reference_endpoint(EndpointKey{to_network(identity.first), to_network16(identity.second), port.protocol, 0},
                           port.id, false);
        release_slot(slot);
    }
    service_ports_.mutable_entry(port.id) = ServicePort{};
    free_ids_.push_back(port.id);
}

uint32_t SnapshotBuilder::allocate_slot() {
    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<uint32_t>(slot_generation_.size());
        slot_generation_.push_back(0);
    }
    slot_generation_[slot] = next_endpoint_generation_++;
    if (next_endpoint_generation_ == 0) next_endpoint_generation_ = 1;
    ++statistics_.endpoints_added;
    return slot;
}

void SnapshotBuilder::release_slot(uint32_t slot) {
    endpoints_.mutable_entry(slot) = EndpointSlot{};
    free_slots_.push_back(slot);
    ++statistics_.endpoints_removed;
}

// What the endpoint hash holds for a key: its one service port, or ambiguous when several share it.
void* SnapshotBuilder::endpoint_value(uint64_t packed) const {
    auto users = endpoint_users_.find(packed);
    if (users == endpoint_users_.end()) return nullptr;
    return users->second.size() == 1 ? users->second.front().second : kAmbiguousServicePort;
}

void SnapshotBuilder::reference_endpoint(const EndpointKey& key, uint32_t id, bool add) {
    const uint64_t packed = pack(key);
    auto [entry, fresh] = endpoint_users_.try_emplace(packed);
    auto& users = entry->second;
    endpoint_before_.emplace_back(packed, fresh               ? nullptr
                                          : users.size() == 1 ? users.front().second
                                                              : kAmbiguousServicePort);
    auto user = std::find_if(users.begin(), users.end(), [id](const auto& entry) { return entry.first == id; });
    if (add) {
        void* reference = service_port_reference(id, id_incarnation_[id]);
        if (user != users.end()) {
            user->second = reference;
        } else {
            users.emplace_back(id, reference);
        }
        return;
    }
    if (user != users.end()) users.erase(user);
    if (users.empty()) endpoint_users_.erase(entry);
}

void SnapshotBuilder::reference_vip_address(uint32_t address, bool add) {
    auto users = vip_address_users_.find(address);
    vip_address_before_.emplace_back(address, users != vip_address_users_.end());
    if (add) {
        ++vip_address_users_[address];
    } else if (users != vip_address_users_.end() && --users->second == 0) {
        vip_address_users_.erase(users);
    }
}

void SnapshotBuilder::stage_global_addresses(const config::Config& settings) {
    std::map<uint32_t, AddressKind> wanted;
    for (const auto& port : settings.ports) {
        for (const auto& prefix : port.addresses) wanted[to_network(prefix.address)] = AddressKind::Local;
    }
    for (uint32_t address : settings.snat.addresses) wanted[to_network(address)] = AddressKind::Snat;
    for (uint32_t address : settings.dns.addresses) wanted[to_network(address)] = AddressKind::Dns;
    for (const auto& [address, kind] : global_addresses_) {
        if (!wanted.count(address) && !vip_address_users_.count(address)) address_edits_.deletes.push_back(address);
    }
    for (const auto& [address, kind] : wanted) {
        auto old = global_addresses_.find(address);
        if (old == global_addresses_.end() || old->second != kind) {
            address_edits_.sets.emplace_back(address, reinterpret_cast<void*>(uintptr_t(kind)));
        }
    }
    global_addresses_ = std::move(wanted);
}

std::optional<std::string> SnapshotBuilder::admits_settings(const config::Config& settings) {
    size_t snat6_slots = snat6_slots_.size();
    for (const config::Ipv6Address& address : settings.snat.addresses6) {
        if (std::find(snat6_slots_.begin(), snat6_slots_.end(), address) == snat6_slots_.end()) ++snat6_slots;
    }
    if (snat6_slots > ConnTable6::kSnatSlots) {
        return "more than " + std::to_string(ConnTable6::kSnatSlots) +
               " IPv6 SNAT addresses since start (a removed one keeps its slot until restart); restart vipgate to "
               "reuse them";
    }
    std::vector<std::vector<config::Ipv4Prefix>> port_addresses;
    std::vector<std::vector<config::Ipv6Prefix>> port_addresses6;
    for (const auto& port : settings.ports) {
        port_addresses.push_back(port.addresses);
        port_addresses6.push_back(port.addresses6);
    }
    RouteInputs inputs{std::move(port_addresses), std::move(port_addresses6), settings.routes};
    if (route_table_ && route_inputs_ == inputs) return std::nullopt;
    try {
        route_table_ = build_route_table(settings);
        route_inputs_ = std::move(inputs);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return std::nullopt;
}

void SnapshotBuilder::before_publish() {
    auto remove = [this](rte_hash* hash, const void* key) {
        const int32_t position = rte_hash_del_key(hash, key);
        if (position >= 0 && readers_ == nullptr) rte_hash_free_key_with_position(hash, position);
    };
    for (const VipKey& key : vip_edits_.deletes) remove(lookup_->vip_table, &key);
    for (const EndpointKey& key : endpoint_edits_.deletes) remove(lookup_->endpoint_table, &key);
    for (const uint32_t& key : address_edits_.deletes) remove(lookup_->address_table, &key);
    vip_edits_.deletes.clear();
    endpoint_edits_.deletes.clear();
    address_edits_.deletes.clear();
}

void SnapshotBuilder::after_publish() {
    // Capacity was checked in prepare() and the tables have extendable buckets: an add can only
    // fail for lack of EAL memory, or when removed keys' positions are still held by a worker
    // that has not been quiescent since (a stuck worker); either leaves that one key unreachable,
    // so say so loudly.
    auto add = [](rte_hash* hash, const void* key, void* value, const char* table) {
        if (rte_hash_add_key_data(hash, key, value) != 0) {
            throw std::runtime_error(std::string("cannot add a key to the ") + table +
                                     " table (out of EAL memory, or a stuck worker still holds removed keys' "
                                     "positions?); the entry stays unreachable");
        }
    };
    std::string failure;
    auto guarded = [&](auto&& operation) {
        try {
            operation();
        } catch (const std::exception& error) {
            failure = error.what();
        }
    };
    // Pairs, not structured bindings: clang 14 (the fuzz build) cannot capture those in a lambda.
    for (const auto& edit : vip_edits_.sets) guarded([&] { add(lookup_->vip_table, &edit.first, edit.second, "VIP"); });
    for (const auto& edit : endpoint_edits_.sets) {
        guarded([&] { add(lookup_->endpoint_table, &edit.first, edit.second, "endpoint"); });
    }
    for (const auto& edit : address_edits_.sets) {
        guarded([&] { add(lookup_->address_table, &edit.first, edit.second, "address"); });
    }
    vip_edits_.sets.clear();
    endpoint_edits_.sets.clear();
    address_edits_.sets.clear();
    if (!failure.empty()) throw std::runtime_error(failure);
}

std::unique_ptr<Snapshot> SnapshotBuilder::build(const config::Config& config) {
    config::ServiceStore store(config.cluster, gateway_addresses(config), gateway_addresses6(config));
    const config::StoreResult result = store.replace_all(objects_of(config), config.source);
    if (!result.ok()) throw std::runtime_error(config::describe_errors(result.errors));
    std::set<std::string> keys;
    for (const auto& [key, installed] : services_) keys.insert(key);
    for (const auto& [key, service] : store.resolved()) keys.insert(key);
    std::unique_ptr<Snapshot> snapshot = prepare(config, store.resolved(), {keys.begin(), keys.end()});
    before_publish();
    after_publish();
    return snapshot;
}

}  // namespace vipgate
