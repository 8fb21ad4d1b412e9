#include "control/control_plane.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <spdlog/spdlog.h>

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
      store_(settings.cluster, gateway_addresses(settings), gateway_addresses6(settings)),
      dns_(std::move(dns_zones)) {
    store_.set_admission(
        [this](const auto& resolved, const auto& changed) { return builder_.admits(resolved, changed); });
    const auto started = std::chrono::steady_clock::now();
    config::StoreResult result = store_.replace_all(objects_of(settings), settings.source);
    if (!result.ok()) throw std::runtime_error(config::describe_errors(result.errors));
    finish(publish_changes(std::move(result), elapsed_ms(started), true), started);
}

UpdateOutcome ControlPlane::update(std::chrono::steady_clock::time_point requested,
                                   const std::function<UpdateOutcome()>& change) {
    UpdateOutcome outcome;
    {
        std::lock_guard lock(mutex_);
        outcome = change();
    }
    return finish(std::move(outcome), requested);
}

UpdateOutcome ControlPlane::apply(config::ObjectSet objects, const std::string& source) {
    const auto requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        const auto started = std::chrono::steady_clock::now();
        const std::optional<config::DnsConfig> dns = objects.dns;
        config::StoreResult result = store_.apply(std::move(objects), source);
        bool dns_changed = false;
        if (result.ok() && dns) {
            dns_changed = !(*dns == settings_.dns);
            result.changes.push_back({"dns", "", "settings", dns_changed ? "configured" : "unchanged"});
            settings_.dns = *dns;
        }
        return publish_changes(std::move(result), elapsed_ms(started), dns_changed);
    });
}

UpdateOutcome ControlPlane::remove(const config::ObjectSet& objects, const std::string& source) {
    const auto requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        if (objects.dns) {
            UpdateOutcome outcome;
            outcome.generation = generation_;
            outcome.result.errors.push_back({source, 0, 0, "dns",
                                             "the DNS settings cannot be deleted; apply a [dns] table without "
                                             "addresses to stop serving DNS"});
            return outcome;
        }
        const auto started = std::chrono::steady_clock::now();
        config::StoreResult result = store_.remove(objects, source);
        return publish_changes(std::move(result), elapsed_ms(started), false);
    });
}

UpdateOutcome ControlPlane::remove(const std::string& kind, const std::string& namespace_name,
                                   const std::string& name) {
    const auto requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        const auto started = std::chrono::steady_clock::now();
        config::StoreResult result = store_.remove(kind, namespace_name, name);
        return publish_changes(std::move(result), elapsed_ms(started), false);
    });
}

UpdateOutcome ControlPlane::set_drained(uint32_t address, bool drained) {
    const auto requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        const auto started = std::chrono::steady_clock::now();
        config::StoreResult result = store_.set_drained(address, drained);
        return publish_changes(std::move(result), elapsed_ms(started), false);
    });
}

UpdateOutcome ControlPlane::sync(const config::ObjectSet& upserts, const std::set<config::ObjectRef>& deletes,
                                 const std::string& source, std::vector<config::ConfigError>& rejected,
                                 size_t& shadowed) {
    const auto requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        const auto started = std::chrono::steady_clock::now();
        config::SyncResult result = store_.sync(upserts, deletes, source);
        rejected = std::move(result.rejected);
        shadowed = result.shadowed;
        return publish_changes(std::move(result.result), elapsed_ms(started), false);
    });
}

