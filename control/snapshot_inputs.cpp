#include "control/snapshot_inputs.h"

#include <algorithm>
#include <tuple>

#include "dataplane/dns_zone.h"

namespace vipgate {

std::map<std::string, config::ResolvedService> dns_upstream_services(const config::DnsConfig& dns) {
    std::map<std::string, config::ResolvedService> services;
    if (dns.upstreams.empty()) return services;
    config::ResolvedPort port;
    port.port.protocol = config::Protocol::Udp;
    port.port.port = dns::kPort;
    for (const config::DnsUpstream& upstream : dns.upstreams) {
        port.endpoints.push_back({upstream.address, upstream.port, true, false, 1, {}, {}});
    }
    std::sort(port.endpoints.begin(), port.endpoints.end(),
              [](const auto& a, const auto& b) { return std::tie(a.address, a.port) < std::tie(b.address, b.port); });
    for (uint32_t address : dns.addresses) {
        config::ResolvedService service;
        service.namespace_name = "dns";
        service.name = "upstream";
        service.cluster_ip = address;
        service.ports.push_back(port);
        services.emplace("dns-upstream|" + config::format_ipv4(address), std::move(service));
    }
    return services;
}

std::vector<uint32_t> gateway_addresses(const config::Config& config) {
    std::vector<uint32_t> addresses(config.snat.addresses);
    for (const auto& port : config.ports) {
        for (const auto& prefix : port.addresses) addresses.push_back(prefix.address);
    }
    return addresses;
}

std::vector<config::Ipv6Address> gateway_addresses6(const config::Config& config) {
    std::vector<config::Ipv6Address> addresses(config.snat.addresses6);
    for (const auto& port : config.ports) {
        for (const auto& prefix : port.addresses6) addresses.push_back(prefix.address);
    }
    return addresses;
}

config::ObjectSet objects_of(const config::Config& config) {
    return config::ObjectSet{config.services, config.pods, config.endpoint_slices, config.dns};
}

}  // namespace vipgate
