// The vipgate configuration model: plain structs filled by the TOML loader and checked by
// validate(). Nothing here touches DPDK; the control thread compiles a validated Config into a
// dataplane Snapshot.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config {

// IPv4 address in host byte order plus a prefix length (32 for a plain address).
struct Ipv4Prefix {
    uint32_t address = 0;
    uint8_t length = 32;
    auto operator<=>(const Ipv4Prefix&) const = default;
};

using MacAddress = std::array<uint8_t, 6>;

// IPv6 address in network byte order; all zeros means "none" (as 0 does for an IPv4 address).
using Ipv6Address = std::array<uint8_t, 16>;

struct Ipv6Prefix {
    Ipv6Address address{};
    uint8_t length = 128;
    bool operator==(const Ipv6Prefix&) const = default;
};

// Kubernetes dual-stack (spec.ipFamilies, spec.ipFamilyPolicy).
enum class IpFamily { Ipv4, Ipv6 };
enum class IpFamilyPolicy { SingleStack, PreferDualStack, RequireDualStack };

enum class NatMode { FullNat, DnatOnly };
enum class Protocol { Tcp, Udp, Sctp };
enum class SessionAffinity { None, ClientIp };
enum class IdleMode { Poll, Adaptive };

using Labels = std::map<std::string, std::string>;

struct EalConfig {
    std::vector<std::string> args;  // passed to rte_eal_init after argv[0]
    bool operator==(const EalConfig&) const = default;
};

struct PortConfig {
    std::string name;                   // local name used by routes, e.g. "p0"
    std::string device;                 // DPDK device string, e.g. "net_pcap0,rx_pcap=in.pcap"
    std::optional<MacAddress> mac;      // overrides the device's MAC when set
    std::vector<Ipv4Prefix> addresses;  // the gateway's own addresses on this port (CIDR)
    uint16_t vlan = 0;                  // 0: untagged; otherwise 802.1Q VLAN id carried on this port
    bool promiscuous = false;
    std::optional<uint16_t> mtu;                // largest IPv4 datagram sent; default: the device's own MTU
    std::string kernel_interface;               // Linux tap for the kernel exception path; empty: none
    std::vector<Ipv6Prefix> addresses6;         // the IPv6 entries of `addresses` (on-link prefixes for NAT66)
    bool accept_router_advertisements = false;  // learn IPv6 default routers on this port
    bool operator==(const PortConfig&) const = default;
};

struct RouteConfig {
    Ipv4Prefix prefix;
    uint32_t via = 0;  // next hop (host order); must be inside a port's connected subnet
    std::string port;  // derived from `via` when empty
    // An IPv6 route (prefix and via both IPv6): via6 on one of a port's IPv6 prefixes.
    bool ipv6 = false;
    Ipv6Prefix prefix6{};
    Ipv6Address via6{};
    bool operator==(const RouteConfig&) const = default;
};

struct NeighborConfig {
    uint32_t address = 0;  // host order
    MacAddress mac{};
    std::string port;        // derived from the connected subnet when empty
    Ipv6Address address6{};  // an IPv6 neighbor (address then stays 0); static until ND (docs/ipv6.md)
    bool operator==(const NeighborConfig&) const = default;
};

struct DataplaneConfig {
    std::vector<unsigned> worker_lcores;  // EAL lcore ids; must not include the main lcore
    NatMode nat_mode = NatMode::FullNat;
    uint64_t hash_seed = 0x5eed5eed;
    uint32_t maglev_max_table_size = 65537;  // prime
    uint32_t stats_interval_ms = 1000;
    uint32_t mbufs_per_port = 16383;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    IdleMode idle = IdleMode::Poll;    // adaptive: back off to short sleeps while queues are empty
    uint32_t idle_max_sleep_us = 100;  // the longest of those sleeps
    bool operator==(const DataplaneConfig&) const = default;
};

struct SnatConfig {
    std::vector<uint32_t> addresses;  // host order; default: first address of the first port
    uint16_t port_min = 1024;
    uint16_t port_max = 65535;
    // The IPv6 entries of `addresses`; default: the first IPv6 address of the first port with one.
    std::vector<Ipv6Address> addresses6;
    bool operator==(const SnatConfig&) const = default;
};

