#include "pktgen/targets.h"

#include <netinet/in.h>
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>

#include "config/service_store.h"

namespace vipgen {
namespace cfg = vipgate::config;

std::string format_address(const EndpointAddress& endpoint) {
    return cfg::is_zero(endpoint.address6) ? cfg::format_ipv4(endpoint.address) : cfg::format_ipv6(endpoint.address6);
}

const TargetEndpoint* Target::find(uint32_t address, uint16_t target_port) const noexcept {
    const EndpointAddress key{address, target_port};
    auto it = std::lower_bound(endpoints.begin(), endpoints.end(), key,
                               [](const TargetEndpoint& e, const EndpointAddress& k) { return e.endpoint < k; });
    return it != endpoints.end() && it->endpoint == key ? &*it : nullptr;
}

const TargetEndpoint* Target::find6(const uint8_t* address, uint16_t target_port) const noexcept {
    EndpointAddress key{0, target_port, {}};
    std::memcpy(key.address6.data(), address, key.address6.size());
    auto it = std::lower_bound(endpoints.begin(), endpoints.end(), key,
                               [](const TargetEndpoint& e, const EndpointAddress& k) { return e.endpoint < k; });
    return it != endpoints.end() && it->endpoint == key ? &*it : nullptr;
}

bool Targets::is_snat_address(uint32_t address) const noexcept {
    return std::binary_search(snat_addresses.begin(), snat_addresses.end(), address);
}

bool Targets::is_snat_address6(const uint8_t* address) const noexcept {
    Address6 key;
    std::memcpy(key.data(), address, key.size());
    return std::binary_search(snat_addresses6.begin(), snat_addresses6.end(), key);
}

bool Targets::has_ipv6() const noexcept {
    return std::any_of(targets.begin(), targets.end(), [](const Target& t) { return t.ipv6; });
}

namespace {

bool wanted(cfg::Protocol protocol, Protocols protocols) {
    // vipgen generates TCP and UDP only; SCTP service ports are not targets.
    if (protocol == cfg::Protocol::Sctp) return false;
    if (protocols == Protocols::Any) return true;
    return (protocol == cfg::Protocol::Tcp) == (protocols == Protocols::Tcp);
}

struct TargetKey {
    uint32_t vip;
    Address6 vip6;
    uint16_t port;
    uint8_t protocol;
    auto operator<=>(const TargetKey&) const = default;
};

// An endpoint as vipgen sees it, from a service's `endpoints` or from a selected pod.
struct Candidate {
    uint32_t address;
    Address6 address6;
    uint16_t port;  // 0: the service port's target port
    bool ready;
    bool terminating;
    uint32_t weight;
    const std::vector<cfg::NamedPort>* named_ports;
};

// The endpoint's port for a service port: a named target port is looked up in the endpoint's
// own ports (none: not an endpoint of this port, as in Kubernetes).
std::optional<uint16_t> target_port_of(const cfg::ServicePortConfig& service_port, const Candidate& candidate) {
    if (!service_port.target_port_name.empty()) {
        for (const auto& named : *candidate.named_ports) {
            if (named.name == service_port.target_port_name && named.protocol == service_port.protocol) {
                return named.port;
            }
        }
        return std::nullopt;
    }
    if (candidate.port != 0) return candidate.port;
    return service_port.target_port ? service_port.target_port : service_port.port;
}

std::vector<Candidate> candidates_of(const cfg::Config& config, const cfg::ServiceConfig& service) {
    std::vector<Candidate> result;
    for (const auto& e : service.endpoints) {
        result.push_back(Candidate{e.address, {}, e.port, e.ready, e.terminating, e.weight, &e.ports});
    }
    if (service.selector && !service.selector->empty()) {
        for (const auto& pod : config.pods) {
            if (pod.namespace_name != service.namespace_name || !cfg::selector_matches(*service.selector, pod.labels)) {
                continue;
            }
            result.push_back(
                Candidate{pod.address, pod.address6, 0, pod.ready, pod.terminating, pod.weight, &pod.ports});
        }
    }
    return result;
}

std::vector<Address6> snat6_of(const cfg::Config& config) {
    std::vector<Address6> addresses = config.snat.addresses6;
    if (addresses.empty()) {
        for (const auto& port : config.ports) {
            if (!port.addresses6.empty()) {
                addresses.push_back(port.addresses6[0].address);
                break;
            }
        }
    }
    std::sort(addresses.begin(), addresses.end());
    return addresses;
}

std::vector<uint32_t> snat_of(const cfg::Config& config) {
    std::vector<uint32_t> addresses = config.snat.addresses;
    if (addresses.empty() && !config.ports.empty() && !config.ports[0].addresses.empty()) {
        addresses.push_back(config.ports[0].addresses[0].address);
    }
    std::sort(addresses.begin(), addresses.end());
    return addresses;
}

}  // namespace

Targets load_targets(const std::vector<std::string>& config_files, Protocols protocols, Families families) {
    if (config_files.empty()) throw std::runtime_error("vipgate mode needs at least one --config FILE");
    std::vector<cfg::Config> configs;
    for (const auto& file : config_files) {
        cfg::LoadResult loaded = cfg::load_config_file(file);
        if (!loaded.config) {
            std::string message = "cannot use " + file + ":";
            for (const auto& error : loaded.errors) message += "\n  " + error.to_string();
            throw std::runtime_error(message);
        }
        configs.push_back(std::move(*loaded.config));
    }
    return make_targets(configs, protocols, families);
}

Targets make_targets(const std::vector<cfg::Config>& configs, Protocols protocols, Families families) {
    if (configs.empty()) throw std::runtime_error("no gateway config given");
    Targets result;
    std::map<TargetKey, size_t> target_by_key;
    std::map<EndpointAddress, uint32_t> endpoint_index;
    std::vector<std::map<EndpointAddress, bool>> target_endpoints;  // endpoint -> accepts new flows

    for (size_t file = 0; file < configs.size(); ++file) {
        const cfg::Config& config = configs[file];
        if (config.ports.empty() || config.ports[0].addresses.empty()) {
            throw std::runtime_error(config.source + ": the gateway has no port address to talk to");
        }
        if (file == 0) {
            result.nat_mode = config.dataplane.nat_mode;
            result.snat_addresses = snat_of(config);
            result.snat_addresses6 = snat6_of(config);
            result.gateway_address = config.ports[0].addresses[0].address;
            for (const auto& neighbor : config.neighbors) {
                if (!cfg::is_zero(neighbor.address6)) result.neighbors6.push_back(neighbor.address6);
            }
            std::sort(result.neighbors6.begin(), result.neighbors6.end());
        } else if (result.nat_mode != config.dataplane.nat_mode || result.snat_addresses != snat_of(config) ||
                   result.snat_addresses6 != snat6_of(config) ||
                   result.gateway_address != config.ports[0].addresses[0].address) {
            throw std::runtime_error(config.source + " disagrees with " + configs[0].source +
                                     " on nat_mode, [snat] addresses or the first port address");
        }
        for (const auto& route : config.routes) result.impersonated_hosts.push_back(route.via);

        for (const auto& service : config.services) {
            const std::vector<Candidate> candidates = candidates_of(config, service);
            for (const auto& service_port : service.ports) {
                if (!wanted(service_port.protocol, protocols)) continue;
                const uint8_t protocol = service_port.protocol == cfg::Protocol::Tcp ? IPPROTO_TCP : IPPROTO_UDP;
                const std::string name =
                    service.namespace_name + "/" + service.name + ":" + std::to_string(service_port.port);
                for (const bool ipv6 : {false, true}) {
                    if (ipv6 ? families == Families::Ipv4 || cfg::is_zero(service.cluster_ip6)
                             : families == Families::Ipv6 || service.cluster_ip == 0) {
                        continue;  // an address vipgate allocates is not known here: give it in the config
                    }
                    const TargetKey key{ipv6 ? 0 : service.cluster_ip, ipv6 ? service.cluster_ip6 : Address6{},
                                        service_port.port, protocol};
                    auto [it, inserted] = target_by_key.try_emplace(key, result.targets.size());
                    if (inserted) {
                        Target target{key.vip, key.port, protocol, ipv6 ? name + "/IPv6" : name, {}};
                        target.ipv6 = ipv6;
                        target.vip6 = key.vip6;
                        result.targets.push_back(std::move(target));
                        target_endpoints.emplace_back();
                    }
                    for (const Candidate& candidate : candidates) {
                        if (!candidate.ready && !candidate.terminating) continue;
                        if (ipv6 ? cfg::is_zero(candidate.address6) : candidate.address == 0) continue;
                        const std::optional<uint16_t> port = target_port_of(service_port, candidate);
                        if (!port) continue;
                        const EndpointAddress address = ipv6 ? EndpointAddress{0, *port, candidate.address6}
                                                             : EndpointAddress{candidate.address, *port};
                        const bool accepts_new = candidate.ready && candidate.weight > 0;
                        bool& slot = target_endpoints[it->second][address];
                        slot = slot || accepts_new;
                        if (!ipv6) result.impersonated_hosts.push_back(candidate.address);
                    }
                }
            }
        }
    }
    for (size_t t = 0; t < result.targets.size(); ++t) {
        for (const auto& [address, accepts_new] : target_endpoints[t]) {
            auto [it, inserted] = endpoint_index.try_emplace(address, static_cast<uint32_t>(result.endpoints.size()));
            if (inserted) result.endpoints.push_back(address);
            result.targets[t].endpoints.push_back(TargetEndpoint{address, it->second, accepts_new});
        }
    }
    std::sort(result.impersonated_hosts.begin(), result.impersonated_hosts.end());
    result.impersonated_hosts.erase(std::unique(result.impersonated_hosts.begin(), result.impersonated_hosts.end()),
                                    result.impersonated_hosts.end());
    return result;
}

Targets forwarder_targets(uint32_t vip, uint16_t port, Protocols protocols) {
    Targets result;
    if (protocols != Protocols::Udp) result.targets.push_back(Target{vip, port, IPPROTO_TCP, "tcp", {}, false, {}});
    if (protocols != Protocols::Tcp) result.targets.push_back(Target{vip, port, IPPROTO_UDP, "udp", {}, false, {}});
    return result;
}

}  // namespace vipgen
