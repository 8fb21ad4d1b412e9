// IPv6 endpoints that are not pods' (config/service_store_endpoints6.cpp, resolve_endpoints6):
// EndpointSlices of addressType IPv6 and a service's own IPv6 `endpoints`, decoded from both
// formats, refused where Kubernetes refuses them, resolved onto the IPv6 cluster IP, listed for
// headless services, and dumped so that they read back equal.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/objects.h"
#include "config/service_store.h"
#include "tests/support/source_files.h"
#include "tests/unit/config_test_support.h"

namespace vipgate::config {
namespace {

ObjectSet toml(const std::string& text) {
    ObjectsResult result = load_objects_toml(text, "test.toml");
    EXPECT_TRUE(result.errors.empty()) << describe(result.errors);
    return result.objects.value_or(ObjectSet{});
}

// "address:port ready/serving/terminating" per IPv6 endpoint of the service's first port.
std::vector<std::string> endpoints6(const ServiceStore& store, const std::string& key, size_t port = 0) {
    std::vector<std::string> out;
    for (const ResolvedEndpoint6& endpoint : store.resolved().at(key).ports.at(port).endpoints6) {
        std::string text = "[";  // built with += (GCC's false -Wrestrict on "literal" + std::string)
        text += format_ipv6(endpoint.address);
        text += "]:" + std::to_string(endpoint.port);
        text += endpoint.ready ? " serving" : " not-serving";
        if (endpoint.terminating) text += " terminating";
        out.push_back(std::move(text));
    }
    return out;
}

std::vector<std::string> endpoints4(const ServiceStore& store, const std::string& key, size_t port = 0) {
    std::vector<std::string> out;
    for (const ResolvedEndpoint& endpoint : store.resolved().at(key).ports.at(port).endpoints) {
        out.push_back(format_ipv4(endpoint.address) + ":" + std::to_string(endpoint.port));
    }
    return out;
}

using Strings = std::vector<std::string>;

TEST(Ipv6EndpointSlices, DocsManifestDecodesWithConditionsAndRoundTrips) {
    const std::string text = test::manifest_text("endpoint-slice-ipv6.yaml");
    ASSERT_FALSE(text.empty());
    ObjectsResult result = load_kubernetes_yaml(text, "endpoint-slice-ipv6.yaml");
    ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
    ASSERT_EQ(result.objects->endpoint_slices.size(), 2u);
    const EndpointSliceConfig& v4 = result.objects->endpoint_slices[0];
    const EndpointSliceConfig& v6 = result.objects->endpoint_slices[1];
    EXPECT_EQ(v4.address_type, IpFamily::Ipv4);
    EXPECT_EQ(v6.address_type, IpFamily::Ipv6);
    EXPECT_EQ(v6.service_name, "example");
    ASSERT_EQ(v6.endpoints.size(), 2u);
    EXPECT_EQ(v6.endpoints[0].address, 0u);
    EXPECT_EQ(v6.endpoints[0].address6, ip6("2001:db8:2::3"));
    EXPECT_EQ(v6.endpoints[0].hostname, "pod-1");
    EXPECT_TRUE(v6.endpoints[0].ready);
    EXPECT_TRUE(v6.endpoints[1].ready) << "serving: true";
    EXPECT_TRUE(v6.endpoints[1].terminating);

    const std::string dumped = format_objects_toml(*result.objects);
    EXPECT_NE(dumped.find("address_type = \"IPv6\""), std::string::npos) << dumped;
    EXPECT_NE(dumped.find("address = \"2001:db8:2::3\""), std::string::npos) << dumped;
    EXPECT_EQ(dumped.find("address_type = \"IPv4\""), std::string::npos) << "IPv4 slices are written as before";
    ObjectsResult read = load_objects_toml(dumped, "dump.toml");
    ASSERT_TRUE(read.errors.empty()) << describe(read.errors) << dumped;
    EXPECT_EQ(*read.objects, *result.objects);
}

TEST(Ipv6EndpointSlices, WrongFamiliesAndFqdnAreRefusedNamingTheField) {
    struct Case {
        const char* yaml;
        const char* fragment;
    };
    const Case cases[] = {
        {"addressType: FQDN\nendpoints: [{addresses: [example.com]}]\n", "addressType 'FQDN' is not supported"},
        {"addressType: IPv6\nendpoints: [{addresses: [198.18.2.3]}]\n",
         "endpoints[0].addresses[0]: is an IPv4 address and addressType is IPv6"},
        {"addressType: IPv4\nendpoints: [{addresses: [\"2001:db8:2::3\"]}]\n",
         "endpoints[0].addresses[0]: is an IPv6 address and addressType is IPv4"},
        {"addressType: IPv6\nendpoints: [{addresses: [\"ff02::1\"]}]\n", "not a unicast IPv6 address"},
    };
    for (const Case& each : cases) {
        const std::string text = std::string(
                                     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                                     "metadata: {name: s, labels: {kubernetes.io/service-name: web}}\n") +
                                 each.yaml;
        ObjectsResult result = load_kubernetes_yaml(text, "slice.yaml");
        EXPECT_FALSE(result.objects) << each.yaml;
        EXPECT_TRUE(mentions(result.errors, each.fragment)) << each.yaml << describe(result.errors);
    }
    ObjectsResult bad_type = load_objects_toml(
        "[[endpoint_slices]]\nname = \"s\"\nservice = \"web\"\naddress_type = \"FQDN\"\n", "test.toml");
    EXPECT_TRUE(mentions(bad_type.errors, "endpoint_slices[0].address_type: 'FQDN' is not supported"))
        << describe(bad_type.errors);
    ObjectsResult mixed = load_objects_toml(
        "[[endpoint_slices]]\nname = \"s\"\nservice = \"web\"\n"
        "endpoints = [{ address = \"198.18.2.3\" }, { address = \"2001:db8::3\" }]\n",
        "test.toml");
    EXPECT_TRUE(mentions(mixed.errors,
                         "endpoint_slices[0].endpoints[1].address: is an IPv6 address and "
                         "endpoint_slices[0].address_type is IPv4"))
        << describe(mixed.errors);
}

TEST(Ipv6EndpointSlices, FeedTheIpv6ClusterIpAsIpv4SlicesFeedTheIpv4One) {
    ServiceStore store(dual_cluster(), {});
    ObjectsResult docs = load_kubernetes_yaml(test::manifest_text("endpoint-slice-ipv6.yaml"), "docs");
    ASSERT_TRUE(docs.objects) << describe(docs.errors);
    StoreResult result = store.apply(*docs.objects, "docs");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    const ResolvedService& example = store.resolved().at("default/example");
    EXPECT_TRUE(example.serves_ipv6());
    EXPECT_EQ(endpoints4(store, "default/example"), (Strings{"198.18.2.3:80"}));
    EXPECT_EQ(endpoints6(store, "default/example"),
              (Strings{"[2001:db8:2::3]:80 serving", "[2001:db8:2::4]:80 serving terminating"}));

    // Several slices per family, ports by name (a slice without the service port's name
    // serves none of it), a not-serving endpoint kept as such; deleting a slice removes its
    // endpoints only.
    StoreResult more = store.apply(toml(R"(
[[services]]
name = "example"
ip_family_policy = "PreferDualStack"
ports = [{ name = "http", port = 80 }, { name = "admin", port = 9000 }]

[[endpoint_slices]]
name = "example-ghi"
service = "example"
address_type = "IPv6"
ports = [{ name = "http", port = 8080 }, { name = "admin", port = 9090 }]
endpoints = [{ address = "2001:db8:2::5", ready = false }]

[[endpoint_slices]]
name = "example-jkl"
service = "example"
address_type = "IPv6"
ports = [{ name = "metrics", port = 9100 }]
endpoints = [{ address = "2001:db8:2::6" }]
)"),
                                   "test");
    ASSERT_TRUE(more.ok()) << describe(more.errors);
    EXPECT_EQ(more.changed_services, (Strings{"default/example"}));
    EXPECT_EQ(endpoints6(store, "default/example", 0),
              (Strings{"[2001:db8:2::3]:80 serving", "[2001:db8:2::4]:80 serving terminating",
                       "[2001:db8:2::5]:8080 not-serving"}));
    EXPECT_EQ(endpoints6(store, "default/example", 1), (Strings{"[2001:db8:2::5]:9090 not-serving"}));
    EXPECT_EQ(endpoints4(store, "default/example", 1), Strings{}) << "the IPv4 slice has no admin port";

    ASSERT_TRUE(store.remove("endpointslice", "default", "example-def").ok());
    EXPECT_EQ(endpoints6(store, "default/example"), (Strings{"[2001:db8:2::5]:8080 not-serving"}));
    EXPECT_EQ(endpoints4(store, "default/example"), (Strings{"198.18.2.3:80"}));
}

TEST(Ipv6EndpointSlices, AreUnusedByAServiceWithoutAnIpv6ClusterIp) {
    ServiceStore store(dual_cluster(), {});
    StoreResult result = store.apply(toml(R"(
[[services]]
name = "v4"
ports = [{ name = "http", port = 80 }]

[[endpoint_slices]]
name = "v4-six"
service = "v4"
address_type = "IPv6"
ports = [{ name = "http", port = 80 }]
endpoints = [{ address = "2001:db8:2::3" }]
)"),
                                     "test");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_FALSE(store.resolved().at("default/v4").serves_ipv6());
    EXPECT_EQ(endpoints6(store, "default/v4"), Strings{}) << "as Kubernetes: a slice of a family the service lacks";
    EXPECT_EQ(endpoints4(store, "default/v4"), Strings{});
}

TEST(Ipv6ServiceEndpoints, AMixedListSplitsByFamily) {
    ServiceStore store(dual_cluster(), {});
    StoreResult result = store.apply(toml(R"(
[[services]]
name = "both"
ip_family_policy = "RequireDualStack"
ports = [{ name = "http", port = 80, target_port = "web" }]
endpoints = [
  { address = "198.18.2.10", ports = [{ name = "web", port = 8080 }] },
  { address = "2001:db8:2::10", ports = [{ name = "web", port = 8081 }] },
  { address = "2001:db8:2::11", ready = false, ports = [{ name = "web", port = 8080 }] },
  { address = "2001:db8:2::12", ports = [{ name = "other", port = 8080 }] },
]
)"),
                                     "test");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(endpoints4(store, "default/both"), (Strings{"198.18.2.10:8080"}));
    EXPECT_EQ(endpoints6(store, "default/both"),
              (Strings{"[2001:db8:2::10]:8081 serving", "[2001:db8:2::11]:8080 not-serving"}))
        << "a named target port resolves per endpoint; one without the name serves nothing";

    // The dump writes both families and reads back to the same store.
    const std::string dumped = format_objects_toml(store.objects());
    ObjectsResult read = load_objects_toml(dumped, "dump.toml");
    ASSERT_TRUE(read.errors.empty()) << describe(read.errors) << dumped;
    EXPECT_EQ(*read.objects, store.objects());
    ServiceStore fresh(dual_cluster(), {});
    ASSERT_TRUE(fresh.apply(*read.objects, "dump").ok());
    EXPECT_EQ(fresh.resolved(), store.resolved());
    EXPECT_EQ(format_objects_toml(fresh.objects()), dumped);
}

TEST(Ipv6ServiceEndpoints, AnAddressOfAFamilyTheServiceLacksIsRefusedAndNothingChanges) {
    ServiceStore store(dual_cluster(), {});
    ASSERT_TRUE(store
                    .apply(toml("[[services]]\nname = \"v4\"\nports = [{ port = 80 }]\n"
                                "endpoints = [{ address = \"198.18.2.10\" }]\n"),
                           "test")
                    .ok());
    const ObjectSet before = store.objects();
    StoreResult refused =
        store.apply(toml("[[services]]\nname = \"v4\"\nports = [{ port = 80 }]\n"
                         "endpoints = [{ address = \"198.18.2.10\" }, { address = \"2001:db8:2::10\" }]\n"),
                    "test");
    EXPECT_TRUE(mentions(refused.errors,
                         "service default/v4.endpoints[1].address: is an IPv6 address and the service "
                         "has no IPv6 cluster IP (ip_families [IPv4])"))
        << describe(refused.errors);
    EXPECT_EQ(store.objects(), before);

    StoreResult six = store.apply(toml("[[services]]\nname = \"v6\"\ncluster_ip = \"2001:db8:1::20\"\n"
                                       "ports = [{ port = 80 }]\nendpoints = [{ address = \"198.18.2.11\" }]\n"),
                                  "test");
    EXPECT_TRUE(mentions(six.errors,
                         "service default/v6.endpoints[0].address: is an IPv4 address and the service "
                         "has no IPv4 cluster IP (ip_families [IPv6])"))
        << describe(six.errors);
    EXPECT_EQ(store.objects(), before);

    // A service given its IPv6 family takes the same endpoints.
    StoreResult dual =
        store.apply(toml("[[services]]\nname = \"v4\"\nip_family_policy = \"PreferDualStack\"\n"
                         "ports = [{ port = 80 }]\n"
                         "endpoints = [{ address = \"198.18.2.10\" }, { address = \"2001:db8:2::10\" }]\n"),
                    "test");
    ASSERT_TRUE(dual.ok()) << describe(dual.errors);
    EXPECT_EQ(endpoints6(store, "default/v4"), (Strings{"[2001:db8:2::10]:80 serving"}));
}

TEST(Ipv6Headless, AddressesOfBothFamiliesFromEndpointsSlicesAndPods) {
    ServiceStore store(dual_cluster(), {});
    StoreResult result = store.apply(toml(R"(
[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }
ports = [{ name = "pg", port = 5432 }]

[[pods]]
name = "db-0"
pod_ips = ["198.18.2.20", "2001:db8:2::20"]
labels = { app = "db" }
hostname = "db-0"
subdomain = "db"

[[services]]
name = "peers"
cluster_ip = "None"
ports = [{ name = "gossip", port = 7946 }]
endpoints = [{ address = "2001:db8:2::30", hostname = "peer-a" }]

[[endpoint_slices]]
name = "peers-six"
service = "peers"
address_type = "IPv6"
ports = [{ name = "gossip", port = 7946 }]
endpoints = [{ address = "2001:db8:2::31" }, { address = "2001:db8:2::30", ready = false }]
)"),
                                     "test");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    const ResolvedService& db = store.resolved().at("default/db");
    ASSERT_EQ(db.addresses6.size(), 1u);
    EXPECT_EQ(db.addresses6[0].address, ip6("2001:db8:2::20"));
    EXPECT_EQ(db.addresses6[0].hostname, "db-0");
    EXPECT_EQ(db.addresses.at(0).address, ip4("198.18.2.20"));
    EXPECT_EQ(endpoints6(store, "default/db"), (Strings{"[2001:db8:2::20]:5432 serving"}));

    const ResolvedService& peers = store.resolved().at("default/peers");
    EXPECT_TRUE(peers.addresses.empty());
    ASSERT_EQ(peers.addresses6.size(), 2u) << "each address once";
    EXPECT_EQ(peers.addresses6[0].address, ip6("2001:db8:2::30"));
    EXPECT_TRUE(peers.addresses6[0].ready) << "the readiest entry of the address";
    EXPECT_EQ(peers.addresses6[0].hostname, "peer-a");
    EXPECT_EQ(peers.addresses6[1].address, ip6("2001:db8:2::31"));
    EXPECT_FALSE(peers.serves_vip());
}

}  // namespace
}  // namespace vipgate::config
