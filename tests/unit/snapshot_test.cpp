// SnapshotBuilder: what a configuration compiles to (VIP table, address kinds, routes, endpoint
// slots, Maglev tables) and what the builder remembers between builds (slot numbers and
// generations, Maglev tables of unchanged service ports, nothing at all from a failed build).
//
// Every snapshot holds an rte_lpm of 64 MiB (DPDK's fixed tbl24) and the test EAL has 256 MiB,
// so a test keeps at most two snapshots alive.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>

#include "config/config.h"
#include "control/publisher.h"
#include "control/snapshot_builder.h"
#include "control/stats_reporter.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using test::ipv4;

constexpr rte_ether_addr kPort0Mac = test::mac("02:00:00:00:00:a0");
constexpr rte_ether_addr kPort1Mac = test::mac("02:00:00:00:00:a1");

struct Endpoint {
    std::string address;
    uint16_t port = 0;
    uint32_t weight = 1;
    bool ready = true;
    bool terminating = false;
};

struct Service {
    std::string name;
    std::string cluster_ip;
    std::vector<std::string> ports;  // TOML inline tables, e.g. "{ name = \"http\", port = 80 }"
    std::vector<Endpoint> endpoints;
};

struct Options {
    std::vector<Service> services;
    std::string hash_seed = "0x1234567890";
    std::string extra_routes;
};

std::string config_text(const Options& options) {
    std::ostringstream text;
    text << "[dataplane]\nworker_lcores = [1, 2]\nnat_mode = \"fullnat\"\nhash_seed = " << options.hash_seed
         << "\n\n[conntrack]\ntcp_syn_timeout = 7\ntcp_established_timeout = 600\ntcp_closing_timeout = 20\n"
         << "tcp_closed_timeout = 3\nudp_timeout = 60\nicmp_timeout = 9\nudp_unreplied_timeout = 25\n"
         << "half_open_min_idle_ms = 15\n\n"
         << "[snat]\naddresses = [\"198.18.0.2\"]\nport_range = [2000, 2999]\n\n"
         << "[[ports]]\nname = \"p0\"\ndevice = \"net_null0\"\naddresses = [\"198.18.0.1/24\", \"198.18.0.2/24\"]\n\n"
         << "[[ports]]\nname = \"p1\"\ndevice = \"net_null1\"\naddresses = [\"198.19.0.1/16\"]\nvlan = 42\n\n"
         << "[[routes]]\nprefix = \"198.20.0.0/16\"\nvia = \"198.19.0.254\"\n\n"
         << "[[routes]]\nprefix = \"198.20.5.0/24\"\nvia = \"198.18.0.253\"\n\n"
         << options.extra_routes;
    for (const auto& service : options.services) {
        text << "[[services]]\nname = \"" << service.name << "\"\ncluster_ip = \"" << service.cluster_ip
             << "\"\nports = [";
        for (size_t i = 0; i < service.ports.size(); ++i) text << (i == 0 ? "" : ", ") << service.ports[i];
        text << "]\n";
        for (const auto& endpoint : service.endpoints) {
            text << "[[services.endpoints]]\naddress = \"" << endpoint.address << "\"\n";
            if (endpoint.port != 0) text << "port = " << endpoint.port << "\n";
            text << "weight = " << endpoint.weight << "\nready = " << (endpoint.ready ? "true" : "false")
                 << "\nterminating = " << (endpoint.terminating ? "true" : "false") << "\n";
        }
        text << "\n";
    }
    return text.str();
}

config::Config load(const Options& options) {
    const std::string text = config_text(options);
    config::LoadResult loaded = config::load_config_string(text, "snapshot_test");
    std::string errors;
    for (const auto& error : loaded.errors) errors += error.to_string() + "\n";
    if (!loaded.config) throw std::runtime_error("test configuration rejected:\n" + errors + text);
    return *loaded.config;
}

std::vector<PortIdentity> port_identities() {
    PortIdentity first;
    first.port_id = 3;
    first.mac = kPort0Mac;
    PortIdentity second;
    second.port_id = 7;
    second.mac = kPort1Mac;
    return {first, second};
}

const char* kHttp = "{ name = \"http\", protocol = \"TCP\", port = 80, target_port = 8080 }";
const char* kDns = "{ name = \"dns\", protocol = \"UDP\", port = 53, target_port = 5353 }";

Options web_with(std::vector<Endpoint> endpoints) {
    return {.services = {{"web", "198.18.100.1", {kHttp}, std::move(endpoints)}}};
}

const ServicePort& service_port(const Snapshot& snapshot, uint32_t vip, uint16_t port, uint8_t protocol) {
    const int32_t index = snapshot.find_service_port(VipKey::ipv4(vip, rte_cpu_to_be_16(port), protocol));
    if (index < 0) throw std::invalid_argument("no such service port");
    return snapshot.service_ports[static_cast<uint32_t>(index)];
}

// Endpoint address (network order) -> slot, for one service port.
std::map<uint32_t, uint32_t> slots_by_address(const Snapshot& snapshot, const ServicePort& port) {
    std::map<uint32_t, uint32_t> slots;
    for (uint32_t slot : port.endpoint_slots) slots[snapshot.endpoints[slot].address] = slot;
    return slots;
}

