// Dual-stack services: ipFamilies, ipFamilyPolicy and clusterIPs as Kubernetes defines them,
// from both document formats, allocated from one CIDR per family, refused whole when wrong,
// and written back (dump) to what reads back equal. The manifests are the Kubernetes docs'.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/ip_allocator.h"
#include "config/objects.h"
#include "config/service_store.h"
#include "tests/support/source_files.h"
#include "tests/unit/config_test_support.h"

namespace vipgate::config {
namespace {

ClusterConfig ipv4_cluster() {
    ClusterConfig out;
    out.service_cidr = parse_ipv4_prefix("198.18.128.0/24");
    return out;
}

ObjectSet docs_manifests() {
    ObjectSet all;
    for (const char* name : {"dual-stack-preferred-svc.yaml", "dual-stack-preferred-ipfamilies-svc.yaml",
                             "dual-stack-ipfamilies-ipv6.yaml"}) {
        ObjectsResult result = load_kubernetes_yaml(test::manifest_text(name), name);
        EXPECT_TRUE(result.errors.empty()) << name << describe(result.errors);
        if (result.objects) all.services.push_back(result.objects->services.at(0));
    }
    return all;
}

ObjectsResult toml(const std::string& text) {
    return load_objects_toml(text, "test.toml");
}

const ServiceConfig& stored(const ServiceStore& store, const char* key) {
    return store.services().at(key);
}

TEST(Ipv6Text, ParsesAndFormatsRfc5952) {
    EXPECT_EQ(format_ipv6(ip6("2001:0DB8:0:0::0010")), "2001:db8::10");
    EXPECT_FALSE(parse_ipv6("2001:db8::1/64"));
    EXPECT_FALSE(parse_ipv6("198.18.0.1"));
    EXPECT_FALSE(parse_ipv6("fe80::1%eth0"));
    EXPECT_FALSE(parse_ipv6("2001:db8:::1"));
    auto prefix = parse_ipv6_prefix("2001:db8:1::/112");
    ASSERT_TRUE(prefix);
    EXPECT_EQ(prefix->length, 112);
    EXPECT_TRUE(ipv6_prefix_contains(*prefix, ip6("2001:db8:1::ffff")));
    EXPECT_FALSE(ipv6_prefix_contains(*prefix, ip6("2001:db8:1::1:0")));
    EXPECT_FALSE(parse_ipv6_prefix("2001:db8::/129"));
    EXPECT_FALSE(parse_ipv6_prefix("2001:db8::/064"));
}

TEST(ClusterIp6Allocator, NextFitInsideTheCidrSkippingFirstAndLast) {
    ClusterIp6Allocator allocator(*parse_ipv6_prefix("2001:db8:1::fff0/124"));
    EXPECT_EQ(allocator.allocate(), ip6("2001:db8:1::fff1"));
    EXPECT_TRUE(allocator.claim(ip6("2001:db8:1::fff2")));
    EXPECT_FALSE(allocator.claim(ip6("2001:db8:1::fff2")));
    EXPECT_FALSE(allocator.in_range(ip6("2001:db8:2::fff3")));  // same low bits, other prefix
    EXPECT_FALSE(allocator.in_range(ip6("2001:db8:1::fff0")));
    EXPECT_FALSE(allocator.in_range(ip6("2001:db8:1::ffff")));
    EXPECT_EQ(allocator.allocate(), ip6("2001:db8:1::fff3"));
    allocator.release(ip6("2001:db8:1::fff1"));
    EXPECT_EQ(allocator.allocate(), ip6("2001:db8:1::fff4"));  // next-fit: not the one just freed
    EXPECT_EQ(allocator.used(), 3u);
}

TEST(DualStackManifests, DocsExamplesDecode) {
    ObjectSet objects = docs_manifests();
    ASSERT_EQ(objects.services.size(), 3u);
    EXPECT_EQ(objects.services[0].ip_family_policy, IpFamilyPolicy::PreferDualStack);
    EXPECT_TRUE(objects.services[0].ip_families.empty());
    EXPECT_EQ(objects.services[1].ip_family_policy, IpFamilyPolicy::RequireDualStack);
    EXPECT_EQ(objects.services[1].ip_families, (std::vector{IpFamily::Ipv6, IpFamily::Ipv4}));
    EXPECT_EQ(objects.services[2].ip_family_policy, IpFamilyPolicy::SingleStack);
    EXPECT_EQ(objects.services[2].ip_families, std::vector{IpFamily::Ipv6});
}

TEST(DualStackManifests, KubectlOutputWithEveryFieldSet) {
    ObjectsResult result = load_kubernetes_yaml(R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 2001:db8:1::a
  clusterIPs: [2001:db8:1::a, 198.18.128.10]
  ipFamilies: [IPv6, IPv4]
  ipFamilyPolicy: PreferDualStack
  ports: [{port: 80}]
)",
                                                "kubectl.yaml");
    ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
    const ServiceConfig& service = result.objects->services.at(0);
    EXPECT_EQ(service.cluster_ip, ip4("198.18.128.10"));
    EXPECT_EQ(service.cluster_ip6, ip6("2001:db8:1::a"));
    EXPECT_EQ(service.ip_families, (std::vector{IpFamily::Ipv6, IpFamily::Ipv4}));
}

TEST(DualStackManifests, BadInputIsRefusedWithTheFieldNamed) {
    struct Case {
        const char* spec;
        const char* fragment;
    };
    for (const Case& c : {
             Case{"clusterIPs: [198.18.128.10, 2001:db8:1::a]\n  ipFamilies: [IPv6, IPv4]\n  ipFamilyPolicy: "
                  "PreferDualStack",
                  "spec.ipFamilies: does not match the cluster IPs"},
             Case{"clusterIP: 198.18.128.11\n  clusterIPs: [198.18.128.10]", "spec.clusterIPs: its first entry"},
             Case{"ipFamilies: [IPv4, IPv4]\n  ipFamilyPolicy: PreferDualStack", "IPv4 is listed twice"},
             Case{"clusterIPs: [2001:db8:1::a, 2001:db8:1::b]\n  ipFamilyPolicy: RequireDualStack",
                  "a second IPv6 address"},
             Case{"clusterIPs: [198.18.128.10, 2001:db8:1::a]", "need spec.ipFamilyPolicy PreferDualStack"},
             Case{"ipFamilies: [IPv4, IPv6]", "two IP families need"},
             Case{"clusterIP: 2001:db8:1::zz", "is not an IPv6 address"},
             Case{"ipFamilies: [IPv5]", "is not an IP family"},
             Case{"ipFamilyPolicy: DualStack", "is not an IP family policy"},
         }) {
        ObjectsResult result = load_kubernetes_yaml(
            std::string("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n  ") +
                c.spec + "\n",
            "bad.yaml");
        EXPECT_FALSE(result.objects) << c.spec;
        EXPECT_TRUE(mentions(result.errors, c.fragment)) << c.spec << describe(result.errors);
    }
}

TEST(DualStackStore, AllocatesOneAddressPerFamilyPrimaryFirst) {
    ServiceStore store(dual_cluster(), {});
    StoreResult result = store.apply(docs_manifests(), "docs");
    ASSERT_TRUE(result.ok()) << describe(result.errors);

    const ServiceConfig& preferred = stored(store, "default/my-service");
    EXPECT_EQ(preferred.ip_families, (std::vector{IpFamily::Ipv4, IpFamily::Ipv6}));
    EXPECT_EQ(preferred.cluster_ip, ip4("198.18.128.1"));
    EXPECT_EQ(preferred.cluster_ip6, ip6("2001:db8:1::1"));

    const ServiceConfig& v6_first = stored(store, "default/my-service-v6-first");
    EXPECT_EQ(v6_first.ip_families, (std::vector{IpFamily::Ipv6, IpFamily::Ipv4}));
    EXPECT_NE(v6_first.cluster_ip, 0u);
    EXPECT_EQ(v6_first.cluster_ip6, ip6("2001:db8:1::2"));

    const ServiceConfig& v6_only = stored(store, "default/my-service-v6");
    EXPECT_EQ(v6_only.ip_families, std::vector{IpFamily::Ipv6});
    EXPECT_EQ(v6_only.cluster_ip, 0u);
    EXPECT_EQ(v6_only.cluster_ip6, ip6("2001:db8:1::3"));
    // Each family with an address reaches the dataplane (NAT66, docs/ipv6.md step 3).
    EXPECT_TRUE(store.resolved().at("default/my-service").serves_vip());
    EXPECT_TRUE(store.resolved().at("default/my-service").serves_ipv6());  // PreferDualStack: both
    EXPECT_TRUE(store.resolved().at("default/my-service-v6").serves_vip());
    EXPECT_TRUE(store.resolved().at("default/my-service-v6").serves_ipv6());
    EXPECT_EQ(store.ipv6_cluster_ips(), 3u);

    // Re-applying the same manifests keeps every address (they are immutable, not re-allocated).
    StoreResult again = store.apply(docs_manifests(), "docs");
    ASSERT_TRUE(again.ok()) << describe(again.errors);
    EXPECT_TRUE(again.changed_services.empty());
    EXPECT_EQ(stored(store, "default/my-service").cluster_ip6, ip6("2001:db8:1::1"));
}

TEST(DualStackStore, PreferFallsBackAndRequireIsRefusedWithoutAnIpv6Cidr) {
    ServiceStore store(ipv4_cluster(), {});
    ObjectSet objects = docs_manifests();
    objects.services.resize(1);  // PreferDualStack
    ASSERT_TRUE(store.apply(objects, "docs").ok());
    EXPECT_EQ(stored(store, "default/my-service").ip_families, std::vector{IpFamily::Ipv4});
    EXPECT_TRUE(is_zero(stored(store, "default/my-service").cluster_ip6));

    ObjectSet require = docs_manifests();
    require.services.erase(require.services.begin());
    const ObjectSet before = store.objects();
    StoreResult result = store.apply(require, "docs");
    EXPECT_FALSE(result.ok());
    EXPECT_TRUE(mentions(result.errors,
                         "my-service-v6-first.ip_family_policy: RequireDualStack needs a cluster IP "
                         "of each family, and [cluster] service_cidr has no IPv6 CIDR"))
        << describe(result.errors);
    EXPECT_TRUE(mentions(result.errors, "no IPv6 [cluster] service_cidr to allocate from")) << describe(result.errors);
    EXPECT_EQ(store.objects(), before);  // refused whole: nothing changed
}

TEST(DualStackStore, GivenAddressesAreCheckedAgainstTheCidrAndEachOther) {
    ServiceStore store(dual_cluster(), {});
    auto apply = [&](const std::string& text) {
        ObjectsResult decoded = toml(text);
        EXPECT_TRUE(decoded.errors.empty()) << describe(decoded.errors);
        return store.apply(decoded.objects.value_or(ObjectSet{}), "test");
    };
    StoreResult outside = apply(R"([[services]]
name = "a"
cluster_ip = "2001:db8:2::1"
ports = [{ port = 80 }]
)");
    EXPECT_TRUE(mentions(outside.errors, "2001:db8:2::1 is outside the IPv6 service CIDR 2001:db8:1::/112"))
        << describe(outside.errors);

    ASSERT_TRUE(apply(R"([[services]]
name = "a"
cluster_ips = ["198.18.128.10", "2001:db8:1::10"]
ip_family_policy = "RequireDualStack"
ports = [{ port = 80 }]
)")
                    .ok());
    StoreResult taken = apply(R"([[services]]
name = "b"
cluster_ip = "2001:db8:1::10"
ports = [{ port = 80 }]
)");
    EXPECT_TRUE(mentions(taken.errors, "2001:db8:1::10 is already allocated to service default/a"))
        << describe(taken.errors);
    StoreResult moved = apply(R"([[services]]
name = "a"
cluster_ips = ["198.18.128.10", "2001:db8:1::11"]
ip_family_policy = "RequireDualStack"
ports = [{ port = 80 }]
)");
    EXPECT_TRUE(mentions(moved.errors, "cannot change from 2001:db8:1::10 to 2001:db8:1::11"))
        << describe(moved.errors);
    StoreResult primary = apply(R"([[services]]
name = "a"
ip_families = ["IPv6"]
ports = [{ port = 80 }]
)");
    EXPECT_TRUE(mentions(primary.errors, "the primary family cannot change from IPv4 to IPv6"))
        << describe(primary.errors);

    // Dropping the secondary family (back to SingleStack) frees its address, as in Kubernetes.
    ASSERT_TRUE(apply(R"([[services]]
name = "a"
ports = [{ port = 80 }]
)")
                    .ok());
    EXPECT_TRUE(is_zero(stored(store, "default/a").cluster_ip6));
    EXPECT_EQ(stored(store, "default/a").cluster_ip, ip4("198.18.128.10"));
    EXPECT_TRUE(apply(R"([[services]]
name = "b"
cluster_ip = "2001:db8:1::10"
ports = [{ port = 80 }]
)")
                    .ok());
}

// The gateway's own IPv6 addresses (a port's, SNAT6's) are never a ClusterIP: given, refused
// with the address named; allocating, skipped (and handed back, as IPv4's).
TEST(DualStackStore, TheGatewaysOwnIpv6AddressesAreNeverAClusterIp) {
    ClusterConfig cluster = dual_cluster();
    cluster.service_cidr_ipv6 = parse_ipv6_prefix("2001:db8:1::/126");  // ::1 and ::2 usable
    ServiceStore store(cluster, {}, {ip6("2001:db8:1::1"), ip6("2001:db8:9::1")});
    auto apply = [&](const std::string& text) {
        ObjectsResult decoded = toml(text);
        EXPECT_TRUE(decoded.errors.empty()) << describe(decoded.errors);
        return store.apply(decoded.objects.value_or(ObjectSet{}), "test");
    };
    for (const char* own : {"2001:db8:1::1", "2001:db8:9::1"}) {
        StoreResult given = apply(std::string(R"([[services]]
name = "a"
cluster_ip = ")") + own + R"("
ports = [{ port = 80 }]
)");
        EXPECT_TRUE(mentions(given.errors, std::string(own) + " is one of the gateway's own addresses"))
            << describe(given.errors);
    }
    EXPECT_TRUE(store.services().empty()) << "refused requests change nothing";
    ASSERT_TRUE(apply(R"([[services]]
name = "a"
ip_families = ["IPv6"]
ports = [{ port = 80 }]
)")
                    .ok());
    EXPECT_EQ(stored(store, "default/a").cluster_ip6, ip6("2001:db8:1::2"));
}

TEST(DualStackStore, AnIpv6AddressIsReleasedByExternalNameAndKeptFromHeadless) {
    ServiceStore store(dual_cluster(), {});
    auto apply = [&](const std::string& text) {
        ObjectsResult decoded = toml(text);
        EXPECT_TRUE(decoded.errors.empty()) << describe(decoded.errors);
        return store.apply(decoded.objects.value_or(ObjectSet{}), "test");
    };
    ASSERT_TRUE(apply("[[services]]\nname = \"a\"\ncluster_ip = \"2001:db8:1::10\"\nports = [{ port = 80 }]\n").ok());
    StoreResult headless = apply("[[services]]\nname = \"a\"\ncluster_ip = \"None\"\nports = [{ port = 80 }]\n");
    EXPECT_TRUE(mentions(headless.errors, "cannot change from 2001:db8:1::10 to None")) << describe(headless.errors);
    ASSERT_TRUE(apply("[[services]]\nname = \"a\"\nexternal_name = \"db.example.com\"\n").ok());
    EXPECT_EQ(store.ipv6_cluster_ips(), 0u);
    EXPECT_EQ(store.allocator6().used(), 0u);
    EXPECT_TRUE(apply("[[services]]\nname = \"b\"\ncluster_ip = \"2001:db8:1::10\"\nports = [{ port = 80 }]\n").ok());
}

TEST(DualStackRoundTrip, DumpReadsBackToTheSameObjectsAndStore) {
    ServiceStore store(dual_cluster(), {});
    ASSERT_TRUE(store.apply(docs_manifests(), "docs").ok());
    const std::string dumped = format_objects_toml(store.objects());
    EXPECT_NE(dumped.find("cluster_ips = [\"2001:db8:1::2\", \"198.18.128.2\"]"), std::string::npos) << dumped;
    ObjectsResult read = toml(dumped);
    ASSERT_TRUE(read.errors.empty()) << describe(read.errors) << dumped;
    EXPECT_EQ(*read.objects, store.objects());

    ServiceStore fresh(dual_cluster(), {});
    ASSERT_TRUE(fresh.apply(*read.objects, "dump").ok());
    EXPECT_EQ(format_objects_toml(fresh.objects()), dumped);
}

TEST(DualStackRoundTrip, ConfigFileWithTwoCidrs) {
    LoadResult loaded = load_config_string(R"(
[dataplane]
worker_lcores = [1]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]

[cluster]
service_cidr = ["198.18.128.0/24", "2001:db8:1::/112"]

[[services]]
name = "web"
ip_families = ["IPv6", "IPv4"]
ip_family_policy = "PreferDualStack"
ports = [{ port = 80 }]
)",
                                           "dual.toml");
    ASSERT_TRUE(loaded.config) << describe(loaded.errors);
    const std::string text = format_config(*loaded.config);
    EXPECT_NE(text.find("service_cidr = [\"198.18.128.0/24\", \"2001:db8:1::/112\"]"), std::string::npos) << text;
    LoadResult again = load_config_string(text, "dual.toml");
    ASSERT_TRUE(again.errors.empty()) << describe(again.errors);
    EXPECT_EQ(again.config->cluster, dual_cluster());
    EXPECT_EQ(again.config->services.at(0).ip_families, (std::vector{IpFamily::Ipv6, IpFamily::Ipv4}));
    EXPECT_EQ(format_config(*again.config), text);
}

