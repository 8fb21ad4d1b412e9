// SnapshotBuilder, service ports: an update's two phases per service (retire what left, then
// install or refresh every port) and each port's endpoints and Maglev table.
//
// Design note: a service port has an IPv4 and an IPv6 family, installed apart (each its own id,
// VIP key and slots) but in the same steps. Ipv4Family and Ipv6Family name what differs (the
// identity, the address types, which map holds the slots, whether the endpoints enter the
// endpoint hash); the steps are written once as templates over them, as dataplane/fragment_path.h
// does for the packet path. Everything is resolved at compile time: the same code as two copies.
#include "control/snapshot_builder.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>

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

std::string port_identity(const config::ServicePortConfig& port) {
    return std::string(config::protocol_name(port.protocol)) + "|" + std::to_string(port.port);
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

// IPv4: addresses are host order in the builder's maps and network order in the tables. The
// endpoints enter the endpoint hash (the DNAT-only stateless reply path finds their port by it).
struct SnapshotBuilder::Ipv4Family {
    using Endpoint = config::ResolvedEndpoint;
    using Slots = decltype(InstalledPort::slots);

    static constexpr bool kInEndpointHash = true;

    static std::string identity(const config::ServicePortConfig& port) { return port_identity(port); }
    static std::string label(const config::ResolvedService& service, const config::ServicePortConfig& port) {
        return service_port_label(service.namespace_name, service.name, port.name, port.port);
    }
    static bool serves(const config::ResolvedService& service) { return service.cluster_ip != 0; }
    static const std::vector<Endpoint>& endpoints(const config::ResolvedPort& port) { return port.endpoints; }
    // (address, target port) -> slot, of an InstalledPort (const or not).
    template <class Port>
    static auto& slots(Port& port) {
        return port.slots;
    }

    static void set_vip(InstalledPort& out, const config::ResolvedService& service) {
        out.vip = to_network(service.cluster_ip);
    }
    static bool same_vip(const InstalledPort& port, const config::ResolvedService& service) {
        return port.vip == to_network(service.cluster_ip);
    }
    static VipKey vip_key(const InstalledPort& port, uint16_t port_number, uint8_t protocol) {
        return VipKey::ipv4(port.vip, port_number, protocol);
    }
    static void copy_vip(ServicePort& entry, const InstalledPort& port) { entry.vip = port.vip; }

    static void set_address(EndpointSlot& entry, uint32_t address) { entry.address = to_network(address); }
    static uint64_t backend_identity(uint32_t address, uint16_t port) { return (uint64_t(address) << 16) | port; }
    static EndpointKey endpoint_key(const Slots::key_type& endpoint, uint8_t protocol) {
        return EndpointKey{to_network(endpoint.first), to_network16(endpoint.second), protocol, 0};
    }
};

// IPv6 (identity "PROTO|port|IPv6", statistics "…/IPv6"): addresses are network order
// throughout. Its endpoints take slots from the same table as IPv4 ones (per-endpoint counters,
// connect latencies and statistics need nothing new); the DNAT-only stateless reply path (the
// endpoint hash) is IPv4 only, so they are not entered there.
struct SnapshotBuilder::Ipv6Family {
    using Endpoint = config::ResolvedEndpoint6;
    using Slots = decltype(InstalledPort::slots6);

    static constexpr bool kInEndpointHash = false;

    static std::string identity(const config::ServicePortConfig& port) { return port_identity(port) + "|IPv6"; }
    static std::string label(const config::ResolvedService& service, const config::ServicePortConfig& port) {
        return service_port_label(service.namespace_name, service.name, port.name, port.port) + "/IPv6";
    }
    static bool serves(const config::ResolvedService& service) { return service.serves_ipv6(); }
    static const std::vector<Endpoint>& endpoints(const config::ResolvedPort& port) { return port.endpoints6; }
    template <class Port>
    static auto& slots(Port& port) {
        return port.slots6;
    }

    static void set_vip(InstalledPort& out, const config::ResolvedService& service) {
        out.ipv6 = true;
        out.vip6 = service.cluster_ip6;
    }
    static bool same_vip(const InstalledPort& port, const config::ResolvedService& service) {
        return service.cluster_ip6 == port.vip6;
    }
    static VipKey vip_key(const InstalledPort& port, uint16_t port_number, uint8_t protocol) {
        return VipKey::ipv6(port.vip6.data(), port_number, protocol);
    }
    static void copy_vip(ServicePort& entry, const InstalledPort& port) {
        entry.ipv6 = true;
        std::memcpy(entry.vip6, port.vip6.data(), sizeof(entry.vip6));
    }

    static void set_address(EndpointSlot& entry, const config::Ipv6Address& address) {
        entry.ipv6 = true;
        std::memcpy(entry.address6, address.data(), sizeof(entry.address6));
    }
    // Two CRCs of the address and the port. The permutation derives from it; two endpoints of
    // one port colliding would need both 32-bit CRCs to agree.
    static uint64_t backend_identity(const config::Ipv6Address& address, uint16_t port) {
        const uint32_t high = rte_hash_crc(address.data(), address.size(), 0x6a09e667);
        const uint32_t low = rte_hash_crc(address.data(), address.size(), 0xbb67ae85);
        return (uint64_t{high} << 32) | (uint64_t{low & 0xFFFF} << 16) | port;
    }
};

// Phase one of an update: free what leaves (ports, endpoints) before anything new is allocated,
// so an update that fits the tables once applied never needs room for both at once.
void SnapshotBuilder::retire_removed(const std::string& key, const config::ResolvedService* service) {
    auto installed = services_.find(key);
    if (installed == services_.end()) return;
    std::vector<InstalledPort>& ports = installed->second.ports;
    for (InstalledPort& port : ports) {
        if (port.ipv6) {
            retire_port<Ipv6Family>(port, service);
        } else {
            retire_port<Ipv4Family>(port, service);
        }
    }
    std::erase_if(ports, [](const InstalledPort& port) { return port.identity.empty(); });
    if (service == nullptr) services_.erase(installed);
}

// A port is released (its identity cleared) when the service lost this family's cluster IP, that
// IP changed, or the port is gone; else its endpoints that left free their slots.
template <class Family>
void SnapshotBuilder::retire_port(InstalledPort& port, const config::ResolvedService* service) {
    const config::ResolvedPort* next = nullptr;
    if (service != nullptr && Family::serves(*service) && Family::same_vip(port, *service)) {
        for (const config::ResolvedPort& candidate : service->ports) {
            if (Family::identity(candidate.port) == port.identity) next = &candidate;
        }
    }
    if (next == nullptr) {
        release_port<Family>(port);
        port.identity.clear();
        return;
    }
    std::set<typename Family::Slots::key_type> wanted;
    for (const typename Family::Endpoint& endpoint : Family::endpoints(*next)) {
        wanted.emplace(endpoint.address, endpoint.port);
    }
    auto& slots = Family::slots(port);
    for (auto it = slots.begin(); it != slots.end();) {
        if (wanted.count(it->first)) {
            ++it;
            continue;
        }
        if constexpr (Family::kInEndpointHash) {
            reference_endpoint(Family::endpoint_key(it->first, port.protocol), port.id, false);
        }
        release_slot(it->second);
        it = slots.erase(it);
    }
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
        if (Ipv4Family::serves(service)) {
            next.ports.push_back(
                install_port<Ipv4Family>(service, port, previous_of(Ipv4Family::identity(port.port)), settings));
        }
        if (Ipv6Family::serves(service)) {
            next.ports.push_back(
                install_port<Ipv6Family>(service, port, previous_of(Ipv6Family::identity(port.port)), settings));
        }
    }
    services_[key] = std::move(next);
}