// How many Maglev slots each endpoint slot owns.
std::map<uint32_t, uint32_t> maglev_shares(const ServicePort& port) {
    std::map<uint32_t, uint32_t> shares;
    for (uint32_t slot : port.maglev->slots()) ++shares[slot];
    return shares;
}

struct SlotIdentity {
    uint32_t slot;
    uint32_t generation;
};

SlotIdentity identity_of(const Snapshot& snapshot, const ServicePort& port, uint32_t address) {
    const uint32_t slot = slots_by_address(snapshot, port).at(address);
    return {slot, snapshot.endpoints[slot].generation};
}

// ---------------------------------------------------------------------------------------------

TEST(SnapshotBuilder, CopiesDataplaneSettings) {
    SnapshotBuilder builder(2, port_identities());
    const std::unique_ptr<Snapshot> snapshot = builder.build(load({}));
    EXPECT_EQ(snapshot->generation, 1u);
    EXPECT_EQ(snapshot->nat_mode, NatMode::FullNat);
    EXPECT_EQ(snapshot->hash_seed, 0x34567890u ^ 0x12u);  // the 64-bit seed folded to 32 bits
    EXPECT_EQ(snapshot->timeouts.tcp_syn_ms, 7000u);
    EXPECT_EQ(snapshot->timeouts.tcp_established_ms, 600000u);
    EXPECT_EQ(snapshot->timeouts.tcp_closing_ms, 20000u);
    EXPECT_EQ(snapshot->timeouts.tcp_closed_ms, 3000u);
    EXPECT_EQ(snapshot->timeouts.udp_ms, 60000u);
    EXPECT_EQ(snapshot->timeouts.icmp_ms, 9000u);
    EXPECT_EQ(snapshot->timeouts.udp_unreplied_ms, 25000u);
    EXPECT_EQ(snapshot->timeouts.half_open_min_idle_ms, 15u);

    ASSERT_EQ(snapshot->ports.size(), 2u);
    EXPECT_EQ(snapshot->ports[0].port_id, 3);
    EXPECT_TRUE(test::same_mac(snapshot->ports[0].mac, kPort0Mac));
    EXPECT_EQ(snapshot->ports[0].vlan, 0);
    EXPECT_EQ(snapshot->ports[0].primary_address, ipv4("198.18.0.1"));
    EXPECT_EQ(snapshot->ports[1].port_id, 7);
    EXPECT_TRUE(test::same_mac(snapshot->ports[1].mac, kPort1Mac));
    EXPECT_EQ(snapshot->ports[1].vlan, 42);
    EXPECT_EQ(snapshot->ports[1].primary_address, ipv4("198.19.0.1"));

    EXPECT_EQ(snapshot->snat_addresses, std::vector<uint32_t>{ipv4("198.18.0.2")});
    EXPECT_EQ(snapshot->worker_count, 2);
    EXPECT_EQ(snapshot->snat_ports.first, 2000);
    EXPECT_EQ(snapshot->snat_ports.per_worker, 500);
    EXPECT_EQ(snapshot->snat_ports.owner(2000), 0);
    EXPECT_EQ(snapshot->snat_ports.owner(2499), 0);
    EXPECT_EQ(snapshot->snat_ports.owner(2500), 1);
    EXPECT_EQ(snapshot->snat_ports.owner(2999), 1);

    const std::unique_ptr<Snapshot> next = builder.build(load({}));
    EXPECT_EQ(next->generation, 2u);
}

TEST(SnatPortSlices, SplitsTheRangeEvenlyAndNamesEachPortsOwner) {
    const SnatPortSlices slices = SnatPortSlices::split(2000, 3002, 2);  // 1,003 ports: one left over
    EXPECT_EQ(slices.per_worker, 501);
    EXPECT_EQ(slices.slice_first(1), 2501);
    EXPECT_EQ(slices.slice_last(1), 3001);
    EXPECT_TRUE(slices.contains(2000));
    EXPECT_TRUE(slices.contains(3001));
    EXPECT_FALSE(slices.contains(3002)) << "the remainder belongs to no slice";
    EXPECT_FALSE(slices.contains(1999));
    EXPECT_EQ(slices.owner(2500), 0);
    EXPECT_EQ(slices.owner(2501), 1);
    EXPECT_GE(slices.owner(3002), slices.workers);
    EXPECT_GE(slices.owner(1999), slices.workers) << "below the range: nobody's, not a wrapped worker";
}

