// The [dns] table and the DNS parts of the service model (ExternalName, publishNotReadyAddresses,
// hostnames): decoding with positions, the cross-field rules, and the Kubernetes manifests.
#include "config/config.h"
#include "config/objects.h"
#include "tests/unit/config_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <string_view>

namespace vipgate::config {
namespace {

constexpr std::string_view kBase = R"(
[dataplane]
worker_lcores = [1]

[snat]
addresses = ["198.18.0.2"]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24", "198.18.0.2/24"]

[cluster]
service_cidr = "198.18.100.0/24"
)";

LoadResult load(std::string_view extra) {
    return load_config_string(std::string(kBase) + std::string(extra), "test.toml");
}

// 1-based line:column of `needle` in kBase + extra.
std::pair<uint32_t, uint32_t> position(std::string_view extra, std::string_view needle) {
    const std::string text = std::string(kBase) + std::string(extra);
    const size_t offset = text.find(needle);
    EXPECT_NE(offset, std::string::npos) << needle;
    const size_t line_start = text.rfind('\n', offset);
    const uint32_t line = 1 + static_cast<uint32_t>(std::count(text.begin(), text.begin() + offset, '\n'));
    return {line, static_cast<uint32_t>(offset - line_start)};
}

// Exactly one error, for `field`, containing `part`, located at `at` (when not empty).
testing::AssertionResult one_error(std::string_view extra, std::string_view field, std::string_view part,
                                   std::string_view at = {}) {
    LoadResult result = load(extra);
    if (result.errors.size() != 1)
        return testing::AssertionFailure() << "expected one error:" << describe(result.errors);
    const ConfigError& error = result.errors[0];
    if (error.field != field || error.message.find(part) == std::string::npos) {
        return testing::AssertionFailure()
               << "expected " << field << ": ..." << part << "; got" << describe(result.errors);
    }
    if (!at.empty()) {
        auto [line, column] = position(extra, at);
        if (error.line != line || error.column != column) {
            return testing::AssertionFailure()
                   << "expected at " << line << ":" << column << "; got" << describe(result.errors);
        }
    }
    return testing::AssertionSuccess();
}

TEST(DnsConfig, DefaultsAndEveryKey) {
    LoadResult defaults = load("");
    ASSERT_TRUE(defaults.config) << describe(defaults.errors);
    EXPECT_TRUE(defaults.config->dns.addresses.empty());
    EXPECT_EQ(defaults.config->dns.zone, "cluster.local");
    EXPECT_EQ(defaults.config->dns.ttl_s, 5u);
    EXPECT_EQ(defaults.config->dns.rate_limit, DnsConfig::kDefaultRateLimit);
    EXPECT_EQ(defaults.config->dns.rate_limit_slip, 2u);

    LoadResult full = load(R"(
[dns]
addresses = ["198.18.100.250", "198.18.50.53"]
zone = "Cluster.Example."
ttl = 0
upstreams = ["198.18.0.53", "198.18.0.54:5353"]
rate_limit = 0
rate_limit_slip = 0
)");
    ASSERT_TRUE(full.config) << describe(full.errors);
    const DnsConfig& dns = full.config->dns;
    EXPECT_EQ(dns.addresses, (std::vector<uint32_t>{*parse_ipv4("198.18.100.250"), *parse_ipv4("198.18.50.53")}))
        << "inside and outside the service CIDR";
    EXPECT_EQ(dns.zone, "cluster.example");
    EXPECT_EQ(dns.ttl_s, 0u);
    EXPECT_EQ(dns.upstreams,
              (std::vector<DnsUpstream>{{*parse_ipv4("198.18.0.53"), 53}, {*parse_ipv4("198.18.0.54"), 5353}}));
    EXPECT_EQ(dns.rate_limit, 0u);
}

TEST(DnsConfig, ShapeErrorsHavePositions) {
    EXPECT_TRUE(one_error("[dns]\naddresses = [\"198.18.100.300\"]\n", "dns.addresses[0]", "not an IPv4 address",
                          "\"198.18.100.300\""));
    EXPECT_TRUE(one_error("[dns]\naddresses = [\"0.0.0.0\"]\n", "dns.addresses[0]", "0.0.0.0 is not a DNS address",
                          "\"0.0.0.0\""));
    EXPECT_TRUE(one_error("[dns]\nzone = \"cluster..local\"\n", "dns.zone", "is not a DNS name", "\"cluster..local\""));
    EXPECT_TRUE(one_error("[dns]\nzone = \"under_score.local\"\n", "dns.zone", "is not a DNS name"));
    EXPECT_TRUE(one_error("[dns]\nttl = 3601\n", "dns.ttl", "allowed: 0..3600", "3601"));
    EXPECT_TRUE(one_error("[dns]\nupstreams = [\"198.18.0.53:0\"]\n", "dns.upstreams[0]", "not a resolver address",
                          "\"198.18.0.53:0\""));
    EXPECT_TRUE(one_error("[dns]\nupstreams = [\"resolver.example\"]\n", "dns.upstreams[0]", "not a resolver address"));
    EXPECT_TRUE(one_error("[dns]\nrate_limit = -1\n", "dns.rate_limit", "out of range", "-1"));
    EXPECT_TRUE(one_error("[dns]\nadresses = []\n", "dns.adresses", "did you mean 'addresses'?", "adresses"));
    EXPECT_TRUE(one_error("[[dns]]\n", "dns", "expected a table, found an array"));
}

TEST(DnsConfig, AddressesCollideWithNothing) {
    EXPECT_TRUE(one_error("[dns]\naddresses = [\"198.18.0.1\"]\n", "dns.addresses[0]",
                          "is an address of port p0; a DNS address must be an address of its own", "\"198.18.0.1\""));
    EXPECT_TRUE(one_error("[dns]\naddresses = [\"198.18.0.2\"]\n", "dns.addresses[0]", "and an SNAT address"));
    EXPECT_TRUE(one_error(R"(
[dns]
addresses = ["198.18.100.10"]

[[services]]
name = "web"
cluster_ip = "198.18.100.10"
ports = [{ port = 80 }]
)",
                          "dns.addresses[0]", "is the cluster IP of service default/web (services[0])"));
    EXPECT_TRUE(
        one_error("[dns]\naddresses = [\"198.18.100.9\", \"198.18.100.9\"]\n", "dns.addresses[1]", "listed twice"));
    EXPECT_TRUE(
        one_error("[dns]\naddresses = [\"198.18.100.1\", \"198.18.100.2\", \"198.18.100.3\", \"198.18.100.4\", "
                  "\"198.18.100.5\", \"198.18.100.6\", \"198.18.100.7\", \"198.18.100.8\", \"198.18.100.9\"]\n",
                  "dns.addresses", "9 addresses; at most 8"));
    EXPECT_TRUE(one_error("[dns]\naddresses = [\"198.18.100.9\"]\nupstreams = [\"198.18.100.9\"]\n", "dns.upstreams[0]",
                          "the server would forward to itself"));
    EXPECT_TRUE(
        one_error("[dns]\nupstreams = [\"198.18.0.53\", \"198.18.0.53:53\"]\n", "dns.upstreams[1]", "listed twice"));
}

