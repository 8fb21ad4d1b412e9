#include "control/control_plane.h"

#include <chrono>
#include <stdexcept>

namespace vipgate {
namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

config::Config without_objects(config::Config config) {
    config.services.clear();
    config.pods.clear();
    config.endpoint_slices.clear();
    return config;
}

}  // namespace

ControlPlane::ControlPlane(config::Config settings, SnapshotBuilder& builder, Publish publish,
                           DnsPublication::ZoneFactory dns_zones)
    : settings_(without_objects(settings)),
      builder_(builder),
      publish_(std::move(publish)),
      store_(settings.cluster, gateway_addresses(settings)),
      dns_(std::move(dns_zones)) {
    store_.set_admission([this](const auto& resolved, const auto& changed) { return builder_.admits(resolved, changed); });
    const auto started = std::chrono::steady_clock::now();
    config::StoreResult result = store_.replace_all(objects_of(settings), settings.source);
    if (!result.ok()) throw std::runtime_error(config::describe_errors(result.errors));
    commit(std::move(result), elapsed_ms(started), true, started);
}

UpdateOutcome ControlPlane::apply(const config::ObjectSet& objects, const std::string& source) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    config::StoreResult result = store_.apply(objects, source);
    bool dns_changed = false;
    if (result.ok() && objects.dns) {
        dns_changed = !(*objects.dns == settings_.dns);
        result.changes.push_back({"dns", "", "settings", dns_changed ? "configured" : "unchanged"});
        settings_.dns = *objects.dns;
    }
    return commit(std::move(result), elapsed_ms(started), dns_changed, started);
}

UpdateOutcome ControlPlane::remove(const config::ObjectSet& objects, const std::string& source) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    if (objects.dns) {
        UpdateOutcome outcome;
        outcome.generation = generation_;
        outcome.result.errors.push_back({source, 0, 0, "dns",
                                         "the DNS settings cannot be deleted; apply a [dns] table without "
                                         "addresses to stop serving DNS"});
        return finish(std::move(outcome), started);
    }
    config::StoreResult result = store_.remove(objects, source);
    return commit(std::move(result), elapsed_ms(started), false, started);
}

UpdateOutcome ControlPlane::remove(const std::string& kind, const std::string& namespace_name, const std::string& name) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    config::StoreResult result = store_.remove(kind, namespace_name, name);
    return commit(std::move(result), elapsed_ms(started), false, started);
}

UpdateOutcome ControlPlane::set_drained(uint32_t address, bool drained) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    config::StoreResult result = store_.set_drained(address, drained);
    return commit(std::move(result), elapsed_ms(started), false, started);
}

UpdateOutcome ControlPlane::sync(const config::ObjectSet& upserts, const std::set<config::ObjectRef>& deletes,
                                 const std::string& source, std::vector<config::ConfigError>& rejected,
                                 size_t& shadowed) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    config::SyncResult result = store_.sync(upserts, deletes, source);
    rejected = std::move(result.rejected);
    shadowed = result.shadowed;
    return commit(std::move(result.result), elapsed_ms(started), false, started);
}

UpdateOutcome ControlPlane::reload(config::Config next, std::chrono::steady_clock::time_point requested) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    if (requested == std::chrono::steady_clock::time_point{}) requested = started;
    if (std::optional<std::string> refusal = builder_.admits_settings(next)) {
        UpdateOutcome outcome;
        outcome.generation = generation_;
        outcome.result.errors.push_back({next.source, 0, 0, "routes", *refusal});
        return finish(std::move(outcome), requested);
    }
    const config::ClusterConfig previous_cluster = store_.cluster();
    store_.set_client_ranges(next.cluster.client_ranges);
    config::StoreResult result = store_.replace_all(objects_of(next), next.source);
    if (!result.ok()) {
        store_.set_client_ranges(previous_cluster.client_ranges);
        return commit(std::move(result), elapsed_ms(started), false, requested);
    }
    const config::Config next_settings = without_objects(std::move(next));
    const bool settings_changed = !(next_settings.cluster == settings_.cluster) ||
                                  !(next_settings.conntrack == settings_.conntrack) ||
                                  !(next_settings.limits == settings_.limits) ||
                                  !(next_settings.dataplane == settings_.dataplane) ||
                                  !(next_settings.routes == settings_.routes) || !(next_settings.snat == settings_.snat) ||
                                  !(next_settings.dns == settings_.dns);
    settings_ = next_settings;
    return commit(std::move(result), elapsed_ms(started), settings_changed, requested);
}

UpdateOutcome ControlPlane::commit(config::StoreResult result, double validate_ms, bool settings_changed,
                                   std::chrono::steady_clock::time_point requested) {
    return finish(publish_changes(std::move(result), validate_ms, settings_changed), requested);
}

UpdateOutcome ControlPlane::finish(UpdateOutcome outcome, std::chrono::steady_clock::time_point requested) {
    outcome.timing.total_ms = elapsed_ms(requested);
    if (outcome.published) last_timing_ = outcome.timing;
    if (observer_) observer_(outcome);
    return outcome;
}

UpdateOutcome ControlPlane::publish_changes(config::StoreResult result, double validate_ms, bool settings_changed) {
    UpdateOutcome outcome;
    outcome.timing.validate_ms = validate_ms;
    outcome.generation = generation_;
    const bool dataplane_changed = result.ok() && (settings_changed || !result.changed_services.empty());
    outcome.result = std::move(result);
    if (!dataplane_changed) return outcome;
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<Snapshot> snapshot = builder_.prepare(settings_, store_.resolved(), outcome.result.changed_services);
    snapshot->dns = dns_.update(settings_.dns, store_.resolved(), outcome.result.changed_services);
    outcome.timing.build_ms = elapsed_ms(started);
    outcome.statistics = builder_.last_statistics();
    outcome.generation = generation_ = snapshot->generation;
    builder_.before_publish();
    const Publication publication = publish_(std::move(snapshot));
    builder_.after_publish(publication.workers_moved_on);
    outcome.timing.publish_us = publication.wait_us;
    outcome.published = true;
    return outcome;
}

void ControlPlane::set_observer(Observer observer) {
    std::lock_guard lock(mutex_);
    observer_ = std::move(observer);
}

void ControlPlane::inspect(const std::function<void(const config::ServiceStore&, const config::Config&)>& inspect) const {
    std::lock_guard lock(mutex_);
    inspect(store_, settings_);
}

void ControlPlane::locked(const std::function<void()>& task) {
    std::lock_guard lock(mutex_);
    task();
}

bool ControlPlane::try_locked(const std::function<void()>& task) {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    task();
    return true;
}

UpdateTiming ControlPlane::last_timing() const {
    std::lock_guard lock(mutex_);
    return last_timing_;
}

DnsPublicationStatistics ControlPlane::dns_statistics() const {
    std::lock_guard lock(mutex_);
    return dns_.statistics();
}

config::Config ControlPlane::running_config() const {
    std::lock_guard lock(mutex_);
    config::Config config = settings_;
    config::ObjectSet objects = store_.objects();
    config.services = std::move(objects.services);
    config.pods = std::move(objects.pods);
    config.endpoint_slices = std::move(objects.endpoint_slices);
    config.cluster = store_.cluster();
    return config;
}

}  // namespace vipgate