// RFC 6056 3.3.3: the hash places a flow in the slice, the counter moves it along; every
// candidate stays inside the worker's slice, and one client's consecutive connections get
// distinct ports.
TEST(SnatPortSlices, CandidatesStayInTheSliceAndFollowTheHash) {
    const SnatPortSlices slices = SnatPortSlices::split(1024, 65535, 3);
    for (uint32_t hash : {0u, 1u, 0xdeadbeefu, 0xffffffffu}) {
        for (uint32_t counter = 0; counter < 1000; counter += 37) {
            for (uint32_t attempt = 0; attempt < 16; ++attempt) {
                const uint16_t port = slices.candidate(2, hash, counter, attempt);
                EXPECT_GE(port, slices.slice_first(2));
                EXPECT_LE(port, slices.slice_last(2));
            }
        }
    }
    EXPECT_NE(slices.candidate(0, 0x12345678u, 0, 0), slices.candidate(0, 0x9abcdef0u, 0, 0))
        << "two flows starting at the same counter land apart";
    std::set<uint16_t> ports;
    for (uint32_t counter = 0; counter < 100; ++counter) ports.insert(slices.candidate(0, 0x12345678u, counter, 0));
    EXPECT_EQ(ports.size(), 100u);
}

// A bulk update builds its Maglev tables on several CPUs (control/maglev_batch.h): the tables
// are the ones a single CPU builds, and they are filled before the snapshot is returned.
TEST(SnapshotBuilder, MaglevTablesOnSeveralCpusEqualTheOneCpuTables) {
    Options options;
    for (int i = 0; i < 3 * static_cast<int>(MaglevBatch::kParallelThreshold); ++i) {
        std::string vip = "198.18.";
        vip += std::to_string(100 + i / 200);
        vip += '.';
        vip += std::to_string(1 + i % 200);
        std::vector<Endpoint> endpoints;
        for (int e = 0; e <= i % 7; ++e) {
            std::string endpoint = "198.19.1.";
            endpoint += std::to_string(1 + (i + e) % 250);
            endpoints.push_back({endpoint});
        }
        std::string name = "s";
        name += std::to_string(i);
        options.services.push_back({name, vip, {kHttp}, endpoints});
    }
    const config::Config config = load(options);
    SnapshotBuilder alone(2, port_identities());
    SnapshotBuilder parallel(2, port_identities());
    parallel.set_build_cpus({0, 1});
    const std::unique_ptr<Snapshot> expected = alone.build(config);
    const std::unique_ptr<Snapshot> built = parallel.build(config);
    EXPECT_EQ(parallel.last_statistics().maglev_built, options.services.size());
    for (const auto& service : options.services) {
        const uint32_t vip = ipv4(service.cluster_ip.c_str());
        const ServicePort& want = service_port(*expected, vip, 80, kProtoTcp);
        const ServicePort& got = service_port(*built, vip, 80, kProtoTcp);
        ASSERT_FALSE(got.maglev->empty()) << service.name;
        ASSERT_EQ(got.maglev->size(), want.maglev->size()) << service.name;
        EXPECT_TRUE(std::equal(want.maglev->slots().begin(), want.maglev->slots().end(), got.maglev->slots().begin()))
            << service.name;
    }
}

TEST(SnapshotBuilder, VipTableFindsEveryServicePortAndNothingElse) {
    SnapshotBuilder builder(2, port_identities());
    Options options;
    options.services = {{"web", "198.18.100.1", {kHttp, kDns}, {{"198.19.0.10"}}},
                        {"api", "198.18.100.2", {"{ port = 443 }"}, {{"198.19.0.11"}}}};
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(options));
    EXPECT_EQ(builder.last_statistics().service_ports, 3u);

    const uint32_t web = ipv4("198.18.100.1");
    const uint32_t api = ipv4("198.18.100.2");
    const ServicePort& http = service_port(*snapshot, web, 80, kProtoTcp);
    EXPECT_EQ(http.vip, web);
    EXPECT_EQ(http.port, rte_cpu_to_be_16(80));
    EXPECT_EQ(http.protocol, kProtoTcp);
    EXPECT_EQ(http.service_name, "default/web:http");
    const ServicePort& dns = service_port(*snapshot, web, 53, kProtoUdp);
    EXPECT_EQ(dns.protocol, kProtoUdp);
    EXPECT_EQ(dns.service_name, "default/web:dns");
    const ServicePort& https = service_port(*snapshot, api, 443, kProtoTcp);
    EXPECT_EQ(https.service_name, "default/api:443");  // unnamed port: named by its number
    EXPECT_NE(&http, &dns);

    const auto absent = [&](uint32_t vip, uint16_t port_host_order, uint8_t protocol) {
        return snapshot->find_service_port(VipKey::ipv4(vip, rte_cpu_to_be_16(port_host_order), protocol)) == -1;
    };
    EXPECT_TRUE(absent(web, 80, kProtoUdp));
    EXPECT_TRUE(absent(web, 53, kProtoTcp));
    EXPECT_TRUE(absent(web, 81, kProtoTcp));
    EXPECT_TRUE(absent(web, 443, kProtoTcp));
    EXPECT_TRUE(absent(api, 80, kProtoTcp));
    EXPECT_TRUE(absent(ipv4("198.18.100.3"), 80, kProtoTcp));
    EXPECT_EQ(snapshot->find_service_port(VipKey::ipv4(web, 80, kProtoTcp)), -1) << "host-order port matched";
}

