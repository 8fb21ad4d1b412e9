// Config loader and validator: valid files decode into the expected structs, and each kind of
// mistake is reported with its field path, message and the line:column of the offending value.
#include "config/config.h"
#include "tests/support/source_files.h"
#include "tests/unit/config_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <sys/stat.h>
#include <unistd.h>

namespace vipgate::config {
namespace {

constexpr std::string_view kSource = "test.toml";

// A port for tests that write their own [dataplane] first.
constexpr std::string_view kPort = R"(
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
)";

LoadResult load(std::string_view text) {
    return load_config_string(std::string(text), std::string(kSource));
}

LoadResult load_with_base(std::string_view extra) {
    return load(std::string(kMinimalConfig) + std::string(extra));
}

std::string describe(const LoadResult& result) {
    std::string text;
    for (const auto& error : result.errors) text += "\n  " + error.to_string();
    return text.empty() ? " (no errors)" : text;
}

// 1-based line and column of the first occurrence of `needle` in `text`.
std::pair<uint32_t, uint32_t> position_of(std::string_view text, std::string_view needle) {
    size_t offset = text.find(needle);
    EXPECT_NE(offset, std::string_view::npos) << "test bug: '" << needle << "' not in the text";
    std::string_view before = text.substr(0, offset);
    size_t line_start = before.rfind('\n');
    uint32_t line = 1 + static_cast<uint32_t>(std::count(before.begin(), before.end(), '\n'));
    uint32_t column = static_cast<uint32_t>(line_start == std::string_view::npos ? offset + 1 : offset - line_start);
    return {line, column};
}

// An error for `field` whose message contains `message_part`, located where `located_at` first
// appears in `text`.
testing::AssertionResult has_error(const LoadResult& result, std::string_view text, std::string_view field,
                                   std::string_view message_part, std::string_view located_at) {
    auto [line, column] = position_of(text, located_at);
    for (const auto& error : result.errors) {
        if (error.field != field || error.message.find(message_part) == std::string::npos) continue;
        if (error.file != kSource || error.line != line || error.column != column) {
            return testing::AssertionFailure()
                   << "found '" << error.to_string() << "' but expected it at " << line << ":" << column;
        }
        return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "no error for " << field << " containing '" << message_part
                                       << "'; got:" << describe(result);
}

// The whole file is `kMinimalConfig + extra`; checks that exactly one error is reported, as described.
void expect_single_error(std::string_view extra, std::string_view field, std::string_view message_part,
                         std::string_view located_at) {
    std::string text = std::string(kMinimalConfig) + std::string(extra);
    LoadResult result = load(text);
    EXPECT_FALSE(result.config.has_value());
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, field, message_part, located_at));
}

const Config& valid(const LoadResult& result) {
    EXPECT_TRUE(result.errors.empty()) << describe(result);
    static const Config empty;
    return result.config ? *result.config : empty;
}

uint32_t ip(std::string_view text) {
    return parse_ipv4(text).value();
}

// --- valid files ---------------------------------------------------------------------------

TEST(ConfigDefault, EmbeddedDemoConfigLoads) {
    LoadResult result = load_config_string(embedded_default_config(), "<embedded default>");
    const Config& config = valid(result);
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(config.source, "<embedded default>");
    EXPECT_EQ(config.dataplane.worker_lcores, std::vector<unsigned>{1});
    EXPECT_EQ(config.conntrack.capacity, 262144u);
    ASSERT_EQ(config.ports.size(), 1u);
    EXPECT_EQ(config.ports[0].device, "net_pcap0,rx_pcap=/tmp/vipgate-demo/traffic.pcap,infinite_rx=1");
    EXPECT_EQ(config.snat.addresses, std::vector<uint32_t>{ip("198.18.0.2")});
    ASSERT_EQ(config.routes.size(), 1u);
    EXPECT_EQ(config.routes[0].port, "p0");
    EXPECT_EQ(config.neighbors.size(), 7u);
    ASSERT_EQ(config.services.size(), 2u);
    EXPECT_EQ(config.services[0].endpoints.size(), 4u);
    EXPECT_EQ(config.services[0].endpoints[1].weight, 2u);
    EXPECT_EQ(config.services[1].ports[0].protocol, Protocol::Udp);
    EXPECT_EQ(config.services[1].ports[0].target_port, 5353);
}

TEST(ConfigDefault, SourceTreeFileMatchesEmbeddedText) {
    EXPECT_EQ(test::read_source_file("config/default.toml"), embedded_default_config());
    EXPECT_TRUE(load_config_file(test::source_path("config/default.toml")).errors.empty());
}

constexpr std::string_view kRich = R"(
[eal]
args = ["--no-huge", "-l", "0-2"]

[dataplane]
worker_lcores = [1, 2]
nat_mode = "dnat"
hash_seed = 0xabcdef
maglev_max_table_size = 251
stats_interval_ms = 500
mbufs_per_port = 8191
rx_descriptors = 512
tx_descriptors = 2048
idle = "adaptive"
idle_max_sleep_us = 250

[conntrack]
capacity = 4096
tcp_syn_timeout = 3
tcp_established_timeout = 600
tcp_closing_timeout = 20
tcp_closed_timeout = 2
udp_timeout = 60
icmp_timeout = 4
udp_unreplied_timeout = 15

[snat]
addresses = ["10.1.0.2", "10.1.0.3"]
port_range = [20000, 29999]

[[ports]]
name = "outside"
device = "0000:03:00.0"
mac = "02:aa:bb:cc:dd:ee"
addresses = ["198.18.0.1/24"]
vlan = 100
promiscuous = true

[[ports]]
name = "inside"
device = "net_tap0,iface=vg0"
addresses = ["10.1.0.1/16", "10.1.0.2/16", "10.1.0.3/16"]

[[routes]]
prefix = "0.0.0.0/0"
via = "198.18.0.254"

