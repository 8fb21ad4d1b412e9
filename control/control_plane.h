// ControlPlane: the one path by which any change (config reload, API apply/delete/drain) reaches
// the workers: store transaction -> snapshot of the changed services -> publication.
//
// Design note: the control thread (reloads, ARP, reclamation) and the API thread both change
// state, so every entry point takes one mutex; workers never touch it. A change is validated
// whole by the store (which rolls back if the builder cannot fit it), then only the services
// whose resolution changed are rebuilt, and the timings of each step are kept for the logs, the
// API, the benchmark and the metrics (an observer sees every update's outcome).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/objects.h"
#include "config/service_store.h"
#include "control/dns_publication.h"
#include "control/dns_records.h"
#include "control/snapshot_builder.h"

namespace vipgate {

struct Publication {
    uint64_t wait_us = 0;  // from the publish to every worker using it (or the wait giving up)
};

struct UpdateTiming {
    double validate_ms = 0;   // store transaction: validation, allocation, resolution
    double build_ms = 0;      // snapshot of the changed services
    uint64_t publish_us = 0;  // until every worker uses it
    double total_ms = 0;      // from the request to every worker using it (or to the refusal)
};

struct UpdateOutcome {
    config::StoreResult result;  // errors: nothing changed
    uint64_t generation = 0;     // the generation in use after the update
    bool published = false;      // false when nothing the dataplane sees changed
    UpdateTiming timing;
    BuildStatistics statistics;
};

// Design note: changes are serialized (one lock), but waiting for the workers to use a
// published snapshot is not part of the critical section. The wait takes milliseconds (a
// worker picks the new snapshot up at its next poll loop, later when its CPU is shared), while
// validating, building and publishing one small change takes tens of microseconds: waiting
// under the lock capped the API at about 150 changes a second (the API storm in the benchmark
// suite), waiting outside it lets the next change be built and published meanwhile. Every
// answer still comes only once its own generation (or a later one) is in use.
class ControlPlane {
public:
    using Publish = std::function<Publication(std::unique_ptr<Snapshot>)>;
    // Blocks until every worker uses `generation` or a later one (or gives up); called without
    // the lock. Unset: no waiting (tests without workers).
    using WaitInUse = std::function<Publication(uint64_t generation)>;
    using Observer = std::function<void(const UpdateOutcome&)>;

    // `settings` is the running configuration (its objects are loaded into the store).
    // `dns_zones` builds the DNS zone each snapshot carries (tests pass a fake; an empty one
    // makes snapshots carry none, though DNS addresses and upstreams still reach the tables).
    // Throws std::runtime_error when the initial objects are invalid or do not fit.
    ControlPlane(config::Config settings, SnapshotBuilder& builder, Publish publish,
                 DnsPublication::ZoneFactory dns_zones = build_dns_zone);

    // Objects with a [dns] table also replace the DNS settings (reported as kind "dns"). By
    // value: a request moved in moves into the store (ServiceStore::apply).
    UpdateOutcome apply(config::ObjectSet objects, const std::string& source);
    UpdateOutcome remove(const config::ObjectSet& objects, const std::string& source);
    UpdateOutcome remove(const std::string& kind, const std::string& namespace_name, const std::string& name);
    UpdateOutcome set_drained(uint32_t address, bool drained);
    // A Kubernetes source's changes (ServiceStore::sync): every valid object is taken and the
    // result published once; `rejected` and `shadowed` say what was not.
    UpdateOutcome sync(const config::ObjectSet& upserts, const std::set<config::ObjectRef>& deletes,
                       const std::string& source, std::vector<config::ConfigError>& rejected, size_t& shadowed);
    // A reloaded config file: settings and objects replace the running ones (restart-only
    // differences must have been refused by the caller). `requested`: when the reload was asked
    // for (reading the file counts in the update's total time); default: now.
    UpdateOutcome reload(config::Config next, std::chrono::steady_clock::time_point requested = {});
    // The control loop's: a new IPv6 default route learnt from router advertisements (none:
    // withdrawn), built and published as any change. Never waits: nothing (nullopt) when an
    // update holds the lock (call again later), and the workers' pick-up is not awaited.
    std::optional<UpdateOutcome> try_set_default_route6(const std::optional<DefaultRoute6>& route);

    // Called under the lock at the end of every update, whatever its result (the metrics).
    // Set before updates can arrive (before the API starts).
    void set_observer(Observer observer);
    // Set before updates can arrive; the publication's wait_us is then the wait's.
    void set_in_use_wait(WaitInUse wait);

    // Runs `inspect` under the lock (reads of the store, the settings, the statistics).
    void inspect(const std::function<void(const config::ServiceStore&, const config::Config&)>& inspect) const;
    // Runs `task` under the lock (the control loop's publisher reclamation).
    void locked(const std::function<void()>& task);
    // Runs `task` only if the lock is free at once (the control loop, which must not wait for an
    // update in progress); false when it did not run.
    bool try_locked(const std::function<void()>& task);
    UpdateTiming last_timing() const;
    DnsPublicationStatistics dns_statistics() const;
    // The running state as a config file's model: settings plus every object.
    config::Config running_config() const;
    // IPv6 cluster IPs configured and not served: every one while no port has an IPv6 address
    // (then no worker has an IPv6 connection table nor a prefix to reach endpoints), else 0.
    size_t ipv6_cluster_ips_not_served() const;

private:
    // Runs `change` under the lock, then finish() without it.
    UpdateOutcome update(std::chrono::steady_clock::time_point requested, const std::function<UpdateOutcome()>& change);
    UpdateOutcome publish_changes(config::StoreResult result, double validate_ms, bool settings_changed);
    // Waits for the workers (without the lock), then records the outcome (under it).
    UpdateOutcome finish(UpdateOutcome outcome, std::chrono::steady_clock::time_point requested);

    mutable std::mutex mutex_;
    config::Config settings_;      // objects live in store_
    bool ports_have_ipv6() const;  // under mutex_
    SnapshotBuilder& builder_;
    Publish publish_;
    config::ServiceStore store_;
    DnsPublication dns_;
    uint64_t generation_ = 0;
    UpdateTiming last_timing_;
    Observer observer_;
    WaitInUse wait_in_use_;
};

}  // namespace vipgate