TEST(SnapshotBuilder, AddressKinds) {
    SnapshotBuilder builder(2, port_identities());
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(web_with({{"198.19.0.10"}})));
    EXPECT_EQ(snapshot->address_kind(ipv4("198.18.0.1")), AddressKind::Local);
    EXPECT_EQ(snapshot->address_kind(ipv4("198.19.0.1")), AddressKind::Local);
    EXPECT_EQ(snapshot->address_kind(ipv4("198.18.0.2")), AddressKind::Snat);  // also a port address
    EXPECT_EQ(snapshot->address_kind(ipv4("198.18.100.1")), AddressKind::Vip);
    EXPECT_EQ(snapshot->address_kind(ipv4("198.18.0.3")), AddressKind::None);
    EXPECT_EQ(snapshot->address_kind(ipv4("198.19.0.10")), AddressKind::None);  // an endpoint
    EXPECT_EQ(snapshot->address_kind(rte_be_to_cpu_32(ipv4("198.18.0.1"))), AddressKind::None)
        << "a host-order address matched";
}

TEST(SnapshotBuilder, RoutesConnectedViaAndDefault) {
    SnapshotBuilder builder(2, port_identities());
    {
        const std::unique_ptr<Snapshot> snapshot = builder.build(load({}));
        const NextHop* connected = snapshot->route(ipv4("198.18.0.77"));
        ASSERT_NE(connected, nullptr);
        EXPECT_EQ(connected->port_index, 0);
        EXPECT_EQ(connected->gateway, 0u);
        const NextHop* wide = snapshot->route(ipv4("198.19.200.1"));  // p1's /16
        ASSERT_NE(wide, nullptr);
        EXPECT_EQ(wide->port_index, 1);
        EXPECT_EQ(wide->gateway, 0u);
        const NextHop* via = snapshot->route(ipv4("198.20.1.1"));
        ASSERT_NE(via, nullptr);
        EXPECT_EQ(via->port_index, 1);  // the port whose subnet holds the gateway
        EXPECT_EQ(test::ipv4_to_string(via->gateway), "198.19.0.254");
        const NextHop* longer = snapshot->route(ipv4("198.20.5.9"));  // a /24 inside the /16
        ASSERT_NE(longer, nullptr);
        EXPECT_EQ(longer->port_index, 0);
        EXPECT_EQ(test::ipv4_to_string(longer->gateway), "198.18.0.253");
        EXPECT_EQ(snapshot->route(ipv4("8.8.8.8")), nullptr);
        EXPECT_EQ(snapshot->route(ipv4("198.21.0.1")), nullptr);
    }
    Options with_default;
    with_default.extra_routes = "[[routes]]\nprefix = \"0.0.0.0/0\"\nvia = \"198.18.0.254\"\n\n";
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(with_default));
    for (const char* far : {"8.8.8.8", "127.0.0.1", "128.0.0.1", "255.255.255.254", "0.0.0.1"}) {
        SCOPED_TRACE(far);
        const NextHop* next_hop = snapshot->route(ipv4(far));
        ASSERT_NE(next_hop, nullptr);
        EXPECT_EQ(next_hop->port_index, 0);
        EXPECT_EQ(test::ipv4_to_string(next_hop->gateway), "198.18.0.254");
    }
    const NextHop* still_connected = snapshot->route(ipv4("198.18.0.77"));
    ASSERT_NE(still_connected, nullptr);
    EXPECT_EQ(still_connected->gateway, 0u);
    const NextHop* still_via = snapshot->route(ipv4("198.20.1.1"));
    ASSERT_NE(still_via, nullptr);
    EXPECT_EQ(test::ipv4_to_string(still_via->gateway), "198.19.0.254");
}

TEST(SnapshotBuilder, RouteTableIsSharedUntilRoutesChange) {
    SnapshotBuilder builder(2, port_identities());
    const std::unique_ptr<Snapshot> first = builder.build(load(web_with({{"198.19.0.10"}})));
    const std::unique_ptr<Snapshot> service_change = builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.11"}})));
    EXPECT_EQ(first->routes.get(), service_change->routes.get());
    Options with_default = web_with({{"198.19.0.10"}});
    with_default.extra_routes = "[[routes]]\nprefix = \"0.0.0.0/0\"\nvia = \"198.18.0.254\"\n\n";
    const std::unique_ptr<Snapshot> route_change = builder.build(load(with_default));
    EXPECT_NE(route_change->routes.get(), first->routes.get());
    ASSERT_NE(route_change->route(ipv4("8.8.8.8")), nullptr);
    EXPECT_EQ(first->route(ipv4("8.8.8.8")), nullptr);
}