[[routes]]
prefix = "10.2.0.0/16"
via = "10.1.255.254"
port = "inside"

[[neighbors]]
address = "10.1.0.10"
mac = "02:00:00:00:00:10"

[[services]]
name = "api"
namespace = "prod"
cluster_ip = "172.16.0.1"
  [[services.ports]]
  name = "https"
  protocol = "TCP"
  port = 443
  target_port = 8443
  [[services.ports]]
  name = "quic"
  protocol = "udp"
  port = 443
  [[services.endpoints]]
  address = "10.1.0.10"
  weight = 3
  [[services.endpoints]]
  address = "10.1.0.11"
  ready = false
  terminating = true

[[services]]
name = "api"
namespace = "staging"
cluster_ip = "172.16.0.2"
ports = [{ port = 80 }]
endpoints = [{ address = "10.1.0.12", port = 9090, weight = 0 }]
)";

TEST(ConfigValid, RichFileDecodesEveryField) {
    LoadResult result = load(kRich);
    const Config& config = valid(result);
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(config.eal.args, (std::vector<std::string>{"--no-huge", "-l", "0-2"}));
    EXPECT_EQ(config.dataplane.worker_lcores, (std::vector<unsigned>{1, 2}));
    EXPECT_EQ(config.dataplane.nat_mode, NatMode::DnatOnly);
    EXPECT_EQ(config.dataplane.hash_seed, 0xabcdefu);
    EXPECT_EQ(config.dataplane.maglev_max_table_size, 251u);
    EXPECT_EQ(config.dataplane.stats_interval_ms, 500u);
    EXPECT_EQ(config.dataplane.mbufs_per_port, 8191u);
    EXPECT_EQ(config.dataplane.rx_descriptors, 512);
    EXPECT_EQ(config.dataplane.tx_descriptors, 2048);
    EXPECT_EQ(config.dataplane.idle, IdleMode::Adaptive);
    EXPECT_EQ(config.dataplane.idle_max_sleep_us, 250u);
    EXPECT_EQ(config.conntrack, (ConntrackConfig{4096, 3, 600, 20, 2, 60, 4, 15}));
    EXPECT_EQ(config.snat, (SnatConfig{{ip("10.1.0.2"), ip("10.1.0.3")}, 20000, 29999}));

    ASSERT_EQ(config.ports.size(), 2u);
    const PortConfig& outside = config.ports[0];
    EXPECT_EQ(outside.name, "outside");
    EXPECT_EQ(outside.device, "0000:03:00.0");
    EXPECT_EQ(outside.mac, (MacAddress{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}));
    EXPECT_EQ(outside.addresses, (std::vector<Ipv4Prefix>{{ip("198.18.0.1"), 24}}));
    EXPECT_EQ(outside.vlan, 100);
    EXPECT_TRUE(outside.promiscuous);
    EXPECT_FALSE(config.ports[1].mac.has_value());
    EXPECT_EQ(config.ports[1].addresses.size(), 3u);

    ASSERT_EQ(config.routes.size(), 2u);
    EXPECT_EQ(config.routes[0], (RouteConfig{{0, 0}, ip("198.18.0.254"), "outside"}));
    EXPECT_EQ(config.routes[1], (RouteConfig{{ip("10.2.0.0"), 16}, ip("10.1.255.254"), "inside"}));
    ASSERT_EQ(config.neighbors.size(), 1u);
    EXPECT_EQ(config.neighbors[0], (NeighborConfig{ip("10.1.0.10"), {0x02, 0, 0, 0, 0, 0x10}, "inside"}));

    ASSERT_EQ(config.services.size(), 2u);
    const ServiceConfig& api = config.services[0];
    EXPECT_EQ(api.namespace_name, "prod");
    EXPECT_EQ(api.cluster_ip, ip("172.16.0.1"));
    ASSERT_EQ(api.ports.size(), 2u);
    EXPECT_EQ(api.ports[0], (ServicePortConfig{"https", Protocol::Tcp, 443, 8443}));
    EXPECT_EQ(api.ports[1], (ServicePortConfig{"quic", Protocol::Udp, 443, 0}));
    ASSERT_EQ(api.endpoints.size(), 2u);
    EXPECT_EQ(api.endpoints[0], (EndpointConfig{ip("10.1.0.10"), 0, true, false, 3}));
    EXPECT_EQ(api.endpoints[1], (EndpointConfig{ip("10.1.0.11"), 0, false, true, 1}));
    EXPECT_EQ(config.services[1].endpoints[0], (EndpointConfig{ip("10.1.0.12"), 9090, true, false, 0}));
}

TEST(ConfigValid, OmittedKeysTakeTheirDefaults) {
    LoadResult result = load_with_base(R"(
[[routes]]
prefix = "198.19.0.0/16"
via = "198.18.0.254"

[[neighbors]]
address = "198.18.0.10"
mac = "02:00:00:00:00:10"

[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]
endpoints = [{ address = "198.18.0.10" }]
)");
    const Config& config = valid(result);
    ASSERT_TRUE(result.config.has_value());
    DataplaneConfig expected_dataplane;
    expected_dataplane.worker_lcores = {1};
    EXPECT_EQ(config.dataplane, expected_dataplane);
    EXPECT_EQ(config.conntrack, ConntrackConfig{});
    EXPECT_TRUE(config.eal.args.empty());
    EXPECT_EQ(config.snat.addresses, std::vector<uint32_t>{ip("198.18.0.1")});
    EXPECT_EQ(config.snat.port_min, 1024);
    EXPECT_EQ(config.snat.port_max, 65535);
    EXPECT_EQ(config.ports[0].vlan, 0);
    EXPECT_FALSE(config.ports[0].promiscuous);
    EXPECT_FALSE(config.ports[0].mac.has_value());
    EXPECT_EQ(config.routes[0].port, "p0");
    EXPECT_EQ(config.neighbors[0].port, "p0");
    const ServiceConfig& web = config.services[0];
    EXPECT_EQ(web.namespace_name, "default");
    EXPECT_EQ(web.ports[0], (ServicePortConfig{"", Protocol::Tcp, 80, 0}));
    EXPECT_EQ(web.endpoints[0], (EndpointConfig{ip("198.18.0.10"), 0, true, false, 1}));
}

