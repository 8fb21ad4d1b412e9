// Rules that relate several fields, checked after decoding, and the values derived from them.
//
// Derived values: a route's or neighbor's port, when omitted, is the first port whose connected
// subnet holds the next hop / neighbor address; the SNAT addresses, when omitted, are the first
// address of the first port.
//
// SNAT rule: every SNAT address must be one of the ports' own addresses. Replies to a full-NAT
// connection come back to the SNAT address, so the network must deliver them here; requiring an
// address the gateway already owns (and answers ARP for) makes that true by construction, and
// since a cluster IP may not be a port address, an SNAT address can never be a VIP either.
//
// Cluster IPs: each service has its own (Kubernetes allocates one per service), so a second
// service on the same address is an error even when their ports differ. An omitted cluster IP
// is allocated later from cluster.service_cidr, which must then exist (in the daemon's file;
// object documents are checked against the running daemon by whoever merges them). A headless
// service has no cluster IP and no VIP ports.
//
// DNS addresses answer like a VIP (ARP, ping) and are the destination of DNS queries: they may
// be neither a port's (or SNAT) address nor a service's cluster IP. They may lie inside the
// service CIDR, as kube-dns's ClusterIP does (kubelet's --cluster-dns keeps pointing where it
// pointed); the store then never allocates them. Object documents carry a [dns] table too; what
// it cannot check alone (the ports, the running services) is checked where it is merged.
//
// Every rule first checks that its inputs were decoded (Diagnostics::intact) so a single typo is
// reported once, not again by every rule that reads the field.
#include "config/config_internal.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

namespace vipgate::config::detail {

namespace {

// Each worker owns a disjoint slice of the SNAT port range.
constexpr uint32_t kMinSnatPortsPerWorker = 64;

std::string at(std::string_view list, size_t index) {
    return std::string(list) + "[" + std::to_string(index) + "]";
}

std::string endpoint_name(const EndpointConfig& endpoint) {
    if (endpoint.is_ipv6()) {
        std::string name = format_ipv6(endpoint.address6);
        return endpoint.port == 0 ? name : "[" + name + "]:" + std::to_string(endpoint.port);
    }
    std::string name = format_ipv4(endpoint.address);
    return endpoint.port == 0 ? name : name + ":" + std::to_string(endpoint.port);
}

class Validator {
public:
    Validator(Config& config, Diagnostics& diagnostics) : config_(config), diagnostics_(diagnostics) {}

    // The daemon's config file.
    void run() {
        daemon_file_ = true;
        check_workers();
        check_conntrack_timeouts();
        check_snat_port_range();
        check_ports();
        check_announce();
        subnets_known_ = subnets_known();
        if (subnets_known_) {
            resolve_routes();
            resolve_neighbors();
            resolve_snat_addresses();
            resolve_snat_addresses6();
            check_service_cidr();
        }
        run_objects();
    }

    // Services, pods and endpoint slices; alone for an object document.
    void run_objects() {
        check_services();
        check_pods();
        check_endpoint_slices();
        check_dns();
    }

private:
    bool intact(const std::string& path) const { return diagnostics_.intact(path); }

    void check_workers() {
        const auto& lcores = config_.dataplane.worker_lcores;
        if (!intact("dataplane.worker_lcores")) return;
        if (lcores.empty()) {
            diagnostics_.error("dataplane.worker_lcores",
                               "at least one worker lcore is needed, e.g. worker_lcores = [1]");
        }
        for (size_t i = 0; i < lcores.size(); ++i) {
            for (size_t j = 0; j < i; ++j) {
                if (lcores[j] != lcores[i]) continue;
                diagnostics_.error(
                    at("dataplane.worker_lcores", i),
                    "lcore " + std::to_string(lcores[i]) + " is listed twice; each worker needs its own lcore");
                break;
            }
        }
    }

    // A flow nobody answered is the one to forget first (tcp_state.h): its timeout may not be
    // the longer one.
    void check_conntrack_timeouts() {
        const auto& conntrack = config_.conntrack;
        if (!intact("conntrack.udp_timeout") || !intact("conntrack.udp_unreplied_timeout")) return;
        if (conntrack.udp_unreplied_timeout_s <= conntrack.udp_timeout_s) return;
        diagnostics_.error("conntrack.udp_unreplied_timeout",
                           std::to_string(conntrack.udp_unreplied_timeout_s) +
                               " is longer than conntrack.udp_timeout (" + std::to_string(conntrack.udp_timeout_s) +
                               "); an unanswered flow must not outlive an answered one");
    }

