#include "pktgen/targets.h"

#include <netinet/in.h>
#include <algorithm>
#include <map>
#include <stdexcept>

namespace vipgen {
namespace cfg = vipgate::config;

const TargetEndpoint* Target::find(uint32_t address, uint16_t target_port) const noexcept {
    const EndpointAddress key{address, target_port};
    auto it = std::lower_bound(endpoints.begin(), endpoints.end(), key,
                               [](const TargetEndpoint& e, const EndpointAddress& k) { return e.endpoint < k; });
    return it != endpoints.end() && it->endpoint == key ? &*it : nullptr;
}

bool Targets::is_snat_address(uint32_t address) const noexcept {
    return std::binary_search(snat_addresses.begin(), snat_addresses.end(), address);
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
    uint16_t port;
    uint8_t protocol;
    auto operator<=>(const TargetKey&) const = default;
};

std::vector<uint32_t> snat_of(const cfg::Config& config) {
    std::vector<uint32_t> addresses = config.snat.addresses;
    if (addresses.empty() && !config.ports.empty() && !config.ports[0].addresses.empty()) {
        addresses.push_back(config.ports[0].addresses[0].address);
    }
    std::sort(addresses.begin(), addresses.end());
    return addresses;
}

}  // namespace

Targets load_targets(const std::vector<std::string>& config_files, Protocols protocols) {
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
    return make_targets(configs, protocols);
}

Targets make_targets(const std::vector<cfg::Config>& configs, Protocols protocols) {
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
            result.gateway_address = config.ports[0].addresses[0].address;
        } else if (result.nat_mode != config.dataplane.nat_mode || result.snat_addresses != snat_of(config) ||
                   result.gateway_address != config.ports[0].addresses[0].address) {
            throw std::runtime_error(config.source + " disagrees with " + configs[0].source +
                                     " on nat_mode, [snat] addresses or the first port address");
        }
        for (const auto& route : config.routes) result.impersonated_hosts.push_back(route.via);

        for (const auto& service : config.services) {
            for (const auto& service_port : service.ports) {
                if (!wanted(service_port.protocol, protocols)) continue;
                const uint8_t protocol = service_port.protocol == cfg::Protocol::Tcp ? IPPROTO_TCP : IPPROTO_UDP;
                const TargetKey key{service.cluster_ip, service_port.port, protocol};
                auto [it, inserted] = target_by_key.try_emplace(key, result.targets.size());
                if (inserted) {
                    result.targets.push_back(
                        Target{service.cluster_ip,
                               service_port.port,
                               protocol,
                               service.namespace_name + "/" + service.name + ":" + std::to_string(service_port.port),
                               {}});
                    target_endpoints.emplace_back();
                }
                const uint16_t target_port = service_port.target_port ? service_port.target_port : service_port.port;
                for (const auto& endpoint : service.endpoints) {
                    if (!endpoint.ready && !endpoint.terminating) continue;
                    const EndpointAddress address{endpoint.address, endpoint.port ? endpoint.port : target_port};
                    const bool accepts_new = endpoint.ready && endpoint.weight > 0;
                    bool& slot = target_endpoints[it->second][address];
                    slot = slot || accepts_new;
                    result.impersonated_hosts.push_back(endpoint.address);
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
    if (protocols != Protocols::Udp) result.targets.push_back(Target{vip, port, IPPROTO_TCP, "tcp", {}});
    if (protocols != Protocols::Tcp) result.targets.push_back(Target{vip, port, IPPROTO_UDP, "udp", {}});
    return result;
}

}  // namespace vipgen