TEST(ConfigValid, NoServicesIsAllowed) {
    EXPECT_TRUE(load(kMinimalConfig).errors.empty()) << describe(load(kMinimalConfig));
}

TEST(ConfigValid, EndpointConditionsAreAllAllowed) {
    LoadResult result = load_with_base(R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]
endpoints = [
  { address = "198.18.0.10", ready = true, terminating = true },
  { address = "198.18.0.11", ready = false, terminating = false },
  { address = "198.18.0.12", ready = false, terminating = true },
]
)");
    EXPECT_TRUE(result.errors.empty()) << describe(result);
}

// --- shape: keys, types, syntax of values, ranges ------------------------------------------

TEST(ConfigShape, UnknownKeySuggestsTheRightName) {
    std::string text = R"(
[dataplane]
workers = [1]
worker_lcores = [1]

[dataplan]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
promisc = true
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 3u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "dataplane.workers", "unknown key 'workers'; did you mean 'worker_lcores'?",
                          "workers"));
    EXPECT_TRUE(has_error(result, text, "dataplan", "did you mean 'dataplane'?", "dataplan]"));
    EXPECT_TRUE(has_error(result, text, "ports[0].promisc", "did you mean 'promiscuous'?", "promisc ="));
}

TEST(ConfigShape, UnknownKeyWithoutLookalikeListsAllowedKeys) {
    expect_single_error("[snat]\nzebra = 1\n", "snat.zebra", "unknown key 'zebra'; allowed here: addresses port_range",
                        "zebra");
}

TEST(ConfigShape, WrongTypes) {
    std::string text = std::string(kMinimalConfig) + R"(
[conntrack]
capacity = "big"
udp_timeout = 1.5

[[services]]
name = "web"
cluster_ip = 3232235777
ports = [{ port = 80 }]
endpoints = [{ address = "198.18.0.10", ready = "yes" }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 4u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "conntrack.capacity", "expected an integer, found a string", "\"big\""));
    EXPECT_TRUE(has_error(result, text, "conntrack.udp_timeout", "found a floating-point number", "1.5"));
    EXPECT_TRUE(has_error(result, text, "services[0].cluster_ip", "expected a string, found an integer", "3232235777"));
    EXPECT_TRUE(has_error(result, text, "services[0].endpoints[0].ready", "expected a boolean", "\"yes\""));
}

TEST(ConfigShape, SingleTableWhereAnArrayOfTablesBelongs) {
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[ports]
name = "p0"
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "ports", "write a [[ports]] table for each entry", "[ports]"));
}

TEST(ConfigShape, MalformedAddresses) {
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[[ports]]
name = "p0"
device = "net_null0"
mac = "02:00:00:00:00"
addresses = ["198.18.0.1/24", "198.18.1.1", "198.18.2.1/33"]

[[routes]]
prefix = "198.19.0.1/16"
via = "198.18.0.254/24"

[[neighbors]]
address = "198.18.0.010"
mac = "01:00:5e:00:00:01"

[[services]]
name = "web"
cluster_ip = "198.18.100.300"
ports = [{ port = 80 }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 8u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "ports[0].mac", "is not a MAC address", "\"02:00:00:00:00\""));
    EXPECT_TRUE(has_error(result, text, "ports[0].addresses[1]", "needs a prefix length", "\"198.18.1.1\""));
    EXPECT_TRUE(has_error(result, text, "ports[0].addresses[2]", "is not an IPv4 prefix", "\"198.18.2.1/33\""));
    EXPECT_TRUE(has_error(result, text, "routes[0].prefix", "host bits set; did you mean \"198.19.0.0/16\"?",
                          "\"198.19.0.1/16\""));
    EXPECT_TRUE(has_error(result, text, "routes[0].via", "is not an IPv4 address", "\"198.18.0.254/24\""));
    EXPECT_TRUE(has_error(result, text, "neighbors[0].address", "is not an IPv4 address", "\"198.18.0.010\""));
    EXPECT_TRUE(has_error(result, text, "neighbors[0].mac", "multicast", "\"01:00:5e"));
    EXPECT_TRUE(has_error(result, text, "services[0].cluster_ip", "is not an IPv4 address", "\"198.18.100.300\""));
}

TEST(ConfigShape, OutOfRangeNumbers) {
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[conntrack]
capacity = 100
tcp_syn_timeout = 0

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
vlan = 4095

[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 0, target_port = 70000 }]
endpoints = [{ address = "198.18.0.10", weight = 65536 }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 6u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "conntrack.capacity", "100 is out of range; allowed: 1024..67108864", "100"));
    EXPECT_TRUE(has_error(result, text, "conntrack.tcp_syn_timeout", "allowed: 1..604800", "0\n\n[[ports]]"));
    EXPECT_TRUE(has_error(result, text, "ports[0].vlan", "allowed: 0..4094", "4095"));
    EXPECT_TRUE(has_error(result, text, "services[0].ports[0].port", "allowed: 1..65535", "0, target"));
    EXPECT_TRUE(has_error(result, text, "services[0].ports[0].target_port", "70000 is out of range", "70000"));
    EXPECT_TRUE(has_error(result, text, "services[0].endpoints[0].weight", "allowed: 0..65535", "65536"));
}

TEST(ConfigShape, ProtocolMustBeTcpUdpOrSctp) {
    std::string text = std::string(kMinimalConfig) + R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ name = "a", protocol = "sctp", port = 80 }, { name = "b", protocol = "ICMP", port = 81 }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "services[0].ports[1].protocol",
                          "unknown protocol 'ICMP'; allowed: \"TCP\", \"UDP\", \"SCTP\"", "\"ICMP\""));
}

