// ServiceStore: the running set of services, pods and endpoint slices, and what each service
// resolves to (its ports and their endpoints).
//
// Design note: every change (a file reload, an API apply/delete/drain) is one transaction:
// it is validated whole against the state it would produce, and either commits completely or
// leaves the store untouched with a precise error per problem. The store keeps indexes so a
// change costs what it touches, not what the cluster holds: pods by (namespace, label), services
// by the first pair of their selector, endpoint slices by service, pods by address, services by
// ClusterIP. A transaction re-resolves only the services it can affect (the services it names,
// the services whose selector matched a changed pod before or after, the services of changed
// slices) and reports the ones whose resolution actually changed, so the snapshot builder
// rebuilds only their Maglev tables.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "config/flat_hash_map.h"
#include "config/ip_allocator.h"
#include "config/keyed_table.h"
#include "config/objects.h"
#include "config/pointer_set.h"

namespace vipgate::config {

struct ResolvedEndpoint {
    uint32_t address = 0;  // host order
    uint16_t port = 0;     // host order, the resolved target port
    bool ready = true;     // serving
    bool terminating = false;
    uint32_t weight = 1;
    std::string pod;       // the pod it comes from, when selected
    std::string hostname;  // headless services only: the endpoint's DNS name under the service
    bool operator==(const ResolvedEndpoint&) const = default;
};

// An endpoint of the IPv6 family of a service port: a selected pod's IPv6 address, an IPv6
// entry of the service's own endpoints, or an endpoint of an IPv6 EndpointSlice.
struct ResolvedEndpoint6 {
    Ipv6Address address{};  // network order
    uint16_t port = 0;      // host order, the resolved target port
    bool ready = true;
    bool terminating = false;
    uint32_t weight = 1;
    std::string pod;
    std::string hostname;  // headless services only, as ResolvedEndpoint's
    bool operator==(const ResolvedEndpoint6&) const = default;
};

struct ResolvedPort {
    ServicePortConfig port;
    std::vector<ResolvedEndpoint> endpoints;  // sorted by (address, port)
    // The IPv6 family's endpoints, sorted by (address, port); only for services with an IPv6
    // cluster IP, and headless ones (service_store_families.cpp).
    std::vector<ResolvedEndpoint6> endpoints6;
    bool operator==(const ResolvedPort&) const = default;
};

// A service as the dataplane and DNS see it. Only services with a cluster IP (serves_vip())
// reach the dataplane; headless and ExternalName services are resolved for DNS alone.
struct ResolvedService {
    std::string namespace_name;
    std::string name;
    uint32_t cluster_ip = 0;            // host order; 0 when headless, ExternalName or IPv6 single-stack
    Ipv6Address cluster_ip6{};          // zero: none
    std::vector<IpFamily> ip_families;  // primary first
    bool headless = false;
    std::string external_name;  // set: an ExternalName service (no ports, no endpoints)
    bool publish_not_ready_addresses = false;
    // Headless only: every endpoint address once (port 0; ready when any of its entries is),
    // whether or not it serves a port: what the service's name resolves to.
    std::vector<ResolvedEndpoint> addresses;
    std::vector<ResolvedEndpoint6> addresses6;  // the same for IPv6 endpoint addresses (AAAA)
    SessionAffinity session_affinity = SessionAffinity::None;
    uint32_t affinity_timeout_s = kDefaultAffinityTimeoutS;
    std::vector<ResolvedPort> ports;
    // Either family: the dataplane serves each cluster IP the service has.
    bool serves_vip() const noexcept {
        return !headless && external_name.empty() && (cluster_ip != 0 || serves_ipv6());
    }
    bool serves_ipv6() const noexcept { return !headless && external_name.empty() && cluster_ip6 != Ipv6Address{}; }
    bool operator==(const ResolvedService&) const = default;
};

// `kind` and `action` name one of a fixed set (string literals, never freed): a bulk apply
// reports 110k changes, and two strings less each is a tenth of its change list.
struct ObjectChange {
    std::string_view kind;  // "service", "pod", "endpointslice" (the control plane adds "dns", "route")
    std::string namespace_name;
    std::string name;
    std::string_view action;  // "created", "configured", "unchanged", "deleted" ("drained", "learnt", ...)
};

struct StoreResult {
    std::vector<ConfigError> errors;  // not empty: nothing changed
    std::vector<ObjectChange> changes;
    std::vector<std::string> changed_services;  // keys ("namespace/name") whose resolution changed
    bool ok() const noexcept { return errors.empty(); }
};

// Where an object came from. Local objects (the config file, vipctl) take precedence over the
// cluster's: a Kubernetes sync never replaces or deletes them, and a local change may take
// over an object the cluster had put there (README, "Following a Kubernetes cluster").
enum class Origin { File, Api, Kubernetes };
const char* origin_name(Origin origin);  // "file", "vipctl", "kubernetes"

// A sync from a source that follows a cluster: every valid object is taken even when others
// are not (a watcher cannot refuse what the cluster holds; it reports it).
struct SyncResult {
    StoreResult result;                 // errors always empty; changes of what was taken
    std::vector<ConfigError> rejected;  // objects the store refused, each with its reason
    size_t shadowed = 0;                // objects skipped because a local object has their name
};

enum class ObjectKind : uint8_t { Service, Pod, EndpointSlice };
// "service", "pod", "endpointslice": the API's and ObjectChange's names.
std::string_view kind_name(ObjectKind kind);
std::optional<ObjectKind> kind_named(std::string_view name);

// (kind, "namespace/name")
using ObjectRef = std::pair<ObjectKind, std::string>;

std::string object_key(std::string_view namespace_name, std::string_view name);
bool selector_matches(const Labels& selector, const Labels& labels);

class ServiceStore {
public:
    // Each object's entry carries its origin (KeyedTable's Meta).
    using ServiceTable = KeyedTable<ServiceConfig, Origin>;
    using PodTable = KeyedTable<PodConfig, Origin>;