    void check_snat_port_range() {
        const auto& snat = config_.snat;
        if (!intact("snat.port_range")) return;
        if (snat.port_min > snat.port_max) {
            diagnostics_.error("snat.port_range", "min " + std::to_string(snat.port_min) + " is greater than max " +
                                                      std::to_string(snat.port_max));
            return;
        }
        size_t workers = config_.dataplane.worker_lcores.size();
        uint32_t ports = uint32_t{snat.port_max} - snat.port_min + 1;
        if (workers == 0 || ports / workers >= kMinSnatPortsPerWorker) return;
        diagnostics_.error("snat.port_range", std::to_string(ports) + " ports split across " + std::to_string(workers) +
                                                  " workers is too few; each worker needs at least " +
                                                  std::to_string(kMinSnatPortsPerWorker) +
                                                  ", so the range must hold at least " +
                                                  std::to_string(kMinSnatPortsPerWorker * workers) + " ports");
    }

    void check_ports() {
        if (config_.ports.empty()) {
            if (intact("ports")) diagnostics_.error("ports", "no ports defined; add a [[ports]] table");
            return;
        }
        std::map<std::string, size_t> names;
        std::map<uint32_t, std::string> addresses;
        std::map<std::string, std::string> kernel_interfaces;
        for (size_t i = 0; i < config_.ports.size(); ++i) {
            const PortConfig& port = config_.ports[i];
            std::string path = at("ports", i);
            if (intact(path + ".name")) {
                auto [other, added] = names.emplace(port.name, i);
                if (!added) {
                    diagnostics_.error(path + ".name", "duplicate port name '" + port.name + "' (also " +
                                                           at("ports", other->second) + ")");
                }
            }
            if (!port.kernel_interface.empty() && intact(path + ".kernel_interface")) {
                check_kernel_interface(path + ".kernel_interface", port.kernel_interface, kernel_interfaces);
            }
            if (!intact(path + ".addresses")) continue;
            if (port.accept_router_advertisements && port.addresses6.empty() &&
                intact(path + ".accept_router_advertisements")) {
                diagnostics_.error(path + ".accept_router_advertisements",
                                   "accepting router advertisements needs an IPv6 address on the port (the "
                                   "source of the solicitations that resolve the router); add one to `addresses`");
            }
            if (port.addresses.empty()) {
                diagnostics_.error(path + ".addresses", "a port needs at least one address");
            }
            for (size_t j = 0; j < port.addresses.size(); ++j) {
                std::string address_path = at(path + ".addresses", j);
                auto [owner, added] = addresses.emplace(port.addresses[j].address, address_path);
                if (!added) {
                    diagnostics_.error(address_path,
                                       format_ipv4(owner->first) + " is already used at " + owner->second);
                }
            }
        }
    }

    // The routes go through a kernel interface (so they vanish with it) into a table of their
    // own (so they never steer the gateway's own traffic).
    void check_announce() {
        const AnnounceConfig& announce = config_.announce;
        if (!announce.enabled) return;
        constexpr uint32_t kDefaultTable = 253;  // RT_TABLE_DEFAULT; 254 main, 255 local
        if (intact("announce.table") && announce.table >= kDefaultTable && announce.table <= kDefaultTable + 2) {
            diagnostics_.error("announce.table", "table " + std::to_string(announce.table) +
                                                     " is one of the kernel's own (253 default, 254 main, 255 "
                                                     "local); give the announced routes a table of their own, "
                                                     "e.g. 100");
        }
        if (announce.aggregate && !config_.cluster.service_cidr && intact("cluster.service_cidr")) {
            diagnostics_.error("announce.aggregate", "the aggregate is cluster.service_cidr, which is not set");
        }
        if (!intact("announce.port")) return;
        if (!announce.port.empty()) {
            const PortConfig* port = port_named(announce.port);
            if (port == nullptr) {
                diagnostics_.error("announce.port", "no port is named '" + announce.port + "'");
            } else if (port->kernel_interface.empty()) {
                diagnostics_.error("announce.port", "port '" + announce.port +
                                                        "' has no kernel_interface; the announced routes go "
                                                        "through it");
            }
            return;
        }
        const bool any = std::any_of(config_.ports.begin(), config_.ports.end(),
                                     [](const PortConfig& port) { return !port.kernel_interface.empty(); });
        if (!any) {
            diagnostics_.error("announce.enabled",
                               "announcing needs a port with a kernel_interface (the "
                               "routes go through it and the routing daemon peers over it)");
        }
    }