TEST(ConfigShape, NatModeMustBeKnown) {
    std::string text = "[dataplane]\nworker_lcores = [1]\nnat_mode = \"snat\"\n" + std::string(kPort);
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "dataplane.nat_mode", "unknown NAT mode 'snat'; allowed: \"fullnat\", \"dnat\"",
                          "\"snat\""));
}

TEST(ConfigShape, IdleModeMustBeKnown) {
    std::string text =
        "[dataplane]\nworker_lcores = [1]\nidle = \"sleep\"\nidle_max_sleep_us = 0\n" + std::string(kPort);
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 2u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "dataplane.idle", "unknown idle mode 'sleep'; allowed: \"poll\", \"adaptive\"",
                          "\"sleep\""));
}

TEST(ConfigShape, MaglevTableSizeMustBeAPrimeInRange) {
    for (std::string_view size : {"65536", "97", "1000033"}) {
        std::string text = "[dataplane]\nworker_lcores = [1]\nmaglev_max_table_size = " + std::string(size) + "\n" +
                           std::string(kPort);
        LoadResult result = load(text);
        EXPECT_EQ(result.errors.size(), 1u) << describe(result);
        EXPECT_TRUE(has_error(result, text, "dataplane.maglev_max_table_size",
                              "the Maglev table size must be a prime in 101..1000003", size));
    }
}

TEST(ConfigShape, MissingRequiredKeyPointsAtItsTable) {
    std::string text = std::string(kMinimalConfig) + R"(
[[services]]
name = "web"
ports = [{ name = "http" }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 2u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "services[0].cluster_ip",
                          "no cluster.service_cidr to allocate from; set cluster_ip or [cluster] "
                          "service_cidr",
                          "[[services]]"));
    EXPECT_TRUE(has_error(result, text, "services[0].ports[0].port", "missing required key 'port'", "{ name"));
}

TEST(ConfigShape, SyntaxErrorReportsLineAndColumn) {
    LoadResult result = load("[dataplane]\nworker_lcores = [1,\nnat_mode = \"dnat\"\n");
    ASSERT_EQ(result.errors.size(), 1u) << describe(result);
    const ConfigError& error = result.errors[0];
    EXPECT_EQ(error.file, kSource);
    EXPECT_EQ(error.line, 3u);  // the unclosed array swallows line 3 and fails inside it
    EXPECT_EQ(error.column, 3u);
    EXPECT_NE(error.message.find("TOML syntax error"), std::string::npos) << error.message;
    EXPECT_NE(error.to_string().find("test.toml:3:"), std::string::npos) << error.to_string();
}

// --- rules across fields -------------------------------------------------------------------

TEST(ConfigRules, WorkerLcoresMustBeNonEmptyAndDistinct) {
    std::string port(kPort);
    std::string empty = "[dataplane]\nworker_lcores = []\n" + port;
    EXPECT_TRUE(has_error(load(empty), empty, "dataplane.worker_lcores", "at least one worker lcore", "[]"));
    std::string omitted = "# no [dataplane] table: errors point at the top of the file\n" + port;
    EXPECT_TRUE(has_error(load(omitted), omitted, "dataplane.worker_lcores", "at least one worker lcore", "# no"));
    std::string twice = "[dataplane]\nworker_lcores = [1, 2, 1]\n" + port;
    EXPECT_TRUE(has_error(load(twice), twice, "dataplane.worker_lcores[2]", "lcore 1 is listed twice", "1]"));
}

TEST(ConfigRules, SnatPortRange) {
    expect_single_error("[snat]\nport_range = [2000, 1000]\n", "snat.port_range", "min 2000 is greater than max 1000",
                        "[2000");
    std::string text = R"(
[dataplane]
worker_lcores = [1, 2]

[snat]
port_range = [1024, 1100]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "snat.port_range",
                          "77 ports split across 2 workers is too few; each worker needs at least 64", "[1024"));
}

// Admission protection of half-open entries (dataplane/half_open_admission.h): 0 (off) unless
// given, milliseconds up to a minute.
TEST(ConfigRules, HalfOpenMinIdleIsMillisecondsUpToAMinute) {
    EXPECT_EQ(valid(load_with_base("")).conntrack.half_open_min_idle_ms, 0u);
    EXPECT_EQ(valid(load_with_base("[conntrack]\nhalf_open_min_idle_ms = 10\n")).conntrack.half_open_min_idle_ms, 10u);
    expect_single_error("[conntrack]\nhalf_open_min_idle_ms = 60001\n", "conntrack.half_open_min_idle_ms",
                        "allowed: 0..60000", "60001\n");
}

// An unanswered UDP flow may not outlive an answered one. Omitted, its timeout follows a shorter
// udp_timeout, so a file written before the key existed stays valid.
TEST(ConfigRules, UdpUnrepliedTimeoutIsAtMostUdpTimeout) {
    expect_single_error("[conntrack]\nudp_timeout = 20\nudp_unreplied_timeout = 21\n",
                        "conntrack.udp_unreplied_timeout", "21 is longer than conntrack.udp_timeout (20)", "21");
    EXPECT_EQ(valid(load_with_base("[conntrack]\nudp_timeout = 20\nudp_unreplied_timeout = 20\n"))
                  .conntrack.udp_unreplied_timeout_s,
              20u);
    EXPECT_EQ(valid(load_with_base("[conntrack]\nudp_timeout = 10\n")).conntrack.udp_unreplied_timeout_s, 10u);
    EXPECT_EQ(valid(load_with_base("[conntrack]\nudp_timeout = 60\n")).conntrack.udp_unreplied_timeout_s, 30u);
    expect_single_error("[conntrack]\nudp_unreplied_timeout = 0\n", "conntrack.udp_unreplied_timeout",
                        "allowed: 1..604800", "0\n");
}

