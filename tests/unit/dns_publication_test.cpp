// DNS publication: the zone travels in the same snapshot as the dataplane change that caused
// it, is rebuilt only when names change, and the DNS addresses and upstreams reach the
// dataplane's tables (AddressKind::Dns, a hidden UDP service port per address). The zone
// factory is a fake that counts its calls: the zone builder itself is tested with the dataplane.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <rte_byteorder.h>

#include "config/config.h"
#include "control/control_plane.h"
#include "control/dns_publication.h"
#include "control/snapshot_builder.h"

namespace vipgate {
namespace {

uint32_t ip(const char* text) {
    return *config::parse_ipv4(text);
}

// Zones are opaque here (DnsZone is the dataplane's); each build gets a distinct pointer that
// shares the ownership of a token, never dereferenced.
struct FakeZones {
    int calls = 0;
    bool fail = false;
    std::map<std::string, config::ResolvedService> last_services;
    config::DnsConfig last_dns;

    DnsPublication::ZoneFactory factory() {
        return [this](const config::DnsConfig& dns, const std::map<std::string, config::ResolvedService>& services) {
            if (fail) throw std::invalid_argument("refused");
            ++calls;
            last_dns = dns;
            last_services = services;
            auto token = std::make_shared<int>(calls);
            return std::shared_ptr<const DnsZone>(token, reinterpret_cast<const DnsZone*>(token.get()));
        };
    }
};

config::ResolvedService cluster_ip_service(const char* name, const char* address, uint32_t endpoint) {
    config::ResolvedService service;
    service.namespace_name = "default";
    service.name = name;
    service.cluster_ip = ip(address);
    config::ResolvedPort port;
    port.port = {"http", config::Protocol::Tcp, 80, 0, ""};
    port.endpoints.push_back({endpoint, 80, true, false, 1, {}, {}});
    service.ports.push_back(port);
    return service;
}

config::ResolvedService headless_service(const char* name, std::vector<std::pair<uint32_t, bool>> endpoints) {
    config::ResolvedService service;
    service.namespace_name = "default";
    service.name = name;
    service.headless = true;
    for (const auto& [address, ready] : endpoints) service.addresses.push_back({address, 0, ready, false, 1, {}, {}});
    return service;
}

config::DnsConfig dns_at(const char* address) {
    config::DnsConfig dns;
    dns.addresses = {ip(address)};
    return dns;
}

TEST(DnsPublication, NoAddressesNoZone) {
    FakeZones zones;
    DnsPublication publication(zones.factory());
    std::map<std::string, config::ResolvedService> services{
        {"default/web", cluster_ip_service("web", "198.18.100.1", 1)}};
    EXPECT_EQ(publication.update(config::DnsConfig{}, services, {"default/web"}), nullptr);
    EXPECT_EQ(zones.calls, 0);
}

TEST(DnsPublication, RebuildsOnlyWhenNamesOrSettingsChange) {
    FakeZones zones;
    DnsPublication publication(zones.factory());
    std::map<std::string, config::ResolvedService> services{
        {"default/web", cluster_ip_service("web", "198.18.100.1", ip("198.18.0.11"))},
        {"default/db", headless_service("db", {{ip("198.18.0.20"), true}, {ip("198.18.0.21"), true}})}};
    const config::DnsConfig dns = dns_at("198.18.100.250");
    const auto first = publication.update(dns, services, {"default/web", "default/db"});
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(zones.calls, 1);

    // A ClusterIP service's endpoint moves: no name changes, the zone is carried forward.
    services["default/web"] = cluster_ip_service("web", "198.18.100.1", ip("198.18.0.12"));
    EXPECT_EQ(publication.update(dns, services, {"default/web"}), first);
    EXPECT_EQ(zones.calls, 1);
    EXPECT_EQ(publication.update(dns, services, {}), first);

    // A headless endpoint stops being ready: its address leaves the name at once.
    services["default/db"] = headless_service("db", {{ip("198.18.0.20"), true}, {ip("198.18.0.21"), false}});
    const auto second = publication.update(dns, services, {"default/db"});
    EXPECT_NE(second, first);
    EXPECT_EQ(zones.calls, 2);
    EXPECT_FALSE(zones.last_services.at("default/db").addresses[1].ready);

    // A service appears, one leaves.
    services["default/api"] = cluster_ip_service("api", "198.18.100.2", ip("198.18.0.13"));
    const auto third = publication.update(dns, services, {"default/api"});
    EXPECT_NE(third, second);
    services.erase("default/web");
    const auto fourth = publication.update(dns, services, {"default/web"});
    EXPECT_NE(fourth, third);
    EXPECT_EQ(zones.calls, 4);

    // Any DNS setting (the TTL) rebuilds; the same settings again do not.
    config::DnsConfig longer = dns;
    longer.ttl_s = 30;
    const auto fifth = publication.update(longer, services, {});
    EXPECT_NE(fifth, fourth);
    EXPECT_EQ(zones.last_dns.ttl_s, 30u);
    EXPECT_EQ(publication.update(longer, services, {}), fifth);
    EXPECT_EQ(zones.calls, 5);
    EXPECT_EQ(publication.statistics().builds, 5u);
}

TEST(DnsPublication, ARefusedZoneKeepsThePreviousOne) {
    FakeZones zones;
    DnsPublication publication(zones.factory());
    std::map<std::string, config::ResolvedService> services{
        {"default/web", cluster_ip_service("web", "198.18.100.1", ip("198.18.0.11"))}};
    const auto first = publication.update(dns_at("198.18.100.250"), services, {"default/web"});
    zones.fail = true;
    services["default/api"] = cluster_ip_service("api", "198.18.100.2", ip("198.18.0.13"));
    EXPECT_EQ(publication.update(dns_at("198.18.100.250"), services, {"default/api"}), first);
    zones.fail = false;
    EXPECT_NE(publication.update(dns_at("198.18.100.250"), services, {}), first) << "tried again";
}

// --- through the control plane ---------------------------------------------------------------

constexpr const char* kSettings = R"(
[dataplane]
worker_lcores = [1]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]

[cluster]
service_cidr = "198.18.100.0/24"

[dns]
addresses = ["198.18.100.250"]
upstreams = ["198.18.0.53", "198.18.0.54:5353"]

[[services]]
name = "web"
cluster_ip = "198.18.100.10"
ports = [{ name = "http", port = 80 }]
endpoints = [{ address = "198.18.0.11" }]

[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }
ports = [{ name = "pg", port = 5432 }]

[[pods]]
name = "db-0"
address = "198.18.0.20"
labels = { app = "db" }

[[pods]]
name = "db-1"
address = "198.18.0.21"
labels = { app = "db" }
)";