    // A Linux interface name (IFNAMSIZ - 1 characters; the characters are a safe subset of what
    // the kernel takes, which refuses '/', ':' and whitespace), unique among the ports.
    void check_kernel_interface(const std::string& path, const std::string& name,
                                std::map<std::string, std::string>& seen) {
        constexpr size_t kMaxInterfaceName = 15;
        const bool allowed = std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                   c == '.';
        });
        if (name.size() > kMaxInterfaceName || !allowed || name == "." || name == "..") {
            diagnostics_.error(path, "kernel_interface '" + name +
                                         "' is not a Linux interface name: use 1 to 15 characters of "
                                         "letters, digits, '_', '-' and '.'");
            return;
        }
        auto [other, added] = seen.emplace(name, path);
        if (!added) diagnostics_.error(path, "kernel_interface '" + name + "' is already used at " + other->second);
    }

    // Subnet rules need every port's name and addresses; when some did not decode they have
    // already been reported and checking against the rest would only add noise.
    bool subnets_known() const {
        if (config_.ports.empty()) return false;
        for (size_t i = 0; i < config_.ports.size(); ++i) {
            std::string path = at("ports", i);
            if (!intact(path + ".name") || !intact(path + ".addresses")) return false;
        }
        return true;
    }

    const PortConfig* port_named(std::string_view name) const {
        for (const auto& port : config_.ports) {
            if (port.name == name) return &port;
        }
        return nullptr;
    }

    static bool on_link(const PortConfig& port, uint32_t address) {
        for (const auto& subnet : port.addresses) {
            if (((subnet.address ^ address) & prefix_mask(subnet.length)) == 0) return true;
        }
        return false;
    }

    std::string port_names() const {
        std::string names;
        for (const auto& port : config_.ports) names += (names.empty() ? "" : ", ") + port.name;
        return names;
    }

    static std::string subnets_of(const PortConfig& port) {
        std::string subnets;
        for (const auto& subnet : port.addresses) {
            subnets += (subnets.empty() ? "" : ", ") + format_ipv4_prefix(subnet);
        }
        return subnets;
    }

    // A next hop or neighbor at `path`.`address_key` must be on a connected subnet: of its port
    // when one is named, otherwise of any port, which then becomes its port.
    void resolve_port(const std::string& path, std::string_view address_key, uint32_t address, std::string& port_name) {
        std::string address_path = path + "." + std::string(address_key);
        if (!intact(address_path) || !intact(path + ".port")) return;
        if (!port_name.empty()) {
            const PortConfig* port = port_named(port_name);
            if (!port) {
                diagnostics_.error(path + ".port", "unknown port '" + port_name + "'; defined ports: " + port_names());
            } else if (!on_link(*port, address)) {
                diagnostics_.error(address_path, format_ipv4(address) + " is not inside a connected subnet of port " +
                                                     port->name + " (" + subnets_of(*port) + ")");
            }
            return;
        }
        for (const auto& port : config_.ports) {
            if (!on_link(port, address)) continue;
            port_name = port.name;
            return;
        }
        std::string subnets;
        for (const auto& port : config_.ports) {
            subnets += (subnets.empty() ? "" : ", ") + port.name + ": " + subnets_of(port);
        }
        diagnostics_.error(address_path,
                           format_ipv4(address) + " is not inside any port's connected subnet (" + subnets + ")");
    }

    void resolve_routes() {
        std::map<std::tuple<uint32_t, uint8_t>, size_t> prefixes;
        std::map<std::pair<Ipv6Address, uint8_t>, size_t> prefixes6;
        for (size_t i = 0; i < config_.routes.size(); ++i) {
            RouteConfig& route = config_.routes[i];
            std::string path = at("routes", i);
            if (route.ipv6) {
                resolve_port6(path, route.via6, route.port, "via");
                if (!intact(path + ".prefix")) continue;
                auto [other, added] = prefixes6.emplace(std::pair{route.prefix6.address, route.prefix6.length}, i);
                if (!added) {
                    diagnostics_.error(path + ".prefix", "duplicate route to " + format_ipv6_prefix(route.prefix6) +
                                                             " (also " + at("routes", other->second) + ")");
                }
                continue;
            }
            resolve_port(path, "via", route.via, route.port);
            if (!intact(path + ".prefix")) continue;
            auto [other, added] = prefixes.emplace(std::tuple{route.prefix.address, route.prefix.length}, i);
            if (!added) {
                diagnostics_.error(path + ".prefix", "duplicate route to " + format_ipv4_prefix(route.prefix) +
                                                         " (also " + at("routes", other->second) + ")");
            }
        }
    }