UpdateOutcome ControlPlane::reload(config::Config next, std::chrono::steady_clock::time_point requested) {
    if (requested == std::chrono::steady_clock::time_point{}) requested = std::chrono::steady_clock::now();
    return update(requested, [&] {
        const auto started = std::chrono::steady_clock::now();
        if (std::optional<std::string> refusal = builder_.admits_settings(next)) {
            UpdateOutcome outcome;
            outcome.generation = generation_;
            outcome.result.errors.push_back({next.source, 0, 0, "routes", *refusal});
            return outcome;
        }
        const config::ClusterConfig previous_cluster = store_.cluster();
        store_.set_client_ranges(next.cluster);
        config::StoreResult result = store_.replace_all(objects_of(next), next.source);
        if (!result.ok()) {
            store_.set_client_ranges(previous_cluster);
            return publish_changes(std::move(result), elapsed_ms(started), false);
        }
        const config::Config next_settings = without_objects(std::move(next));
        const bool settings_changed =
            !(next_settings.cluster == settings_.cluster) || !(next_settings.conntrack == settings_.conntrack) ||
            !(next_settings.limits == settings_.limits) || !(next_settings.dataplane == settings_.dataplane) ||
            !(next_settings.routes == settings_.routes) || !(next_settings.snat == settings_.snat) ||
            !(next_settings.dns == settings_.dns);
        settings_ = next_settings;
        return publish_changes(std::move(result), elapsed_ms(started), settings_changed);
    });
}

std::optional<UpdateOutcome> ControlPlane::try_set_default_route6(const std::optional<DefaultRoute6>& route) {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return std::nullopt;
    const auto started = std::chrono::steady_clock::now();
    const std::optional<DefaultRoute6> previous = builder_.default_route6();
    builder_.set_default_route6(route);
    UpdateOutcome outcome;
    try {
        outcome = publish_changes(config::StoreResult{}, 0, true);
    } catch (const std::exception& error) {  // prepare() changed nothing: the next call tries again
        builder_.set_default_route6(previous);
        outcome.generation = generation_;
        outcome.result.errors.push_back({"router advertisement", 0, 0, "routes", error.what()});
    }
    outcome.result.changes.push_back({"route", "", "::/0", route ? "learnt" : "withdrawn"});
    outcome.timing.total_ms = elapsed_ms(started);
    if (outcome.published) last_timing_ = outcome.timing;
    if (observer_) observer_(outcome);
    return outcome;
}

UpdateOutcome ControlPlane::finish(UpdateOutcome outcome, std::chrono::steady_clock::time_point requested) {
    if (outcome.published && wait_in_use_) outcome.timing.publish_us = wait_in_use_(outcome.generation).wait_us;
    outcome.timing.total_ms = elapsed_ms(requested);
    std::lock_guard lock(mutex_);
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
    if (outcome.result.ok() && store_.ipv6_cluster_ips() > 0 && !ports_have_ipv6()) {
        spdlog::info(
            "ipv6: {} IPv6 cluster IPs configured, not served: no port has an IPv6 address (the dataplane "
            "serves the IPv4 family of dual-stack services; IPv6 single-stack services get no VIP)",
            store_.ipv6_cluster_ips());
    }
    if (!dataplane_changed) return outcome;
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<Snapshot> snapshot =
        builder_.prepare(settings_, store_.resolved(), outcome.result.changed_services);
    snapshot->dns = dns_.update(settings_.dns, store_.resolved(), outcome.result.changed_services);
    outcome.timing.build_ms = elapsed_ms(started);
    outcome.statistics = builder_.last_statistics();
    outcome.generation = generation_ = snapshot->generation;
    builder_.before_publish();
    const Publication publication = publish_(std::move(snapshot));
    builder_.after_publish();
    outcome.timing.publish_us = publication.wait_us;
    outcome.published = true;
    return outcome;
}

void ControlPlane::set_observer(Observer observer) {
    std::lock_guard lock(mutex_);
    observer_ = std::move(observer);
}

void ControlPlane::set_in_use_wait(WaitInUse wait) {
    std::lock_guard lock(mutex_);
    wait_in_use_ = std::move(wait);
}

void ControlPlane::inspect(
    const std::function<void(const config::ServiceStore&, const config::Config&)>& inspect) const {
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

size_t ControlPlane::ipv6_cluster_ips_not_served() const {
    std::lock_guard lock(mutex_);
    return ports_have_ipv6() ? 0 : store_.ipv6_cluster_ips();
}

bool ControlPlane::ports_have_ipv6() const {
    return std::any_of(settings_.ports.begin(), settings_.ports.end(),
                       [](const config::PortConfig& port) { return !port.addresses6.empty(); });
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
