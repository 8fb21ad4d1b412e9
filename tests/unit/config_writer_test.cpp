// format_config and format_objects_toml: what they write loads back to equal structs.
#include "config/config.h"
#include "config/objects.h"
#include "tests/unit/config_test_support.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace vipgate::config {
namespace {

// Every member but `source` (where the text came from).
void expect_same(const Config& a, const Config& b) {
    EXPECT_EQ(a.eal, b.eal);
    EXPECT_EQ(a.dataplane, b.dataplane);
    EXPECT_EQ(a.snat, b.snat);
    EXPECT_EQ(a.conntrack, b.conntrack);
    EXPECT_EQ(a.ports, b.ports);
    EXPECT_EQ(a.routes, b.routes);
    EXPECT_EQ(a.neighbors, b.neighbors);
    EXPECT_EQ(a.cluster, b.cluster);
    EXPECT_EQ(a.dns, b.dns);
    EXPECT_EQ(a.services, b.services);
    EXPECT_EQ(a.pods, b.pods);
    EXPECT_EQ(a.endpoint_slices, b.endpoint_slices);
}

void expect_round_trip(const std::string& text) {
    LoadResult original = load_config_string(text, "original.toml");
    ASSERT_TRUE(original.config.has_value()) << describe(original.errors);
    std::string written = format_config(*original.config);
    LoadResult reread = load_config_string(written, "written.toml");
    ASSERT_TRUE(reread.config.has_value()) << describe(reread.errors) << "\n" << written;
    expect_same(*original.config, *reread.config);
    auto body = [](const std::string& text) { return text.substr(text.find('\n')); };
    EXPECT_EQ(body(format_config(*reread.config)), body(written));  // but the source comment
}

TEST(ConfigWriter, EmbeddedDefaultRoundTrips) {
    expect_round_trip(embedded_default_config());
}

TEST(ConfigWriter, EveryFeatureRoundTrips) {
    expect_round_trip(R"(
[eal]
args = ["--no-huge", "-l", "0-2", "quote\"and\\backslash"]

[dataplane]
worker_lcores = [1, 2]
nat_mode = "dnat"
hash_seed = 0xabcdef
maglev_max_table_size = 251

[conntrack]
capacity = 4096
udp_timeout = 60
udp_unreplied_timeout = 45
half_open_min_idle_ms = 25

[snat]
addresses = ["10.1.0.2"]
port_range = [20000, 29999]

[cluster]
service_cidr = "198.18.128.0/17"
client_ranges = ["198.18.0.0/16", "2001:db8:1::/48"]

[dns]
addresses = ["198.18.128.53", "198.18.200.53"]
zone = "Corp.Example."
ttl = 30
upstreams = ["198.18.0.53", "198.18.0.54:5353"]
rate_limit = 0
rate_limit_slip = 1

[[ports]]
name = "outside"
device = "net_pcap0,rx_pcap=/tmp/in.pcap"
mac = "02:aa:bb:cc:dd:ee"
addresses = ["198.18.0.1/24"]
vlan = 100
promiscuous = true

[[ports]]
name = "inside"
device = "net_tap0,iface=vg0"
addresses = ["10.1.0.1/16", "10.1.0.2/16"]

[[routes]]
prefix = "0.0.0.0/0"
via = "198.18.0.254"

[[neighbors]]
address = "10.1.0.10"
mac = "02:00:00:00:00:10"

[[services]]
name = "web"
namespace = "prod"
cluster_ip = "198.18.128.10"
selector = { "app.kubernetes.io/name" = "web", tier = "" }
session_affinity = "ClientIP"
session_affinity_timeout = 10800
ports = [{ name = "http", protocol = "TCP", port = 80, target_port = 8080 },
         { name = "grpc", protocol = "UDP", port = 9000, target_port = "grpc" }]

[[services]]
name = "manual"
ports = [{ port = 53, protocol = "SCTP" }]
endpoints = [{ address = "198.19.0.5", port = 5353, ready = false, terminating = true, weight = 0, ports = [{ name = "dns", protocol = "UDP", port = 5353 }] }]

[[services]]
name = "db"
cluster_ip = "None"
publish_not_ready_addresses = true
endpoints = [{ address = "198.19.0.6", hostname = "db-0" }]

[[services]]
name = "billing"
external_name = "billing.example.com"

[[pods]]
name = "web-1"
namespace = "prod"
address = "198.19.1.10"
labels = { "app.kubernetes.io/name" = "web" }
ready = false
weight = 7
ports = [{ name = "http", port = 8080 }, { protocol = "UDP", port = 9000 }]

[[pods]]
name = "pending"
hostname = "pending-0"
subdomain = "db"

[[endpoint_slices]]
name = "manual-1"
service = "manual"
ports = [{ name = "name-of-service-port", protocol = "TCP", port = 8080 }]
endpoints = [{ address = "198.19.1.10", ready = true, terminating = true, weight = 3, hostname = "web-1" }]
)");
}

TEST(ConfigWriter, ObjectDocumentsCarryTheirDnsTable) {
    ObjectSet objects;
    objects.dns = DnsConfig{};
    objects.dns->addresses = {*parse_ipv4("198.18.100.250")};
    objects.dns->upstreams = {{*parse_ipv4("198.18.0.53"), 5353}};
    ObjectsResult reread = load_objects_toml(format_objects_toml(objects), "written.toml");
    ASSERT_TRUE(reread.objects.has_value()) << describe(reread.errors);
    EXPECT_EQ(*reread.objects, objects);
    EXPECT_EQ(format_objects_toml(ObjectSet{}).find("[dns]"), std::string::npos);
}

// Random object sets, valid by construction: unique names and addresses.
ObjectSet random_objects(std::mt19937& random) {
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(random() % n); };
    auto protocol = [&] { return static_cast<Protocol>(pick(3)); };
    auto labels = [&] {
        Labels result;
        for (uint32_t i = pick(3); i > 0; --i) {
            std::string value;
            if (pick(3)) value = std::string("v").append(std::to_string(pick(9)));
            std::string key = std::string("k").append(std::to_string(pick(4)));
            if (pick(2)) key += ".example.com/x";
            result[key] = value;
        }
        return result;
    };
    auto named_ports = [&](const char* prefix) {
        std::vector<NamedPort> ports;
        for (uint32_t i = pick(3); i > 0; --i)
            ports.push_back(
                {pick(2) ? prefix + std::to_string(i) : "", protocol(), static_cast<uint16_t>(1 + pick(65535))});
        return ports;
    };
    auto endpoint = [&](uint32_t index, bool slice) {
        EndpointConfig e;
        e.address = 0x0a000000 + index;
        e.ready = pick(2);
        e.terminating = pick(2);
        e.weight = pick(65536);
        if (!slice) e.ports = named_ports("e");
        return e;
    };
    ObjectSet set;
    for (uint32_t i = pick(5); i > 0; --i) {
        ServiceConfig s;
        s.name = "svc" + std::to_string(i);
        s.namespace_name = pick(2) ? "default" : "ns" + std::to_string(pick(3));
        uint32_t kind = pick(3);
        s.headless = kind == 0;
        if (kind == 1) {
            s.cluster_ip = 0xc6128000 + i;
            s.ip_families = {IpFamily::Ipv4};  // as the decoder derives from the address
        }
        if (pick(2)) s.selector = labels();
        if (pick(2)) {
            s.session_affinity = SessionAffinity::ClientIp;
            s.affinity_timeout_s = 1 + pick(86400);
        }
        for (uint32_t p = 1 + pick(3); p > 0; --p) {
            ServicePortConfig port{"port" + std::to_string(p), protocol(), static_cast<uint16_t>(1000 + p), 0, ""};
            if (pick(2))
                port.target_port = static_cast<uint16_t>(1 + pick(65535));
            else if (pick(2))
                port.target_port_name = "named" + std::to_string(p);
            s.ports.push_back(port);
        }
        if (!s.selector)
            for (uint32_t e = pick(3); e > 0; --e) s.endpoints.push_back(endpoint(i * 16 + e, false));
        set.services.push_back(s);
    }
    for (uint32_t i = pick(5); i > 0; --i) {
        PodConfig p;
        p.name = "pod-" + std::to_string(i);
        p.address = pick(4) ? 0x0a010000 + i : 0;
        p.labels = labels();
        p.ports = named_ports("p");
        p.ready = pick(2);
        p.terminating = pick(2);
        p.weight = pick(65536);
        set.pods.push_back(p);
    }
    for (uint32_t i = pick(4); i > 0; --i) {
        EndpointSliceConfig s;
        s.name = "slice-" + std::to_string(i);
        s.service_name = "svc" + std::to_string(pick(5));
        s.ports = named_ports("s");
        for (uint32_t e = pick(3); e > 0; --e) s.endpoints.push_back(endpoint(4096 + i * 16 + e, true));
        set.endpoint_slices.push_back(s);
    }
    return set;
}

TEST(ConfigWriter, RandomObjectSetsRoundTrip) {
    std::mt19937 random(12345);
    for (int round = 0; round < 200; ++round) {
        ObjectSet set = random_objects(random);
        std::string text = format_objects_toml(set);
        ObjectsResult result = load_objects_toml(text, "random.toml");
        ASSERT_TRUE(result.objects.has_value()) << describe(result.errors) << "\n" << text;
        ASSERT_EQ(*result.objects, set) << text;
    }
}

}  // namespace
}  // namespace vipgate::config