TEST(ConfigRules, SnatAddressMustBeOurs) {
    expect_single_error("[snat]\naddresses = [\"198.18.0.1\", \"198.18.0.9\"]\n", "snat.addresses[1]",
                        "198.18.0.9 is not one of the ports' own addresses", "\"198.18.0.9\"");
}

TEST(ConfigRules, NoPortsDefined) {
    std::string text = "[dataplane]\nworker_lcores = [1]\n";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "ports", "no ports defined", "[dataplane]"));
}

TEST(ConfigRules, DuplicatePortNamesAndAddresses) {
    expect_single_error("[[ports]]\nname = \"p0\"\ndevice = \"net_null1\"\naddresses = [\"10.0.0.1/8\"]\n",
                        "ports[1].name", "duplicate port name 'p0' (also ports[0])", "\"p0\"\ndevice = \"net_null1");
    expect_single_error("[[ports]]\nname = \"p1\"\ndevice = \"net_null1\"\naddresses = [\"198.18.0.1/16\"]\n",
                        "ports[1].addresses[0]", "198.18.0.1 is already used at ports[0].addresses[0]",
                        "\"198.18.0.1/16\"");
}

TEST(ConfigRules, RouteAndNeighborPorts) {
    std::string text = std::string(kMinimalConfig) + R"(
[[routes]]
prefix = "10.0.0.0/8"
via = "192.0.2.1"

[[routes]]
prefix = "10.1.0.0/16"
via = "198.18.0.254"
port = "p9"

[[neighbors]]
address = "198.18.0.10"
mac = "02:00:00:00:00:10"
port = "uplink"

[[neighbors]]
address = "203.0.113.5"
mac = "02:00:00:00:00:11"
port = "p0"
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 4u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "routes[0].via",
                          "192.0.2.1 is not inside any port's connected subnet (p0: 198.18.0.1/24)", "\"192.0.2.1\""));
    EXPECT_TRUE(has_error(result, text, "routes[1].port", "unknown port 'p9'; defined ports: p0", "\"p9\""));
    EXPECT_TRUE(has_error(result, text, "neighbors[0].port", "unknown port 'uplink'", "\"uplink\""));
    EXPECT_TRUE(has_error(result, text, "neighbors[1].address",
                          "203.0.113.5 is not inside a connected subnet of port p0", "\"203.0.113.5\""));
}

TEST(ConfigRules, DuplicateServices) {
    std::string text = std::string(kMinimalConfig) + R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]

[[services]]
name = "web"
namespace = "default"
cluster_ip = "198.18.100.2"
ports = [{ port = 80 }]

[[services]]
name = "web2"
cluster_ip = "198.18.100.1"
ports = [{ protocol = "UDP", port = 80 }, { port = 0x50 }]

[[services]]
name = "web3"
cluster_ip = "198.18.100.3"
ports = [{ name = "a", port = 80 }, { name = "b", port = 0x0050 }]
)";
    LoadResult result = load(text);
    EXPECT_TRUE(has_error(result, text, "services[1].name", "duplicate service default/web (also services[0])",
                          "\"web\"\nnamespace"));
    // Kubernetes gives every service its own IP: sharing one is an error even on other ports,
    // and reported once, not again for each port.
    EXPECT_TRUE(has_error(result, text, "services[2].cluster_ip",
                          "198.18.100.1 is already the cluster IP of service default/web "
                          "(services[0]); each service needs its own cluster IP",
                          "\"198.18.100.1\"\nports = [{ protocol"));
    EXPECT_TRUE(has_error(result, text, "services[2].ports[0].name", "must name each one", "{ protocol"));
    EXPECT_TRUE(has_error(result, text, "services[3].ports[1].port",
                          "port 80/TCP is defined twice in this service (also services[3].ports[0])", "0x0050"));
    EXPECT_EQ(result.errors.size(), 5u) << describe(result);  // services[2].ports[1].name too
}

TEST(ConfigRules, DuplicateServicePortNames) {
    std::string extra = R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ name = "http", port = 80 }, { name = "http", port = 8080 }]
)";
    expect_single_error(extra, "services[0].ports[1].name",
                        "duplicate port name 'http' in this service (also services[0].ports[0])",
                        "\"http\", port = 8080");
}

TEST(ConfigRules, DuplicateEndpoints) {
    std::string extra = R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]
endpoints = [{ address = "198.18.0.10", port = 8080 }, { address = "198.18.0.10", port = 8081 },
             { address = "198.18.0.10", port = 8080 }]
)";
    expect_single_error(extra, "services[0].endpoints[2]",
                        "duplicate endpoint 198.18.0.10:8080 (also services[0].endpoints[0])",
                        "{ address = \"198.18.0.10\", port = 8080 }]");
}

TEST(ConfigRules, EndpointPortIsAmbiguousWithSeveralServicePorts) {
    std::string extra = R"(
[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ name = "http", port = 80 }, { name = "https", port = 443 }]
endpoints = [{ address = "198.18.0.10", port = 8080 }]
)";
    expect_single_error(extra, "services[0].endpoints[0].port",
                        "ambiguous: the service has 2 ports; leave the endpoint port out and set target_port", "8080");
}

TEST(ConfigRules, ServiceWithoutPorts) {
    std::string extra = "[[services]]\nname = \"web\"\ncluster_ip = \"198.18.100.1\"\nports = []\n";
    expect_single_error(extra, "services[0].ports", "no ports defined; a service needs at least one port", "[]");
}

TEST(ConfigRules, ClusterIpMustNotBeOurs) {
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[snat]
addresses = ["198.18.0.2"]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24", "198.18.0.2/24"]

[[services]]
name = "a"
cluster_ip = "198.18.0.1"
ports = [{ port = 80 }]

[[services]]
name = "b"
cluster_ip = "198.18.0.2"
ports = [{ port = 80 }]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 2u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "services[0].cluster_ip",
                          "198.18.0.1 is an address of port p0; a cluster IP must not be one of the gateway's own",
                          "\"198.18.0.1\"\n"));
    EXPECT_TRUE(has_error(result, text, "services[1].cluster_ip",
                          "198.18.0.2 is an address of port p0 and an SNAT address", "\"198.18.0.2\"\nports"));
}

