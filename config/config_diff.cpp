// Which configuration changes need a restart: anything fixed when EAL, ports, mempools, queues
// and conntrack tables are created, and what existing connections depend on (NAT mode, SNAT
// addresses and port slices). Everything else (services, routes, neighbors, timeouts, seeds) is
// compiled into a new Snapshot and published live (client ranges included).
#include "config/config.h"

namespace vipgate::config {

namespace {

void compare_port(const PortConfig& running, const PortConfig& candidate, const std::string& path,
                  std::vector<std::string>& differences) {
    auto check = [&](bool same, const char* field) {
        if (!same) differences.push_back(path + "." + field);
    };
    check(running.name == candidate.name, "name");
    check(running.device == candidate.device, "device");
    check(running.mac == candidate.mac, "mac");
    check(running.addresses == candidate.addresses, "addresses");
    check(running.vlan == candidate.vlan, "vlan");
    check(running.promiscuous == candidate.promiscuous, "promiscuous");
    check(running.mtu == candidate.mtu, "mtu");
    check(running.kernel_interface == candidate.kernel_interface, "kernel_interface");
    check(running.accept_router_advertisements == candidate.accept_router_advertisements,
          "accept_router_advertisements");
}

}  // namespace

std::vector<std::string> restart_only_differences(const Config& running, const Config& candidate) {
    std::vector<std::string> differences;
    auto check = [&](bool same, const char* field) {
        if (!same) differences.push_back(field);
    };
    check(running.eal == candidate.eal, "eal.args");
    check(running.dataplane.worker_lcores == candidate.dataplane.worker_lcores, "dataplane.worker_lcores");
    check(running.dataplane.mbufs_per_port == candidate.dataplane.mbufs_per_port, "dataplane.mbufs_per_port");
    check(running.dataplane.rx_descriptors == candidate.dataplane.rx_descriptors, "dataplane.rx_descriptors");
    check(running.dataplane.tx_descriptors == candidate.dataplane.tx_descriptors, "dataplane.tx_descriptors");
    check(running.conntrack.capacity == candidate.conntrack.capacity, "conntrack.capacity");
    // Live connections hold SNAT ports of their worker's slice and replies are routed to workers
    // by those slices and by the NAT mode: changing either would strand existing flows.
    check(running.dataplane.nat_mode == candidate.dataplane.nat_mode, "dataplane.nat_mode");
    check(running.snat == candidate.snat, "snat");
    // The announcer owns its table and interface from start to exit (routes it put elsewhere
    // would be left behind).
    check(running.announce == candidate.announce, "announce");
    // Every allocated ClusterIP comes from the service CIDR and never changes for its service's
    // life: a new CIDR would leave them outside it.
    check(running.cluster.service_cidr == candidate.cluster.service_cidr &&
              running.cluster.service_cidr_ipv6 == candidate.cluster.service_cidr_ipv6,
          "cluster.service_cidr");
    if (running.ports.size() != candidate.ports.size()) {
        differences.push_back("ports (" + std::to_string(running.ports.size()) + " -> " +
                              std::to_string(candidate.ports.size()) + ")");
        return differences;
    }
    for (size_t i = 0; i < running.ports.size(); ++i) {
        compare_port(running.ports[i], candidate.ports[i], "ports[" + std::to_string(i) + "]", differences);
    }
    return differences;
}

}  // namespace vipgate::config