config::Config settings(const std::string& text = kSettings) {
    config::LoadResult loaded = config::load_config_string(text, "settings.toml");
    if (!loaded.config) throw std::runtime_error(config::describe_errors(loaded.errors));
    return *loaded.config;
}

config::ObjectSet objects(const std::string& toml) {
    config::ObjectsResult result = config::load_objects_toml(toml, "apply.toml");
    if (!result.objects) throw std::runtime_error(config::describe_errors(result.errors));
    return *result.objects;
}

struct Gateway {
    FakeZones zones;
    SnapshotBuilder builder{1, {PortIdentity{}}};
    std::unique_ptr<Snapshot> current;
    ControlPlane control;

    explicit Gateway(config::Config start = settings())
        : control(
              std::move(start), builder,
              [this](std::unique_ptr<Snapshot> snapshot) {
                  current = std::move(snapshot);
                  return Publication{0};
              },
              zones.factory()) {}

    int32_t upstream_port(const char* address) const {
        return current->find_service_port(VipKey::ipv4(rte_cpu_to_be_32(ip(address)), rte_cpu_to_be_16(53), kProtoUdp));
    }
    AddressKind kind(const char* address) const { return current->address_kind(rte_cpu_to_be_32(ip(address))); }
};

TEST(DnsControlPlane, DnsAddressAndUpstreamsReachTheDataplane) {
    Gateway gateway;
    ASSERT_NE(gateway.current, nullptr);
    EXPECT_NE(gateway.current->dns, nullptr);
    EXPECT_EQ(gateway.kind("198.18.100.250"), AddressKind::Dns);
    const int32_t upstream = gateway.upstream_port("198.18.100.250");
    ASSERT_GE(upstream, 0);
    const ServicePort& port = gateway.current->service_ports[static_cast<uint32_t>(upstream)];
    EXPECT_EQ(port.service_name, "dns/upstream:53");
    ASSERT_EQ(port.endpoint_slots.size(), 2u);
    EXPECT_EQ(gateway.current->endpoints[port.endpoint_slots[1]].port, rte_cpu_to_be_16(5353));
    // The headless service is resolved for DNS and never reaches the VIP tables.
    EXPECT_EQ(gateway.zones.last_services.at("default/db").addresses.size(), 2u);
    uint32_t live = 0;
    for (uint32_t id = 0; id < gateway.current->service_ports.capacity(); ++id) {
        if (gateway.current->service_ports[id].incarnation != 0) ++live;
    }
    EXPECT_EQ(live, 2u) << "web:80 and the upstream port only";
}

