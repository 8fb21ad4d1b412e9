// What vipgen sends to and what it accepts back, read from the gateway's own config files.
//
// Design note: the checker must know, for every VIP port, which endpoints may legitimately
// receive its traffic, how the gateway rewrites sources (NAT mode, SNAT addresses) and which
// addresses vipgen must impersonate (endpoints, the clients' router). Reading vipgate's TOML
// with vipgate's own loader keeps the two from drifting apart. Several files are united:
// during an update storm the checker accepts every endpoint that any version lists, while the
// per-flow stickiness check catches a flow that moves between them. Endpoints come from a
// service's own `endpoints` (IPv4) and from the pods its selector picks (`pod_ips`: IPv4 and
// IPv6), as vipgate resolves them; an IPv6 cluster IP (`cluster_ips`, or an IPv6 `cluster_ip`)
// is a target of its own, after the same service port's IPv4 target.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace vipgen {

using Address6 = vipgate::config::Ipv6Address;  // network order

struct EndpointAddress {
    uint32_t address;     // host order; 0 for an IPv6 endpoint
    uint16_t port;        // host order
    Address6 address6{};  // zero for an IPv4 endpoint
    bool operator==(const EndpointAddress&) const = default;
    auto operator<=>(const EndpointAddress&) const = default;
};

// "198.18.0.11" or "2001:db8::20" (the address alone).
std::string format_address(const EndpointAddress& endpoint);

struct TargetEndpoint {
    EndpointAddress endpoint;
    uint32_t endpoint_index;  // index into Targets::endpoints (global, for per-endpoint shares)
    bool accepts_new_flows;   // ready with weight > 0 in at least one of the files
};

struct Target {
    uint32_t vip;                           // host order
    uint16_t port;                          // host order
    uint8_t protocol;                       // IPPROTO_TCP or IPPROTO_UDP
    std::string name;                       // "namespace/service:port"
    std::vector<TargetEndpoint> endpoints;  // sorted by endpoint, for binary search
    bool ipv6 = false;                      // the VIP is vip6 (and every endpoint IPv6)
    Address6 vip6{};
    const TargetEndpoint* find(uint32_t address, uint16_t port) const noexcept;
    const TargetEndpoint* find6(const uint8_t* address, uint16_t port) const noexcept;
};

enum class Protocols { Tcp, Udp, Any };
// Which cluster IPs get traffic. Dual: both, flows split by target (flow i goes to target
// i mod targets, and a dual-stack service port is one target per family, adjacent).
enum class Families { Ipv4, Ipv6, Dual };

struct Targets {
    std::vector<Target> targets;
    std::vector<EndpointAddress> endpoints;  // every distinct endpoint (address, port)
    vipgate::config::NatMode nat_mode = vipgate::config::NatMode::FullNat;
    std::vector<uint32_t> snat_addresses;      // sorted, host order (full-NAT sources)
    std::vector<Address6> snat_addresses6;     // sorted (full-NAT sources of IPv6 flows)
    uint32_t gateway_address = 0;              // the gateway's first port address: ARP target
    std::vector<uint32_t> impersonated_hosts;  // sorted: endpoint addresses and route next hops
    std::vector<Address6> neighbors6;          // sorted: the first file's static IPv6 neighbors

    bool is_snat_address(uint32_t address) const noexcept;
    bool is_snat_address6(const uint8_t* address) const noexcept;
    bool has_ipv6() const noexcept;
};

// Loads and unites the files (make_targets: configs already loaded) (each must be a valid vipgate config; errors list
// file:line:column). The first file decides NAT mode, SNAT addresses and the gateway address; the others must agree on
// them. Throws std::runtime_error with every problem found.
Targets load_targets(const std::vector<std::string>& config_files, Protocols protocols,
                     Families families = Families::Ipv4);
Targets make_targets(const std::vector<vipgate::config::Config>& configs, Protocols protocols,
                     Families families = Families::Ipv4);

// A single target for forwarder mode (no gateway config): all flows go to vip:port.
Targets forwarder_targets(uint32_t vip, uint16_t port, Protocols protocols);

}  // namespace vipgen
