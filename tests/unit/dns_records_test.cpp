// The cluster DNS records (control/dns_records.h) produced from the store's resolved services,
// recorded by a fake DnsRecordSink: every rule of the Kubernetes DNS specification 1.1.0 that
// vipgate implements, and the names DNS cannot carry.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/objects.h"
#include "config/service_store.h"
#include "control/dns_records.h"
#include "tests/support/source_files.h"

namespace vipgate {
namespace {

// Every call as one line, e.g. "A web.default.svc.cluster.local 198.18.100.1".
class RecordingSink final : public DnsRecordSink {
public:
    void add_name(std::string_view name) override { add("NAME " + std::string(name)); }
    void add_a(std::string_view name, uint32_t address) override {
        add("A " + std::string(name) + " " + config::format_ipv4(address));
    }
    void add_aaaa(std::string_view name, const std::array<uint8_t, 16>& address) override {
        add("AAAA " + std::string(name) + " " + config::format_ipv6(address));
    }
    void add_srv(std::string_view name, uint16_t priority, uint16_t weight, uint16_t port,
                 std::string_view target) override {
        std::ostringstream line;
        line << "SRV " << name << " " << priority << " " << weight << " " << port << " " << target;
        add(line.str());
    }
    void add_ptr(std::string_view name, std::string_view target) override {
        add("PTR " + std::string(name) + " " + std::string(target));
    }
    void add_txt(std::string_view name, std::string_view text) override {
        add("TXT " + std::string(name) + " " + std::string(text));
    }
    void add_cname(std::string_view name, std::string_view target) override {
        add("CNAME " + std::string(name) + " " + std::string(target));
    }

    std::multiset<std::string> records;

    // The records whose owner name is `name`, type first.
    std::multiset<std::string> at(const std::string& name) const {
        std::multiset<std::string> out;
        for (const std::string& record : records) {
            const size_t first = record.find(' ');
            const size_t second = record.find(' ', first + 1);
            if (record.substr(first + 1, second - first - 1) == name) out.insert(record);
        }
        return out;
    }
    bool has_owner(const std::string& name) const { return !at(name).empty(); }

private:
    void add(std::string line) { records.insert(std::move(line)); }
};

config::ObjectSet objects(const std::string& toml) {
    config::ObjectsResult result = config::load_objects_toml(toml, "test.toml");
    std::string errors;
    for (const auto& error : result.errors) errors += error.to_string() + "\n";
    if (!result.objects) throw std::runtime_error("test objects rejected:\n" + errors);
    return *result.objects;
}

config::ServiceStore store_with(const std::string& toml) {
    config::ClusterConfig cluster;
    cluster.service_cidr = config::parse_ipv4_prefix("198.18.100.0/24");
    cluster.service_cidr_ipv6 = config::parse_ipv6_prefix("2001:db8:100::/112");
    config::ServiceStore store(cluster, {});
    config::StoreResult result = store.apply(objects(toml), "test.toml");
    if (!result.ok()) throw std::runtime_error(config::describe_errors(result.errors));
    return store;
}

RecordingSink records_of(const config::ServiceStore& store, const std::string& zone = "cluster.local") {
    config::DnsConfig dns;
    dns.zone = zone;
    RecordingSink sink;
    emit_dns_records(dns, store.resolved(), sink);
    return sink;
}

using Set = std::multiset<std::string>;

TEST(DnsRecords, ZoneNamesAndSchemaVersion) {
    RecordingSink sink = records_of(store_with(""), "example.internal");
    EXPECT_EQ(sink.records,
              (Set{"NAME example.internal", "NAME svc.example.internal", "TXT dns-version.example.internal 1.1.0"}));
}

TEST(DnsRecords, DualStackAndIpv6ServicesHaveAaaaAndIp6ArpaPtr) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "both"
namespace = "shop"
cluster_ips = ["198.18.100.20", "2001:db8:100::14"]
ip_family_policy = "RequireDualStack"
ports = [{ name = "http", port = 80 }]

[[services]]
name = "six"
namespace = "shop"
cluster_ip = "2001:db8:100::15"
ports = [{ name = "http", port = 80 }]
)"));
    EXPECT_EQ(sink.at("both.shop.svc.cluster.local"), (Set{"A both.shop.svc.cluster.local 198.18.100.20",
                                                           "AAAA both.shop.svc.cluster.local 2001:db8:100::14"}));
    EXPECT_EQ(sink.at("20.100.18.198.in-addr.arpa"),
              (Set{"PTR 20.100.18.198.in-addr.arpa both.shop.svc.cluster.local"}));
    const std::string reverse6 = "4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa";
    EXPECT_EQ(sink.at(reverse6), (Set{"PTR " + reverse6 + " both.shop.svc.cluster.local"}));
    // IPv6 single-stack: AAAA alone (a query for A gets NODATA), and its SRV still points at the name.
    EXPECT_EQ(sink.at("six.shop.svc.cluster.local"), (Set{"AAAA six.shop.svc.cluster.local 2001:db8:100::15"}));
    EXPECT_EQ(sink.at("_http._tcp.six.shop.svc.cluster.local"),
              (Set{"SRV _http._tcp.six.shop.svc.cluster.local 0 100 80 six.shop.svc.cluster.local"}));
    EXPECT_TRUE(sink.has_owner("5.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa"));
}