struct ConntrackConfig {
    uint32_t capacity = 1u << 20;     // connections per worker
    uint32_t tcp_syn_timeout_s = 10;  // half-open (SYN seen, no answer yet)
    uint32_t tcp_established_timeout_s = 900;
    uint32_t tcp_closing_timeout_s = 30;  // FIN seen
    uint32_t tcp_closed_timeout_s = 5;    // RST seen / both FINs acknowledged
    uint32_t udp_timeout_s = 120;         // once the endpoint has answered
    uint32_t icmp_timeout_s = 10;
    uint32_t udp_unreplied_timeout_s = 30;  // UDP until the endpoint answers; <= udp_timeout_s
    uint32_t half_open_min_idle_ms = 0;     // unanswered entries idle less are not evicted (0: off)
    bool operator==(const ConntrackConfig&) const = default;
};

// A resolver for names outside the cluster zone.
struct DnsUpstream {
    uint32_t address = 0;  // host order
    uint16_t port = 53;
    bool operator==(const DnsUpstream&) const = default;
};

// The cluster DNS server (Kubernetes DNS specification 1.1.0): the addresses it answers on, the
// zone it is authoritative for, and where other names go. No addresses: no DNS server.
struct DnsConfig {
    static constexpr size_t kMaxAddresses = 8;
    static constexpr uint32_t kDefaultRateLimit = 1000;

    std::vector<uint32_t> addresses;     // host order, at most kMaxAddresses
    std::string zone = "cluster.local";  // lower-case, without the trailing dot
    uint32_t ttl_s = 5;
    std::vector<DnsUpstream> upstreams;
    uint32_t rate_limit = kDefaultRateLimit;  // responses/s per client address per worker; 0: off
    uint32_t rate_limit_slip = 2;             // every Nth limited answer goes out truncated; 0: none
    bool operator==(const DnsConfig&) const = default;
};

// Per-worker token buckets (dataplane/token_bucket.h); rate 0 turns a limit off. Reloadable.
struct LimitsConfig {
    uint32_t answer_rate = 1000;  // ICMP errors, TCP RSTs, SCTP ABORTs per second (Linux icmp_msgs_per_sec)
    uint32_t answer_burst = 50;   // (Linux icmp_msgs_burst)
    uint32_t punt_rate = 10000;   // packets to the control thread per second (ARP, neighbor misses)
    uint32_t punt_burst = 1000;
    bool operator==(const LimitsConfig&) const = default;
};

// [announce]: the served VIPs as /32 host routes in a kernel routing table of their own, routed
// through a port's kernel interface, for a routing daemon (BIRD, FRR) to redistribute.
struct AnnounceConfig {
    bool enabled = false;
    uint32_t table = 100;    // the kernel routing table; not main (254), local (255), default (253) or 0
    std::string port;        // the port whose kernel_interface carries the routes; empty: the first that has one
    bool aggregate = false;  // also cluster.service_cidr while any VIP is announced
    bool operator==(const AnnounceConfig&) const = default;
};

// Where ClusterIPs come from and who may reach them.
// `service_cidr` takes one CIDR or one per family (Kubernetes' --service-cluster-ip-range); the
// primary family is IPv4 when there is an IPv4 CIDR (or none at all), else IPv6.
struct ClusterConfig {
    // The IPv6 service CIDR is at most a /108 (2^20 addresses), as kube-apiserver requires.
    static constexpr uint8_t kMinIpv6ServiceCidrLength = 108;

    std::optional<Ipv4Prefix> service_cidr;  // omitted IPv4 cluster IPs are allocated from here
    // Sources allowed to reach ClusterIPs (and the DNS), one list in TOML; both empty: any. Once
    // either family has a range, a source of the other family needs a range of its own.
    std::vector<Ipv4Prefix> client_ranges;
    std::vector<Ipv6Prefix> client_ranges6;
    std::optional<Ipv6Prefix> service_cidr_ipv6;  // omitted IPv6 cluster IPs are allocated from here
    bool restricts_clients() const noexcept { return !client_ranges.empty() || !client_ranges6.empty(); }
    bool operator==(const ClusterConfig&) const = default;
};

