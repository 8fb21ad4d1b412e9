// The Kubernetes service model in the daemon's config file: [cluster], selectors, headless
// services, session affinity, named ports, [[pods]] and [[endpoint_slices]], and the rules that
// relate them.
#include "config/config.h"
#include "tests/unit/config_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace vipgate::config {
namespace {

uint32_t ip(std::string_view text) {
    return parse_ipv4(text).value();
}

LoadResult load(std::string_view extra) {
    return load_config_string(std::string(kMinimalConfig) + std::string(extra), "test.toml");
}

std::string describe(const LoadResult& result) {
    std::string text;
    for (const auto& error : result.errors) text += "\n  " + error.to_string();
    return text.empty() ? " (no errors)" : text;
}

// Exactly one error, for `field`, containing `part`, on the line (of the whole file) holding
// `line_text`.
testing::AssertionResult single_error(std::string_view extra, std::string_view field, std::string_view part,
                                      std::string_view line_text) {
    std::string text = std::string(kMinimalConfig) + std::string(extra);
    LoadResult result = load(extra);
    size_t offset = text.find(line_text);
    uint32_t line = 1 + static_cast<uint32_t>(std::count(text.begin(), text.begin() + offset, '\n'));
    if (result.errors.size() != 1 || result.errors[0].field != field ||
        result.errors[0].message.find(part) == std::string::npos || result.errors[0].line != line) {
        return testing::AssertionFailure()
               << "expected line " << line << ": " << field << ": ..." << part << "..., got:" << describe(result);
    }
    return testing::AssertionSuccess();
}

TEST(ConfigModel, EveryNewFieldDecodes) {
    LoadResult result = load(R"(
[cluster]
service_cidr = "198.18.128.0/17"
client_ranges = ["198.18.0.0/16", "198.19.0.0/16"]

[[services]]
name = "web"
cluster_ip = "198.18.128.10"
selector = { app = "web", tier = "backend" }
session_affinity = "ClientIP"
session_affinity_timeout = 600
ports = [{ name = "http", protocol = "TCP", port = 80, target_port = 8080 },
         { name = "grpc", port = 9000, target_port = "grpc" }]

[[services]]
name = "manual"
ports = [{ port = 53, protocol = "SCTP" }]
endpoints = [{ address = "198.19.0.5", ready = true, terminating = false, weight = 1, ports = [{ name = "grpc", protocol = "TCP", port = 9001 }] }]

[[services]]
name = "db"
cluster_ip = "None"

[[pods]]
name = "web-1"
address = "198.19.1.10"
labels = { app = "web", tier = "backend" }
ready = false
terminating = true
weight = 2
ports = [{ name = "http", protocol = "TCP", port = 8080 }]

[[endpoint_slices]]
name = "web-abc12"
namespace = "prod"
service = "web"
ports = [{ name = "http", protocol = "TCP", port = 8080 }]
endpoints = [{ address = "198.19.1.10", ready = true, terminating = false, weight = 1 }]
)");
    ASSERT_TRUE(result.config.has_value()) << describe(result);
    const Config& config = *result.config;
    EXPECT_EQ(config.cluster.service_cidr, (Ipv4Prefix{ip("198.18.128.0"), 17}));
    EXPECT_EQ(config.cluster.client_ranges.size(), 2u);
    const ServiceConfig& web = config.services[0];
    EXPECT_EQ(web.selector, (Labels{{"app", "web"}, {"tier", "backend"}}));
    EXPECT_EQ(web.session_affinity, SessionAffinity::ClientIp);
    EXPECT_EQ(web.affinity_timeout_s, 600u);
    EXPECT_EQ(web.ports[1], (ServicePortConfig{"grpc", Protocol::Tcp, 9000, 0, "grpc"}));
    const ServiceConfig& manual = config.services[1];
    EXPECT_EQ(manual.cluster_ip, 0u);  // allocated from the service CIDR later
    EXPECT_EQ(manual.ports[0].protocol, Protocol::Sctp);
    EXPECT_EQ(manual.endpoints[0].ports, (std::vector<NamedPort>{{"grpc", Protocol::Tcp, 9001}}));
    EXPECT_TRUE(config.services[2].headless);
    EXPECT_TRUE(config.services[2].ports.empty());
    PodConfig pod{"web-1",
                  "default",
                  ip("198.19.1.10"),
                  {{"app", "web"}, {"tier", "backend"}},
                  {{"http", Protocol::Tcp, 8080}},
                  false,
                  true,
                  2};
    EXPECT_EQ(config.pods.at(0), pod);
    const EndpointSliceConfig& slice = config.endpoint_slices.at(0);
    EXPECT_EQ(slice.namespace_name, "prod");
    EXPECT_EQ(slice.service_name, "web");
    EXPECT_EQ(slice.endpoints[0], (EndpointConfig{ip("198.19.1.10"), 0, true, false, 1, {}}));
}

TEST(ConfigModel, ServiceCidrRules) {
    EXPECT_TRUE(single_error(R"(
[cluster]
service_cidr = "198.18.128.0/17"

[[services]]
name = "web"
cluster_ip = "198.19.0.1"
ports = [{ port = 80 }]
)",
                             "services[0].cluster_ip", "198.19.0.1 is outside cluster.service_cidr 198.18.128.0/17",
                             "\"198.19.0.1\""));
    EXPECT_TRUE(single_error("[cluster]\nservice_cidr = \"198.18.0.0/16\"\n", "cluster.service_cidr",
                             "198.18.0.0/16 holds 198.18.0.1, an address of port p0", "\"198.18.0.0/16\""));
    EXPECT_TRUE(single_error("[cluster]\nservice_cidr = \"198.18.128.1/17\"\n", "cluster.service_cidr", "host bits set",
                             "\"198.18.128.1/17\""));
    EXPECT_TRUE(single_error("[cluster]\nclient_ranges = [\"x\"]\n", "cluster.client_ranges[0]",
                             "is not an IPv4 prefix", "[\"x\"]"));
    EXPECT_TRUE(single_error("[cluster]\nclient_ranges = [\"198.18.0.0/16\", \"2001:db8::1/64\"]\n",
                             "cluster.client_ranges[1]", "has host bits set; did you mean \"2001:db8::/64\"?",
                             "2001:db8::1/64"));
    EXPECT_TRUE(single_error("[cluster]\nclient_ranges = [\"2001:db8::/129\"]\n", "cluster.client_ranges[0]",
                             "is not an IPv6 prefix", "2001:db8::/129"));
}