TEST(DnsRecords, ClusterIpServiceHasAPtrAndSrvForNamedPortsOnly) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "web"
namespace = "shop"
cluster_ip = "198.18.100.10"
ports = [{ name = "http", port = 80, target_port = 8080 }, { name = "dns", protocol = "UDP", port = 53 },
         { name = "sig", protocol = "SCTP", port = 36412 }]
endpoints = [{ address = "198.18.0.11" }, { address = "198.18.0.12", ready = false }]

[[services]]
name = "plain"
namespace = "shop"
cluster_ip = "198.18.100.11"
ports = [{ port = 80 }]
)"));
    EXPECT_EQ(sink.at("web.shop.svc.cluster.local"), (Set{"A web.shop.svc.cluster.local 198.18.100.10"}));
    EXPECT_EQ(sink.at("10.100.18.198.in-addr.arpa"),
              (Set{"PTR 10.100.18.198.in-addr.arpa web.shop.svc.cluster.local"}));
    EXPECT_EQ(sink.at("_http._tcp.web.shop.svc.cluster.local"),
              (Set{"SRV _http._tcp.web.shop.svc.cluster.local 0 100 80 web.shop.svc.cluster.local"}));
    EXPECT_EQ(sink.at("_dns._udp.web.shop.svc.cluster.local"),
              (Set{"SRV _dns._udp.web.shop.svc.cluster.local 0 100 53 web.shop.svc.cluster.local"}));
    EXPECT_EQ(sink.at("_sig._sctp.web.shop.svc.cluster.local").size(), 1u);
    EXPECT_EQ(sink.at("shop.svc.cluster.local"), (Set{"NAME shop.svc.cluster.local", "NAME shop.svc.cluster.local"}))
        << "once per service of the namespace";
    // An unnamed port has no SRV; the endpoints of a ClusterIP service have no names.
    for (const std::string& record : sink.records) {
        EXPECT_EQ(record.find("plain.shop.svc.cluster.local 0"), std::string::npos) << record;
        EXPECT_EQ(record.find("198-18-0-11"), std::string::npos) << record;
    }
    EXPECT_EQ(sink.at("plain.shop.svc.cluster.local"), (Set{"A plain.shop.svc.cluster.local 198.18.100.11"}));
    EXPECT_EQ(sink.records.size(), 3u + 2 + 3 + 2 + 2);  // zone, web A/PTR/3 SRV, plain A/PTR, namespace twice
}

// Three pods, one of them not ready, one named by hostname/subdomain, one without a hostname:
// the service's name, each endpoint's name, SRV per endpoint, PTR to the endpoint's name.
constexpr const char* kHeadless = R"(
[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }
ports = [{ name = "pg", port = 5432 }]

[[pods]]
name = "db-0"
address = "198.18.0.20"
labels = { app = "db" }
hostname = "db-0"
subdomain = "db"

[[pods]]
name = "db-1"
address = "198.18.0.21"
labels = { app = "db" }

[[pods]]
name = "db-2"
address = "198.18.0.22"
labels = { app = "db" }
hostname = "db-2"
subdomain = "db"
ready = false
)";