    void resolve_neighbors() {
        std::map<std::tuple<uint32_t, std::string>, size_t> seen;
        for (size_t i = 0; i < config_.neighbors.size(); ++i) {
            NeighborConfig& neighbor = config_.neighbors[i];
            std::string path = at("neighbors", i);
            if (!is_zero(neighbor.address6)) {
                resolve_port6(path, neighbor.address6, neighbor.port);
                continue;
            }
            resolve_port(path, "address", neighbor.address, neighbor.port);
            if (!intact(path + ".address") || neighbor.port.empty()) continue;
            auto [other, added] = seen.emplace(std::tuple{neighbor.address, neighbor.port}, i);
            if (!added) {
                diagnostics_.error(path + ".address", "duplicate neighbor " + format_ipv4(neighbor.address) +
                                                          " on port " + neighbor.port + " (also " +
                                                          at("neighbors", other->second) + ")");
            }
        }
    }

    // An IPv6 neighbor (a route's next hop) must be on an IPv6 prefix of its port (of any port when none
    // is named).
    void resolve_port6(const std::string& path, const Ipv6Address& address, std::string& port_name,
                       const std::string& field = "address") {
        if (!intact(path + "." + field) || !intact(path + ".port")) return;
        auto on_link6 = [&](const PortConfig& port) {
            return std::any_of(port.addresses6.begin(), port.addresses6.end(),
                               [&](const Ipv6Prefix& prefix) { return ipv6_prefix_contains(prefix, address); });
        };
        if (!port_name.empty()) {
            const PortConfig* port = port_named(port_name);
            if (!port) {
                diagnostics_.error(path + ".port", "unknown port '" + port_name + "'; defined ports: " + port_names());
            } else if (!on_link6(*port)) {
                diagnostics_.error(path + "." + field,
                                   format_ipv6(address) + " is not inside an IPv6 prefix of port " + port->name);
            }
            return;
        }
        for (const auto& port : config_.ports) {
            if (!on_link6(port)) continue;
            port_name = port.name;
            return;
        }
        diagnostics_.error(path + "." + field, format_ipv6(address) +
                                                   " is not inside any port's IPv6 prefix (give the port an IPv6 "
                                                   "address in its subnet, e.g. \"2001:db8::1/64\")");
    }

    // SNAT6 addresses: the ports' own IPv6 addresses; omitted, the first port's first IPv6 one.
    void resolve_snat_addresses6() {
        auto& addresses = config_.snat.addresses6;
        if (!intact("snat.addresses")) return;
        auto owned = [&](const Ipv6Address& address) {
            for (const auto& port : config_.ports) {
                for (const auto& own : port.addresses6) {
                    if (own.address == address) return true;
                }
            }
            return false;
        };
        if (addresses.empty()) {
            for (const auto& port : config_.ports) {
                if (port.addresses6.empty()) continue;
                addresses.push_back(port.addresses6.front().address);
                break;
            }
            return;
        }
        for (size_t i = 0; i < addresses.size(); ++i) {
            const std::string path = at("snat.addresses", config_.snat.addresses.size() + i);
            if (std::find(addresses.begin(), addresses.begin() + static_cast<std::ptrdiff_t>(i), addresses[i]) !=
                addresses.begin() + static_cast<std::ptrdiff_t>(i)) {
                diagnostics_.error(path, format_ipv6(addresses[i]) + " is listed twice");
            }
            if (!owned(addresses[i])) {
                diagnostics_.error(path, format_ipv6(addresses[i]) +
                                             " is not one of the ports' own IPv6 addresses; an SNAT address must "
                                             "be, so that replies reach this gateway (add it to a port's addresses)");
            }
        }
    }

    const PortConfig* owner_of(uint32_t address) const {
        for (const auto& port : config_.ports) {
            for (const auto& own : port.addresses) {
                if (own.address == address) return &port;
            }
        }
        return nullptr;
    }