TEST(DualStackRoundTrip, AnIpv4ServiceIsWrittenAsBefore) {
    ObjectsResult read = toml(R"([[services]]
name = "web"
cluster_ip = "198.18.128.5"
ports = [{ port = 80 }]
)");
    ASSERT_TRUE(read.errors.empty()) << describe(read.errors);
    const std::string text = format_objects_toml(*read.objects);
    EXPECT_EQ(text.find("ip_famil"), std::string::npos) << text;
    EXPECT_EQ(text.find("cluster_ips"), std::string::npos) << text;
}

TEST(DualStackConfig, BadCidrsAreRefused) {
    struct Case {
        const char* cidr;
        const char* fragment;
    };
    for (const Case& c : {
             Case{R"(["2001:db8:1::/112", "2001:db8:2::/112"])", "a second CIDR of the same family"},
             Case{R"("2001:db8::/64")", "is too large; an IPv6 service CIDR is at most a /108"},
             Case{R"("2001:db8:1::1/112")", "has host bits set; did you mean \"2001:db8:1::/112\"?"},
             Case{R"("2001:db8:1::/1120")", "is not an IPv6 prefix"},
         }) {
        LoadResult result = load_config_string(std::string("[cluster]\nservice_cidr = ") + c.cidr + "\n", "bad.toml");
        EXPECT_FALSE(result.config) << c.cidr;
        EXPECT_TRUE(mentions(result.errors, c.fragment)) << c.cidr << describe(result.errors);
    }
    LoadResult outside = load_config_string(R"(
[cluster]
service_cidr = ["198.18.128.0/24", "2001:db8:1::/112"]

[[services]]
name = "web"
cluster_ips = ["198.18.128.5", "2001:db8:9::5"]
ip_family_policy = "PreferDualStack"
ports = [{ port = 80 }]
)",
                                            "outside.toml");
    EXPECT_TRUE(mentions(outside.errors, "2001:db8:9::5 is outside the IPv6 cluster.service_cidr 2001:db8:1::/112"))
        << describe(outside.errors);
}