TEST(ConfigRules, ServiceCidrsMustNotHoldOurAddresses) {
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[cluster]
service_cidr = ["198.18.0.0/24", "2001:db8:1::/112"]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
)";
    LoadResult result = load(text);
    EXPECT_EQ(result.errors.size(), 2u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "cluster.service_cidr",
                          "198.18.0.0/24 holds 198.18.0.1, an address of port p0; the service CIDR must not hold",
                          "[\"198.18.0.0/24\""));
    EXPECT_TRUE(has_error(result, text, "cluster.service_cidr",
                          "2001:db8:1::/112 holds 2001:db8:1::1, an address of port p0", "[\"198.18.0.0/24\""));
}

// --- reporting -----------------------------------------------------------------------------

TEST(ConfigReporting, EveryErrorIsReportedInFileOrder) {
    std::string text = R"(
[dataplane]
worker_lcores = [1, 1]
nat_mode = "masquerade"

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
vlan = -1

[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80, protocol = "QUIC" }]
extra = true
)";
    LoadResult result = load(text);
    ASSERT_EQ(result.errors.size(), 5u) << describe(result);
    EXPECT_EQ(result.errors[0].field, "dataplane.worker_lcores[1]");
    EXPECT_EQ(result.errors[1].field, "dataplane.nat_mode");
    EXPECT_EQ(result.errors[2].field, "ports[0].vlan");
    EXPECT_EQ(result.errors[3].field, "services[0].ports[0].protocol");
    EXPECT_EQ(result.errors[4].field, "services[0].extra");
    for (size_t i = 1; i < result.errors.size(); ++i) {
        EXPECT_GT(result.errors[i].line, result.errors[i - 1].line);
    }
}

TEST(ConfigReporting, OneBadValueDoesNotCascade) {
    // The port's only address is malformed: routes, neighbors and SNAT cannot be checked
    // against it, and are not blamed for it.
    std::string text = R"(
[dataplane]
worker_lcores = [1]

[snat]
addresses = ["198.18.0.1"]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/2x"]

[[routes]]
prefix = "198.19.0.0/16"
via = "198.18.0.254"

[[neighbors]]
address = "198.18.0.254"
mac = "02:00:00:00:00:fe"

[[services]]
name = "web"
cluster_ip = "198.18.100.1"
ports = [{ port = 80 }]
)";
    LoadResult result = load(text);
    ASSERT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_TRUE(has_error(result, text, "ports[0].addresses[0]", "is not an IPv4 prefix", "\"198.18.0.1/2x\""));
}

TEST(ConfigReporting, ToStringFormat) {
    ConfigError error{"gw.toml", 12, 5, "services[2].ports[0].target_port", "70000 is out of range"};
    EXPECT_EQ(error.to_string(), "gw.toml:12:5: services[2].ports[0].target_port: 70000 is out of range");
    ConfigError whole_file{"gw.toml", 0, 0, "", "cannot open the config file: No such file or directory"};
    EXPECT_EQ(whole_file.to_string(), "gw.toml: cannot open the config file: No such file or directory");
}

TEST(ConfigReporting, MissingFileNamesThePath) {
    std::string path = "/nonexistent/vipgate/gateway.toml";
    LoadResult result = load_config_file(path);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_FALSE(result.config.has_value());
    EXPECT_EQ(result.errors[0].file, path);
    EXPECT_NE(result.errors[0].to_string().find(path), std::string::npos);
    EXPECT_NE(result.errors[0].message.find("No such file or directory"), std::string::npos);

    LoadResult directory = load_config_file(std::filesystem::temp_directory_path().string());
    ASSERT_EQ(directory.errors.size(), 1u);
    EXPECT_NE(directory.errors[0].message.find("directory"), std::string::npos);
}

// A FIFO in the config file's place (no writer) and a device that never ends are refused at
// once: the daemon's reload must not block on them.
TEST(ConfigReporting, OnlyRegularFilesAreRead) {
    auto fifo =
        std::filesystem::temp_directory_path() / ("vipgate_config_fifo_" + std::to_string(::getpid()) + ".toml");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    const auto started = std::chrono::steady_clock::now();
    LoadResult from_fifo = load_config_file(fifo.string());
    const auto took = std::chrono::steady_clock::now() - started;
    std::filesystem::remove(fifo);
    ASSERT_EQ(from_fifo.errors.size(), 1u);
    EXPECT_EQ(from_fifo.errors[0].message,
              "cannot read the config file: it is a FIFO (vipgate reads regular files only)");
    EXPECT_LT(took, std::chrono::seconds(1));

    LoadResult from_device = load_config_file("/dev/zero");
    ASSERT_EQ(from_device.errors.size(), 1u);
    EXPECT_EQ(from_device.errors[0].message,
              "cannot read the config file: it is a character device (vipgate reads regular files only)");
}

TEST(ConfigReporting, FilesLargerThanTheLimitAreRefusedUnread) {
    auto path =
        std::filesystem::temp_directory_path() / ("vipgate_config_large_" + std::to_string(::getpid()) + ".toml");
    { std::ofstream(path) << "# a sparse file\n"; }
    std::filesystem::resize_file(path, kMaxConfigFileBytes + 1);
    LoadResult result = load_config_file(path.string());
    std::filesystem::remove(path);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].message, "the config file is " + std::to_string(kMaxConfigFileBytes + 1) +
                                            " bytes; the limit is " + std::to_string(kMaxConfigFileBytes));
}