    // A last check on a transaction's outcome by whoever consumes it (the snapshot builder's
    // capacity): a message refuses the transaction and the store rolls it back.
    using Admission = std::function<std::optional<std::string>(const std::map<std::string, ResolvedService>& resolved,
                                                               const std::vector<std::string>& changed)>;

    // `reserved` and `reserved6` are addresses a ClusterIP may never take (the gateway's own and
    // SNAT addresses of each family).
    ServiceStore(ClusterConfig cluster, std::vector<uint32_t> reserved, std::vector<Ipv6Address> reserved6 = {});
    // Not copyable: its indexes point at its own map entries. Moving keeps the entries in place.
    ServiceStore(const ServiceStore&) = delete;
    ServiceStore& operator=(const ServiceStore&) = delete;
    ServiceStore(ServiceStore&&) = default;
    ServiceStore& operator=(ServiceStore&&) = default;
    // Changes that carry a [dns] table (ObjectSet::dns) also replace the DNS addresses, which no
    // ClusterIP may take either (an apply without one keeps them; replace_all without one clears
    // them): the transaction refuses a DNS address that is a gateway address or a service's.
    void set_admission(Admission admission) { admission_ = std::move(admission); }
    // Client ranges may change while running; they do not affect any object.
    void set_client_ranges(const ClusterConfig& cluster) {
        cluster_.client_ranges = cluster.client_ranges;
        cluster_.client_ranges6 = cluster.client_ranges6;
    }

