#include "control/dpdk_tables.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

namespace vipgate {
namespace {

void add_route(rte_lpm* lpm, uint32_t prefix_host, uint8_t length, uint32_t next_hop) {
    // rte_lpm takes depths 1..32; a default route is two /1 halves.
    if (length == 0) {
        add_route(lpm, 0x00000000, 1, next_hop);
        add_route(lpm, 0x80000000, 1, next_hop);
        return;
    }
    if (rte_lpm_add(lpm, prefix_host, length, next_hop) != 0) {
        throw std::runtime_error("cannot add route " + config::format_ipv4(prefix_host) + "/" + std::to_string(length) +
                                 " to the route table");
    }
}

uint16_t port_index_of(const config::Config& config, const std::string& name) {
    for (size_t i = 0; i < config.ports.size(); ++i) {
        if (config.ports[i].name == name) return static_cast<uint16_t>(i);
    }
    return 0;
}

// With IPv6 routes only: the ports' IPv6 prefixes (direct) and the routes in one rte_lpm6, so
// the longest prefix wins between them (RouteTable).
void add_ipv6_routes(const config::Config& config, RouteTable& table) {
    std::vector<Ipv6OnLink> entries;
    for (const auto& route : config.routes) {
        if (!route.ipv6) continue;
        Ipv6OnLink entry;
        std::memcpy(entry.prefix, route.prefix6.address.data(), 16);
        entry.length = route.prefix6.length;
        entry.port_index = port_index_of(config, route.port);
        entry.via_gateway = true;
        std::memcpy(entry.gateway, route.via6.data(), 16);
        entries.push_back(entry);
    }
    if (entries.empty()) return;
    for (size_t port_index = 0; port_index < config.ports.size(); ++port_index) {
        for (const config::Ipv6Prefix& prefix : config.ports[port_index].addresses6) {
            Ipv6OnLink link;
            std::memcpy(link.prefix, prefix.address.data(), 16);
            link.length = prefix.length;
            link.port_index = static_cast<uint16_t>(port_index);
            entries.push_back(link);
        }
    }
    rte_lpm6_config lpm_config{};
    lpm_config.max_rules = static_cast<uint32_t>(entries.size() * 2 + 16);
    lpm_config.number_tbl8s = static_cast<uint32_t>(entries.size() * 16 + 256);
    const std::string name = unique_table_name("routes6_");
    table.lpm6 = rte_lpm6_create(name.c_str(), SOCKET_ID_ANY, &lpm_config);
    if (table.lpm6 == nullptr) {
        throw std::runtime_error("cannot create the IPv6 route table: " + std::string(rte_strerror(rte_errno)) +
                                 " (it needs 64 MiB of EAL memory)");
    }
    for (uint32_t index = 0; index < entries.size(); ++index) {
        const Ipv6OnLink& entry = entries[index];
        // rte_lpm6 takes depths 1..128: a default route (::/0) is two /1 halves, as for IPv4.
        uint8_t upper_half[16] = {0x80};
        const bool added = entry.length == 0 ? rte_lpm6_add(table.lpm6, entry.prefix, 1, index) == 0 &&
                                                   rte_lpm6_add(table.lpm6, upper_half, 1, index) == 0
                                             : rte_lpm6_add(table.lpm6, entry.prefix, entry.length, index) == 0;
        if (!added) {
            config::Ipv6Address prefix;
            std::memcpy(prefix.data(), entry.prefix, prefix.size());
            throw std::runtime_error("cannot add IPv6 route " + config::format_ipv6(prefix) + "/" +
                                     std::to_string(entry.length) + " to the route table");
        }
    }
    table.routes6 = std::move(entries);
}

}  // namespace

std::string unique_table_name(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    // Relaxed: only uniqueness matters, and the atomic increment alone gives it.
    return prefix + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

rte_hash* create_shared_hash(const char* prefix, uint32_t entries, uint32_t key_length, rte_rcu_qsbr* readers) {
    const std::string name = unique_table_name(prefix);
    rte_hash_parameters parameters{};
    parameters.name = name.c_str();
    parameters.entries = std::max<uint32_t>(entries, 64);
    parameters.key_len = key_length;
    parameters.hash_func = rte_hash_crc;
    parameters.hash_func_init_val = 0;
    parameters.socket_id = SOCKET_ID_ANY;
    parameters.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    rte_hash* hash = rte_hash_create(&parameters);
    if (hash == nullptr) {
        throw std::runtime_error("cannot create hash table '" + name + "': " + rte_strerror(rte_errno) +
                                 " (is the EAL memory (-m) too small?)");
    }
    if (readers != nullptr) {
        rte_hash_rcu_config reclaim{};
        reclaim.v = readers;
        reclaim.mode = RTE_HASH_QSBR_MODE_DQ;
        if (rte_hash_rcu_qsbr_add(hash, &reclaim) != 0) {
            const std::string reason = rte_strerror(rte_errno);
            rte_hash_free(hash);
            throw std::runtime_error("cannot attach the workers' QSBR variable to hash table '" + name +
                                     "': " + reason + " (is the EAL memory (-m) too small?)");
        }
    }
    return hash;
}

// Connected subnets of every port, then the configured routes (their port is filled in by
// config validation).
std::shared_ptr<const RouteTable> build_route_table(const config::Config& config) {
    size_t rule_count = config.routes.size() + 2;
    for (const auto& port : config.ports) rule_count += port.addresses.size();
    rte_lpm_config lpm_config{};
    lpm_config.max_rules = static_cast<uint32_t>(rule_count * 2 + 16);
    lpm_config.number_tbl8s = 256;
    std::string name = unique_table_name("routes_");
    auto table = std::make_shared<RouteTable>();
    table->lpm = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &lpm_config);
    if (table->lpm == nullptr) {
        throw std::runtime_error("cannot create the route table: " + std::string(rte_strerror(rte_errno)) +
                                 " (it needs 64 MiB of EAL memory)");
    }
    for (size_t port_index = 0; port_index < config.ports.size(); ++port_index) {
        for (const auto& prefix : config.ports[port_index].addresses) {
            uint32_t next_hop = static_cast<uint32_t>(table->next_hops.size());
            table->next_hops.push_back({static_cast<uint16_t>(port_index), 0});
            add_route(table->lpm, prefix.address, prefix.length, next_hop);
        }
    }
    for (const auto& route : config.routes) {
        if (route.ipv6) continue;
        uint32_t next_hop = static_cast<uint32_t>(table->next_hops.size());
        table->next_hops.push_back({port_index_of(config, route.port), rte_cpu_to_be_32(route.via)});
        add_route(table->lpm, route.prefix.address, route.prefix.length, next_hop);
    }
    add_ipv6_routes(config, *table);
    return table;
}

}  // namespace vipgate
