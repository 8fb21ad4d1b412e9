// SnapshotBuilder, settings: what a snapshot takes from the configuration rather than from the
// services (NAT mode, timeouts, rate limits, ports, SNAT, IPv6 addresses and neighbors, client
// ranges, routes). Only the route table and the SNAT6 slots carry state from one snapshot to the
// next; admits_settings() checks both before an update commits anything.
#include "control/snapshot_builder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <rte_byteorder.h>

#include "control/address_ranges.h"
#include "control/dpdk_tables.h"
#include "dataplane/conn_table6.h"

namespace vipgate {

// Everything but the generation and the service tables, which are prepare()'s.
void SnapshotBuilder::stage_settings(const config::Config& settings, Snapshot& snapshot) {
    snapshot.nat_mode = settings.dataplane.nat_mode == config::NatMode::FullNat ? NatMode::FullNat : NatMode::DnatOnly;
    snapshot.hash_seed = static_cast<uint32_t>(settings.dataplane.hash_seed ^ (settings.dataplane.hash_seed >> 32));
    const auto& conntrack = settings.conntrack;
    snapshot.timeouts = ConnTimeouts{.tcp_syn_ms = conntrack.tcp_syn_timeout_s * 1000,
                                     .tcp_established_ms = conntrack.tcp_established_timeout_s * 1000,
                                     .tcp_closing_ms = conntrack.tcp_closing_timeout_s * 1000,
                                     .tcp_closed_ms = conntrack.tcp_closed_timeout_s * 1000,
                                     .udp_ms = conntrack.udp_timeout_s * 1000,
                                     .icmp_ms = conntrack.icmp_timeout_s * 1000,
                                     .udp_unreplied_ms = conntrack.udp_unreplied_timeout_s * 1000,
                                     .half_open_min_idle_ms = conntrack.half_open_min_idle_ms};
    const auto& limits = settings.limits;
    snapshot.rate_limits = RateLimits{.answers = {limits.answer_rate, limits.answer_burst},
                                      .punts = {limits.punt_rate, limits.punt_burst}};
    snapshot.ports = ports_;
    for (size_t i = 0; i < settings.ports.size() && i < snapshot.ports.size(); ++i) {
        snapshot.ports[i].vlan = settings.ports[i].vlan;
        snapshot.ports[i].kernel_interface = !settings.ports[i].kernel_interface.empty();
        snapshot.ports[i].accept_router_advertisements = settings.ports[i].accept_router_advertisements;
        // The daemon's identities carry the MTU the device runs (port_setup.cpp); a configured
        // one is the same there (ports are restart-only) and the one that counts elsewhere.
        if (settings.ports[i].mtu) snapshot.ports[i].mtu = *settings.ports[i].mtu;
        if (!settings.ports[i].addresses.empty()) {
            snapshot.ports[i].primary_address = rte_cpu_to_be_32(settings.ports[i].addresses[0].address);
        }
    }
    snapshot.worker_count = worker_count_;
    for (uint32_t address : settings.snat.addresses) snapshot.snat_addresses.push_back(rte_cpu_to_be_32(address));
    stage_ipv6_settings(settings, snapshot);
    snapshot.idle = {settings.dataplane.idle == config::IdleMode::Adaptive, settings.dataplane.idle_max_sleep_us};
    snapshot.snat_ports = SnatPortSlices::split(settings.snat.port_min, settings.snat.port_max, worker_count_);
    snapshot.client_ranges = merge_client_ranges(settings.cluster.client_ranges);
    snapshot.client_ranges6 = merge_client_ranges6(settings.cluster.client_ranges6);
    snapshot.routes = route_table_;
}

// The ports' IPv6 prefixes and addresses, static IPv6 neighbors and SNAT6 slots. SNAT6 slots
// only grow (Ipv6Settings); admits_settings() refused more than a connection table holds.
void SnapshotBuilder::stage_ipv6_settings(const config::Config& settings, Snapshot& snapshot) {
    Ipv6Settings& ipv6 = snapshot.ipv6;
    for (size_t port_index = 0; port_index < settings.ports.size(); ++port_index) {
        const auto& addresses6 = settings.ports[port_index].addresses6;
        for (const config::Ipv6Prefix& prefix : addresses6) {
            Ipv6OnLink link;
            for (size_t i = 0; i < 16; ++i) {
                const int bits = std::clamp(int(prefix.length) - int(i) * 8, 0, 8);
                link.prefix[i] = static_cast<uint8_t>(prefix.address[i] & static_cast<uint8_t>(0xFF00 >> bits));
            }
            link.length = prefix.length;
            link.port_index = static_cast<uint16_t>(port_index);
            ipv6.on_link.push_back(link);
            ipv6.local.push_back(prefix.address);
        }
        if (!addresses6.empty() && port_index < snapshot.ports.size()) {
            snapshot.ports[port_index].primary_address6 = addresses6.front().address;
        }
    }
    for (const auto& [key, installed] : services_) {
        for (const InstalledPort& port : installed.ports) {
            if (port.ipv6) ipv6.vips.push_back(port.vip6);
        }
    }
    std::sort(ipv6.vips.begin(), ipv6.vips.end());
    ipv6.vips.erase(std::unique(ipv6.vips.begin(), ipv6.vips.end()), ipv6.vips.end());
    std::stable_sort(ipv6.on_link.begin(), ipv6.on_link.end(),
                     [](const Ipv6OnLink& a, const Ipv6OnLink& b) { return a.length > b.length; });
    for (const config::NeighborConfig& neighbor : settings.neighbors) {
        if (config::is_zero(neighbor.address6)) continue;
        Ipv6Neighbor entry;
        std::memcpy(entry.address, neighbor.address6.data(), sizeof(entry.address));
        for (size_t i = 0; i < settings.ports.size(); ++i) {
            if (settings.ports[i].name == neighbor.port) entry.port_index = static_cast<uint16_t>(i);
        }
        std::memcpy(entry.mac.addr_bytes, neighbor.mac.data(), RTE_ETHER_ADDR_LEN);
        ipv6.neighbors.push_back(entry);
    }
    if (!ipv6.neighbors.empty()) {
        size_t size = 1;
        while (size < 2 * ipv6.neighbors.size()) size *= 2;
        ipv6.neighbor_index.assign(size, 0);
        for (uint32_t i = 0; i < ipv6.neighbors.size(); ++i) {
            const Ipv6Neighbor& neighbor = ipv6.neighbors[i];
            size_t position = ipv6_neighbor_hash(neighbor.address, neighbor.port_index) & (size - 1);
            while (ipv6.neighbor_index[position] != 0) position = (position + 1) & (size - 1);
            ipv6.neighbor_index[position] = i + 1;
        }
    }
    for (const config::Ipv6Address& address : settings.snat.addresses6) {
        auto slot = std::find(snat6_slots_.begin(), snat6_slots_.end(), address);
        if (slot == snat6_slots_.end()) {
            if (snat6_slots_.size() >= ConnTable6::kSnatSlots) continue;
            slot = snat6_slots_.insert(snat6_slots_.end(), address);
        }
        ipv6.snat_active.push_back(static_cast<uint8_t>(slot - snat6_slots_.begin()));
    }
    ipv6.snat_slots.assign(snat6_slots_.begin(), snat6_slots_.end());
    if (default_route6_ && default_route6_->port_index < settings.ports.size()) {
        ipv6.has_default_router = true;
        ipv6.default_router = default_route_link(*default_route6_);
    }
}

std::optional<std::string> SnapshotBuilder::admits_settings(const config::Config& settings) {
    size_t snat6_slots = snat6_slots_.size();
    for (const config::Ipv6Address& address : settings.snat.addresses6) {
        if (std::find(snat6_slots_.begin(), snat6_slots_.end(), address) == snat6_slots_.end()) ++snat6_slots;
    }
    if (snat6_slots > ConnTable6::kSnatSlots) {
        return "more than " + std::to_string(ConnTable6::kSnatSlots) +
               " IPv6 SNAT addresses since start (a removed one keeps its slot until restart); restart vipgate to "
               "reuse them";
    }
    std::vector<std::vector<config::Ipv4Prefix>> port_addresses;
    std::vector<std::vector<config::Ipv6Prefix>> port_addresses6;
    for (const auto& port : settings.ports) {
        port_addresses.push_back(port.addresses);
        port_addresses6.push_back(port.addresses6);
    }
    RouteInputs inputs{std::move(port_addresses), std::move(port_addresses6), settings.routes};
    if (route_table_ && route_inputs_ == inputs) return std::nullopt;
    try {
        route_table_ = build_route_table(settings);
        route_inputs_ = std::move(inputs);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return std::nullopt;
}

}  // namespace vipgate