    void resolve_snat_addresses() {
        auto& addresses = config_.snat.addresses;
        if (!intact("snat.addresses")) return;
        if (addresses.empty()) {
            const auto& first_port = config_.ports.front().addresses;
            if (!first_port.empty()) addresses.push_back(first_port.front().address);
            return;
        }
        for (size_t i = 0; i < addresses.size(); ++i) {
            std::string path = at("snat.addresses", i);
            for (size_t j = 0; j < i; ++j) {
                if (addresses[j] == addresses[i]) {
                    diagnostics_.error(path, format_ipv4(addresses[i]) + " is listed twice");
                    break;
                }
            }
            if (!owner_of(addresses[i])) {
                diagnostics_.error(path,
                                   format_ipv4(addresses[i]) +
                                       " is not one of the ports' own addresses; an SNAT address must be, so that "
                                       "replies reach this gateway (add it to a port's addresses)");
            }
        }
    }

    static bool contains(const Ipv4Prefix& prefix, uint32_t address) {
        return ((prefix.address ^ address) & prefix_mask(prefix.length)) == 0;
    }

    // Cluster IPs are allocated from the service CIDRs and must never be the gateway's own.
    void check_service_cidr() {
        if (!intact("cluster.service_cidr")) return;
        auto refuse = [&](const std::string& cidr, const std::string& address, const std::string& port) {
            diagnostics_.error("cluster.service_cidr",
                               cidr + " holds " + address + ", an address of port " + port +
                                   "; the service CIDR must not hold the gateway's own addresses");
        };
        if (const auto& cidr6 = config_.cluster.service_cidr_ipv6) {
            for (const auto& port : config_.ports) {
                for (const auto& own : port.addresses6) {
                    if (ipv6_prefix_contains(*cidr6, own.address))
                        refuse(format_ipv6_prefix(*cidr6), format_ipv6(own.address), port.name);
                }
            }
        }
        if (const auto& cidr = config_.cluster.service_cidr) {
            for (const auto& port : config_.ports) {
                for (const auto& own : port.addresses) {
                    if (contains(*cidr, own.address))
                        refuse(format_ipv4_prefix(*cidr), format_ipv4(own.address), port.name);
                }
            }
        }
    }

    static std::string object_name(const std::string& namespace_name, const std::string& name) {
        return namespace_name + "/" + name;
    }

    // (namespace, name) is unique per kind; the first one found is kept.
    template <class Object>
    void check_unique_names(const std::vector<Object>& objects, std::string_view list, std::string_view kind) {
        std::map<std::tuple<std::string, std::string>, size_t> names;
        for (size_t i = 0; i < objects.size(); ++i) {
            std::string path = at(list, i);
            if (!intact(path + ".name") || !intact(path + ".namespace")) continue;
            auto [other, added] = names.emplace(std::tuple{objects[i].namespace_name, objects[i].name}, i);
            if (added) continue;
            diagnostics_.error(path + ".name", "duplicate " + std::string(kind) + " " +
                                                   object_name(objects[i].namespace_name, objects[i].name) + " (also " +
                                                   diagnostics_.reference(at(list, other->second)) + ")");
        }
    }

    // Port names are unique within a pod, a slice or an endpoint; unnamed ports are not compared.
    void check_named_ports(const std::vector<NamedPort>& ports, const std::string& ports_path) {
        std::map<std::string, size_t> names;
        for (size_t j = 0; j < ports.size(); ++j) {
            std::string name_path = at(ports_path, j) + ".name";
            if (ports[j].name.empty() || !intact(name_path)) continue;
            auto [other, added] = names.emplace(ports[j].name, j);
            if (added) continue;
            diagnostics_.error(name_path, "duplicate port name '" + ports[j].name + "' (also " +
                                              diagnostics_.reference(at(ports_path, other->second)) + ")");
        }
    }

