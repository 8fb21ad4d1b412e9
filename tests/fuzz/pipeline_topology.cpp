#include "tests/fuzz/pipeline_topology.h"

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <rte_byteorder.h>

#include "config/config.h"
#include "config/service_store.h"
#include "control/dns_records.h"

namespace vipgate::fuzz {
namespace {

struct Endpoint {
    const char* address;
    uint32_t weight = 1;
    bool ready = true;
    const char* hostname = nullptr;
};

struct Service {
    const char* name;
    const char* cluster_ip;  // "": none (ExternalName)
    const char* ports;       // the TOML array of inline tables; "": none
    std::vector<Endpoint> endpoints;
    bool client_ip_affinity = false;
    const char* extra = "";  // more TOML lines of the service
};

std::vector<Service> services(bool reloaded) {
    const char* web_ports =
        "[{ name = \"http\", protocol = \"TCP\", port = 80, target_port = 8080 },"
        " { name = \"dns\", protocol = \"UDP\", port = 53, target_port = 5353 },"
        " { name = \"sctp\", protocol = \"SCTP\", port = 9, target_port = 9 }]";
    const char* plain_ports =
        "[{ name = \"http\", protocol = \"TCP\", port = 80 }, { name = \"dns\", protocol = \"UDP\", port = 53 }]";
    const char* http_ports = "[{ name = \"http\", protocol = \"TCP\", port = 80, target_port = 8080 }]";
    const char* sticky_ports =
        "[{ name = \"https\", protocol = \"TCP\", port = 443, target_port = 8443 },"
        " { name = \"dns\", protocol = \"UDP\", port = 53, target_port = 5353 }]";
    std::vector<Endpoint> web = {{"198.19.0.20"}, {"198.19.0.21", 2}, {"198.19.0.22"}};
    std::vector<Endpoint> sticky = {{"198.19.0.21"}, {"198.19.0.22"}};
    if (reloaded) {
        web.erase(web.begin() + 1);
        sticky.push_back({"198.19.0.23"});
    }
    return {
        {"web", "198.18.100.1", web_ports, web},
        {"empty", "198.18.100.2", plain_ports, {}},
        {"drained", "198.18.100.3", plain_ports, {{"198.19.0.24", 0}, {"198.19.0.25", 1, false}}},
        {"sticky", "198.18.100.4", sticky_ports, sticky, true},
        {"unresolved", "198.18.100.6", http_ports, {{"198.19.0.30"}}},
        {"unroutable", "198.18.100.7", http_ports, {{"198.19.200.9"}}},
        {"alias", "198.18.100.8", http_ports, {{"198.19.0.20"}}},
        {"peers",
         "None",
         "[{ name = \"gossip\", protocol = \"UDP\", port = 7946 }]",
         {{"198.19.0.40", 1, true, "peer-a"}, {"198.19.0.41"}}},
        {"ext", "", "", {}, false, "external_name = \"www.example.org\"\n"},
    };
}

std::vector<PortIdentity> port_identities() {
    PortIdentity clients;
    clients.port_id = 0;
    clients.mac = {{0x02, 0, 0, 0, 0, 0x02}};
    PortIdentity endpoints;
    endpoints.port_id = 1;
    endpoints.mac = {{0x02, 0, 0, 0, 0, 0x03}};
    return {clients, endpoints};
}

config::Config load(NatMode mode, bool reloaded) {
    config::LoadResult loaded = config::load_config_string(topology_config(mode, reloaded), "fuzz topology");
    if (!loaded.errors.empty()) {
        throw std::runtime_error("fuzz topology refused:\n" + config::describe_errors(loaded.errors));
    }
    return *loaded.config;
}

// The zone as the control plane publishes it (ControlPlane: build_dns_zone on the store's services).
std::shared_ptr<const DnsZone> dns_zone(const config::Config& config) {
    config::ServiceStore store(config.cluster, gateway_addresses(config), gateway_addresses6(config));
    const config::StoreResult result = store.replace_all(
        config::ObjectSet{config.services, config.pods, config.endpoint_slices, config.dns}, config.source);
    if (!result.ok())
        throw std::runtime_error("fuzz topology's services refused:\n" + config::describe_errors(result.errors));
    return build_dns_zone(config.dns, store.resolved());
}

ModeSnapshots build_mode(NatMode mode) {
    ModeSnapshots snapshots;
    snapshots.initial_builder = std::make_unique<SnapshotBuilder>(kWorkers, port_identities());
    snapshots.initial = snapshots.initial_builder->build(load(mode, false));
    snapshots.initial->dns = dns_zone(load(mode, false));
    snapshots.reload_builder = std::make_unique<SnapshotBuilder>(kWorkers, port_identities());
    snapshots.reload_builder->build(load(mode, false));
    snapshots.reloaded = snapshots.reload_builder->build(load(mode, true));
    snapshots.reloaded->dns = dns_zone(load(mode, true));
    return snapshots;
}

}  // namespace

std::string topology_config(NatMode mode, bool reloaded) {
    std::ostringstream text;
    text << "[dataplane]\nworker_lcores = [1, 2]\nnat_mode = \"" << (mode == NatMode::FullNat ? "fullnat" : "dnat")
         << "\"\nhash_seed = 0x5eed5eed\nmaglev_max_table_size = 101\n\n"
         << "[conntrack]\ncapacity = 1024\ntcp_syn_timeout = 5\nudp_timeout = 60\nudp_unreplied_timeout = 10\n\n"
         << "[snat]\naddresses = [\"198.19.0.2\", \"2001:db8:e::2\"]\nport_range = [40000, 40127]\n\n"
         << "[[ports]]\nname = \"clients\"\ndevice = \"net_null0\"\n"
         << "addresses = [\"198.18.200.1/24\", \"2001:db8::1/64\"]\n\n"
         << "[[ports]]\nname = \"endpoints\"\ndevice = \"net_null1\"\n"
         << "addresses = [\"198.19.0.1/24\", \"198.19.0.2/24\", \"2001:db8:e::1/64\", \"2001:db8:e::2/64\"]\n"
         << "vlan = 100\n\n"
         << "[[routes]]\nprefix = \"198.18.0.0/24\"\nvia = \"198.18.200.254\"\n\n"
         << "[[routes]]\nprefix = \"198.18.1.0/24\"\nvia = \"198.18.200.253\"\n\n"
         << "[[neighbors]]\naddress = \"198.18.200.254\"\nmac = \"02:00:00:00:00:01\"\n\n";
    for (const char* neighbor :
         {"198.19.0.20", "198.19.0.21", "198.19.0.22", "198.19.0.23", "198.19.0.24", "198.19.0.25"}) {
        text << "[[neighbors]]\naddress = \"" << neighbor
             << "\"\nmac = \"02:01:c6:13:00:" << std::string(neighbor).substr(9) << "\"\n\n";
    }
    // IPv6 clients: 2001:db8::10-12, on-link. IPv6 is refused while client_ranges (IPv4 only)
    // is set, so the reload drops them: before it refusals, after it NAT66.
    for (const char* neighbor : {"2001:db8::10", "2001:db8::11", "2001:db8::12"}) {
        text << "[[neighbors]]\naddress = \"" << neighbor << "\"\nmac = \"02:00:00:00:06:01\"\n\n";
    }
    for (const char* neighbor : {"2001:db8:e::20", "2001:db8:e::21"}) {
        text << "[[neighbors]]\naddress = \"" << neighbor << "\"\nmac = \"02:00:00:00:06:02\"\n\n";
    }
    if (!reloaded) text << "[cluster]\nclient_ranges = [\"198.18.0.0/16\"]\n\n";
    text << "[dns]\naddresses = [\"198.18.100.53\"]\n"
         << (reloaded ? "rate_limit = 0\n\n"
                      : "upstreams = [\"198.19.0.20\"]\nrate_limit = 4\nrate_limit_slip = 2\n\n");
    for (const Service& service : services(reloaded)) {
        text << "[[services]]\nname = \"" << service.name << "\"\n";
        if (*service.cluster_ip != '\0') text << "cluster_ip = \"" << service.cluster_ip << "\"\n";
        if (*service.ports != '\0') text << "ports = " << service.ports << "\n";
        if (service.client_ip_affinity) text << "session_affinity = \"ClientIP\"\n";
        text << service.extra;
        for (const Endpoint& endpoint : service.endpoints) {
            text << "[[services.endpoints]]\naddress = \"" << endpoint.address << "\"\nweight = " << endpoint.weight
                 << "\nready = " << (endpoint.ready ? "true" : "false") << "\n";
            if (endpoint.hostname != nullptr) text << "hostname = \"" << endpoint.hostname << "\"\n";
        }
        text << "\n";
    }
    text << "[[services]]\nname = \"web6\"\ncluster_ips = [\"198.18.100.9\", \"2001:db8:100::1\"]\n"
         << "ip_family_policy = \"RequireDualStack\"\nselector = { app = \"web6\" }\n"
         << "ports = [{ name = \"http\", protocol = \"TCP\", port = 80, target_port = 8080 },"
         << " { name = \"dns\", protocol = \"UDP\", port = 53, target_port = 5353 },"
         << " { name = \"sctp\", protocol = \"SCTP\", port = 9, target_port = 9 }]\n\n";
    text << "[[pods]]\nname = \"web6-1\"\npod_ips = [\"198.19.0.22\", \"2001:db8:e::20\"]\n"
         << "labels = { app = \"web6\" }\n\n";
    text << "[[pods]]\nname = \"web6-2\"\npod_ips = [\"198.19.0.23\", \"2001:db8:e::21\"]\n"
         << "labels = { app = \"web6\" }\n\n";
    return text.str();
}

std::unique_ptr<Topology> build_topology() {
    auto topology = std::make_unique<Topology>();
    topology->full_nat = build_mode(NatMode::FullNat);
    topology->dnat_only = build_mode(NatMode::DnatOnly);
    for (const config::NeighborConfig& neighbor : load(NatMode::FullNat, false).neighbors) {
        if (!config::is_zero(neighbor.address6)) continue;  // IPv6 ones live in the snapshot
        rte_ether_addr mac{};
        std::memcpy(mac.addr_bytes, neighbor.mac.data(), RTE_ETHER_ADDR_LEN);
        if (topology->neighbors.learn(rte_cpu_to_be_32(neighbor.address), mac, true) !=
            NeighborTable::LearnResult::Added) {
            throw std::runtime_error("fuzz topology: cannot add static neighbor " +
                                     config::format_ipv4(neighbor.address));
        }
    }
    return topology;
}

}  // namespace vipgate::fuzz