TEST(ConfigModel, ServiceShapeRules) {
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
selector = { app = "web" }
ports = [{ port = 80 }]
endpoints = [{ address = "198.19.0.1" }]
)",
                             "services[0].endpoints",
                             "a service with a selector takes its endpoints from the matching "
                             "pods; remove services[0].selector or services[0].endpoints",
                             "endpoints ="));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
session_affinity_timeout = 60
ports = [{ port = 80 }]
)",
                             "services[0].session_affinity_timeout",
                             "only applies when services[0].session_affinity is \"ClientIP\"", "= 60"));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
session_affinity = "clientip"
ports = [{ port = 80 }]
)",
                             "services[0].session_affinity",
                             "unknown session affinity 'clientip'; allowed: \"None\", \"ClientIP\"", "\"clientip\""));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "0.0.0.0"
ports = [{ port = 80 }]
)",
                             "services[0].cluster_ip", "0.0.0.0 is not a cluster IP", "\"0.0.0.0\""));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ name = "http", port = 80, target_port = "HTTP" }]
)",
                             "services[0].ports[0].target_port", "may only hold lowercase letters, digits and '-'",
                             "\"HTTP\""));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ name = "a-very-long-port-name", port = 80, target_port = true }]
)",
                             "services[0].ports[0].target_port",
                             "expected a port number or a port name, found a boolean", "true"));
    EXPECT_TRUE(single_error(R"(
[[services]]
name = "web"
cluster_ip = "None"
selector = { "app.kubernetes.io/name" = "web", "Bad Key" = "x" }
)",
                             "services[0].selector.Bad Key", "the label key 'Bad Key' is not valid", "\"Bad Key\""));
}

TEST(ConfigModel, HeadlessServicesNeedNoIpOrPortsButKeepAffinity) {
    LoadResult result = load(R"(
[[services]]
name = "a"
cluster_ip = "None"
session_affinity = "ClientIP"
ports = [{ port = 80 }]
endpoints = [{ address = "198.19.0.1" }]

[[services]]
name = "b"
cluster_ip = "None"
)");
    EXPECT_TRUE(result.errors.empty()) << describe(result);
}

TEST(ConfigModel, PodAndSliceRules) {
    std::string text = R"(
[[pods]]
name = "web-1"
address = "198.19.1.10"
ports = [{ name = "http", port = 80 }, { name = "http", port = 81 }]

[[pods]]
name = "web-1"
address = "198.19.1.11"

[[pods]]
name = "web-2"
namespace = "other"
address = "198.19.1.10"
labels = { app = "this-value-is-far-too-long-to-be-a-kubernetes-label-value-really-it-is" }

[[pods]]
name = "no-address-yet"

[[pods]]
name = "also-no-address"
ports = [{ name = "1234", port = 80 }]

[[endpoint_slices]]
name = "s"
service = "web"

[[endpoint_slices]]
name = "s"
namespace = "other"
service = "web"

[[endpoint_slices]]
name = "s"
service = "web2"
ports = [{ name = "name-of-service-port", port = 80 }]
)";
    LoadResult result = load(text);
    ASSERT_EQ(result.errors.size(), 6u) << describe(result);
    EXPECT_EQ(result.errors[0].field, "pods[0].ports[1].name");
    EXPECT_EQ(result.errors[0].message, "duplicate port name 'http' (also pods[0].ports[0])");
    EXPECT_EQ(result.errors[1].message, "duplicate pod default/web-1 (also pods[0])");
    EXPECT_EQ(result.errors[2].field, "pods[2].address");
    EXPECT_EQ(result.errors[2].message,
              "198.19.1.10 is already the address of pod default/web-1 (pods[0]); pod IPs are "
              "unique in a cluster");
    EXPECT_NE(result.errors[3].message.find("is 70 characters long; at most 63"), std::string::npos);
    EXPECT_NE(result.errors[4].message.find("needs at least one letter"), std::string::npos);
    EXPECT_EQ(result.errors[5].message, "duplicate endpoint slice default/s (also endpoint_slices[0])");
}

}  // namespace
}  // namespace vipgate::config