    // Create or update every object in `objects`; idempotent. They become `origin`'s. By value:
    // a caller that moves its request in (the API, a bulk apply) has its objects moved into the
    // store rather than copied.
    StoreResult apply(ObjectSet objects, const std::string& source, Origin origin = Origin::Api);
    // Delete the named objects; each must exist.
    StoreResult remove(const ObjectSet& objects, const std::string& source);
    StoreResult remove(std::string_view kind, std::string_view namespace_name, std::string_view name);
    // Weight 0 (drained) or 1 for every pod and endpoint with `address`.
    StoreResult set_drained(uint32_t address, bool drained);
    // Make the store hold exactly `objects` plus the Kubernetes source's objects (a config file
    // reload): every other object goes.
    StoreResult replace_all(ObjectSet objects, const std::string& source);
    // A Kubernetes source's changes: upserts and deletes of its own objects, in one transaction
    // when all are valid, else object by object (the refused ones are reported). Names held by
    // a local object are skipped (counted in `shadowed`); a delete only removes the source's own.
    SyncResult sync(const ObjectSet& upserts, const std::set<ObjectRef>& deletes, const std::string& source);
    // The keys of the endpoint slices of a service (none: empty).
    const std::set<std::string>& slices_of(const std::string& service_key) const;
    // Where the object came from; nullopt: no such object.
    std::optional<Origin> origin(ObjectKind kind, const std::string& key) const;

    const ClusterConfig& cluster() const noexcept { return cluster_; }
    // Services and pods by "namespace/name", hashed: sorted() lists them in key order
    // (config/keyed_table.h).
    const ServiceTable& services() const noexcept { return services_; }
    const PodTable& pods() const noexcept { return pods_; }
    const std::map<std::string, EndpointSliceConfig>& endpoint_slices() const noexcept { return slices_; }
    const std::map<std::string, ResolvedService>& resolved() const noexcept { return resolved_; }
    const ClusterIpAllocator& allocator() const noexcept { return allocator_; }
    const ClusterIp6Allocator& allocator6() const noexcept { return allocator6_; }
    // Services with an IPv6 cluster IP: stored and shown, not served by the dataplane yet.
    size_t ipv6_cluster_ips() const noexcept { return service_by_ip6_.size(); }
    const std::set<uint32_t>& dns_addresses() const noexcept { return dns_addresses_; }
    // Pods the service's selector matches (with or without an address); nullopt: no selector.
    std::optional<size_t> matched_pods(const std::string& service_key) const;
    // Everything, in key order, with allocated ClusterIPs written out: dumps reproduce the state.
    ObjectSet objects() const;

private:
    using PodEntry = PodTable::Entry;
    using ServiceEntry = ServiceTable::Entry;
    // A transaction's errors, all with the request's source.
    struct Failures {
        const std::string& source;
        std::vector<ConfigError>& errors;
        void operator()(std::string field, std::string message) const;
    };
    // The upserted services with their ClusterIPs settled (kept, given or allocated), and the
    // allocator as it will be if the transaction commits.
    struct StagedServices {
        std::vector<ServiceConfig> services;
        std::map<std::string, size_t> index;  // key -> position in `services`
        ClusterIpAllocator allocator;
        ClusterIp6Allocator allocator6;
    };

    // What a transaction touched, to put back: the previous version of what existed, and the
    // keys of what it created (a plain list: a bulk apply into an empty store creates 100k
    // objects, and an ordered map of 100k "absent" entries is a tree walk and a node each). The
    // list points at the keys in the created entries rather than copying them: a created entry
    // stays in place until the transaction ends (a request names an object once). A key is
    // touched at most twice (deleted, then upserted), so a key is created only if it was not
    // saved as existing. Roll back removes the created keys first, then restores the saved versions.
    template <typename Object>
    struct Saved {
        std::map<std::string, Object> existed;
        std::vector<const std::string*> created;
        // Before `key` changes in `current`.
        void remember(const std::map<std::string, Object>& current, const std::string& key) {
            auto found = current.find(key);
            remember(key, found == current.end() ? nullptr : &found->second);
        }
        // Before `key` changes; `current` is its object, null when it does not exist yet (then
        // created() follows the insertion).
        void remember(const std::string& key, const Object* current) {
            if (current && !existed.count(key)) existed.emplace(key, *current);
        }
        // After an insertion; `node_key` is the key in the new entry.
        void created_entry(const std::string& node_key) {
            if (!existed.count(node_key)) created.push_back(&node_key);
        }
    };
    struct Undo {
        // The origins of the services and pods the transaction deleted (their entries went with them).
        std::vector<std::pair<ObjectRef, Origin>> deleted_origins;
        Saved<ServiceConfig> services;
        Saved<PodConfig> pods;
        Saved<EndpointSliceConfig> slices;
        Saved<ResolvedService> resolved;
        ClusterIpAllocator allocator;
        ClusterIp6Allocator allocator6;
        std::set<uint32_t> dns_addresses;
    };