TEST(DnsControlPlane, ANotReadyPodLeavesTheZoneInTheSamePublication) {
    Gateway gateway;
    const DnsZone* before = gateway.current->dns.get();
    const uint64_t generation = gateway.current->generation;
    UpdateOutcome outcome = gateway.control.apply(objects(R"(
[[pods]]
name = "db-1"
address = "198.18.0.21"
labels = { app = "db" }
ready = false
)"),
                                                  "apply.toml");
    ASSERT_TRUE(outcome.result.ok());
    EXPECT_TRUE(outcome.published);
    EXPECT_GT(gateway.current->generation, generation);
    EXPECT_NE(gateway.current->dns.get(), before);
    EXPECT_FALSE(gateway.zones.last_services.at("default/db").addresses[1].ready);

    // An endpoint of a ClusterIP service changes: published, the zone carried forward.
    const DnsZone* zone = gateway.current->dns.get();
    const int calls = gateway.zones.calls;
    outcome = gateway.control.apply(objects(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.10"
ports = [{ name = "http", port = 80 }]
endpoints = [{ address = "198.18.0.12" }]
)"),
                                    "apply.toml");
    ASSERT_TRUE(outcome.result.ok());
    EXPECT_TRUE(outcome.published);
    EXPECT_EQ(gateway.current->dns.get(), zone);
    EXPECT_EQ(gateway.zones.calls, calls);
}

TEST(DnsControlPlane, DnsSettingsChangeOverTheApi) {
    Gateway gateway;
    UpdateOutcome outcome = gateway.control.apply(objects(R"(
[dns]
addresses = ["198.18.100.251"]
zone = "corp.example"
)"),
                                                  "apply.toml");
    ASSERT_TRUE(outcome.result.ok()) << config::describe_errors(outcome.result.errors);
    EXPECT_TRUE(outcome.published);
    ASSERT_EQ(outcome.result.changes.size(), 1u);
    EXPECT_EQ(outcome.result.changes[0].kind, "dns");
    EXPECT_EQ(outcome.result.changes[0].action, "configured");
    EXPECT_EQ(gateway.kind("198.18.100.250"), AddressKind::None);
    EXPECT_EQ(gateway.kind("198.18.100.251"), AddressKind::Dns);
    EXPECT_LT(gateway.upstream_port("198.18.100.251"), 0) << "no upstreams: no forwarding entry";
    EXPECT_EQ(gateway.zones.last_dns.zone, "corp.example");
    EXPECT_EQ(gateway.control.running_config().dns.zone, "corp.example");

    outcome = gateway.control.apply(objects("[dns]\naddresses = [\"198.18.100.251\"]\nzone = \"corp.example\"\n"),
                                    "apply.toml");
    EXPECT_FALSE(outcome.published);
    EXPECT_EQ(outcome.result.changes[0].action, "unchanged");

    // The old DNS address is free again for a service.
    outcome = gateway.control.apply(objects(R"(
[[services]]
name = "old"
cluster_ip = "198.18.100.250"
ports = [{ port = 80 }]
)"),
                                    "apply.toml");
    EXPECT_TRUE(outcome.result.ok()) << config::describe_errors(outcome.result.errors);
}

