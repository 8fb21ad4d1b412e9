#include "control/snapshot_builder.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <tuple>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>

#include "control/address_ranges.h"

namespace vipgate {
namespace {

uint32_t to_network(uint32_t host_order) { return rte_cpu_to_be_32(host_order); }
uint16_t to_network16(uint16_t host_order) { return rte_cpu_to_be_16(host_order); }

uint8_t protocol_number(config::Protocol protocol) {
    switch (protocol) {
    case config::Protocol::Tcp: return kProtoTcp;
    case config::Protocol::Udp: return kProtoUdp;
    case config::Protocol::Sctp: return kProtoSctp;
    }
    return 0;
}

std::string service_port_identity(const config::ServiceConfig& service,
                                  const config::ServicePortConfig& port) {
    return service.namespace_name + "/" + service.name + "|" + std::string(config::protocol_name(port.protocol)) + "|" +
           std::to_string(port.port) + "|" + config::format_ipv4(service.cluster_ip);
}

rte_hash* create_hash(const std::string& name, uint32_t entries, uint32_t key_length) {
    rte_hash_parameters parameters{};
    parameters.name = name.c_str();
    parameters.entries = std::max<uint32_t>(entries * 2, 64);
    parameters.key_len = key_length;
    parameters.hash_func = rte_hash_crc;
    parameters.hash_func_init_val = 0;
    parameters.socket_id = SOCKET_ID_ANY;
    rte_hash* hash = rte_hash_create(&parameters);
    if (hash == nullptr) {
        throw std::runtime_error("cannot create hash table '" + name + "': " +
                                 rte_strerror(rte_errno) + " (is the EAL memory (-m) too small?)");
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
        throw std::runtime_error("cannot add route " + config::format_ipv4(prefix_host) + "/" +
                                 std::to_string(length) + " to the route table");
    }
}

// rte_hash and rte_lpm names are global to the process and must be unique while the tables live
// (a retired snapshot's tables outlive the build of the next one).
std::string unique_name(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    return prefix + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
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
        size_t port_index = 0;
        for (size_t i = 0; i < config.ports.size(); ++i) {
            if (config.ports[i].name == route.port) port_index = i;
        }
        uint32_t next_hop = static_cast<uint32_t>(table->next_hops.size());
        table->next_hops.push_back({static_cast<uint16_t>(port_index), to_network(route.via)});
        add_route(table->lpm, route.prefix.address, route.prefix.length, next_hop);
    }
    return table;
}

}  // namespace

SnapshotBuilder::SnapshotBuilder(uint16_t worker_count, std::vector<PortIdentity> ports,
                                 uint32_t max_endpoint_slots)
    : worker_count_(worker_count), max_endpoint_slots_(max_endpoint_slots), ports_(std::move(ports)) {}

std::unique_ptr<Snapshot> SnapshotBuilder::build(const config::Config& config) {
    Memory memory = memory_;
    statistics_ = {};
    auto snapshot = std::make_unique<Snapshot>();
    snapshot->generation = ++memory.snapshot_generation;
    snapshot->nat_mode = config.dataplane.nat_mode == config::NatMode::FullNat ? NatMode::FullNat
                                                                               : NatMode::DnatOnly;
    snapshot->hash_seed = static_cast<uint32_t>(config.dataplane.hash_seed ^
                                                (config.dataplane.hash_seed >> 32));
    const auto& conntrack = config.conntrack;
    snapshot->timeouts = ConnTimeouts{conntrack.tcp_syn_timeout_s * 1000,
                                      conntrack.tcp_established_timeout_s * 1000,
                                      conntrack.tcp_closing_timeout_s * 1000,
                                      conntrack.tcp_closed_timeout_s * 1000,
                                      conntrack.udp_timeout_s * 1000,
                                      conntrack.icmp_timeout_s * 1000};
    snapshot->ports = ports_;
    for (size_t i = 0; i < config.ports.size() && i < snapshot->ports.size(); ++i) {
        snapshot->ports[i].vlan = config.ports[i].vlan;
        if (!config.ports[i].addresses.empty()) {
            snapshot->ports[i].primary_address = to_network(config.ports[i].addresses[0].address);
        }
    }
    snapshot->worker_count = worker_count_;
    snapshot->client_ranges = merge_client_ranges(config.cluster.client_ranges);
    for (uint32_t address : config.snat.addresses) snapshot->snat_addresses.push_back(to_network(address));
    snapshot->snat_port_min = config.snat.port_min;
    uint32_t port_count = uint32_t(config.snat.port_max) - config.snat.port_min + 1;
    snapshot->snat_ports_per_worker = static_cast<uint16_t>(port_count / worker_count_);

    add_services(config, *snapshot, memory);
    add_addresses_and_routes(config, *snapshot, memory);

    memory_ = std::move(memory);
    return snapshot;
}