struct ServicePortConfig {
    std::string name;
    Protocol protocol = Protocol::Tcp;
    uint16_t port = 0;
    uint16_t target_port = 0;      // 0: same as port (unless target_port_name is set)
    std::string target_port_name;  // set: a named port, resolved per endpoint
    bool operator==(const ServicePortConfig&) const = default;
};

// A port an endpoint (pod container, EndpointSlice) exposes under a name.
struct NamedPort {
    std::string name;
    Protocol protocol = Protocol::Tcp;
    uint16_t port = 0;
    bool operator==(const NamedPort&) const = default;
};

// Endpoint conditions follow discovery.k8s.io/v1: `ready` here is "serving" (it can take
// traffic); ready && !terminating is Kubernetes' Ready, ready && terminating is
// serving-terminating (used only when no endpoint is Ready, KEP-1669).
struct EndpointConfig {
    uint32_t address = 0;  // host order; 0 for an IPv6 endpoint
    uint16_t port = 0;     // 0: the service port's target_port
    bool ready = true;
    bool terminating = false;
    uint32_t weight = 1;           // 0 drains: no new connections, existing ones continue
    std::vector<NamedPort> ports;  // named ports, for services whose target_port is a name
    std::string hostname;          // DNS-1123 label: <hostname>.<service>.<ns>.svc.<zone> (headless)
    Ipv6Address address6{};        // set: an IPv6 endpoint (address stays 0), of the IPv6 cluster IP
    bool is_ipv6() const noexcept { return address6 != Ipv6Address{}; }
    bool operator==(const EndpointConfig&) const = default;
};

constexpr uint32_t kDefaultAffinityTimeoutS = 10800;

struct ServiceConfig {
    std::string name;
    std::string namespace_name = "default";
    uint32_t cluster_ip = 0;                   // host order; 0: allocated from cluster.service_cidr
    bool headless = false;                     // clusterIP: None; no VIP, nothing reaches the dataplane, DNS only
    std::string external_name;                 // set: type ExternalName, a DNS alias (CNAME); no ClusterIP, no VIP
    bool publish_not_ready_addresses = false;  // endpoints count as ready whatever their condition
    std::optional<Labels> selector;            // set: endpoints are the matching pods
    std::vector<ServicePortConfig> ports;
    std::vector<EndpointConfig> endpoints;  // given directly (services without a selector)
    SessionAffinity session_affinity = SessionAffinity::None;
    uint32_t affinity_timeout_s = kDefaultAffinityTimeoutS;  // 1..86400
    Ipv6Address cluster_ip6{};                               // the IPv6 cluster IP; zero: none, or allocated
    // Primary first. Empty: chosen when the service is stored (the cluster's primary family, and
    // the other one for a dual-stack policy when the cluster has both CIDRs).
    std::vector<IpFamily> ip_families;
    IpFamilyPolicy ip_family_policy = IpFamilyPolicy::SingleStack;
    bool operator==(const ServiceConfig&) const = default;
};

struct PodConfig {
    std::string name;
    std::string namespace_name = "default";
    uint32_t address = 0;  // host order (status.podIP, or the IPv4 entry of status.podIPs)
    Labels labels;
    std::vector<NamedPort> ports;  // container ports
    bool ready = true;             // Ready condition
    bool terminating = false;      // deletionTimestamp set
    uint32_t weight = 1;           // vipgate extension; 0 drains
    std::string hostname;          // spec.hostname; with subdomain == a headless service's name it
    std::string subdomain;         // names the pod: <hostname>.<subdomain>.<ns>.svc.<zone>
    Ipv6Address address6{};        // the IPv6 entry of status.podIPs: the endpoint of IPv6 cluster IPs
    bool operator==(const PodConfig&) const = default;
};