TEST(DnsControlPlane, ABadDnsTableIsRefusedWholeAndTheRunningStateKept) {
    Gateway gateway;
    const uint64_t generation = gateway.current->generation;
    const config::Config before = gateway.control.running_config();
    // One good service, and a DNS address that is web's cluster IP: nothing of it is applied.
    UpdateOutcome outcome = gateway.control.apply(objects(R"(
[dns]
addresses = ["198.18.100.10"]

[[services]]
name = "new"
ports = [{ port = 80 }]
)"),
                                                  "apply.toml");
    ASSERT_FALSE(outcome.result.ok());
    EXPECT_EQ(outcome.result.errors[0].field, "dns.addresses[0]");
    EXPECT_NE(outcome.result.errors[0].message.find("cluster IP of service default/web"), std::string::npos);
    outcome = gateway.control.apply(objects("[dns]\naddresses = [\"198.18.0.1\"]\n"), "apply.toml");
    ASSERT_FALSE(outcome.result.ok());
    EXPECT_NE(outcome.result.errors[0].message.find("gateway's own addresses"), std::string::npos);
    // A service may not take a DNS address, explicitly or by allocation.
    outcome = gateway.control.apply(objects(R"(
[[services]]
name = "taker"
cluster_ip = "198.18.100.250"
ports = [{ port = 80 }]
)"),
                                    "apply.toml");
    ASSERT_FALSE(outcome.result.ok());
    EXPECT_NE(outcome.result.errors[0].message.find("DNS address"), std::string::npos);
    // Deleting the DNS settings is not a thing.
    outcome = gateway.control.remove(objects("[dns]\n"), "delete.toml");
    EXPECT_FALSE(outcome.result.ok());

    EXPECT_EQ(gateway.current->generation, generation);
    const config::Config after = gateway.control.running_config();
    EXPECT_EQ(after.dns, before.dns);
    EXPECT_EQ(after.services, before.services);
    EXPECT_EQ(gateway.kind("198.18.100.250"), AddressKind::Dns);
}

TEST(DnsControlPlane, ReloadChangesDnsLive) {
    Gateway gateway;
    std::string text = kSettings;
    text.replace(text.find("upstreams = "), std::string("upstreams = [\"198.18.0.53\", \"198.18.0.54:5353\"]").size(),
                 "upstreams = [\"198.18.0.55\"]\nttl = 60");
    UpdateOutcome outcome = gateway.control.reload(settings(text));
    ASSERT_TRUE(outcome.result.ok()) << config::describe_errors(outcome.result.errors);
    EXPECT_TRUE(outcome.published);
    EXPECT_EQ(gateway.zones.last_dns.ttl_s, 60u);
    const int32_t upstream = gateway.upstream_port("198.18.100.250");
    ASSERT_GE(upstream, 0);
    const ServicePort& port = gateway.current->service_ports[static_cast<uint32_t>(upstream)];
    ASSERT_EQ(port.endpoint_slots.size(), 1u);
    EXPECT_EQ(gateway.current->endpoints[port.endpoint_slots[0]].address, rte_cpu_to_be_32(ip("198.18.0.55")));
}

}  // namespace
}  // namespace vipgate