TEST(ConfigReporting, FileErrorsCarryTheFileName) {
    auto path =
        std::filesystem::temp_directory_path() / ("vipgate_config_test_" + std::to_string(::getpid()) + ".toml");
    std::string text = std::string(kMinimalConfig) + "[[services]]\nname = \"web\"\n";
    std::ofstream(path) << text;
    LoadResult result = load_config_file(path.string());
    std::filesystem::remove(path);
    ASSERT_EQ(result.errors.size(), 2u) << describe(result);
    EXPECT_EQ(result.errors[0].file, path.string());
    EXPECT_EQ(result.errors[0].line, position_of(text, "[[services]]").first);
}

// --- restart-only differences --------------------------------------------------------------

TEST(ConfigRestart, DetectsEachRestartOnlyField) {
    const Config running = *load(kRich).config;
    auto differences = [&](auto change) {
        Config candidate = running;
        change(candidate);
        return restart_only_differences(running, candidate);
    };
    using List = std::vector<std::string>;
    EXPECT_EQ(differences([](Config&) {}), List{});
    EXPECT_EQ(differences([](Config& c) { c.eal.args.push_back("-v"); }), List{"eal.args"});
    EXPECT_EQ(differences([](Config& c) { c.dataplane.worker_lcores = {1, 3}; }), List{"dataplane.worker_lcores"});
    EXPECT_EQ(differences([](Config& c) { c.dataplane.mbufs_per_port = 4095; }), List{"dataplane.mbufs_per_port"});
    EXPECT_EQ(differences([](Config& c) { c.dataplane.rx_descriptors = 256; }), List{"dataplane.rx_descriptors"});
    EXPECT_EQ(differences([](Config& c) { c.dataplane.tx_descriptors = 256; }), List{"dataplane.tx_descriptors"});
    EXPECT_EQ(differences([](Config& c) { c.conntrack.capacity = 8192; }), List{"conntrack.capacity"});
    EXPECT_EQ(differences([](Config& c) { c.ports[1].device = "net_tap1"; }), List{"ports[1].device"});
    EXPECT_EQ(differences([](Config& c) { c.ports[0].mac.reset(); }), List{"ports[0].mac"});
    EXPECT_EQ(differences([](Config& c) { c.ports[0].vlan = 7; }), List{"ports[0].vlan"});
    EXPECT_EQ(differences([](Config& c) { c.ports[0].mtu = 9000; }), List{"ports[0].mtu"});
    EXPECT_EQ(differences([](Config& c) { c.ports[1].addresses.pop_back(); }), List{"ports[1].addresses"});
    EXPECT_EQ(differences([](Config& c) { c.ports.pop_back(); }), List{"ports (2 -> 1)"});
    EXPECT_EQ(differences([](Config& c) { c.snat.port_min = 2048; }), List{"snat"});
    EXPECT_EQ(differences([](Config& c) {
                  c.dataplane.nat_mode =
                      c.dataplane.nat_mode == NatMode::FullNat ? NatMode::DnatOnly : NatMode::FullNat;
              }),
              List{"dataplane.nat_mode"});
    EXPECT_EQ(differences([](Config& c) {
                  c.conntrack.capacity = 8192;
                  c.eal.args.clear();
              }),
              (List{"eal.args", "conntrack.capacity"}));
}

TEST(ConfigRestart, LiveChangesAreNotRestartOnly) {
    const Config running = *load(kRich).config;
    Config candidate = running;
    candidate.services.pop_back();
    candidate.services[0].endpoints[0].weight = 9;
    candidate.routes.clear();
    candidate.neighbors.clear();
    candidate.conntrack.udp_timeout_s = 30;
    candidate.conntrack.udp_unreplied_timeout_s = 10;
    candidate.dataplane.hash_seed = 1;
    candidate.limits.answer_rate = 10;
    candidate.limits.punt_burst = 7;
    EXPECT_TRUE(restart_only_differences(running, candidate).empty());
}

TEST(ConfigLimits, MtuAndLimitsDecodeWithTheirDefaultsAndBounds) {
    const LoadResult defaults = load_with_base("");
    ASSERT_TRUE(defaults.config) << describe(defaults);
    EXPECT_FALSE(defaults.config->ports[0].mtu.has_value()) << "omitted: the device's own";
    EXPECT_EQ(defaults.config->limits, LimitsConfig{});
    EXPECT_EQ(defaults.config->limits.answer_rate, 1000u) << "Linux icmp_msgs_per_sec";
    EXPECT_EQ(defaults.config->limits.answer_burst, 50u) << "Linux icmp_msgs_burst";

    const LoadResult set = load(R"(
[dataplane]
worker_lcores = [1]
[limits]
answer_rate = 0
answer_burst = 5
punt_rate = 200
punt_burst = 20
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
mtu = 9000
)");
    ASSERT_TRUE(set.config) << describe(set);
    EXPECT_EQ(set.config->ports[0].mtu, std::optional<uint16_t>(9000));
    EXPECT_EQ(set.config->limits, (LimitsConfig{0, 5, 200, 20}));
    const LoadResult again = load(format_config(*set.config));
    ASSERT_TRUE(again.config) << describe(again);
    EXPECT_EQ(again.config->ports[0].mtu, set.config->ports[0].mtu);
    EXPECT_EQ(again.config->limits, set.config->limits);

    const std::string bad = R"(
[dataplane]
worker_lcores = [1]
[limits]
answer_burst = 0
punt_rate = 100000001
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
mtu = 67
)";
    const LoadResult refused = load(bad);
    EXPECT_EQ(refused.errors.size(), 3u) << describe(refused);
    EXPECT_TRUE(has_error(refused, bad, "limits.answer_burst", "allowed: 1..10000000", "0\npunt"));
    EXPECT_TRUE(has_error(refused, bad, "limits.punt_rate", "allowed: 0..100000000", "100000001"));
    EXPECT_TRUE(has_error(refused, bad, "ports[0].mtu", "allowed: 68..16000", "67"));
}