TEST(SnapshotBuilder, EndpointTableMapsRepliesToTheirOnlyServicePort) {
    SnapshotBuilder builder(2, port_identities());
    Options options = web_with({{"198.19.0.10"}, {"198.19.0.11"}});
    options.services.push_back({"alias", "198.18.100.2", {kHttp}, {{"198.19.0.11"}}});
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(options));
    const int32_t web_index =
        snapshot->find_service_port(VipKey::ipv4(ipv4("198.18.100.1"), rte_cpu_to_be_16(80), kProtoTcp));
    const ServicePort& web = snapshot->service_ports[static_cast<uint32_t>(web_index)];
    const uint16_t target = snapshot->endpoints[web.endpoint_slots[0]].port;  // 8080, network order
    EXPECT_EQ(snapshot->service_port_of_endpoint({ipv4("198.19.0.10"), target, kProtoTcp, 0}), web_index);
    // .11 serves both web and alias: its replies are ambiguous without a connection entry.
    EXPECT_EQ(snapshot->service_port_of_endpoint({ipv4("198.19.0.11"), target, kProtoTcp, 0}), -1);
    EXPECT_EQ(snapshot->service_port_of_endpoint({ipv4("198.19.0.10"), target, kProtoUdp, 0}), -1);
    EXPECT_EQ(snapshot->service_port_of_endpoint({ipv4("198.19.0.99"), target, kProtoTcp, 0}), -1);
}

TEST(SnapshotBuilder, EndpointSlotFields) {
    SnapshotBuilder builder(2, port_identities());
    Options options;
    options.services = {{"web", "198.18.100.1", {kHttp, kDns}, {{"198.19.0.10", 0, 3}}},
                        {"api", "198.18.100.2", {"{ port = 443 }"}, {{"198.19.0.11", 9443, 1, true, true}}}};
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(options));
    const int32_t http_index =
        snapshot->find_service_port(VipKey::ipv4(ipv4("198.18.100.1"), rte_cpu_to_be_16(80), kProtoTcp));
    const ServicePort& http = snapshot->service_ports[static_cast<uint32_t>(http_index)];
    const ServicePort& dns = service_port(*snapshot, ipv4("198.18.100.1"), 53, kProtoUdp);
    const ServicePort& https = service_port(*snapshot, ipv4("198.18.100.2"), 443, kProtoTcp);

    // One endpoint serving two ports of a service has a slot per port.
    ASSERT_EQ(http.endpoint_slots.size(), 1u);
    ASSERT_EQ(dns.endpoint_slots.size(), 1u);
    EXPECT_NE(http.endpoint_slots[0], dns.endpoint_slots[0]);
    const EndpointSlot& for_http = snapshot->endpoints[http.endpoint_slots[0]];
    EXPECT_EQ(for_http.address, ipv4("198.19.0.10"));
    EXPECT_EQ(for_http.port, rte_cpu_to_be_16(8080));  // the target port
    EXPECT_EQ(for_http.weight, 3u);
    EXPECT_TRUE(for_http.ready);
    EXPECT_FALSE(for_http.terminating);
    EXPECT_NE(for_http.generation, 0u);
    EXPECT_EQ(for_http.service_port, static_cast<uint32_t>(http_index));
    EXPECT_EQ(snapshot->endpoints[dns.endpoint_slots[0]].port, rte_cpu_to_be_16(5353));

    ASSERT_EQ(https.endpoint_slots.size(), 1u);
    const EndpointSlot& for_https = snapshot->endpoints[https.endpoint_slots[0]];
    EXPECT_EQ(for_https.port, rte_cpu_to_be_16(9443));  // the endpoint's own port wins
    EXPECT_TRUE(for_https.ready);
    EXPECT_TRUE(for_https.terminating);
    EXPECT_TRUE(snapshot->endpoint_alive(https.endpoint_slots[0], for_https.generation));
    EXPECT_FALSE(snapshot->endpoint_alive(https.endpoint_slots[0], for_https.generation + 1));
    EXPECT_FALSE(snapshot->endpoint_alive(https.endpoint_slots[0], 0));
    EXPECT_FALSE(snapshot->endpoint_alive(snapshot->endpoints.capacity(), 1));
}