    // The origins a transaction gives the objects it upserts, set once nothing can refuse it.
    struct Stamps {
        std::vector<Origin*> entries;  // services and pods (the "unchanged" ones too)
        std::vector<std::string> slices;
        std::vector<std::string> deleted_slices;
    };

    void roll_back(Undo& undo);
    // After a successful transaction: the origins of its deleted slices go, and its upserted
    // objects become `origin`'s (nullopt: they keep theirs).
    void settle_origins(const Stamps& stamps, std::optional<Origin> origin);
    // Replaces in place (the entry keeps its origin), creates, or with nullopt removes one object,
    // keeping the indexes in step. put_service: the entry; null when removed.
    ServiceEntry* put_service(const std::string& key, std::optional<ServiceConfig> service);
    void put_pod(const std::string& key, std::optional<PodConfig> pod);
    const std::string* put_slice(const std::string& key, std::optional<EndpointSliceConfig> slice);
    // `dns_addresses`: the DNS addresses after the transaction; nullopt: unchanged.
    // `upserts` is consumed: its objects move into the store and become `origin`'s (nullopt:
    // they keep theirs, as a drain does).
    StoreResult transact(ObjectSet upserts, const std::set<ObjectRef>& deletes, const std::string& source,
                         bool deletes_must_exist, const std::optional<std::vector<uint32_t>>& dns_addresses,
                         std::optional<Origin> origin);
    // transact()'s steps: checks that change nothing, then the commit and the re-resolution.
    bool exists(const ObjectRef& ref) const;
    StagedServices stage_services(std::vector<ServiceConfig> upserts, const std::set<ObjectRef>& deletes,
                                  const std::set<uint32_t>& dns, const Failures& fail) const;
    std::optional<uint32_t> check_given_cluster_ip(const ServiceConfig& service, const std::set<ObjectRef>& deletes,
                                                   const std::set<uint32_t>& dns, const StagedServices& staged,
                                                   const std::map<uint32_t, std::string>& batch_ips,
                                                   const Failures& fail) const;
    void allocate_cluster_ips(StagedServices& staged, const std::vector<size_t>& to_allocate,
                              const std::set<uint32_t>& dns, const Failures& fail) const;
    // Dual-stack (service_store_families.cpp): the families a service gets, and its IPv6 address
    // kept, checked or queued for allocation. False: refused (the reason went to `fail`).
    bool settle_families(ServiceConfig& service, const ServiceConfig* existing, const std::string& path,
                         const Failures& fail) const;
    bool stage_ipv6(ServiceConfig& service, const ServiceConfig* existing, const std::set<ObjectRef>& deletes,
                    StagedServices& staged, std::map<Ipv6Address, std::string>& batch_ips, const std::string& path,
                    const Failures& fail) const;
    void allocate_ipv6(StagedServices& staged, const std::vector<size_t>& to_allocate, const Failures& fail) const;
    // The IPv6 endpoints of `port`: the selected pods' status.podIPs IPv6 entries, the service's
    // own IPv6 endpoints and those of its IPv6 slices (`slices`: their keys, null: none).
    std::vector<ResolvedEndpoint6> resolve_endpoints6(const ServiceConfig& service,
                                                      const std::vector<const PodConfig*>& pods,
                                                      const std::set<std::string>* slices,
                                                      const ServicePortConfig& port) const;
    // Headless services: every IPv6 endpoint address once (ResolvedService::addresses6).
    std::vector<ResolvedEndpoint6> headless_addresses6(const ServiceConfig& service,
                                                       const std::vector<const PodConfig*>& pods,
                                                       const std::set<std::string>* slices) const;
    // A service's own endpoints must be of a family it has (its settled ip_families).
    void check_endpoint_families(const StagedServices& staged, const Failures& fail) const;
    void check_dns_addresses(const std::vector<uint32_t>& addresses, const std::set<ObjectRef>& deletes,
                             const StagedServices& staged, const Failures& fail) const;
    // `keys[i]`: the key of `pods[i]`, made once per transaction.
    void check_pods(const std::vector<PodConfig>& pods, const std::vector<std::string>& keys,
                    const std::set<ObjectRef>& deletes, const Failures& fail) const;
    void check_slices(const std::vector<EndpointSliceConfig>& slices, const Failures& fail) const;
    // The services a change may re-resolve, each once, in the order the change first touched
    // them (resolve_affected). Looked up once per changed pod, so a hash set of the keys (an
    // ordered set of 10k keys cost a tree walk of string comparisons for each of 100k pods).
    struct Affected {
        FlatHashMap<std::string, bool> seen;  // the value is unused
        std::vector<std::string> order;
        // A service's pods usually come together in a request (a workload's pods are listed
        // side by side): the same key again is skipped without a lookup.
        void add(const std::string& key) {
            if (key == last) return;
            last = key;
            if (seen.try_emplace(key).second) order.push_back(key);
        }
        std::string last;  // an empty key is never a service's
    };
    Affected commit(ObjectSet& upserts, std::vector<std::string>& pod_keys, const std::set<ObjectRef>& deletes,
                    std::vector<ServiceConfig> services, Undo& undo, Stamps& stamps, StoreResult& result);
    void upsert_pod(PodConfig&& pod, std::string&& key, Undo& undo, Stamps& stamps, Affected& affected,
                    StoreResult& result);
    void resolve_affected(const Affected& affected, Undo& undo, StoreResult& result);
    // Index postings point at the entries of the object tables (KeyedTable entries never move):
    // no copy of a key per label, and a match needs no second lookup. Unordered, in flat arrays
    // (config/pointer_set.h): a label every pod carries ("tier=backend") has 100k postings, and
    // an ordered set of them compared keys through two scattered nodes per step on every insert.
    // Nothing depends on their order: pods have distinct addresses and resolve() sorts endpoints
    // by address, services_selecting() fills a set.
    // One table for both label indexes: a new pod's labels are looked up once, to post it and
    // to find the services that select it.
    struct LabelPostings {
        PointerSet<PodEntry> pods;          // pods with the label
        PointerSet<ServiceEntry> services;  // services whose selector's first pair it is
    };