    void check_services() {
        check_unique_names(config_.services, "services", "service");
        for (size_t i = 0; i < config_.services.size(); ++i) {
            const ServiceConfig& service = config_.services[i];
            std::string path = at("services", i);
            if (!service.external_name.empty() && intact(path + ".cluster_ip") &&
                (service.headless || service.cluster_ip != 0)) {
                diagnostics_.error(path + ".cluster_ip",
                                   "an ExternalName service is a DNS alias and has no cluster IP; "
                                   "remove " +
                                       diagnostics_.field_name(path + ".cluster_ip"));
            }
            bool owns_cluster_ip = check_cluster_ip(service, path, i);
            if (service.selector && !service.endpoints.empty() && intact(path + ".selector")) {
                diagnostics_.error(path + ".endpoints",
                                   "a service with a selector takes its endpoints from the "
                                   "matching pods; remove " +
                                       diagnostics_.field_name(path + ".selector") + " or " +
                                       diagnostics_.field_name(path + ".endpoints"));
            }
            check_service_ports(service, path, owns_cluster_ip);
            check_endpoints(service, path);
        }
    }

    // True when the service's VIP ports can be claimed: it has a cluster IP of its own.
    bool check_cluster_ip(const ServiceConfig& service, const std::string& path, size_t index) {
        std::string ip_path = path + ".cluster_ip";
        if (!intact(ip_path) || service.headless || !service.external_name.empty()) return false;
        const auto& cidr = config_.cluster.service_cidr;
        check_cluster_ip6(service, path);
        const auto& families = service.ip_families;
        const bool wants_ipv4 = families.empty()
                                    ? !config_.cluster.service_cidr_ipv6
                                    : std::find(families.begin(), families.end(), IpFamily::Ipv4) != families.end();
        if (service.cluster_ip == 0) {
            if (daemon_file_ && wants_ipv4 && !cidr && intact("cluster.service_cidr")) {
                diagnostics_.error(ip_path,
                                   "no cluster.service_cidr to allocate from; set "
                                   "cluster_ip or [cluster] service_cidr");
            }
            return false;
        }
        std::string address = format_ipv4(service.cluster_ip);
        if (const PortConfig* port = subnets_known_ ? owner_of(service.cluster_ip) : nullptr) {
            const auto& snat = config_.snat.addresses;
            bool is_snat = std::find(snat.begin(), snat.end(), service.cluster_ip) != snat.end();
            diagnostics_.error(ip_path, address + " is an address of port " + port->name +
                                            (is_snat ? " and an SNAT address" : "") +
                                            "; a cluster IP must not be one of the gateway's "
                                            "own addresses");
        }
        if (daemon_file_ && cidr && intact("cluster.service_cidr") && !contains(*cidr, service.cluster_ip)) {
            diagnostics_.error(ip_path, address + " is outside cluster.service_cidr " + format_ipv4_prefix(*cidr) +
                                            "; use an address inside it or leave cluster_ip out "
                                            "to have one allocated");
        }
        auto [other, added] = cluster_ips_.emplace(service.cluster_ip, index);
        if (added) return true;
        const ServiceConfig& owner = config_.services[other->second];
        diagnostics_.error(ip_path, address + " is already the cluster IP of service " +
                                        object_name(owner.namespace_name, owner.name) + " (" +
                                        diagnostics_.reference(at("services", other->second)) +
                                        "); each service needs its own cluster IP");
        return false;
    }

    // The IPv6 cluster IP (the store checks it is unique): inside the IPv6 service CIDR.
    void check_cluster_ip6(const ServiceConfig& service, const std::string& path) {
        const auto& cidr = config_.cluster.service_cidr_ipv6;
        if (!daemon_file_ || !cidr || is_zero(service.cluster_ip6) || !intact("cluster.service_cidr") ||
            !intact(path + ".cluster_ip") || !intact(path + ".cluster_ips") ||
            ipv6_prefix_contains(*cidr, service.cluster_ip6)) {
            return;
        }
        diagnostics_.error(path + ".cluster_ips", format_ipv6(service.cluster_ip6) +
                                                      " is outside the IPv6 cluster.service_cidr " +
                                                      format_ipv6_prefix(*cidr) +
                                                      "; use an address inside it or leave it out to have one "
                                                      "allocated");
    }