// One family of a service port, keyed by that family's cluster IP: its id (kept from
// `previous`), its endpoints' slots, its Maglev table and its staged ServicePort entry.
template <class Family>
SnapshotBuilder::InstalledPort SnapshotBuilder::install_port(const config::ResolvedService& service,
                                                             const config::ResolvedPort& port, InstalledPort* previous,
                                                             const config::Config& settings) {
    InstalledPort out;
    out.identity = Family::identity(port.port);
    Family::set_vip(out, service);
    out.protocol = protocol_number(port.port.protocol);
    out.key = Family::vip_key(out, to_network16(port.port.port), out.protocol);
    claim_port_id(out, previous);

    ServicePort entry;
    entry.incarnation = id_incarnation_[out.id];
    Family::copy_vip(entry, out);
    entry.port = to_network16(port.port.port);
    entry.protocol = out.protocol;
    entry.affinity_timeout_ms =
        service.session_affinity == config::SessionAffinity::ClientIp ? service.affinity_timeout_s * 1000 : 0;
    entry.service_name = Family::label(service, port.port);

    std::vector<MaglevBackend> backends = install_endpoints<Family>(port, previous, out, entry.endpoint_slots);
    out.maglev = maglev_for(std::move(backends), previous, settings.dataplane);
    entry.maglev = out.maglev.table;
    stage_service_port(out.id, std::move(entry));
    return out;
}