TEST(DnsRecords, HeadlessServiceAnswersItsReadyEndpoints) {
    RecordingSink sink = records_of(store_with(kHeadless));
    const std::string name = "db.default.svc.cluster.local";
    EXPECT_EQ(sink.at(name), (Set{"A " + name + " 198.18.0.20", "A " + name + " 198.18.0.21"}));
    EXPECT_EQ(sink.at("db-0." + name), (Set{"A db-0." + name + " 198.18.0.20"}));
    EXPECT_EQ(sink.at("198-18-0-21." + name), (Set{"A 198-18-0-21." + name + " 198.18.0.21"}));
    EXPECT_FALSE(sink.has_owner("db-2." + name)) << "not ready";
    EXPECT_FALSE(sink.has_owner("198-18-0-20." + name)) << "named by its hostname only";
    EXPECT_EQ(sink.at("_pg._tcp." + name), (Set{"SRV _pg._tcp." + name + " 0 50 5432 db-0." + name,
                                                "SRV _pg._tcp." + name + " 0 50 5432 198-18-0-21." + name}));
    EXPECT_EQ(sink.at("20.0.18.198.in-addr.arpa"), (Set{"PTR 20.0.18.198.in-addr.arpa db-0." + name}));
    EXPECT_EQ(sink.at("21.0.18.198.in-addr.arpa"), (Set{"PTR 21.0.18.198.in-addr.arpa 198-18-0-21." + name}));
    EXPECT_FALSE(sink.has_owner("22.0.18.198.in-addr.arpa"));
}

TEST(DnsRecords, PublishNotReadyAddressesPublishesEveryEndpoint) {
    std::string text = kHeadless;
    text.replace(text.find("selector"), 0, "publish_not_ready_addresses = true\n");
    RecordingSink sink = records_of(store_with(text));
    const std::string name = "db.default.svc.cluster.local";
    EXPECT_EQ(sink.at(name).size(), 3u);
    EXPECT_EQ(sink.at("db-2." + name), (Set{"A db-2." + name + " 198.18.0.22"}));
    EXPECT_EQ(sink.at("_pg._tcp." + name).size(), 3u);
    EXPECT_EQ(sink.at("_pg._tcp." + name).count("SRV _pg._tcp." + name + " 0 33 5432 db-2." + name), 1u);
}

TEST(DnsRecords, HeadlessServiceWithoutReadyEndpointsHasNoNameButItsNamespaceExists) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "empty"
namespace = "team"
cluster_ip = "None"
selector = { app = "nothing" }
ports = [{ name = "http", port = 80 }]

[[services]]
name = "down"
namespace = "team"
cluster_ip = "None"
endpoints = [{ address = "198.18.0.30", ready = false }, { address = "198.18.0.31", terminating = true }]
)"));
    for (const std::string& record : sink.records) {
        EXPECT_EQ(record.find("empty.team"), std::string::npos) << record;
        EXPECT_EQ(record.find("down.team"), std::string::npos) << record;
    }
    EXPECT_EQ(sink.at("team.svc.cluster.local"), (Set{"NAME team.svc.cluster.local", "NAME team.svc.cluster.local"}));
}

TEST(DnsRecords, HeadlessWithoutPortsStillResolvesAndSlicesGiveHostnames) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "peers"
cluster_ip = "None"

[[endpoint_slices]]
name = "peers-a"
service = "peers"
ports = [{ name = "gossip", protocol = "UDP", port = 7946 }]
endpoints = [{ address = "198.18.0.40", hostname = "peer-a" }, { address = "198.18.0.41" }]

[[endpoint_slices]]
name = "peers-b"
service = "peers"
endpoints = [{ address = "198.18.0.42", hostname = "peer-b" }, { address = "198.18.0.40" }]
)"));
    const std::string name = "peers.default.svc.cluster.local";
    EXPECT_EQ(sink.at(name),
              (Set{"A " + name + " 198.18.0.40", "A " + name + " 198.18.0.41", "A " + name + " 198.18.0.42"}))
        << "each address once, whichever slice or port it comes from";
    EXPECT_EQ(sink.at("peer-a." + name), (Set{"A peer-a." + name + " 198.18.0.40"}));
    EXPECT_EQ(sink.at("peer-b." + name), (Set{"A peer-b." + name + " 198.18.0.42"}));
    // A service without ports has no SRV records, whatever its slices say.
    for (const std::string& record : sink.records) EXPECT_NE(record.rfind("SRV", 0), 0u) << record;
}

TEST(DnsRecords, PodHostnameCountsOnlyUnderTheServiceNamedByItsSubdomain) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }

[[services]]
name = "db-all"
cluster_ip = "None"
selector = { app = "db" }

