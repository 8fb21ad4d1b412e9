// SnapshotBuilder, an update as a whole: the capacity check, the order of its steps (settings,
// phase one and two per service, Maglev tables, hash edits) and the snapshot they make. The steps
// are in snapshot_builder_ports.cpp (service ports), snapshot_builder_slots.cpp (ids and slots),
// snapshot_builder_hashes.cpp (the shared lookup hashes) and snapshot_builder_settings.cpp.
#include "control/snapshot_builder.h"

#include <set>
#include <stdexcept>

namespace vipgate {

SnapshotBuilder::SnapshotBuilder(uint16_t worker_count, std::vector<PortIdentity> ports, uint32_t max_endpoint_slots,
                                 uint32_t max_service_ports)
    : worker_count_(worker_count),
      max_endpoint_slots_(max_endpoint_slots),
      max_service_ports_(max_service_ports),
      ports_(std::move(ports)) {}

SnapshotBuilder::~SnapshotBuilder() = default;

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
    stage_reference_edits();

    auto snapshot = std::make_unique<Snapshot>();
    snapshot->generation = ++snapshot_generation_;
    stage_settings(settings, *snapshot);
    snapshot->service_ports = service_ports_;
    snapshot->endpoints = endpoints_;
    snapshot->lookup = lookup_;
    statistics_.service_ports = static_cast<uint32_t>(id_incarnation_.size() - free_ids_.size());
    return snapshot;
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