    std::vector<const PodConfig*> matching_pods(const std::string& namespace_name, const Labels& selector) const;
    std::optional<ResolvedService> resolve(const ServiceConfig& service) const;
    // `selecting`: also adds the services whose selector matches the pod (when adding it).
    void index_pod(const PodEntry& entry, bool add, Affected* selecting = nullptr);
    void index_service(const ServiceEntry& entry, bool add);
    void index_slice(const std::string& key, const EndpointSliceConfig& slice, bool add);
    void services_selecting(const PodConfig& pod, Affected& out) const;

    ClusterConfig cluster_;
    Admission admission_;
    std::set<uint32_t> reserved_;
    std::set<Ipv6Address> reserved6_;
    std::set<uint32_t> dns_addresses_;
    ClusterIpAllocator allocator_;
    ClusterIp6Allocator allocator6_;
    // Hash-keyed: a bulk apply inserts 10k services and 100k pods; only listings need key order.
    ServiceTable services_;
    PodTable pods_;
    std::map<std::string, EndpointSliceConfig> slices_;
    std::map<std::string, ResolvedService> resolved_;
    // The slices' origins (services and pods keep theirs in their entries); looked up, never walked.
    FlatHashMap<std::string, Origin> slice_origins_;

    std::map<uint32_t, std::string> service_by_ip_;
    std::map<Ipv6Address, std::string> service_by_ip6_;
    // Looked up, never walked: flat hash tables (config/flat_hash_map.h).
    FlatHashMap<uint32_t, const PodEntry*> pod_by_address_;
    FlatHashMap<std::string, LabelPostings> labels_;                  // "ns\0k=v" -> its pods and services
    std::map<std::string, std::set<std::string>> slices_by_service_;  // service key -> slice keys
};

}  // namespace vipgate::config