TEST(DnsConfig, DnsSettingsAreNotRestartOnly) {
    LoadResult before = load("");
    LoadResult after = load("[dns]\naddresses = [\"198.18.100.250\"]\nupstreams = [\"198.18.0.53\"]\n");
    ASSERT_TRUE(before.config && after.config);
    EXPECT_TRUE(restart_only_differences(*before.config, *after.config).empty());
}

TEST(DnsConfig, ObjectDocumentsCarryDnsChecksTheyCanMakeAlone) {
    ObjectsResult objects = load_objects_toml("[dns]\naddresses = [\"198.18.100.250\"]\nttl = 10\n", "apply.toml");
    ASSERT_TRUE(objects.objects) << describe(objects.errors);
    ASSERT_TRUE(objects.objects->dns.has_value());
    EXPECT_EQ(objects.objects->dns->ttl_s, 10u);
    EXPECT_FALSE(load_objects_toml("[[pods]]\nname = \"a\"\n", "apply.toml").objects->dns.has_value());
    ObjectsResult bad =
        load_objects_toml("[dns]\nzone = \"a..b\"\naddresses = [\"198.18.100.1\", \"198.18.100.1\"]\n", "apply.toml");
    ASSERT_EQ(bad.errors.size(), 2u) << describe(bad.errors);
    EXPECT_EQ(bad.errors[0].line, 2u);
    EXPECT_EQ(bad.errors[1].field, "dns.addresses[1]");
}

