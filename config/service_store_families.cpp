// Dual-stack services (Kubernetes' ipFamilies and ipFamilyPolicy): which families a service gets
// and its IPv6 cluster IP. The IPv4 address keeps its own path in service_store.cpp.
//
// Design note: as kube-apiserver does, the families are settled when a service is stored and
// are then part of it (a dump writes them out): an omitted list means the primary family (or
// the service's existing one), a dual-stack policy adds the other family when the cluster has
// a CIDR for it, PreferDualStack quietly stays single-stack when it has not, RequireDualStack
// is refused. The primary family never changes; the secondary may be added or dropped.
#include "config/service_store.h"

#include <algorithm>
#include <optional>

#include "config/endpoint_order.h"

namespace vipgate::config {

namespace {

IpFamily other(IpFamily family) {
    return family == IpFamily::Ipv4 ? IpFamily::Ipv6 : IpFamily::Ipv4;
}

std::string family_list(const std::vector<IpFamily>& families) {
    std::string text = "[";
    for (IpFamily family : families) {
        if (text.size() > 1) text += ", ";
        text += ip_family_name(family);
    }
    return text + "]";
}

}  // namespace

bool ServiceStore::settle_families(ServiceConfig& service, const ServiceConfig* existing, const std::string& path,
                                   const Failures& fail) const {
    const bool cidr[2] = {cluster_.service_cidr.has_value(), cluster_.service_cidr_ipv6.has_value()};
    const IpFamily primary = cidr[0] || !cidr[1] ? IpFamily::Ipv4 : IpFamily::Ipv6;
    const bool existed =
        existing != nullptr && !existing->headless && existing->external_name.empty() && !existing->ip_families.empty();
    std::vector<IpFamily>& families = service.ip_families;
    if (families.empty()) families.push_back(existed ? existing->ip_families[0] : primary);
    auto has_address = [&](IpFamily family) {
        if (family == IpFamily::Ipv4) return service.cluster_ip != 0 || (existed && existing->cluster_ip != 0);
        return !is_zero(service.cluster_ip6) || (existed && !is_zero(existing->cluster_ip6));
    };
    auto available = [&](IpFamily family) { return cidr[family == IpFamily::Ipv6] || has_address(family); };
    const IpFamilyPolicy policy = service.ip_family_policy;
    if (policy != IpFamilyPolicy::SingleStack && families.size() == 1 && available(other(families[0]))) {
        families.push_back(other(families[0]));
    }
    if (policy == IpFamilyPolicy::PreferDualStack && families.size() == 2 && !available(families[1])) {
        families.pop_back();
    }
    if (policy == IpFamilyPolicy::RequireDualStack &&
        (families.size() < 2 || !available(families[0]) || !available(families[1]))) {
        const IpFamily missing = families.size() < 2 || available(families[0]) ? other(families[0]) : families[0];
        fail(path + ".ip_family_policy",
             "RequireDualStack needs a cluster IP of each family, and [cluster] service_cidr has no " +
                 std::string(ip_family_name(missing)) +
                 " CIDR to allocate from; add one (service_cidr = [\"198.18.128.0/20\", \"2001:db8:1::/112\"]), "
                 "give both addresses in cluster_ips, or use PreferDualStack");
        return false;
    }
    if (existed && existing->ip_families[0] != families[0]) {
        fail(path + ".ip_families",
             "the primary family cannot change from " + std::string(ip_family_name(existing->ip_families[0])) + " to " +
                 std::string(ip_family_name(families[0])) + " (now " + family_list(existing->ip_families) +
                 "); delete and recreate the service, as in Kubernetes");
        return false;
    }
    return true;
}

bool ServiceStore::stage_ipv6(ServiceConfig& service, const ServiceConfig* existing, const std::set<ObjectRef>& deletes,
                              StagedServices& staged, std::map<Ipv6Address, std::string>& batch_ips,
                              const std::string& path, const Failures& fail) const {
    const std::string ip_path = path + ".cluster_ips";
    const bool had = existing != nullptr && !is_zero(existing->cluster_ip6) && !existing->headless &&
                     existing->external_name.empty();
    if (std::find(service.ip_families.begin(), service.ip_families.end(), IpFamily::Ipv6) ==
        service.ip_families.end()) {
        service.cluster_ip6 = {};
        if (had) staged.allocator6.release(existing->cluster_ip6);  // the secondary family dropped
        return true;
    }
    if (had) {
        if (!is_zero(service.cluster_ip6) && service.cluster_ip6 != existing->cluster_ip6) {
            fail(ip_path, "cannot change from " + format_ipv6(existing->cluster_ip6) + " to " +
                              format_ipv6(service.cluster_ip6) +
                              "; a ClusterIP is immutable (delete and recreate the service)");
            return false;
        }
        service.cluster_ip6 = existing->cluster_ip6;
        return true;
    }
    if (is_zero(service.cluster_ip6)) return true;  // allocated after every given address is claimed
    const std::string ip = format_ipv6(service.cluster_ip6);
    const std::string key = object_key(service.namespace_name, service.name);
    if (reserved6_.count(service.cluster_ip6)) {
        fail(ip_path, ip + " is one of the gateway's own addresses (a port's or SNAT's)");
    } else if (staged.allocator6.has_range() && !staged.allocator6.in_range(service.cluster_ip6)) {
        fail(ip_path, ip + " is outside the IPv6 service CIDR " + format_ipv6_prefix(*staged.allocator6.range()) +
                          "; choose an address inside it or omit it to allocate one");
    } else if (auto owner = service_by_ip6_.find(service.cluster_ip6);
               owner != service_by_ip6_.end() && !deletes.count({ObjectKind::Service, owner->second})) {
        fail(ip_path, ip + " is already allocated to service " + owner->second);
    } else if (auto claimed = batch_ips.find(service.cluster_ip6); claimed != batch_ips.end()) {
        fail(ip_path, ip + " is also requested by service " + claimed->second + " in this request");
    } else {
        batch_ips.emplace(service.cluster_ip6, key);
        staged.allocator6.claim(service.cluster_ip6);
        return true;
    }
    return false;
}

void ServiceStore::allocate_ipv6(StagedServices& staged, const std::vector<size_t>& to_allocate,
                                 const Failures& fail) const {
    std::vector<Ipv6Address> skipped;  // the gateway's own, claimed while allocating, handed back afterwards
    for (size_t i : to_allocate) {
        ServiceConfig& service = staged.services[i];
        const std::string path = "service " + object_key(service.namespace_name, service.name) + ".cluster_ips";
        if (!staged.allocator6.has_range()) {
            fail(path,
                 "needs an IPv6 cluster IP and there is no IPv6 [cluster] service_cidr to allocate from; add "
                 "one (service_cidr = [\"198.18.128.0/20\", \"2001:db8:1::/112\"]) or give the address");
            continue;
        }
        std::optional<Ipv6Address> address;
        while ((address = staged.allocator6.allocate()) && reserved6_.count(*address)) skipped.push_back(*address);
        if (!address) {
            fail(path, "the IPv6 service CIDR " + format_ipv6_prefix(*staged.allocator6.range()) + " is exhausted (" +
                           std::to_string(staged.allocator6.used()) +
                           " addresses in use); delete services or widen it");
            continue;
        }
        service.cluster_ip6 = *address;
    }
    for (const Ipv6Address& address : skipped) staged.allocator6.release(address);
}

// As the IPv4 endpoints (service_store.cpp): a named target port resolves per pod or endpoint,
// a slice's ports carry the service port's name; publishNotReadyAddresses makes every pod ready.
std::vector<ResolvedEndpoint6> ServiceStore::resolve_endpoints6(const ServiceConfig& service,
                                                                const std::vector<const PodConfig*>& pods,
                                                                const std::set<std::string>* slices,
                                                                const ServicePortConfig& port) const {
    std::vector<ResolvedEndpoint6> endpoints;
    const uint16_t numeric_target = port.target_port != 0 ? port.target_port : port.port;
    auto named_target = [&](const std::vector<NamedPort>& ports) -> std::optional<uint16_t> {
        auto named = std::find_if(ports.begin(), ports.end(), [&](const NamedPort& candidate) {
            return candidate.name == port.target_port_name && candidate.protocol == port.protocol;
        });
        if (named == ports.end()) return std::nullopt;
        return named->port;
    };
    for (const PodConfig* pod : pods) {
        if (is_zero(pod->address6)) continue;
        uint16_t target = numeric_target;
        if (!port.target_port_name.empty()) {
            std::optional<uint16_t> named = named_target(pod->ports);
            if (!named) continue;
            target = *named;
        }
        const bool named_here = service.headless && pod->subdomain == service.name;
        endpoints.push_back({pod->address6, target, pod->ready || service.publish_not_ready_addresses, pod->terminating,
                             pod->weight, pod->name, named_here ? pod->hostname : std::string()});
    }
    auto hostname = [&](const EndpointConfig& endpoint) {
        return service.headless ? endpoint.hostname : std::string();
    };
    for (const EndpointConfig& endpoint : service.endpoints) {
        if (!endpoint.is_ipv6()) continue;
        uint16_t target = endpoint.port != 0 ? endpoint.port : numeric_target;
        if (endpoint.port == 0 && !port.target_port_name.empty()) {
            std::optional<uint16_t> named = named_target(endpoint.ports);
            if (!named) continue;
            target = *named;
        }
        endpoints.push_back(
            {endpoint.address6, target, endpoint.ready, endpoint.terminating, endpoint.weight, {}, hostname(endpoint)});
    }
    for (const std::string& slice_key : slices ? *slices : std::set<std::string>{}) {
        const EndpointSliceConfig& slice = slices_.at(slice_key);
        if (slice.address_type != IpFamily::Ipv6) continue;
        auto slice_port = std::find_if(slice.ports.begin(), slice.ports.end(), [&](const NamedPort& candidate) {
            return candidate.name == port.name && candidate.protocol == port.protocol;
        });
        if (slice_port == slice.ports.end()) continue;
        for (const EndpointConfig& endpoint : slice.endpoints) {
            endpoints.push_back({endpoint.address6,
                                 slice_port->port,
                                 endpoint.ready,
                                 endpoint.terminating,
                                 endpoint.weight,
                                 {},
                                 hostname(endpoint)});
        }
    }
    sort_unique_by_address_and_port(endpoints);
    return endpoints;
}

}  // namespace vipgate::config