TEST(ConfigPorts, KernelInterfaceIsOptionalRoundTripsAndIsALinuxInterfaceName) {
    const LoadResult defaults = load_with_base("");
    ASSERT_TRUE(defaults.config) << describe(defaults);
    EXPECT_TRUE(defaults.config->ports[0].kernel_interface.empty()) << "omitted: no kernel interface";
    const LoadResult set = load(R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
kernel_interface = "vg-p0.x_1"
)");
    ASSERT_TRUE(set.config) << describe(set);
    EXPECT_EQ(set.config->ports[0].kernel_interface, "vg-p0.x_1");
    const LoadResult again = load(format_config(*set.config));
    ASSERT_TRUE(again.config) << describe(again);
    EXPECT_EQ(again.config->ports[0].kernel_interface, "vg-p0.x_1");
    Config changed = *set.config;
    changed.ports[0].kernel_interface = "vg-other";
    EXPECT_EQ(restart_only_differences(*set.config, changed), std::vector<std::string>{"ports[0].kernel_interface"});

    const std::string bad = R"(
[dataplane]
worker_lcores = [1]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
kernel_interface = "vg-a"
[[ports]]
name = "p1"
device = "net_null1"
addresses = ["198.18.2.1/24"]
kernel_interface = "vg p1"
[[ports]]
name = "p2"
device = "net_null2"
addresses = ["198.18.4.1/24"]
kernel_interface = "vg-a"
[[ports]]
name = "p3"
device = "net_null3"
addresses = ["198.18.6.1/24"]
kernel_interface = "vipgate-kernel-0"
)";
    const LoadResult refused = load(bad);
    EXPECT_EQ(refused.errors.size(), 3u) << describe(refused);
    EXPECT_TRUE(has_error(refused, bad, "ports[1].kernel_interface", "not a Linux interface name", "\"vg p1\""));
    EXPECT_TRUE(has_error(refused, bad, "ports[2].kernel_interface", "already used at ports[0].kernel_interface",
                          "\"vg-a\"\n[[ports]]\nname = \"p3\""));
    EXPECT_TRUE(has_error(refused, bad, "ports[3].kernel_interface", "1 to 15 characters", "\"vipgate-kernel-0\""));
}

TEST(ConfigAnnounce, OffByDefaultRoundTripsAndNeedsAKernelInterface) {
    const LoadResult defaults = load_with_base("");
    ASSERT_TRUE(defaults.config) << describe(defaults);
    EXPECT_FALSE(defaults.config->announce.enabled);
    const std::string good = R"(
[dataplane]
worker_lcores = [1]
[cluster]
service_cidr = "198.18.100.0/24"
[announce]
enabled = true
table = 4242
port = "p1"
aggregate = true
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
[[ports]]
name = "p1"
device = "net_null1"
addresses = ["198.18.2.1/24"]
kernel_interface = "vg-p1"
)";
    const LoadResult set = load(good);
    ASSERT_TRUE(set.config) << describe(set);
    EXPECT_EQ(set.config->announce, (AnnounceConfig{true, 4242, "p1", true}));
    const LoadResult again = load(format_config(*set.config));
    ASSERT_TRUE(again.config) << describe(again);
    EXPECT_EQ(again.config->announce, set.config->announce);
    Config changed = *set.config;
    changed.announce.table = 100;
    EXPECT_EQ(restart_only_differences(*set.config, changed), std::vector<std::string>{"announce"});

    const std::string bad = R"(
[dataplane]
worker_lcores = [1]
[announce]
enabled = true
table = 254
port = "p0"
aggregate = true
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
)";
    const LoadResult refused = load(bad);
    EXPECT_EQ(refused.errors.size(), 3u) << describe(refused);
    EXPECT_TRUE(has_error(refused, bad, "announce.table", "one of the kernel's own", "254"));
    EXPECT_TRUE(has_error(refused, bad, "announce.port", "has no kernel_interface", "\"p0\"\naggregate"));
    EXPECT_TRUE(has_error(refused, bad, "announce.aggregate", "cluster.service_cidr", "true\n[[ports]]"));

    const std::string none = R"(
[dataplane]
worker_lcores = [1]
[announce]
enabled = true
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
)";
    const LoadResult no_interface = load(none);
    EXPECT_EQ(no_interface.errors.size(), 1u) << describe(no_interface);
    EXPECT_TRUE(has_error(no_interface, none, "announce.enabled", "needs a port with a kernel_interface", "true"));
}

// --- text forms ----------------------------------------------------------------------------

TEST(ConfigText, AddressesRoundTrip) {
    EXPECT_EQ(format_ipv4(0xc6120001), "198.18.0.1");
    EXPECT_EQ(format_ipv4(0), "0.0.0.0");
    EXPECT_EQ(format_ipv4(0xffffffff), "255.255.255.255");
    EXPECT_EQ(parse_ipv4("198.18.0.1"), 0xc6120001u);
    for (std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1..3.4"}) {
        EXPECT_FALSE(parse_ipv4(bad).has_value()) << bad;
    }
    EXPECT_EQ(parse_ipv4_prefix("10.0.0.0/8"), (Ipv4Prefix{0x0a000000, 8}));
    EXPECT_EQ(parse_ipv4_prefix("10.0.0.1"), (Ipv4Prefix{0x0a000001, 32}));
    EXPECT_FALSE(parse_ipv4_prefix("10.0.0.0/").has_value());
    EXPECT_EQ(format_ipv4_prefix({0x0a000000, 8}), "10.0.0.0/8");
    EXPECT_EQ(parse_mac("02:AB:cd:00:00:01"), (MacAddress{0x02, 0xab, 0xcd, 0, 0, 1}));
    EXPECT_FALSE(parse_mac("02-ab-cd-00-00-01").has_value());
    EXPECT_FALSE(parse_mac("02:ab:cd:00:00:0g").has_value());
    EXPECT_EQ(format_mac({0x02, 0xab, 0xcd, 0, 0, 1}), "02:ab:cd:00:00:01");
}

}  // namespace
}  // namespace vipgate::config