[[pods]]
name = "db-0"
address = "198.18.0.20"
labels = { app = "db" }
hostname = "db-0"
subdomain = "db"
)"));
    EXPECT_TRUE(sink.has_owner("db-0.db.default.svc.cluster.local"));
    EXPECT_FALSE(sink.has_owner("db-0.db-all.default.svc.cluster.local"));
    EXPECT_TRUE(sink.has_owner("198-18-0-20.db-all.default.svc.cluster.local"));
    // Two services name the address: one PTR each.
    EXPECT_EQ(sink.at("20.0.18.198.in-addr.arpa").size(), 2u);
}

TEST(DnsRecords, ExternalNameIsACname) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "billing"
namespace = "finance"
external_name = "billing.example.com."
ports = [{ name = "https", port = 443 }]
)"));
    EXPECT_EQ(sink.at("billing.finance.svc.cluster.local"),
              (Set{"CNAME billing.finance.svc.cluster.local billing.example.com"}));
    EXPECT_FALSE(sink.has_owner("_https._tcp.billing.finance.svc.cluster.local"));
    EXPECT_TRUE(sink.has_owner("finance.svc.cluster.local"));
}

TEST(DnsRecords, NamesDnsCannotCarryAreCountedNotEmitted) {
    const std::string long_name(64, 'a');
    config::ClusterConfig cluster;
    cluster.service_cidr = config::parse_ipv4_prefix("198.18.100.0/24");
    config::ServiceStore store(cluster, {});
    config::ServiceConfig service;
    service.name = long_name;  // service names are not checked as DNS labels
    service.cluster_ip = *config::parse_ipv4("198.18.100.12");
    service.ports = {{"http", config::Protocol::Tcp, 80, 0, ""}};
    ASSERT_TRUE(store.apply({{service}, {}, {}, {}}, "test").ok());
    config::DnsConfig dns;
    RecordingSink sink;
    const DnsRecordCounts counts = emit_dns_records(dns, store.resolved(), sink);
    EXPECT_EQ(counts.skipped, 3u) << "A, PTR (its target), SRV";
    EXPECT_EQ(counts.records, sink.records.size());
    for (const std::string& record : sink.records) EXPECT_EQ(record.find(long_name), std::string::npos) << record;
}

// The seed manifest of the issue, applied unchanged.
TEST(DnsRecords, SeedManifestGetsItsName) {
    config::ObjectsResult loaded =
        config::load_kubernetes_yaml(test::manifest_text("seed-backend-api.yaml"), "seed-backend-api.yaml");
    ASSERT_TRUE(loaded.objects) << config::describe_errors(loaded.errors);
    config::ClusterConfig cluster;
    cluster.service_cidr = config::parse_ipv4_prefix("198.18.100.0/24");
    config::ServiceStore store(cluster, {});
    ASSERT_TRUE(store.apply(*loaded.objects, "seed").ok());
    RecordingSink sink = records_of(store);
    const std::string ip = config::format_ipv4(store.services().at("default/my-internal-backend-api").cluster_ip);
    EXPECT_EQ(sink.at("my-internal-backend-api.default.svc.cluster.local"),
              (Set{"A my-internal-backend-api.default.svc.cluster.local " + ip}));
}

TEST(DnsRecords, ServerParametersAreInNetworkOrder) {
    config::DnsConfig dns;
    dns.addresses = {*config::parse_ipv4("198.18.100.250")};
    dns.upstreams = {{*config::parse_ipv4("198.18.0.53"), 53}};
    dns.rate_limit = 77;
    dns.rate_limit_slip = 3;
    const DnsServerParameters parameters = dns_server_parameters(dns);
    ASSERT_EQ(parameters.addresses.size(), 1u);
    const auto* bytes = reinterpret_cast<const uint8_t*>(&parameters.addresses[0]);
    EXPECT_EQ(bytes[0], 198);
    EXPECT_EQ(bytes[3], 250);
    EXPECT_TRUE(parameters.has_upstreams);
    EXPECT_EQ(parameters.rate_limit, 77u);
    EXPECT_EQ(parameters.rate_limit_slip, 3u);
}