// Gives every endpoint of `port` its slot (kept from `previous` when the endpoint was there
// before), stages slot entries that changed, and returns the Maglev backends: the ready ones,
// or when none is ready the serving terminating ones (KEP-1669), sorted by identity.
template <class Family>
std::vector<MaglevBackend> SnapshotBuilder::install_endpoints(const config::ResolvedPort& port, InstalledPort* previous,
                                                              InstalledPort& out,
                                                              std::vector<uint32_t>& endpoint_slots) {
    const std::vector<typename Family::Endpoint>& endpoints = Family::endpoints(port);
    BackendChoice backends(endpoints.size());
    endpoint_slots.reserve(endpoint_slots.size() + endpoints.size());
    for (const typename Family::Endpoint& endpoint : endpoints) {
        const auto identity = std::make_pair(endpoint.address, endpoint.port);
        uint32_t slot;
        if (auto kept = previous != nullptr ? Family::slots(*previous).extract(identity)
                                            : typename Family::Slots::node_type{}) {
            slot = kept.mapped();
        } else {
            slot = allocate_slot();
            if constexpr (Family::kInEndpointHash) {
                reference_endpoint(Family::endpoint_key(identity, out.protocol), out.id, true);
            }
        }
        Family::slots(out).emplace(identity, slot);
        EndpointSlot slot_entry;
        Family::set_address(slot_entry, endpoint.address);
        slot_entry.port = to_network16(endpoint.port);
        slot_entry.ready = endpoint.ready;
        slot_entry.terminating = endpoint.terminating;
        slot_entry.generation = slot_generation_[slot];
        slot_entry.weight = endpoint.weight;
        slot_entry.service_port = out.id;
        stage_slot(slot, slot_entry);
        endpoint_slots.push_back(slot);
        backends.add({Family::backend_identity(endpoint.address, endpoint.port), slot, endpoint.weight}, endpoint.ready,
                     endpoint.terminating);
    }
    return backends.take();
}

// Frees the port's id, VIP key and slots; the VIP address and endpoint keys lose a user.
template <class Family>
void SnapshotBuilder::release_port(const InstalledPort& port) {
    vip_edits_.deletes.push_back(port.key);
    if (!port.ipv6) reference_vip_address(port.vip, false);
    for (const auto& [endpoint, slot] : Family::slots(port)) {
        if constexpr (Family::kInEndpointHash)
            reference_endpoint(Family::endpoint_key(endpoint, port.protocol), port.id, false);
        release_slot(slot);
    }
    service_ports_.mutable_entry(port.id) = ServicePort{};
    free_ids_.push_back(port.id);
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

}  // namespace vipgate
