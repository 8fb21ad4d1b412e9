#include "config/service_store.h"

#include <algorithm>

#include "config/endpoint_order.h"

namespace vipgate::config {
namespace {

// "ns\0k=v", the label index's key, as a view of a buffer on the stack: a bulk apply looks up
// two labels for each of 100k pods, and a std::string per lookup allocated (a thread_local one
// paid a TLS guard and four appends each time). Keys too long for the buffer (label keys may
// have a 253-byte prefix) spill to the heap.
class LabelKey {
public:
    LabelKey(std::string_view namespace_name, std::string_view key, std::string_view value) {
        const size_t length = namespace_name.size() + key.size() + value.size() + 2;
        char* out = inline_;
        if (length > sizeof(inline_)) {
            spill_.resize(length);
            out = spill_.data();
        }
        char* at = std::copy(namespace_name.begin(), namespace_name.end(), out);
        *at++ = '\0';
        at = std::copy(key.begin(), key.end(), at);
        *at++ = '=';
        std::copy(value.begin(), value.end(), at);
        view_ = std::string_view(out, length);
    }
    LabelKey(const LabelKey&) = delete;
    LabelKey& operator=(const LabelKey&) = delete;
    std::string_view view() const noexcept { return view_; }

private:
    char inline_[192];
    std::string spill_;
    std::string_view view_;
};

// Adds `member` to (or removes it from) the set under `index_key`; empty sets are dropped.
template <typename Index>
void update_index(Index& index, const std::string& index_key, const typename Index::mapped_type::key_type& member,
                  bool add) {
    if (add) {
        index[index_key].insert(member);
    } else if (auto found = index.find(index_key); found != index.end()) {
        found->second.erase(member);
        if (found->second.empty()) index.erase(found);
    }
}

// Removes `member` from the postings of `members` (of labels[index_key]); entries with no pod
// and no service are dropped.
template <typename Labels, typename Member, typename Postings, typename LabelPostings>
void unpost(Labels& labels, std::string_view index_key, const Member* member, Postings LabelPostings::*members) {
    LabelPostings* found = labels.find(index_key);
    if (found == nullptr) return;
    (found->*members).erase(member);
    if (found->pods.empty() && found->services.empty()) labels.erase(index_key);
}

// Whether `labels` holds every pair of `selector` but `known`, a pair already known to be there
// (the posting a pod was found through): a pod's labels are a tree of string nodes, and
// checking one pair less is a cache miss less for each of 100k pods.
bool other_pairs_present(const Labels& selector, Labels::const_iterator known, const Labels& labels) {
    for (auto pair = selector.begin(); pair != selector.end(); ++pair) {
        if (pair == known) continue;
        auto found = labels.find(pair->first);
        if (found == labels.end() || found->second != pair->second) return false;
    }
    return true;
}

bool has_selector(const ServiceConfig& service) {
    return service.selector && !service.selector->empty();
}

bool has_cluster_ip(const ServiceConfig& service) {
    return !service.headless && service.external_name.empty();
}

bool has_family(const ServiceConfig& service, IpFamily family) {
    return std::find(service.ip_families.begin(), service.ip_families.end(), family) != service.ip_families.end();
}

// Stored services always have their families settled.
bool has_ipv4_cluster_ip(const ServiceConfig& service) {
    return has_cluster_ip(service) && has_family(service, IpFamily::Ipv4);
}

bool has_ipv6_cluster_ip(const ServiceConfig& service) {
    return has_cluster_ip(service) && !is_zero(service.cluster_ip6);
}

std::optional<std::vector<uint32_t>> dns_addresses_of(const ObjectSet& objects) {
    if (!objects.dns) return std::nullopt;
    return objects.dns->addresses;
}

const NamedPort* find_named_port(const std::vector<NamedPort>& ports, const std::string& name, Protocol protocol) {
    for (const NamedPort& port : ports) {
        if (port.name == name && port.protocol == protocol) return &port;
    }
    return nullptr;
}

ConfigError error(const std::string& source, std::string field, std::string message) {
    return ConfigError{source, 0, 0, std::move(field), std::move(message)};
}

}  // namespace

std::string object_key(std::string_view namespace_name, std::string_view name) {
    return std::string(namespace_name) + "/" + std::string(name);
}

bool selector_matches(const Labels& selector, const Labels& labels) {
    return other_pairs_present(selector, selector.end(), labels);
}

ServiceStore::ServiceStore(ClusterConfig cluster, std::vector<uint32_t> reserved, std::vector<Ipv6Address> reserved6)
    : cluster_(std::move(cluster)),
      reserved_(reserved.begin(), reserved.end()),
      reserved6_(reserved6.begin(), reserved6.end()) {
    if (cluster_.service_cidr) allocator_ = ClusterIpAllocator(*cluster_.service_cidr);
    if (cluster_.service_cidr_ipv6) allocator6_ = ClusterIp6Allocator(*cluster_.service_cidr_ipv6);
}

std::string_view kind_name(ObjectKind kind) {
    switch (kind) {
    case ObjectKind::Service:
        return "service";
    case ObjectKind::Pod:
        return "pod";
    case ObjectKind::EndpointSlice:
        return "endpointslice";
    }
    return "?";
}

std::optional<ObjectKind> kind_named(std::string_view name) {
    for (ObjectKind kind : {ObjectKind::Service, ObjectKind::Pod, ObjectKind::EndpointSlice}) {
        if (kind_name(kind) == name) return kind;
    }
    return std::nullopt;
}

const char* origin_name(Origin origin) {
    switch (origin) {
    case Origin::File:
        return "file";
    case Origin::Api:
        return "vipctl";
    case Origin::Kubernetes:
        return "kubernetes";
    }
    return "?";
}

StoreResult ServiceStore::apply(ObjectSet objects, const std::string& source, Origin origin) {
    std::optional<std::vector<uint32_t>> dns = dns_addresses_of(objects);
    return transact(std::move(objects), {}, source, true, dns, origin);
}

StoreResult ServiceStore::remove(const ObjectSet& objects, const std::string& source) {
    std::set<ObjectRef> deletes;
    for (const auto& service : objects.services) {
        deletes.emplace(ObjectKind::Service, object_key(service.namespace_name, service.name));
    }
    for (const auto& pod : objects.pods) deletes.emplace(ObjectKind::Pod, object_key(pod.namespace_name, pod.name));
    for (const auto& slice : objects.endpoint_slices) {
        deletes.emplace(ObjectKind::EndpointSlice, object_key(slice.namespace_name, slice.name));
    }
    return transact({}, deletes, source, true, std::nullopt, Origin::Api);
}

StoreResult ServiceStore::remove(std::string_view kind, std::string_view namespace_name, std::string_view name) {
    const std::optional<ObjectKind> known = kind_named(kind);
    if (!known) {
        StoreResult result;
        result.errors.push_back(
            error("", "kind", "unknown kind '" + std::string(kind) + "'; allowed: service, pod, endpointslice"));
        return result;
    }
    return transact({}, {{*known, object_key(namespace_name, name)}}, "", true, std::nullopt, Origin::Api);
}

StoreResult ServiceStore::replace_all(ObjectSet objects, const std::string& source) {
    std::set<ObjectRef> wanted;
    for (const auto& service : objects.services) {
        wanted.emplace(ObjectKind::Service, object_key(service.namespace_name, service.name));
    }
    for (const auto& pod : objects.pods) wanted.emplace(ObjectKind::Pod, object_key(pod.namespace_name, pod.name));
    for (const auto& slice : objects.endpoint_slices) {
        wanted.emplace(ObjectKind::EndpointSlice, object_key(slice.namespace_name, slice.name));
    }
    std::set<ObjectRef> deletes;
    auto drop_unwanted = [&](ObjectKind kind, const std::string& key) {
        if (!wanted.count({kind, key}) && origin(kind, key) != Origin::Kubernetes) deletes.emplace(kind, key);
    };
    services_.for_each([&](const ServiceEntry& entry) { drop_unwanted(ObjectKind::Service, entry.first); });
    pods_.for_each([&](const PodEntry& entry) { drop_unwanted(ObjectKind::Pod, entry.first); });
    for (const auto& entry : slices_) drop_unwanted(ObjectKind::EndpointSlice, entry.first);
    std::vector<uint32_t> dns = objects.dns ? objects.dns->addresses : std::vector<uint32_t>{};
    return transact(std::move(objects), deletes, source, false, std::move(dns), Origin::File);
}

// Why object by object after a refusal: the cluster holds what it holds. One Service whose
// ClusterIP is outside the service CIDR must not keep every other change from the dataplane.
SyncResult ServiceStore::sync(const ObjectSet& upserts, const std::set<ObjectRef>& deletes, const std::string& source) {
    SyncResult sync;
    auto ours = [&](ObjectKind kind, const std::string& key) {
        const std::optional<Origin> found = origin(kind, key);
        if (found && *found != Origin::Kubernetes) {
            ++sync.shadowed;
            return false;
        }
        return true;
    };
    ObjectSet taken;
    for (const auto& service : upserts.services) {
        if (ours(ObjectKind::Service, object_key(service.namespace_name, service.name)))
            taken.services.push_back(service);
    }
    for (const auto& pod : upserts.pods) {
        if (ours(ObjectKind::Pod, object_key(pod.namespace_name, pod.name))) taken.pods.push_back(pod);
    }
    for (const auto& slice : upserts.endpoint_slices) {
        if (ours(ObjectKind::EndpointSlice, object_key(slice.namespace_name, slice.name))) {
            taken.endpoint_slices.push_back(slice);
        }
    }
    std::set<ObjectRef> removed;
    for (const ObjectRef& ref : deletes) {
        if (origin(ref.first, ref.second) == Origin::Kubernetes) removed.insert(ref);
    }
    StoreResult whole = transact(taken, removed, source, false, std::nullopt, Origin::Kubernetes);
    if (whole.ok()) {
        sync.result = std::move(whole);
        return sync;
    }
    std::set<std::string> changed;
    auto one = [&](const ObjectSet& upsert, const std::set<ObjectRef>& remove) {
        StoreResult single = transact(upsert, remove, source, false, std::nullopt, Origin::Kubernetes);
        if (!single.ok()) {
            sync.rejected.insert(sync.rejected.end(), single.errors.begin(), single.errors.end());
            return;
        }
        sync.result.changes.insert(sync.result.changes.end(), single.changes.begin(), single.changes.end());
        changed.insert(single.changed_services.begin(), single.changed_services.end());
    };
    for (const ObjectRef& ref : removed) one({}, {ref});
    for (const auto& service : taken.services) one(ObjectSet{.services = {service}}, {});
    for (const auto& pod : taken.pods) one(ObjectSet{.pods = {pod}}, {});
    for (const auto& slice : taken.endpoint_slices) one(ObjectSet{.endpoint_slices = {slice}}, {});
    sync.result.changed_services.assign(changed.begin(), changed.end());
    return sync;
}

const std::set<std::string>& ServiceStore::slices_of(const std::string& service_key) const {
    static const std::set<std::string> kNone;
    auto found = slices_by_service_.find(service_key);
    return found == slices_by_service_.end() ? kNone : found->second;
}

std::optional<Origin> ServiceStore::origin(ObjectKind kind, const std::string& key) const {
    switch (kind) {
    case ObjectKind::Service:
        if (const ServiceEntry* entry = services_.find(key)) return ServiceTable::meta(*entry);
        return std::nullopt;
    case ObjectKind::Pod:
        if (const PodEntry* entry = pods_.find(key)) return PodTable::meta(*entry);
        return std::nullopt;
    case ObjectKind::EndpointSlice:
        if (const Origin* found = slice_origins_.find(key)) return *found;
        return std::nullopt;
    }
    return std::nullopt;
}

void ServiceStore::settle_origins(const Stamps& stamps, std::optional<Origin> origin) {
    for (const std::string& key : stamps.deleted_slices) slice_origins_.erase(key);
    if (!origin) return;
    for (Origin* entry : stamps.entries) *entry = *origin;
    for (const std::string& key : stamps.slices) *slice_origins_.try_emplace(key).first = *origin;
}

StoreResult ServiceStore::set_drained(uint32_t address, bool drained) {
    const uint32_t weight = drained ? 0 : 1;
    ObjectSet changed;
    if (const PodEntry* const* pod = pod_by_address_.find(address)) {
        PodConfig copy = (*pod)->second;
        copy.weight = weight;
        changed.pods.push_back(std::move(copy));
    }
    // The services with an endpoint at `address`, in key order (only those are sorted: a drain
    // is one operator's change and must not cost a sort of every service).
    std::vector<const ServiceEntry*> listing;
    services_.for_each([&](const ServiceEntry& entry) {
        const auto& endpoints = entry.second.endpoints;
        if (std::any_of(endpoints.begin(), endpoints.end(),
                        [&](const EndpointConfig& endpoint) { return endpoint.address == address; })) {
            listing.push_back(&entry);
        }
    });
    std::sort(listing.begin(), listing.end(),
              [](const ServiceEntry* a, const ServiceEntry* b) { return a->first < b->first; });
    for (const ServiceEntry* entry : listing) {
        ServiceConfig copy = entry->second;
        for (auto& endpoint : copy.endpoints) {
            if (endpoint.address == address) endpoint.weight = weight;
        }
        changed.services.push_back(std::move(copy));
    }
    for (const auto& [key, slice] : slices_) {
        bool found = false;
        EndpointSliceConfig copy = slice;
        for (auto& endpoint : copy.endpoints) {
            if (endpoint.address == address) {
                endpoint.weight = weight;
                found = true;
            }
        }
        if (found) changed.endpoint_slices.push_back(std::move(copy));
    }
    if (changed.pods.empty() && changed.services.empty() && changed.endpoint_slices.empty()) {
        StoreResult result;
        result.errors.push_back(error("", "address", "no pod or endpoint has address " + format_ipv4(address)));
        return result;
    }
    StoreResult result = transact(std::move(changed), {}, "", true, std::nullopt, std::nullopt);
    for (auto& change : result.changes) {
        if (change.action == "configured") change.action = drained ? "drained" : "undrained";
    }
    return result;
}

std::optional<size_t> ServiceStore::matched_pods(const std::string& service_key) const {
    const ServiceEntry* service = services_.find(service_key);
    if (service == nullptr || !has_selector(service->second)) return std::nullopt;
    return matching_pods(service->second.namespace_name, *service->second.selector).size();
}

ObjectSet ServiceStore::objects() const {
    ObjectSet set;
    set.services.reserve(services_.size());
    for (const ServiceEntry* entry : services_.sorted()) set.services.push_back(entry->second);
    set.pods.reserve(pods_.size());
    for (const PodEntry* entry : pods_.sorted()) set.pods.push_back(entry->second);
    for (const auto& [key, slice] : slices_) set.endpoint_slices.push_back(slice);
    return set;
}

// The whole change is checked against the state it would produce before anything is touched.
StoreResult ServiceStore::transact(ObjectSet upserts, const std::set<ObjectRef>& deletes, const std::string& source,
                                   bool deletes_must_exist, const std::optional<std::vector<uint32_t>>& dns_addresses,
                                   std::optional<Origin> origin) {
    StoreResult result;
    const Failures fail{source, result.errors};
    if (deletes_must_exist) {
        for (const ObjectRef& ref : deletes) {
            const std::string kind(kind_name(ref.first));
            if (!exists(ref)) fail(kind, kind + " " + ref.second + " not found");
        }
    }
    const std::set<uint32_t> dns =
        dns_addresses ? std::set<uint32_t>(dns_addresses->begin(), dns_addresses->end()) : dns_addresses_;
    StagedServices staged = stage_services(std::move(upserts.services), deletes, dns, fail);
    check_endpoint_families(staged, fail);
    if (dns_addresses) check_dns_addresses(*dns_addresses, deletes, staged, fail);
    std::vector<std::string> pod_keys;
    pod_keys.reserve(upserts.pods.size());
    for (const PodConfig& pod : upserts.pods) pod_keys.push_back(object_key(pod.namespace_name, pod.name));
    check_pods(upserts.pods, pod_keys, deletes, fail);
    check_slices(upserts.endpoint_slices, fail);
    if (!result.errors.empty()) return result;

    Undo undo;
    undo.allocator = std::move(allocator_);
    allocator_ = std::move(staged.allocator);
    undo.allocator6 = std::move(allocator6_);
    allocator6_ = std::move(staged.allocator6);
    undo.dns_addresses = dns_addresses_;
    dns_addresses_ = dns;
    Stamps stamps;
    const Affected affected = commit(upserts, pod_keys, deletes, std::move(staged.services), undo, stamps, result);
    resolve_affected(affected, undo, result);
    if (admission_ && !result.changed_services.empty()) {
        if (std::optional<std::string> refusal = admission_(resolved_, result.changed_services)) {
            roll_back(undo);
            StoreResult refused;
            refused.errors.push_back(error(source, "", *refusal));
            return refused;
        }
    }
    settle_origins(stamps, origin);
    return result;
}

void ServiceStore::Failures::operator()(std::string field, std::string message) const {
    errors.push_back(error(source, std::move(field), std::move(message)));
}

bool ServiceStore::exists(const ObjectRef& ref) const {
    switch (ref.first) {
    case ObjectKind::Service:
        return services_.count(ref.second) > 0;
    case ObjectKind::Pod:
        return pods_.count(ref.second) > 0;
    case ObjectKind::EndpointSlice:
        return slices_.count(ref.second) > 0;
    }
    return false;
}

// ClusterIPs are immutable, unique, inside the service CIDR, never a gateway or DNS address.
ServiceStore::StagedServices ServiceStore::stage_services(std::vector<ServiceConfig> upserts,
                                                          const std::set<ObjectRef>& deletes,
                                                          const std::set<uint32_t>& dns, const Failures& fail) const {
    StagedServices staged{std::move(upserts), {}, allocator_, allocator6_};
    for (const auto& [kind, key] : deletes) {
        if (kind != ObjectKind::Service) continue;
        const ServiceEntry* existing = services_.find(key);
        if (existing != nullptr && has_ipv4_cluster_ip(existing->second)) {
            staged.allocator.release(existing->second.cluster_ip);
        }
        if (existing != nullptr && has_ipv6_cluster_ip(existing->second)) {
            staged.allocator6.release(existing->second.cluster_ip6);
        }
    }
    std::map<uint32_t, std::string> batch_ips;
    std::map<Ipv6Address, std::string> batch_ips6;
    std::vector<size_t> to_allocate;
    std::vector<size_t> to_allocate6;
    for (size_t i = 0; i < staged.services.size(); ++i) {
        ServiceConfig& service = staged.services[i];
        const std::string key = object_key(service.namespace_name, service.name);
        const std::string path = "service " + key;
        if (!staged.index.emplace(key, i).second) {
            fail(path, "defined twice in this request");
            continue;
        }
        const ServiceEntry* existing = services_.find(key);
        const bool stays = existing != nullptr && !deletes.count({ObjectKind::Service, key});
        const ServiceConfig* before = stays ? &existing->second : nullptr;
        if (has_cluster_ip(service) && !(stays && existing->second.headless)) {
            if (!settle_families(service, before, path, fail)) continue;
            if (!stage_ipv6(service, before, deletes, staged, batch_ips6, path, fail)) continue;
            if (has_family(service, IpFamily::Ipv6) && is_zero(service.cluster_ip6)) to_allocate6.push_back(i);
        } else if (!has_cluster_ip(service)) {
            service.cluster_ip6 = {};
            if (before != nullptr && has_ipv6_cluster_ip(*before) && service.headless) {
                fail(path + ".cluster_ips", "cannot change from " + format_ipv6(before->cluster_ip6) +
                                                " to None; a ClusterIP is immutable (delete and recreate the service)");
            } else if (before != nullptr && has_ipv6_cluster_ip(*before)) {
                staged.allocator6.release(before->cluster_ip6);  // becomes ExternalName
            }
        }
        const bool had_ip = stays && has_ipv4_cluster_ip(existing->second);
        if (!has_ipv4_cluster_ip(service)) {
            service.cluster_ip = 0;
            if (service.headless && had_ip) {
                fail(path + ".cluster_ip", "cannot change from " + format_ipv4(existing->second.cluster_ip) +
                                               " to None; a ClusterIP is immutable (delete and recreate the service)");
            } else if (had_ip) {
                // becomes ExternalName, as Kubernetes allows, or drops its secondary family
                staged.allocator.release(existing->second.cluster_ip);
            }
            continue;
        }
        if (stays && existing->second.headless) {
            fail(path + ".cluster_ip",
                 "cannot change from None to a ClusterIP; it is immutable (delete and recreate "
                 "the service)");
            continue;
        }
        if (had_ip) {
            if (service.cluster_ip != 0 && service.cluster_ip != existing->second.cluster_ip) {
                fail(path + ".cluster_ip", "cannot change from " + format_ipv4(existing->second.cluster_ip) + " to " +
                                               format_ipv4(service.cluster_ip) +
                                               "; a ClusterIP is immutable (delete and recreate the service)");
            }
            service.cluster_ip = existing->second.cluster_ip;
            continue;
        }
        if (service.cluster_ip == 0) {
            to_allocate.push_back(i);
            continue;
        }
        if (check_given_cluster_ip(service, deletes, dns, staged, batch_ips, fail)) {
            batch_ips.emplace(service.cluster_ip, key);
            staged.allocator.claim(service.cluster_ip);
        }
    }
    allocate_cluster_ips(staged, to_allocate, dns, fail);
    allocate_ipv6(staged, to_allocate6, fail);
    return staged;
}

// A ClusterIP the request asks for: its address when it may have it, else nullopt (and why).
std::optional<uint32_t> ServiceStore::check_given_cluster_ip(
    const ServiceConfig& service, const std::set<ObjectRef>& deletes, const std::set<uint32_t>& dns,
    const StagedServices& staged, const std::map<uint32_t, std::string>& batch_ips, const Failures& fail) const {
    const std::string path = "service " + object_key(service.namespace_name, service.name) + ".cluster_ip";
    const std::string ip = format_ipv4(service.cluster_ip);
    if (reserved_.count(service.cluster_ip)) {
        fail(path, ip + " is one of the gateway's own addresses");
    } else if (dns.count(service.cluster_ip)) {
        fail(path, ip + " is a DNS address of the gateway ([dns] addresses)");
    } else if (staged.allocator.has_range() && !staged.allocator.in_range(service.cluster_ip)) {
        fail(path, ip + " is outside the service CIDR " + format_ipv4_prefix(*staged.allocator.range()) +
                       "; choose an address inside it or omit cluster_ip to allocate one");
    } else if (auto owner = service_by_ip_.find(service.cluster_ip);
               owner != service_by_ip_.end() && !deletes.count({ObjectKind::Service, owner->second})) {
        fail(path, ip + " is already allocated to service " + owner->second);
    } else if (auto claimed = batch_ips.find(service.cluster_ip); claimed != batch_ips.end()) {
        fail(path, ip + " is also requested by service " + claimed->second + " in this request");
    } else {
        return service.cluster_ip;
    }
    return std::nullopt;
}

void ServiceStore::allocate_cluster_ips(StagedServices& staged, const std::vector<size_t>& to_allocate,
                                        const std::set<uint32_t>& dns, const Failures& fail) const {
    std::vector<uint32_t> skipped;  // claimed while allocating, handed back afterwards
    for (size_t i : to_allocate) {
        ServiceConfig& service = staged.services[i];
        const std::string path = "service " + object_key(service.namespace_name, service.name) + ".cluster_ip";
        if (!staged.allocator.has_range()) {
            fail(path, "missing, and there is no [cluster] service_cidr to allocate from");
            continue;
        }
        std::optional<uint32_t> address;
        while ((address = staged.allocator.allocate()) && (reserved_.count(*address) || dns.count(*address))) {
            skipped.push_back(*address);
        }
        if (!address) {
            fail(path, "the service CIDR " + format_ipv4_prefix(*staged.allocator.range()) + " is exhausted (" +
                           std::to_string(staged.allocator.used()) + " addresses in use); delete services or widen it");
            continue;
        }
        service.cluster_ip = *address;
    }
    // A DNS address may stop being one: the allocator must not keep it.
    for (uint32_t address : skipped) staged.allocator.release(address);
}

// DNS addresses: not the gateway's own, not a service's that stays.
void ServiceStore::check_dns_addresses(const std::vector<uint32_t>& addresses, const std::set<ObjectRef>& deletes,
                                       const StagedServices& staged, const Failures& fail) const {
    for (size_t i = 0; i < addresses.size(); ++i) {
        const uint32_t address = addresses[i];
        const std::string path = "dns.addresses[" + std::to_string(i) + "]";
        if (reserved_.count(address)) {
            fail(path, format_ipv4(address) +
                           " is one of the gateway's own addresses (a port's or SNAT "
                           "address); a DNS address must be an address of its own");
            continue;
        }
        auto owner = service_by_ip_.find(address);
        if (owner == service_by_ip_.end() || deletes.count({ObjectKind::Service, owner->second})) continue;
        auto changed = staged.index.find(owner->second);
        if (changed != staged.index.end() && !has_cluster_ip(staged.services[changed->second])) continue;
        fail(path, format_ipv4(address) + " is the cluster IP of service " + owner->second +
                       "; a DNS address must not be a service's");
    }
}

// An address belongs to one pod.
// Hash tables of views of `keys` and positions: looked up, never walked. The conflicts with
// existing pods are reported in address order; only they are sorted (a bulk apply claims 100k
// addresses, and sorting them all cost 5 ms when none conflicts).
void ServiceStore::check_pods(const std::vector<PodConfig>& pods, const std::vector<std::string>& keys,
                              const std::set<ObjectRef>& deletes, const Failures& fail) const {
    FlatHashMap<std::string_view, size_t> batch_pods;
    batch_pods.reserve(pods.size());
    FlatHashMap<uint32_t, size_t> batch_addresses;  // address -> the first pod claiming it
    batch_addresses.reserve(pods.size());
    std::vector<size_t> claiming;  // the first pod claiming each address, in request order
    claiming.reserve(pods.size());
    for (size_t i = 0; i < pods.size(); ++i) {
        const PodConfig& pod = pods[i];
        const std::string& key = keys[i];
        if (auto [first, fresh] = batch_pods.try_emplace(std::string_view(key)); fresh) {
            *first = i;
        } else {
            fail("pod " + key, "defined twice in this request");
        }
        if (pod.address == 0) continue;
        auto [first, fresh] = batch_addresses.try_emplace(pod.address);
        if (fresh) {
            *first = i;
            claiming.push_back(i);
        } else if (keys[*first] != key) {
            fail("pod " + key + ".address",
                 format_ipv4(pod.address) + " is also the address of pod " + keys[*first] + " in this request");
        }
    }
    if (pod_by_address_.empty()) return;
    struct Conflict {
        uint32_t address;
        const std::string* key;
        const std::string* owner;
    };
    std::vector<Conflict> conflicts;
    for (size_t i : claiming) {
        const uint32_t address = pods[i].address;
        const PodEntry* const* owner = pod_by_address_.find(address);
        if (owner == nullptr) continue;
        const std::string& owner_key = (*owner)->first;
        if (owner_key == keys[i] || deletes.count({ObjectKind::Pod, owner_key})) continue;
        // The owner keeps the address unless this request moves it elsewhere.
        const size_t* moved = batch_pods.find(std::string_view(owner_key));
        if (moved != nullptr && pods[*moved].address != address) continue;
        conflicts.push_back({address, &keys[i], &owner_key});
    }
    std::sort(conflicts.begin(), conflicts.end(),
              [](const Conflict& a, const Conflict& b) { return a.address < b.address; });
    for (const Conflict& conflict : conflicts) {
        fail("pod " + *conflict.key + ".address",
             format_ipv4(conflict.address) + " is already the address of pod " + *conflict.owner);
    }
}

void ServiceStore::check_slices(const std::vector<EndpointSliceConfig>& slices, const Failures& fail) const {
    std::set<std::string> batch_slices;
    for (const auto& slice : slices) {
        const std::string key = object_key(slice.namespace_name, slice.name);
        if (!batch_slices.insert(key).second) fail("endpointslice " + key, "defined twice in this request");
    }
}

// Applies the deletes and upserts, remembering in `undo` what was there; returns the services
// whose resolution may change.
ServiceStore::Affected ServiceStore::commit(ObjectSet& upserts, std::vector<std::string>& pod_keys,
                                            const std::set<ObjectRef>& deletes, std::vector<ServiceConfig> services,
                                            Undo& undo, Stamps& stamps, StoreResult& result) {
    Affected affected;
    result.changes.reserve(result.changes.size() + deletes.size() + services.size() + upserts.pods.size() +
                           upserts.endpoint_slices.size());
    for (const auto& [kind, key] : deletes) {
        if (!exists({kind, key})) continue;
        switch (kind) {
        case ObjectKind::Service: {
            const ServiceEntry& entry = *services_.find(key);
            undo.services.remember(key, &entry.second);
            undo.deleted_origins.push_back({{kind, key}, ServiceTable::meta(entry)});
            affected.add(key);
            put_service(key, std::nullopt);
            break;
        }
        case ObjectKind::Pod: {
            const PodEntry& entry = *pods_.find(key);
            undo.pods.remember(key, &entry.second);
            undo.deleted_origins.push_back({{kind, key}, PodTable::meta(entry)});
            services_selecting(entry.second, affected);
            put_pod(key, std::nullopt);
            break;
        }
        case ObjectKind::EndpointSlice:
            undo.slices.remember(slices_, key);
            affected.add(object_key(slices_.at(key).namespace_name, slices_.at(key).service_name));
            put_slice(key, std::nullopt);
            break;
        }
        const size_t slash = key.find('/');
        result.changes.push_back({kind_name(kind), key.substr(0, slash), key.substr(slash + 1), "deleted"});
    }
    auto action_of = [](const auto* current, const auto& next) -> std::string_view {
        if (current == nullptr) return "created";
        return *current == next ? "unchanged" : "configured";
    };
    services_.reserve(services_.size() + services.size());
    stamps.entries.reserve(services.size() + upserts.pods.size());
    for (ServiceConfig& service : services) {
        const std::string key = object_key(service.namespace_name, service.name);
        ServiceEntry* current = services_.find(key);
        const std::string_view action = action_of(current != nullptr ? &current->second : nullptr, service);
        result.changes.push_back({"service", service.namespace_name, service.name, action});
        if (action == "unchanged") {
            stamps.entries.push_back(&ServiceTable::meta(*current));
            continue;
        }
        undo.services.remember(key, current != nullptr ? &current->second : nullptr);
        affected.add(key);
        ServiceEntry* stored = put_service(key, std::move(service));
        stamps.entries.push_back(&ServiceTable::meta(*stored));
        if (action == "created") undo.services.created_entry(stored->first);
    }
    pod_by_address_.reserve(pod_by_address_.size() + upserts.pods.size());
    pods_.reserve(pods_.size() + upserts.pods.size());
    for (size_t i = 0; i < upserts.pods.size(); ++i)
        upsert_pod(std::move(upserts.pods[i]), std::move(pod_keys[i]), undo, stamps, affected, result);
    for (const auto& [kind, key] : deletes) {
        if (kind == ObjectKind::EndpointSlice) stamps.deleted_slices.push_back(key);
    }
    for (EndpointSliceConfig& slice : upserts.endpoint_slices) {
        const std::string key = object_key(slice.namespace_name, slice.name);
        const auto current = slices_.find(key);
        const std::string_view action = action_of(current != slices_.end() ? &current->second : nullptr, slice);
        result.changes.push_back({"endpointslice", slice.namespace_name, slice.name, action});
        stamps.slices.push_back(key);
        if (action == "unchanged") continue;
        undo.slices.remember(slices_, key);
        if (auto old = slices_.find(key); old != slices_.end()) {
            affected.add(object_key(old->second.namespace_name, old->second.service_name));
        }
        affected.add(object_key(slice.namespace_name, slice.service_name));
        const std::string* stored = put_slice(key, std::move(slice));
        if (action == "created") undo.slices.created_entry(*stored);
    }
    return affected;
}

// One hash lookup per pod (a bulk apply upserts 100k): its entry serves the comparison, the
// undo log and the update, which happens in place (the entry keeps its address).
void ServiceStore::upsert_pod(PodConfig&& pod, std::string&& key, Undo& undo, Stamps& stamps, Affected& affected,
                              StoreResult& result) {
    PodEntry* existing = pods_.find(key);
    const bool unchanged = existing != nullptr && existing->second == pod;
    result.changes.push_back({"pod", pod.namespace_name, pod.name,
                              existing == nullptr ? "created"
                              : unchanged         ? "unchanged"
                                                  : "configured"});
    if (existing != nullptr) stamps.entries.push_back(&PodTable::meta(*existing));
    if (unchanged) return;
    undo.pods.remember(key, existing != nullptr ? &existing->second : nullptr);
    if (existing != nullptr) {
        services_selecting(existing->second, affected);
        index_pod(*existing, false);
        existing->second = std::move(pod);
        index_pod(*existing, true, &affected);
        return;
    }
    PodEntry& stored = pods_.insert(std::move(key), std::move(pod));
    stamps.entries.push_back(&PodTable::meta(stored));
    undo.pods.created_entry(stored.first);
    index_pod(stored, true, &affected);
}

// Re-resolves `affected`; the ones whose resolution changed go to result.changed_services, in
// key order. Resolved in the order the change touched them, which is the order of their pods
// in memory (a bulk apply inserts a service's pods together): resolving 10k services in key
// order instead jumped through 30 MB of pods, a cache miss for most of the 100k pods read.
void ServiceStore::resolve_affected(const Affected& affected, Undo& undo, StoreResult& result) {
    struct Outcome {
        const std::string* key;
        std::optional<ResolvedService> resolved;
    };
    std::vector<Outcome> outcomes;
    outcomes.reserve(affected.order.size());
    for (const std::string& key : affected.order) {
        const ServiceEntry* service = services_.find(key);
        outcomes.push_back({&key, service != nullptr ? resolve(service->second) : std::nullopt});
    }
    std::vector<Outcome*> in_key_order;
    in_key_order.reserve(outcomes.size());
    for (Outcome& outcome : outcomes) in_key_order.push_back(&outcome);
    std::sort(in_key_order.begin(), in_key_order.end(),
              [](const Outcome* a, const Outcome* b) { return *a->key < *b->key; });
    for (Outcome* outcome : in_key_order) {
        const std::string& key = *outcome->key;
        std::optional<ResolvedService>& resolved = outcome->resolved;
        auto previous = resolved_.lower_bound(key);
        const bool existed = previous != resolved_.end() && previous->first == key;
        if (!resolved && !existed) continue;
        if (resolved && existed && previous->second == *resolved) continue;
        undo.resolved.remember(key, existed ? &previous->second : nullptr);
        if (!resolved) {
            resolved_.erase(previous);
        } else if (existed) {
            previous->second = std::move(*resolved);
        } else {
            undo.resolved.created_entry(resolved_.emplace_hint(previous, key, std::move(*resolved))->first);
        }
        result.changed_services.push_back(key);
    }
}

void ServiceStore::roll_back(Undo& undo) {
    // put_*(key, nullopt) reads the key before it erases the node that holds it.
    for (const std::string* key : undo.services.created) put_service(*key, std::nullopt);
    for (auto& [key, service] : undo.services.existed) put_service(key, std::move(service));
    for (const std::string* key : undo.pods.created) put_pod(*key, std::nullopt);
    for (auto& [key, pod] : undo.pods.existed) put_pod(key, std::move(pod));
    for (const auto& [ref, origin] : undo.deleted_origins) {
        if (ref.first == ObjectKind::Service) {
            ServiceTable::meta(*services_.find(ref.second)) = origin;
        } else {
            PodTable::meta(*pods_.find(ref.second)) = origin;
        }
    }
    for (const std::string* key : undo.slices.created) put_slice(*key, std::nullopt);
    for (auto& [key, slice] : undo.slices.existed) put_slice(key, std::move(slice));
    for (const std::string* key : undo.resolved.created) resolved_.erase(resolved_.find(*key));
    for (auto& [key, resolved] : undo.resolved.existed) resolved_[key] = std::move(resolved);
    allocator_ = std::move(undo.allocator);
    allocator6_ = std::move(undo.allocator6);
    dns_addresses_ = std::move(undo.dns_addresses);
}

// put_*: replace in place (the entry keeps its origin), create, or with nullopt remove one
// object, and keep the indexes in step.
ServiceStore::ServiceEntry* ServiceStore::put_service(const std::string& key, std::optional<ServiceConfig> service) {
    ServiceEntry* entry = services_.find(key);
    if (entry != nullptr) {
        const ServiceConfig& old = entry->second;
        if (has_ipv4_cluster_ip(old)) {
            auto owner = service_by_ip_.find(old.cluster_ip);
            if (owner != service_by_ip_.end() && owner->second == key) service_by_ip_.erase(owner);
        }
        if (has_ipv6_cluster_ip(old)) {
            auto owner = service_by_ip6_.find(old.cluster_ip6);
            if (owner != service_by_ip6_.end() && owner->second == key) service_by_ip6_.erase(owner);
        }
        index_service(*entry, false);
        if (!service) {
            services_.erase(key);
            return nullptr;
        }
        entry->second = std::move(*service);
    } else if (service) {
        entry = &services_.insert(key, std::move(*service));
    } else {
        return nullptr;
    }
    const ServiceConfig& stored = entry->second;
    if (has_ipv4_cluster_ip(stored)) service_by_ip_[stored.cluster_ip] = key;
    if (has_ipv6_cluster_ip(stored)) service_by_ip6_[stored.cluster_ip6] = key;
    index_service(*entry, true);
    return entry;
}

void ServiceStore::put_pod(const std::string& key, std::optional<PodConfig> pod) {
    PodEntry* old = pods_.find(key);
    if (old != nullptr) index_pod(*old, false);
    if (!pod) {
        if (old != nullptr) pods_.erase(key);
        return;
    }
    if (old != nullptr) {
        old->second = std::move(*pod);
        index_pod(*old, true);
        return;
    }
    index_pod(pods_.insert(key, std::move(*pod)), true);
}

const std::string* ServiceStore::put_slice(const std::string& key, std::optional<EndpointSliceConfig> slice) {
    if (auto old = slices_.find(key); old != slices_.end()) {
        index_slice(key, old->second, false);
        slices_.erase(old);
    }
    if (!slice) return nullptr;
    index_slice(key, *slice, true);
    return &slices_.emplace(key, std::move(*slice)).first->first;
}

std::vector<const PodConfig*> ServiceStore::matching_pods(const std::string& namespace_name,
                                                          const Labels& selector) const {
    // Walk the shortest posting list of the selector's pairs, check the other pairs per pod.
    const PointerSet<PodEntry>* shortest = nullptr;
    Labels::const_iterator shortest_pair = selector.end();
    for (auto pair = selector.begin(); pair != selector.end(); ++pair) {
        const LabelPostings* found = labels_.find(LabelKey(namespace_name, pair->first, pair->second).view());
        if (found == nullptr) return {};
        if (!shortest || found->pods.size() < shortest->size()) {
            shortest = &found->pods;
            shortest_pair = pair;
        }
    }
    std::vector<const PodConfig*> pods;
    if (!shortest) return pods;
    pods.reserve(shortest->size());
    shortest->for_each([&](const PodEntry* entry) {
        if (other_pairs_present(selector, shortest_pair, entry->second.labels)) pods.push_back(&entry->second);
    });
    return pods;
}

// Headless services resolve like the others (their endpoints are what their name answers) and
// also list every endpoint address once; the snapshot builder never installs them.
std::optional<ResolvedService> ServiceStore::resolve(const ServiceConfig& service) const {
    ResolvedService resolved;
    resolved.namespace_name = service.namespace_name;
    resolved.name = service.name;
    resolved.cluster_ip = service.cluster_ip;
    resolved.cluster_ip6 = service.cluster_ip6;
    resolved.ip_families = service.ip_families;
    resolved.headless = service.headless;
    resolved.external_name = service.external_name;
    resolved.publish_not_ready_addresses = service.publish_not_ready_addresses;
    resolved.session_affinity = service.session_affinity;
    resolved.affinity_timeout_s = service.affinity_timeout_s;
    if (!service.external_name.empty()) return resolved;
    const std::vector<const PodConfig*> pods = has_selector(service)
                                                   ? matching_pods(service.namespace_name, *service.selector)
                                                   : std::vector<const PodConfig*>{};
    const std::string service_key = object_key(service.namespace_name, service.name);
    auto slices = slices_by_service_.find(service_key);
    // Kubernetes' endpoint controllers: publishNotReadyAddresses makes every selected pod ready;
    // a pod names itself under a headless service whose name is its subdomain.
    auto pod_ready = [&](const PodConfig& pod) { return pod.ready || service.publish_not_ready_addresses; };
    auto pod_hostname = [&](const PodConfig& pod) {
        return service.headless && pod.subdomain == service.name ? pod.hostname : std::string();
    };
    auto hostname = [&](const EndpointConfig& endpoint) {
        return service.headless ? endpoint.hostname : std::string();
    };

    for (const ServicePortConfig& port : service.ports) {
        ResolvedPort out;
        out.port = port;
        out.endpoints.reserve(pods.size() + service.endpoints.size());
        const uint16_t numeric_target = port.target_port != 0 ? port.target_port : port.port;
        const bool named = !port.target_port_name.empty();
        for (const PodConfig* selected : pods) {
            const PodConfig& pod = *selected;
            if (pod.address == 0) continue;
            uint16_t target = numeric_target;
            if (named) {
                // A pod that does not expose the named port is not an endpoint of this port.
                const NamedPort* found = find_named_port(pod.ports, port.target_port_name, port.protocol);
                if (!found) continue;
                target = found->port;
            }
            out.endpoints.push_back(
                {pod.address, target, pod_ready(pod), pod.terminating, pod.weight, pod.name, pod_hostname(pod)});
        }
        for (const EndpointConfig& endpoint : service.endpoints) {
            if (endpoint.is_ipv6()) continue;  // resolve_endpoints6
            uint16_t target = endpoint.port != 0 ? endpoint.port : numeric_target;
            if (endpoint.port == 0 && named) {
                const NamedPort* found = find_named_port(endpoint.ports, port.target_port_name, port.protocol);
                if (!found) continue;
                target = found->port;
            }
            out.endpoints.push_back({endpoint.address,
                                     target,
                                     endpoint.ready,
                                     endpoint.terminating,
                                     endpoint.weight,
                                     {},
                                     hostname(endpoint)});
        }
        if (slices != slices_by_service_.end()) {
            // EndpointSlice ports carry the service port's name and the resolved target number.
            for (const std::string& slice_key : slices->second) {
                const EndpointSliceConfig& slice = slices_.at(slice_key);
                const NamedPort* slice_port = find_named_port(slice.ports, port.name, port.protocol);
                if (!slice_port || slice.address_type != IpFamily::Ipv4) continue;
                for (const EndpointConfig& endpoint : slice.endpoints) {
                    out.endpoints.push_back({endpoint.address,
                                             slice_port->port,
                                             endpoint.ready,
                                             endpoint.terminating,
                                             endpoint.weight,
                                             {},
                                             hostname(endpoint)});
                }
            }
        }
        if (!is_zero(service.cluster_ip6) || service.headless)
            out.endpoints6 =
                resolve_endpoints6(service, pods, slices == slices_by_service_.end() ? nullptr : &slices->second, port);
        sort_unique_by_address_and_port(out.endpoints);
        resolved.ports.push_back(std::move(out));
    }
    if (!service.headless) return resolved;

    resolved.addresses6 =
        headless_addresses6(service, pods, slices == slices_by_service_.end() ? nullptr : &slices->second);
    std::vector<ResolvedEndpoint>& addresses = resolved.addresses;
    for (const PodConfig* selected : pods) {
        const PodConfig& pod = *selected;
        if (pod.address != 0) {
            addresses.push_back(
                {pod.address, 0, pod_ready(pod), pod.terminating, pod.weight, pod.name, pod_hostname(pod)});
        }
    }
    for (const EndpointConfig& endpoint : service.endpoints) {
        if (endpoint.is_ipv6()) continue;
        addresses.push_back(
            {endpoint.address, 0, endpoint.ready, endpoint.terminating, endpoint.weight, {}, endpoint.hostname});
    }
    if (slices != slices_by_service_.end()) {
        for (const std::string& slice_key : slices->second) {
            if (slices_.at(slice_key).address_type != IpFamily::Ipv4) continue;
            for (const EndpointConfig& endpoint : slices_.at(slice_key).endpoints) {
                addresses.push_back({endpoint.address,
                                     0,
                                     endpoint.ready,
                                     endpoint.terminating,
                                     endpoint.weight,
                                     {},
                                     endpoint.hostname});
            }
        }
    }
    keep_readiest_per_address(addresses);
    return resolved;
}

void ServiceStore::index_pod(const PodEntry& entry, bool add, Affected* selecting) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const auto& key = entry.first;
    const PodConfig& pod = entry.second;
    for (const auto& [label, value] : pod.labels) {
        const LabelKey index_key(pod.namespace_name, label, value);
        if (!add) {
            unpost(labels_, index_key.view(), &entry, &LabelPostings::pods);
            continue;
        }
        LabelPostings& postings = *labels_.try_emplace(index_key.view()).first;
        postings.pods.insert(&entry);
        if (!selecting) continue;
        postings.services.for_each([&](const ServiceEntry* service) {
            // index_service posts a service under its selector's first pair.
            const Labels& selector = *service->second.selector;
            if (other_pairs_present(selector, selector.begin(), pod.labels)) selecting->add(service->first);
        });
    }
    if (pod.address == 0) return;
    if (add) {
        *pod_by_address_.try_emplace(pod.address).first = &entry;
    } else if (const PodEntry* const* owner = pod_by_address_.find(pod.address); owner && (*owner)->first == key) {
        pod_by_address_.erase(pod.address);
    }
}

void ServiceStore::index_service(const ServiceEntry& entry, bool add) {
    const ServiceConfig& service = entry.second;
    if (!has_selector(service)) return;
    const auto& [label, value] = *service.selector->begin();
    const LabelKey index_key(service.namespace_name, label, value);
    if (add) {
        labels_.try_emplace(index_key.view()).first->services.insert(&entry);
    } else {
        unpost(labels_, index_key.view(), &entry, &LabelPostings::services);
    }
}

void ServiceStore::index_slice(const std::string& key, const EndpointSliceConfig& slice, bool add) {
    update_index(slices_by_service_, object_key(slice.namespace_name, slice.service_name), key, add);
}

// Every service that selects `pod` uses one of its labels as the first pair of its selector.
void ServiceStore::services_selecting(const PodConfig& pod, Affected& out) const {
    for (const auto& [label, value] : pod.labels) {
        const LabelPostings* found = labels_.find(LabelKey(pod.namespace_name, label, value).view());
        if (found == nullptr) continue;
        found->services.for_each([&](const ServiceEntry* service) {
            const Labels& selector = *service->second.selector;
            if (other_pairs_present(selector, selector.begin(), pod.labels)) out.add(service->first);
        });
    }
}

}  // namespace vipgate::config
