// IPv6 endpoints beyond the selected pods' (the rest is resolve_endpoints6 in
// service_store_families.cpp): what a headless service's name answers with AAAA, and the rule
// that a service's own endpoints are of a family the service has.
//
// Design note: an endpoint is of one family (EndpointConfig::address6 set: IPv6), so a mixed
// `endpoints` list splits by family, each half feeding the cluster IP of its family, as
// Kubernetes' EndpointSlice controller writes one slice per address type. A service without a
// family (no IPv6 cluster IP) would never serve an IPv6 endpoint: refused when it is given,
// rather than kept and silently unused. Headless services have no cluster IP, and their
// ip_families are not settled: they take both families unless they list their families.
#include "config/service_store.h"

#include <algorithm>

#include "config/endpoint_order.h"

namespace vipgate::config {

std::vector<ResolvedEndpoint6> ServiceStore::headless_addresses6(const ServiceConfig& service,
                                                                 const std::vector<const PodConfig*>& pods,
                                                                 const std::set<std::string>* slices) const {
    std::vector<ResolvedEndpoint6> addresses;
    for (const PodConfig* pod : pods) {
        if (is_zero(pod->address6)) continue;
        const std::string hostname = pod->subdomain == service.name ? pod->hostname : std::string();
        addresses.push_back({pod->address6, 0, pod->ready || service.publish_not_ready_addresses, pod->terminating,
                             pod->weight, pod->name, hostname});
    }
    for (const EndpointConfig& endpoint : service.endpoints) {
        if (!endpoint.is_ipv6()) continue;
        addresses.push_back(
            {endpoint.address6, 0, endpoint.ready, endpoint.terminating, endpoint.weight, {}, endpoint.hostname});
    }
    for (const std::string& slice_key : slices ? *slices : std::set<std::string>{}) {
        const EndpointSliceConfig& slice = slices_.at(slice_key);
        if (slice.address_type != IpFamily::Ipv6) continue;
        for (const EndpointConfig& endpoint : slice.endpoints) {
            addresses.push_back(
                {endpoint.address6, 0, endpoint.ready, endpoint.terminating, endpoint.weight, {}, endpoint.hostname});
        }
    }
    keep_readiest_per_address(addresses);
    return addresses;
}

void ServiceStore::check_endpoint_families(const StagedServices& staged, const Failures& fail) const {
    for (const ServiceConfig& service : staged.services) {
        if (service.endpoints.empty() || !service.external_name.empty()) continue;
        if (service.headless && service.ip_families.empty()) continue;
        const std::string path = "service " + object_key(service.namespace_name, service.name) + ".endpoints";
        for (size_t k = 0; k < service.endpoints.size(); ++k) {
            const IpFamily family = service.endpoints[k].is_ipv6() ? IpFamily::Ipv6 : IpFamily::Ipv4;
            if (std::find(service.ip_families.begin(), service.ip_families.end(), family) !=
                service.ip_families.end()) {
                continue;
            }
            const std::string name(ip_family_name(family));
            std::string families;
            for (IpFamily each : service.ip_families) {
                families += families.empty() ? "" : ", ";
                families += ip_family_name(each);
            }
            fail(path + "[" + std::to_string(k) + "].address",
                 "is an " + name + " address and the service has no " + name + " cluster IP (ip_families [" + families +
                     "]); give the service that family (ip_families, ip_family_policy) or remove the "
                     "endpoint");
        }
    }
}

}  // namespace vipgate::config