    void check_service_ports(const ServiceConfig& service, const std::string& path, bool owns_cluster_ip) {
        std::string ports_path = path + ".ports";
        if (service.ports.empty() && !service.headless && service.external_name.empty() && intact(ports_path) &&
            intact(path + ".external_name")) {
            diagnostics_.error(ports_path,
                               "no ports defined; a service needs at least one port "
                               "(only a headless or ExternalName service may have none)");
        }
        std::map<std::string, size_t> names;
        std::map<std::pair<uint16_t, Protocol>, size_t> numbers;
        for (size_t j = 0; j < service.ports.size(); ++j) {
            const ServicePortConfig& port = service.ports[j];
            std::string port_path = at(ports_path, j);
            // One service port per (port, protocol), whatever the ClusterIP (also an allocated one).
            if (intact(port_path + ".port") && intact(port_path + ".protocol")) {
                if (auto [other, added] = numbers.emplace(std::pair{port.port, port.protocol}, j); !added) {
                    diagnostics_.error(port_path + ".port", "port " + std::to_string(port.port) + "/" +
                                                                std::string(protocol_name(port.protocol)) +
                                                                " is defined twice in this service (also " +
                                                                diagnostics_.reference(at(ports_path, other->second)) +
                                                                ")");
                    continue;
                }
            }
            if (service.ports.size() > 1 && intact(port_path + ".name")) {
                if (port.name.empty()) {
                    diagnostics_.error(port_path + ".name", "missing: a service with several ports must name each one");
                } else if (auto [other, added] = names.emplace(port.name, j); !added) {
                    diagnostics_.error(port_path + ".name",
                                       "duplicate port name '" + port.name + "' in this service (also " +
                                           diagnostics_.reference(at(ports_path, other->second)) + ")");
                }
            }
            if (owns_cluster_ip) claim_vip_port(service, path, port, port_path);
        }
    }

    // (cluster_ip, port, protocol) selects one service port across the whole configuration.
    void claim_vip_port(const ServiceConfig& service, const std::string& service_path, const ServicePortConfig& port,
                        const std::string& port_path) {
        if (!intact(service_path + ".cluster_ip") || !intact(port_path + ".port") || !intact(port_path + ".protocol")) {
            return;
        }
        auto key = std::tuple{service.cluster_ip, port.port, port.protocol};
        auto [other, added] = vip_ports_.emplace(key, port_path);
        if (added) return;
        diagnostics_.error(port_path + ".port", format_ipv4(service.cluster_ip) + ":" + std::to_string(port.port) +
                                                    "/" + std::string(protocol_name(port.protocol)) +
                                                    " is already used by " + diagnostics_.reference(other->second));
    }

    void check_endpoints(const ServiceConfig& service, const std::string& path) {
        std::string endpoints_path = path + ".endpoints";
        std::map<std::tuple<uint32_t, Ipv6Address, uint16_t>, size_t> seen;
        for (size_t k = 0; k < service.endpoints.size(); ++k) {
            const EndpointConfig& endpoint = service.endpoints[k];
            std::string endpoint_path = at(endpoints_path, k);
            if (endpoint.port != 0 && service.ports.size() > 1) {
                diagnostics_.error(endpoint_path + ".port",
                                   "ambiguous: the service has " + std::to_string(service.ports.size()) +
                                       " ports; leave the endpoint port out and set target_port on "
                                       "each service port");
            }
            if (!intact(endpoint_path + ".address") || !intact(endpoint_path + ".port")) continue;
            auto [other, added] = seen.emplace(std::tuple{endpoint.address, endpoint.address6, endpoint.port}, k);
            if (!added) {
                diagnostics_.error(endpoint_path, "duplicate endpoint " + endpoint_name(endpoint) + " (also " +
                                                      diagnostics_.reference(at(endpoints_path, other->second)) + ")");
            }
            check_named_ports(endpoint.ports, endpoint_path + ".ports");
        }
    }

    // Pod IPs are unique across a cluster; a pod without an address yet (0) is not compared.
    void check_pods() {
        check_unique_names(config_.pods, "pods", "pod");
        std::map<uint32_t, size_t> addresses;
        for (size_t i = 0; i < config_.pods.size(); ++i) {
            const PodConfig& pod = config_.pods[i];
            std::string path = at("pods", i);
            check_named_ports(pod.ports, path + ".ports");
            if (pod.address == 0 || !intact(path + ".address")) continue;
            auto [other, added] = addresses.emplace(pod.address, i);
            if (added) continue;
            const PodConfig& owner = config_.pods[other->second];
            diagnostics_.error(path + ".address", format_ipv4(pod.address) + " is already the address of pod " +
                                                      object_name(owner.namespace_name, owner.name) + " (" +
                                                      diagnostics_.reference(at("pods", other->second)) +
                                                      "); pod IPs are unique in a cluster");
        }
    }