TEST(ServiceModel, ExternalNameHostnamesAndPublishNotReady) {
    LoadResult result = load(R"(
[[services]]
name = "billing"
external_name = "Billing.example.com"

[[services]]
name = "alias"
external_name = "db.example.com."
cluster_ip = "198.18.100.20"

[[services]]
name = "db"
cluster_ip = "None"
publish_not_ready_addresses = true
endpoints = [{ address = "198.18.0.30", hostname = "DB_0" }]

[[pods]]
name = "db-0"
hostname = "db-0"
subdomain = "-db"
)");
    ASSERT_EQ(result.errors.size(), 4u) << describe(result.errors);
    EXPECT_EQ(result.errors[0].field, "services[0].external_name");
    EXPECT_NE(result.errors[0].message.find("is not a DNS name"), std::string::npos);
    EXPECT_EQ(result.errors[1].field, "services[1].cluster_ip");
    EXPECT_NE(result.errors[1].message.find("has no cluster IP"), std::string::npos);
    EXPECT_EQ(result.errors[2].field, "services[2].endpoints[0].hostname");
    EXPECT_EQ(result.errors[3].field, "pods[0].subdomain");

    LoadResult good = load(R"(
[[services]]
name = "billing"
external_name = "billing.example.com."

[[services]]
name = "db"
cluster_ip = "None"
publish_not_ready_addresses = true

[[pods]]
name = "db-0"
hostname = "db-0"
subdomain = "db"
)");
    ASSERT_TRUE(good.config) << describe(good.errors);
    EXPECT_EQ(good.config->services[0].external_name, "billing.example.com");
    EXPECT_TRUE(good.config->services[1].publish_not_ready_addresses);
    EXPECT_EQ(good.config->pods[0].hostname, "db-0");
    EXPECT_EQ(good.config->pods[0].subdomain, "db");
}

TEST(ServiceModel, KubernetesManifestsForDns) {
    ObjectsResult result = load_kubernetes_yaml(R"(apiVersion: v1
kind: Service
metadata: {name: billing, namespace: finance}
spec:
  type: ExternalName
  externalName: billing.example.com
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: db}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  containers: [{name: pg, image: postgres}]
status: {podIP: 198.18.0.20}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-x, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
  - addresses: [198.18.0.21]
    hostname: db-1
    conditions: {ready: true}
)",
                                                "dns.yaml");
    ASSERT_TRUE(result.objects) << describe(result.errors);
    const ObjectSet& objects = *result.objects;
    ASSERT_EQ(objects.services.size(), 2u);
    EXPECT_EQ(objects.services[0].external_name, "billing.example.com");
    EXPECT_EQ(objects.services[0].cluster_ip, 0u);
    EXPECT_FALSE(objects.services[0].headless);
    EXPECT_TRUE(objects.services[1].publish_not_ready_addresses);
    EXPECT_EQ(objects.pods[0].hostname, "db-0");
    EXPECT_EQ(objects.pods[0].subdomain, "db");
    EXPECT_EQ(objects.endpoint_slices[0].endpoints[0].hostname, "db-1");

    ObjectsResult bad = load_kubernetes_yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostname: Not_A_Label
)",
                                             "bad.yaml");
    ASSERT_EQ(bad.errors.size(), 1u) << describe(bad.errors);
    EXPECT_EQ(bad.errors[0].field, "spec.hostname");
    EXPECT_EQ(bad.errors[0].line, 5u);
    EXPECT_EQ(bad.errors[0].column, 13u);
}

}  // namespace
}  // namespace vipgate::config