TEST(SnapshotBuilder, EndpointSlotsSurviveUpdatesAndAReusedSlotGetsANewGeneration) {
    SnapshotBuilder builder(2, port_identities());
    const uint32_t vip = ipv4("198.18.100.1");
    const uint32_t a = ipv4("198.19.0.10");
    const uint32_t b = ipv4("198.19.0.11");
    const uint32_t c = ipv4("198.19.0.12");
    const uint32_t d = ipv4("198.19.0.13");
    const uint32_t e = ipv4("198.19.0.14");
    SlotIdentity a1{}, b1{}, c1{};
    {
        const std::unique_ptr<Snapshot> first =
            builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.11"}, {"198.19.0.12"}})));
        const ServicePort& port = service_port(*first, vip, 80, kProtoTcp);
        a1 = identity_of(*first, port, a);
        b1 = identity_of(*first, port, b);
        c1 = identity_of(*first, port, c);
        EXPECT_EQ(builder.last_statistics().endpoints_added, 3u);
    }
    SlotIdentity d2{};
    {
        // b removed, d added (listed first: the order of the list does not matter).
        const std::unique_ptr<Snapshot> second =
            builder.build(load(web_with({{"198.19.0.13"}, {"198.19.0.12"}, {"198.19.0.10"}})));
        const ServicePort& port = service_port(*second, vip, 80, kProtoTcp);
        const SlotIdentity a2 = identity_of(*second, port, a);
        const SlotIdentity c2 = identity_of(*second, port, c);
        d2 = identity_of(*second, port, d);
        EXPECT_EQ(a2.slot, a1.slot);
        EXPECT_EQ(a2.generation, a1.generation);
        EXPECT_EQ(c2.slot, c1.slot);
        EXPECT_EQ(c2.generation, c1.generation);
        EXPECT_TRUE(second->endpoint_alive(a1.slot, a1.generation)) << "connections to a must survive";
        EXPECT_TRUE(second->endpoint_alive(c1.slot, c1.generation));
        EXPECT_FALSE(second->endpoint_alive(b1.slot, b1.generation)) << "b was removed";
        EXPECT_TRUE(second->endpoint_alive(d2.slot, d2.generation));
        // b's slot is freed before d is placed: d reuses it under a new generation, so a
        // connection still pinned to (b's slot, b's generation) sees its endpoint gone.
        EXPECT_EQ(d2.slot, b1.slot);
        EXPECT_NE(d2.generation, b1.generation);
        EXPECT_EQ(builder.last_statistics().endpoints_added, 1u);
        EXPECT_EQ(builder.last_statistics().endpoints_removed, 1u);
    }
    const std::unique_ptr<Snapshot> third =
        builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.12"}, {"198.19.0.13"}, {"198.19.0.14"}})));
    const ServicePort& port = service_port(*third, vip, 80, kProtoTcp);
    const SlotIdentity e3 = identity_of(*third, port, e);
    EXPECT_NE(e3.slot, d2.slot);
    EXPECT_NE(e3.generation, b1.generation);
    EXPECT_FALSE(third->endpoint_alive(b1.slot, b1.generation));
    EXPECT_TRUE(third->endpoint_alive(e3.slot, e3.generation));
    EXPECT_EQ(third->endpoints[e3.slot].address, e);
    EXPECT_TRUE(third->endpoint_alive(d2.slot, d2.generation));
    // Generations are never reused: every (slot, generation) ever handed out is distinct.
    EXPECT_NE(e3.generation, a1.generation);
    EXPECT_NE(e3.generation, c1.generation);
    EXPECT_NE(e3.generation, d2.generation);
}

TEST(SnapshotBuilder, UnchangedServicePortKeepsItsMaglevTable) {
    SnapshotBuilder builder(2, port_identities());
    const uint32_t web = ipv4("198.18.100.1");
    const uint32_t api = ipv4("198.18.100.2");
    Options options;
    options.services = {{"web", "198.18.100.1", {kHttp}, {{"198.19.0.10"}, {"198.19.0.11"}}},
                        {"api", "198.18.100.2", {"{ port = 443 }"}, {{"198.19.0.20"}}}};
    std::shared_ptr<const MaglevTable> web_table;
    std::shared_ptr<const MaglevTable> api_table;
    {
        const std::unique_ptr<Snapshot> first = builder.build(load(options));
        EXPECT_EQ(builder.last_statistics().maglev_built, 2u);
        EXPECT_EQ(builder.last_statistics().maglev_reused, 0u);
        web_table = service_port(*first, web, 80, kProtoTcp).maglev;
        api_table = service_port(*first, api, 443, kProtoTcp).maglev;
    }
    {
        // The same configuration again: every table is kept.
        const std::unique_ptr<Snapshot> same = builder.build(load(options));
        EXPECT_EQ(builder.last_statistics().maglev_built, 0u);
        EXPECT_EQ(builder.last_statistics().maglev_reused, 2u);
        EXPECT_EQ(service_port(*same, web, 80, kProtoTcp).maglev.get(), web_table.get());
        EXPECT_EQ(service_port(*same, api, 443, kProtoTcp).maglev.get(), api_table.get());
    }
    options.services[1].endpoints.push_back({"198.19.0.21"});
    {
        const std::unique_ptr<Snapshot> changed = builder.build(load(options));
        const BuildStatistics& statistics = builder.last_statistics();
        EXPECT_EQ(statistics.service_ports, 2u);
        EXPECT_EQ(statistics.maglev_built, 1u);
        EXPECT_EQ(statistics.maglev_reused, 1u);
        EXPECT_EQ(statistics.endpoints_added, 1u);
        EXPECT_EQ(statistics.endpoints_removed, 0u);
        EXPECT_EQ(service_port(*changed, web, 80, kProtoTcp).maglev.get(), web_table.get());
        const auto& new_api_table = service_port(*changed, api, 443, kProtoTcp).maglev;
        EXPECT_NE(new_api_table.get(), api_table.get());
        EXPECT_EQ(maglev_shares(service_port(*changed, api, 443, kProtoTcp)).size(), 2u);
        api_table = new_api_table;
    }
    // A weight change changes the inputs; so does the seed, for every table.
    options.services[0].endpoints[0].weight = 2;
    {
        const std::unique_ptr<Snapshot> reweighted = builder.build(load(options));
        EXPECT_EQ(builder.last_statistics().maglev_built, 1u);
        EXPECT_NE(service_port(*reweighted, web, 80, kProtoTcp).maglev.get(), web_table.get());
        EXPECT_EQ(service_port(*reweighted, api, 443, kProtoTcp).maglev.get(), api_table.get());
    }
    options.hash_seed = "42";
    const std::unique_ptr<Snapshot> reseeded = builder.build(load(options));
    EXPECT_EQ(builder.last_statistics().maglev_built, 2u);
    EXPECT_EQ(builder.last_statistics().maglev_reused, 0u);
    EXPECT_NE(service_port(*reseeded, api, 443, kProtoTcp).maglev.get(), api_table.get());
}