    void check_endpoint_slices() {
        check_unique_names(config_.endpoint_slices, "endpoint_slices", "endpoint slice");
        for (size_t i = 0; i < config_.endpoint_slices.size(); ++i) {
            check_named_ports(config_.endpoint_slices[i].ports, at("endpoint_slices", i) + ".ports");
        }
    }

    // Within [dns]: count, duplicates, upstreams that are not the server itself; in the daemon's
    // file also against the ports' and SNAT addresses and the services' cluster IPs.
    void check_dns() {
        const DnsConfig& dns = config_.dns;
        if (intact("dns.addresses")) {
            if (dns.addresses.size() > DnsConfig::kMaxAddresses) {
                diagnostics_.error("dns.addresses", std::to_string(dns.addresses.size()) + " addresses; at most " +
                                                        std::to_string(DnsConfig::kMaxAddresses) + " are allowed");
            }
            for (size_t i = 0; i < dns.addresses.size(); ++i) check_dns_address(i);
        }
        if (!intact("dns.upstreams")) return;
        for (size_t i = 0; i < dns.upstreams.size(); ++i) {
            const DnsUpstream& upstream = dns.upstreams[i];
            std::string path = at("dns.upstreams", i);
            const std::string name = format_ipv4(upstream.address) + ":" + std::to_string(upstream.port);
            if (i >= kMaxDnsUpstreams) {
                diagnostics_.error(path, "more than " + std::to_string(kMaxDnsUpstreams) + " upstreams");
                break;
            }
            for (size_t j = 0; j < i; ++j) {
                if (dns.upstreams[j] == upstream) {
                    diagnostics_.error(
                        path, name + " is listed twice (also " + diagnostics_.reference(at("dns.upstreams", j)) + ")");
                    break;
                }
            }
            if (intact("dns.addresses") &&
                std::find(dns.addresses.begin(), dns.addresses.end(), upstream.address) != dns.addresses.end()) {
                diagnostics_.error(path, format_ipv4(upstream.address) +
                                             " is one of dns.addresses: the server would forward to itself");
            }
        }
    }

    void check_dns_address(size_t i) {
        const std::vector<uint32_t>& addresses = config_.dns.addresses;
        const std::string path = at("dns.addresses", i);
        const std::string address = format_ipv4(addresses[i]);
        for (size_t j = 0; j < i; ++j) {
            if (addresses[j] == addresses[i]) {
                diagnostics_.error(path, address + " is listed twice");
                return;
            }
        }
        if (const PortConfig* port = subnets_known_ ? owner_of(addresses[i]) : nullptr) {
            const auto& snat = config_.snat.addresses;
            const bool is_snat = std::find(snat.begin(), snat.end(), addresses[i]) != snat.end();
            diagnostics_.error(path, address + " is an address of port " + port->name +
                                         (is_snat ? " and an SNAT address" : "") +
                                         "; a DNS address must be an address of its own, like a cluster IP");
        }
        if (auto owner = cluster_ips_.find(addresses[i]); owner != cluster_ips_.end()) {
            const ServiceConfig& service = config_.services[owner->second];
            diagnostics_.error(path, address + " is the cluster IP of service " +
                                         object_name(service.namespace_name, service.name) + " (" +
                                         diagnostics_.reference(at("services", owner->second)) +
                                         "); a DNS address must not be a service's");
        }
    }

    static constexpr size_t kMaxDnsUpstreams = 16;

    Config& config_;
    Diagnostics& diagnostics_;
    bool daemon_file_ = false;
    bool subnets_known_ = false;
    std::map<uint32_t, size_t> cluster_ips_;  // -> index of the service that has it
    std::map<std::tuple<uint32_t, uint16_t, Protocol>, std::string> vip_ports_;
};

}  // namespace

void validate(Config& config, Diagnostics& diagnostics) {
    Validator(config, diagnostics).run();
}

void validate_objects(ObjectSet& objects, Diagnostics& diagnostics) {
    Config config;
    if (objects.dns) config.dns = *objects.dns;
    config.services = std::move(objects.services);
    config.pods = std::move(objects.pods);
    config.endpoint_slices = std::move(objects.endpoint_slices);
    Validator(config, diagnostics).run_objects();
    objects.services = std::move(config.services);
    objects.pods = std::move(config.pods);
    objects.endpoint_slices = std::move(config.endpoint_slices);
}

}  // namespace vipgate::config::detail