// A headless service's IPv6 endpoint addresses as its IPv4 ones: AAAA under its name and the
// endpoint's (a dual-stack pod with a hostname: one name with A and AAAA; without: its address
// dashed as CoreDNS does), an ip6.arpa PTR, and SRV over both families once per target name.
TEST(DnsRecords, HeadlessIpv6EndpointsHaveAaaaPtrAndSrv) {
    RecordingSink sink = records_of(store_with(R"(
[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }
ports = [{ name = "pg", port = 5432 }]

[[pods]]
name = "db-0"
pod_ips = ["198.18.0.20", "2001:db8:2::20"]
labels = { app = "db" }
hostname = "db-0"
subdomain = "db"

[[pods]]
name = "db-1"
address = "2001:db8:2::21"
labels = { app = "db" }

[[pods]]
name = "db-2"
address = "2001:db8:2::22"
labels = { app = "db" }
ready = false

[[services]]
name = "peers"
cluster_ip = "None"
ports = [{ name = "gossip", protocol = "UDP", port = 7946 }]

[[endpoint_slices]]
name = "peers-six"
service = "peers"
address_type = "IPv6"
ports = [{ name = "gossip", protocol = "UDP", port = 7946 }]
endpoints = [{ address = "2001:db8:2::40", hostname = "peer-a" }]
)"));
    const std::string name = "db.default.svc.cluster.local";
    EXPECT_EQ(sink.at(name), (Set{"A " + name + " 198.18.0.20", "AAAA " + name + " 2001:db8:2::20",
                                  "AAAA " + name + " 2001:db8:2::21"}));
    EXPECT_EQ(sink.at("db-0." + name),
              (Set{"A db-0." + name + " 198.18.0.20", "AAAA db-0." + name + " 2001:db8:2::20"}));
    EXPECT_EQ(sink.at("2001-db8-2--21." + name), (Set{"AAAA 2001-db8-2--21." + name + " 2001:db8:2::21"}));
    EXPECT_FALSE(sink.has_owner("2001-db8-2--22." + name)) << "not ready";
    EXPECT_EQ(sink.at("_pg._tcp." + name), (Set{"SRV _pg._tcp." + name + " 0 50 5432 db-0." + name,
                                                "SRV _pg._tcp." + name + " 0 50 5432 2001-db8-2--21." + name}))
        << "one SRV per target name, whichever families it has";
    const std::string reverse = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    EXPECT_EQ(sink.at(reverse), (Set{"PTR " + reverse + " db-0." + name}));
    EXPECT_EQ(sink.at("20.0.18.198.in-addr.arpa"), (Set{"PTR 20.0.18.198.in-addr.arpa db-0." + name}));

    const std::string peers = "peers.default.svc.cluster.local";
    EXPECT_EQ(sink.at(peers), (Set{"AAAA " + peers + " 2001:db8:2::40"}));
    EXPECT_EQ(sink.at("peer-a." + peers), (Set{"AAAA peer-a." + peers + " 2001:db8:2::40"}));
    EXPECT_EQ(sink.at("_gossip._udp." + peers), (Set{"SRV _gossip._udp." + peers + " 0 100 7946 peer-a." + peers}));
}

// Not a pass/fail test: how long producing the records of a large cluster takes (the zone
// builder's own compilation comes on top). Printed for the README.
TEST(DnsRecordsTiming, TenThousandServicesOfTenEndpoints) {
    for (const bool headless : {false, true}) {
        config::ClusterConfig cluster;
        cluster.service_cidr = config::parse_ipv4_prefix("198.19.192.0/18");
        config::ServiceStore store(cluster, {});
        config::ObjectSet set;
        for (uint32_t s = 0; s < 10'000; ++s) {
            config::ServiceConfig service;
            service.name = "svc-" + std::to_string(s);
            service.namespace_name = "ns-" + std::to_string(s % 100);
            service.headless = headless;
            service.ports = {{"http", config::Protocol::Tcp, 80, 8080, ""}};
            for (uint32_t e = 0; e < 10; ++e) {
                service.endpoints.push_back(
                    {*config::parse_ipv4("198.18.0.0") + s * 10 + e, 0, true, false, 1, {}, {}});
            }
            set.services.push_back(std::move(service));
        }
        ASSERT_TRUE(store.apply(set, "timing").ok());
        config::DnsConfig dns;
        RecordingSink sink;
        const auto started = std::chrono::steady_clock::now();
        const DnsRecordCounts counts = emit_dns_records(dns, store.resolved(), sink);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        std::cout << "[ timing ] records of 10,000 " << (headless ? "headless" : "ClusterIP")
                  << " services x 10 endpoints: " << counts.records << " records in " << ms
                  << " ms (into a recording sink)\n";
        EXPECT_EQ(counts.skipped, 0u);
        EXPECT_EQ(counts.records, headless ? 3 + 10'000 * (1 + 10 * 4) : 3 + 10'000 * 4);
    }
}

}  // namespace
}  // namespace vipgate