TEST(SnapshotBuilder, ServingTerminatingEndpointsAreUsedOnlyWhenNoneIsReady) {
    SnapshotBuilder builder(2, port_identities());
    const uint32_t vip = ipv4("198.18.100.1");
    const Endpoint not_serving{"198.19.0.10", 0, 1, false, true};  // terminating, not ready
    const Endpoint serving_terminating{"198.19.0.11", 0, 1, true, true};
    const Endpoint not_ready{"198.19.0.12", 0, 1, false, false};
    const Endpoint ready{"198.19.0.13"};
    {
        const std::unique_ptr<Snapshot> snapshot =
            builder.build(load(web_with({not_serving, serving_terminating, not_ready})));
        const ServicePort& port = service_port(*snapshot, vip, 80, kProtoTcp);
        const auto shares = maglev_shares(port);
        ASSERT_EQ(shares.size(), 1u);
        EXPECT_EQ(snapshot->endpoints[shares.begin()->first].address, ipv4("198.19.0.11"));
        EXPECT_EQ(shares.begin()->second, port.maglev->size());
        // Every endpoint keeps a live slot, whatever its condition.
        EXPECT_EQ(port.endpoint_slots.size(), 3u);
        for (uint32_t slot : port.endpoint_slots) {
            EXPECT_TRUE(snapshot->endpoint_alive(slot, snapshot->endpoints[slot].generation));
        }
    }
    {
        const std::unique_ptr<Snapshot> snapshot =
            builder.build(load(web_with({not_serving, serving_terminating, not_ready, ready})));
        const auto shares = maglev_shares(service_port(*snapshot, vip, 80, kProtoTcp));
        ASSERT_EQ(shares.size(), 1u);
        EXPECT_EQ(snapshot->endpoints[shares.begin()->first].address, ipv4("198.19.0.13"));
    }
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(web_with({not_serving, not_ready})));
    EXPECT_TRUE(service_port(*snapshot, vip, 80, kProtoTcp).maglev->empty());
}

TEST(SnapshotBuilder, WeightZeroGetsNoNewFlowsButStaysAlive) {
    SnapshotBuilder builder(2, port_identities());
    const uint32_t vip = ipv4("198.18.100.1");
    {
        const std::unique_ptr<Snapshot> snapshot =
            builder.build(load(web_with({{"198.19.0.10", 0, 0}, {"198.19.0.11", 0, 1}, {"198.19.0.12", 0, 2}})));
        const ServicePort& port = service_port(*snapshot, vip, 80, kProtoTcp);
        const auto slots = slots_by_address(*snapshot, port);
        const uint32_t drained = slots.at(ipv4("198.19.0.10"));
        const auto shares = maglev_shares(port);
        EXPECT_EQ(shares.count(drained), 0u) << "a weight-0 endpoint got Maglev slots";
        EXPECT_TRUE(snapshot->endpoint_alive(drained, snapshot->endpoints[drained].generation))
            << "existing connections to a draining endpoint must continue";
        EXPECT_EQ(snapshot->endpoints[drained].weight, 0u);
        // Weights 1 and 2 share the table about 1:2.
        const double light = shares.at(slots.at(ipv4("198.19.0.11")));
        const double heavy = shares.at(slots.at(ipv4("198.19.0.12")));
        EXPECT_NEAR(heavy / light, 2.0, 0.1);
    }
    const std::unique_ptr<Snapshot> snapshot = builder.build(load(web_with({{"198.19.0.10", 0, 0}})));
    const ServicePort& port = service_port(*snapshot, vip, 80, kProtoTcp);
    EXPECT_TRUE(port.maglev->empty());
    ASSERT_EQ(port.endpoint_slots.size(), 1u);
    EXPECT_TRUE(
        snapshot->endpoint_alive(port.endpoint_slots[0], snapshot->endpoints[port.endpoint_slots[0]].generation));
}