TEST(DualStackPods, PodIpsGiveBothAddressesAndRoundTrip) {
    // An IPv6-primary pod: the IPv4 entry of podIPs still makes it an IPv4 endpoint.
    ObjectsResult result = load_kubernetes_yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: app-1, labels: {app: web}}
status:
  podIP: 2001:db8:2::11
  podIPs: [{ip: 2001:db8:2::11}, {ip: 198.18.0.11}]
)",
                                                "pod.yaml");
    ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
    const PodConfig& pod = result.objects->pods.at(0);
    EXPECT_EQ(pod.address, ip4("198.18.0.11"));
    EXPECT_EQ(pod.address6, ip6("2001:db8:2::11"));
    const std::string dumped = format_objects_toml(*result.objects);
    EXPECT_NE(dumped.find("pod_ips = [\"198.18.0.11\", \"2001:db8:2::11\"]"), std::string::npos) << dumped;
    ObjectsResult read = toml(dumped);
    ASSERT_TRUE(read.errors.empty()) << describe(read.errors);
    EXPECT_EQ(*read.objects, *result.objects);

    ObjectsResult v6_only = toml("[[pods]]\nname = \"b\"\naddress = \"2001:db8:2::12\"\nlabels = {}\n");
    ASSERT_TRUE(v6_only.errors.empty()) << describe(v6_only.errors);
    EXPECT_EQ(v6_only.objects->pods.at(0).address, 0u);  // no IPv4 address: not an endpoint
    EXPECT_EQ(format_objects_toml(*toml(format_objects_toml(*v6_only.objects)).objects),
              format_objects_toml(*v6_only.objects));
}

TEST(DualStackPods, BadPodIpsAreRefused) {
    struct Case {
        const char* status;
        const char* fragment;
    };
    for (const Case& c : {
             Case{"podIP: 198.18.0.11\n  podIPs: [{ip: 198.18.0.12}]", "status.podIPs[0].ip: must be the pod address"},
             Case{"podIPs: [{ip: 198.18.0.11}, {ip: 198.18.0.12}]", "a second IPv4 address"},
             Case{"podIPs: [{ip: 2001:db8::1}, {ip: 2001:db8::1}]", "is listed twice"},
             Case{"podIPs: [{ip: 2001:db8::zz}]", "is not an IPv6 address"},
             Case{"podIPs: [{ip: \"::\"}]", "is not a unicast IPv6 address"},
         }) {
        ObjectsResult result = load_kubernetes_yaml(
            std::string("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus:\n  ") + c.status + "\n", "bad.yaml");
        EXPECT_FALSE(result.objects) << c.status;
        EXPECT_TRUE(mentions(result.errors, c.fragment)) << c.status << describe(result.errors);
    }
}

}  // namespace
}  // namespace vipgate::config