void SnapshotBuilder::add_services(const config::Config& config, Snapshot& snapshot, Memory& memory) {
    size_t service_port_count = 0;
    for (const auto& service : config.services) service_port_count += service.ports.size();
    auto lookup = std::make_shared<LookupTables>();
    lookup->vip_table = create_hash(unique_name("vip_"), static_cast<uint32_t>(service_port_count), sizeof(VipKey));
    uint32_t next_service_port = 0;
    const uint32_t incarnation = static_cast<uint32_t>(snapshot.generation);

    std::set<std::string> live_endpoints;
    std::map<std::string, CachedMaglev> live_maglev;
    ChunkedTable<EndpointSlot>& slots = snapshot.endpoints;

    for (const auto& service : config.services) {
        for (const auto& port : service.ports) {
            ServicePort service_port;
            service_port.incarnation = incarnation;
            service_port.vip = to_network(service.cluster_ip);
            service_port.port = to_network16(port.port);
            service_port.protocol = protocol_number(port.protocol);
            service_port.affinity_timeout_ms =
                service.session_affinity == config::SessionAffinity::ClientIp ? service.affinity_timeout_s * 1000 : 0;
            service_port.service_name = service.namespace_name + "/" + service.name + ":" +
                                        (port.name.empty() ? std::to_string(port.port) : port.name);
            const uint32_t service_port_index = next_service_port++;
            const std::string identity = service_port_identity(service, port);

            std::vector<MaglevBackend> ready_backends;
            std::vector<MaglevBackend> serving_terminating_backends;
            for (const auto& endpoint : service.endpoints) {
                uint16_t target_port = endpoint.port != 0 ? endpoint.port
                                       : port.target_port != 0 ? port.target_port
                                                               : port.port;
                std::string endpoint_identity = identity + "|" + config::format_ipv4(endpoint.address) +
                                                ":" + std::to_string(target_port);
                live_endpoints.insert(endpoint_identity);
                auto found = memory.slot_by_endpoint.find(endpoint_identity);
                uint32_t slot;
                if (found != memory.slot_by_endpoint.end()) {
                    slot = found->second;
                } else {
                    if (!memory.free_slots.empty()) {
                        slot = memory.free_slots.back();
                        memory.free_slots.pop_back();
                    } else {
                        slot = static_cast<uint32_t>(memory.slot_generation.size());
                        if (slot >= max_endpoint_slots_) {
                            throw std::runtime_error("more than " + std::to_string(max_endpoint_slots_) +
                                                     " endpoints in total; split the load over gateways");
                        }
                        memory.slot_generation.push_back(0);
                    }
                    memory.slot_generation[slot] = memory.next_endpoint_generation++;
                    if (memory.next_endpoint_generation == 0) memory.next_endpoint_generation = 1;
                    memory.slot_by_endpoint.emplace(endpoint_identity, slot);
                    ++statistics_.endpoints_added;
                }
                EndpointSlot& entry = slots.mutable_entry(slot);
                entry.address = to_network(endpoint.address);
                entry.port = to_network16(target_port);
                entry.ready = endpoint.ready;
                entry.terminating = endpoint.terminating;
                entry.generation = memory.slot_generation[slot];
                entry.weight = endpoint.weight;
                entry.service_port = service_port_index;
                service_port.endpoint_slots.push_back(slot);

                MaglevBackend backend{(uint64_t(endpoint.address) << 16) | target_port, slot, endpoint.weight};
                if (endpoint.ready && !endpoint.terminating && endpoint.weight > 0) {
                    ready_backends.push_back(backend);
                } else if (endpoint.ready && endpoint.terminating && endpoint.weight > 0) {
                    serving_terminating_backends.push_back(backend);
                }
            }
            // KEP-1669: when no endpoint is ready, serving-terminating ones take new connections.
            std::vector<MaglevBackend>& backends =
                ready_backends.empty() ? serving_terminating_backends : ready_backends;
            std::sort(backends.begin(), backends.end(),
                      [](const MaglevBackend& a, const MaglevBackend& b) { return a.identity < b.identity; });
            uint32_t table_size = maglev_table_size(backends.size(), config.dataplane.maglev_max_table_size);

            CachedMaglev cached;
            auto previous = memory.maglev_by_service_port.find(identity);
            auto same_inputs = [&](const CachedMaglev& old) {
                if (old.table_size != table_size || old.seed != config.dataplane.hash_seed ||
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
            if (previous != memory.maglev_by_service_port.end() && same_inputs(previous->second)) {
                cached = previous->second;
                ++statistics_.maglev_reused;
            } else {
                cached.inputs = backends;
                cached.table_size = table_size;
                cached.seed = config.dataplane.hash_seed;
                cached.table = std::make_shared<const MaglevTable>(
                    MaglevTable::build(backends, table_size, config.dataplane.hash_seed));
                ++statistics_.maglev_built;
            }
            service_port.maglev = cached.table;
            live_maglev.emplace(identity, std::move(cached));

            VipKey key = VipKey::ipv4(service_port.vip, service_port.port, service_port.protocol);
            if (rte_hash_add_key_data(lookup->vip_table, &key,
                                      service_port_reference(service_port_index, incarnation)) != 0) {
                throw std::runtime_error("cannot add " + service_port.service_name + " to the VIP table");
            }
            snapshot.service_ports.mutable_entry(service_port_index) = std::move(service_port);
        }
    }

    for (auto it = memory.slot_by_endpoint.begin(); it != memory.slot_by_endpoint.end();) {
        if (live_endpoints.count(it->first) == 0) {
            memory.free_slots.push_back(it->second);
            it = memory.slot_by_endpoint.erase(it);
            ++statistics_.endpoints_removed;
        } else {
            ++it;
        }
    }
    memory.maglev_by_service_port = std::move(live_maglev);
    statistics_.service_ports = next_service_port;

    std::map<std::tuple<uint32_t, uint16_t, uint8_t>, void*> service_port_by_endpoint;
    for (uint32_t index = 0; index < next_service_port; ++index) {
        const ServicePort& service_port = snapshot.service_ports[index];
        void* reference = service_port_reference(index, incarnation);
        for (uint32_t slot : service_port.endpoint_slots) {
            auto key = std::make_tuple(slots[slot].address, slots[slot].port, service_port.protocol);
            auto [entry, inserted] = service_port_by_endpoint.emplace(key, reference);
            if (!inserted && entry->second != reference) entry->second = kAmbiguousServicePort;
        }
    }
    lookup->endpoint_table = create_hash(unique_name("endpoints_"),
                                         static_cast<uint32_t>(service_port_by_endpoint.size()), sizeof(EndpointKey));
    for (const auto& [key, reference] : service_port_by_endpoint) {
        EndpointKey endpoint_key;
        std::tie(endpoint_key.address, endpoint_key.port, endpoint_key.protocol) = key;
        if (rte_hash_add_key_data(lookup->endpoint_table, &endpoint_key, reference) != 0) {
            throw std::runtime_error("cannot add an endpoint to the endpoint table");
        }
    }
    snapshot.lookup = std::move(lookup);
}

void SnapshotBuilder::add_addresses_and_routes(const config::Config& config, Snapshot& snapshot, Memory& memory) {
    std::map<uint32_t, AddressKind> kinds;  // host order
    for (const auto& port : config.ports) {
        for (const auto& prefix : port.addresses) kinds[prefix.address] = AddressKind::Local;
    }
    for (uint32_t address : config.snat.addresses) kinds[address] = AddressKind::Snat;
    for (const auto& service : config.services) {
        if (!service.ports.empty()) kinds[service.cluster_ip] = AddressKind::Vip;
    }
    auto& lookup = const_cast<LookupTables&>(*snapshot.lookup);
    lookup.address_table = create_hash(unique_name("addr_"), static_cast<uint32_t>(kinds.size()), sizeof(uint32_t));
    for (const auto& [address, kind] : kinds) {
        uint32_t key = to_network(address);
        if (rte_hash_add_key_data(lookup.address_table, &key,
                                  reinterpret_cast<void*>(uintptr_t(kind))) != 0) {
            throw std::runtime_error("cannot add " + config::format_ipv4(address) + " to the address table");
        }
    }

    std::vector<std::vector<config::Ipv4Prefix>> port_addresses;
    for (const auto& port : config.ports) port_addresses.push_back(port.addresses);
    Memory::RouteInputs inputs{std::move(port_addresses), config.routes};
    if (!memory.route_table || !(memory.route_inputs == inputs)) {
        memory.route_table = build_route_table(config);
        memory.route_inputs = std::move(inputs);
    }
    snapshot.routes = memory.route_table;
}

}  // namespace vipgate