TEST(SnapshotBuilder, FailedBuildCommitsNothing) {
    // Room for exactly two endpoints: a build that needs a third slot fails.
    SnapshotBuilder builder(2, port_identities(), 2);
    const uint32_t vip = ipv4("198.18.100.1");
    const Options before = web_with({{"198.19.0.10"}, {"198.19.0.11"}});
    SlotIdentity kept{};
    std::shared_ptr<const MaglevTable> table;
    {
        const std::unique_ptr<Snapshot> first = builder.build(load(before));
        kept = identity_of(*first, service_port(*first, vip, 80, kProtoTcp), ipv4("198.19.0.11"));
        table = service_port(*first, vip, 80, kProtoTcp).maglev;
    }
    // A third endpoint does not fit.
    EXPECT_THROW(builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.11"}, {"198.19.0.12"}}))),
                 std::runtime_error);

    // As if the failed build never happened: same generation number, .11 keeps its slot and
    // generation, nothing added or removed, the Maglev table is reused.
    const std::unique_ptr<Snapshot> retried = builder.build(load(before));
    EXPECT_EQ(retried->generation, 2u);
    const ServicePort& port = service_port(*retried, vip, 80, kProtoTcp);
    const SlotIdentity again = identity_of(*retried, port, ipv4("198.19.0.11"));
    EXPECT_EQ(again.slot, kept.slot);
    EXPECT_EQ(again.generation, kept.generation);
    EXPECT_EQ(builder.last_statistics().endpoints_added, 0u);
    EXPECT_EQ(builder.last_statistics().endpoints_removed, 0u);
    EXPECT_EQ(builder.last_statistics().maglev_reused, 1u);
    EXPECT_EQ(port.maglev.get(), table.get());
}

// A removed VIP key's hash position goes back through the workers' QSBR variable: while a
// reader has not been quiescent since the removal the position stays taken (so a churn of
// services eventually runs out of positions), and once every reader has been, it is reused.
// Each round moves the one service to a new ClusterIP: one VIP key removed, one added.
config::Config moved_service(uint32_t round) {
    const std::string address = "198.18.101." + std::to_string(1 + round % 250);
    return load({.services = {{"web", address, {kHttp}, {{"198.19.0.10"}}}}});
}

TEST(SnapshotBuilder, RemovedKeyPositionsWaitForEveryReader) {
    constexpr uint32_t kServicePorts = 8;  // a 64-position VIP table
    Publisher publisher(1);
    ASSERT_EQ(rte_rcu_qsbr_thread_register(publisher.qsbr(), 0), 0);
    rte_rcu_qsbr_thread_online(publisher.qsbr(), 0);  // this thread is the reader

    uint32_t rounds_while_stuck = 0;
    {
        SnapshotBuilder builder(1, port_identities(), 64, kServicePorts);
        builder.set_readers(publisher.qsbr());
        try {
            for (; rounds_while_stuck < 1000; ++rounds_while_stuck) builder.build(moved_service(rounds_while_stuck));
        } catch (const std::runtime_error& error) {
            EXPECT_NE(std::string(error.what()).find("VIP table"), std::string::npos) << error.what();
        }
    }
    EXPECT_GE(rounds_while_stuck, 60u);
    EXPECT_LT(rounds_while_stuck, 200u) << "positions were recycled while the reader could still see them";

    SnapshotBuilder builder(1, port_identities(), 64, kServicePorts);
    builder.set_readers(publisher.qsbr());
    for (uint32_t round = 0; round < 1000; ++round) {
        rte_rcu_qsbr_quiescent(publisher.qsbr(), 0);
        ASSERT_NO_THROW(builder.build(moved_service(round))) << "round " << round;
    }
    rte_rcu_qsbr_thread_offline(publisher.qsbr(), 0);
    rte_rcu_qsbr_thread_unregister(publisher.qsbr(), 0);
}

// Without readers (tests, tools) positions are recycled at once.
TEST(SnapshotBuilder, WithoutReadersPositionsAreRecycledAtOnce) {
    SnapshotBuilder builder(1, port_identities(), 64, 8);
    for (uint32_t round = 0; round < 1000; ++round) {
        ASSERT_NO_THROW(builder.build(moved_service(round))) << "round " << round;
    }
}

// The spread table must not show a removed endpoint's traffic under the endpoint that reuses its slot.
TEST(StatsReporter, ReusedEndpointSlotStartsFromZero) {
    SnapshotBuilder builder(1, port_identities());
    auto worker = std::make_unique<WorkerContext>();
    std::vector<EndpointCounters> counters(16);
    worker->endpoint_counters = counters.data();
    worker->endpoint_counter_slots = static_cast<uint32_t>(counters.size());
    StatsReporter reporter({worker.get()});

    const std::unique_ptr<Snapshot> first = builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.11"}})));
    reporter.note_snapshot(*first);
    const uint32_t old_slot = identity_of(*first, first->service_ports[0], ipv4("198.19.0.11")).slot;
    counters[old_slot].connections = 7;
    const std::unique_ptr<Snapshot> removed = builder.build(load(web_with({{"198.19.0.10"}})));
    reporter.note_snapshot(*removed);
    const std::unique_ptr<Snapshot> reused = builder.build(load(web_with({{"198.19.0.10"}, {"198.19.0.12"}})));
    reporter.note_snapshot(*reused);
    const SlotIdentity fresh = identity_of(*reused, reused->service_ports[0], ipv4("198.19.0.12"));
    ASSERT_EQ(fresh.slot, old_slot);  // the point of the test: the slot was reused
    counters[old_slot].connections += 2;
    const std::string table = reporter.endpoint_table(*reused);
    EXPECT_NE(table.find("2 connections"), std::string::npos) << table;
    EXPECT_NE(table.find("  2 conns"), std::string::npos) << table;
    EXPECT_EQ(table.find("9 conns"), std::string::npos) << table;
}

}  // namespace
}  // namespace vipgate