// discovery.k8s.io/v1 EndpointSlice: endpoints of the service named by service_name.
struct EndpointSliceConfig {
    std::string name;
    std::string namespace_name = "default";
    std::string service_name;  // label kubernetes.io/service-name
    std::vector<NamedPort> ports;
    std::vector<EndpointConfig> endpoints;   // address, conditions, weight; ports come from the slice
    IpFamily address_type = IpFamily::Ipv4;  // addressType: every endpoint is of this family
    bool operator==(const EndpointSliceConfig&) const = default;
};

struct Config {
    std::string source;  // file name (or "<embedded default>") the config came from
    EalConfig eal;
    DataplaneConfig dataplane;
    SnatConfig snat;
    ConntrackConfig conntrack;
    LimitsConfig limits;
    std::vector<PortConfig> ports;
    std::vector<RouteConfig> routes;
    std::vector<NeighborConfig> neighbors;
    ClusterConfig cluster;
    DnsConfig dns;
    AnnounceConfig announce;
    std::vector<ServiceConfig> services;
    std::vector<PodConfig> pods;
    std::vector<EndpointSliceConfig> endpoint_slices;
};

// One problem found while loading or validating. line/column are 1-based, 0 when unknown.
struct ConfigError {
    std::string file;
    uint32_t line = 0;
    uint32_t column = 0;
    std::string field;    // dotted path, e.g. "services[2].ports[0].target_port"
    std::string message;  // what is wrong and what to do about it

    // "file:line:column: field: message"; line:column and field are left out when unknown.
    std::string to_string() const;
};

// Every error's to_string(), one per line.
std::string describe_errors(const std::vector<ConfigError>& errors);

struct LoadResult {
    std::optional<Config> config;  // set only when errors is empty
    std::vector<ConfigError> errors;
};

// The largest config file vipgate reads (the API's request limit too).
inline constexpr size_t kMaxConfigFileBytes = size_t{64} << 20;

// Parse and validate. Never throws; every problem found is reported, not just the first.
// load_config_file reads regular files only, without ever blocking on the file itself.
LoadResult load_config_file(const std::string& path);
LoadResult load_config_string(const std::string& text, const std::string& source_name);

// A complete config file (every section, defaults included) that load_config_string reads back
// to an equal Config; `source` only goes into a comment at the top.
std::string format_config(const Config& config);

// The default configuration compiled into the binary (the demo set-up).
const std::string& embedded_default_config();

// Fields that cannot change while running (ports, EAL, workers, pool sizes, conntrack capacity).
// Returns a human-readable list of the fields that differ; empty when a live reload is possible.
std::vector<std::string> restart_only_differences(const Config& running, const Config& candidate);

std::string format_ipv4(uint32_t host_order_address);
std::string format_ipv6(const Ipv6Address& address);  // RFC 5952: "2001:db8::1"
std::optional<Ipv6Address> parse_ipv6(std::string_view text);
std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view text);  // "2001:db8::/112"; no "/": /128
std::string format_ipv6_prefix(const Ipv6Prefix& prefix);
bool ipv6_prefix_contains(const Ipv6Prefix& prefix, const Ipv6Address& address);
inline bool is_zero(const Ipv6Address& address) {
    return address == Ipv6Address{};
}

std::string_view ip_family_name(IpFamily family);               // "IPv4", "IPv6"
std::string_view ip_family_policy_name(IpFamilyPolicy policy);  // "SingleStack", ...
std::optional<IpFamilyPolicy> parse_ip_family_policy(std::string_view text);

std::string_view protocol_name(Protocol protocol);              // "TCP", "UDP", "SCTP"
std::optional<Protocol> parse_protocol(std::string_view text);  // any case

// Text forms used in the TOML file and in logs; each parser accepts what its formatter prints.
std::optional<uint32_t> parse_ipv4(std::string_view text);           // "198.18.0.1"
std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text);  // "10.0.0.0/8"; no "/": /32
std::optional<MacAddress> parse_mac(std::string_view text);          // "02:00:00:00:00:01"
std::string format_ipv4_prefix(const Ipv4Prefix& prefix);
std::string format_mac(const MacAddress& mac);

}  // namespace vipgate::config
