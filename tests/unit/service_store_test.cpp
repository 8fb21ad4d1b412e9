// ServiceStore: selectors, named ports, ClusterIP allocation, transactions.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/ip_allocator.h"
#include "config/service_store.h"

namespace vipgate::config {
namespace {

uint32_t ip(const char* text) {
    return *parse_ipv4(text);
}

ClusterConfig cluster(const char* cidr = "198.18.128.0/24") {
    ClusterConfig out;
    out.service_cidr = parse_ipv4_prefix(cidr);
    return out;
}

ServiceConfig service(const char* name, Labels selector, std::vector<ServicePortConfig> ports = {},
                      uint32_t cluster_ip = 0) {
    ServiceConfig out;
    out.name = name;
    out.selector = std::move(selector);
    out.cluster_ip = cluster_ip;
    out.ports = ports.empty() ? std::vector<ServicePortConfig>{{"http", Protocol::Tcp, 80, 8080, ""}} : ports;
    return out;
}

PodConfig pod(const char* name, const char* address, Labels labels, std::vector<NamedPort> ports = {}) {
    PodConfig out;
    out.name = name;
    out.address = ip(address);
    out.labels = std::move(labels);
    out.ports = std::move(ports);
    return out;
}

std::vector<uint32_t> endpoint_addresses(const ServiceStore& store, const std::string& key, size_t port = 0) {
    std::vector<uint32_t> out;
    auto found = store.resolved().find(key);
    if (found == store.resolved().end()) return out;
    for (const auto& endpoint : found->second.ports.at(port).endpoints) out.push_back(endpoint.address);
    return out;
}

std::string errors_of(const StoreResult& result) {
    std::string text;
    for (const auto& error : result.errors) text += error.to_string() + "\n";
    return text;
}

bool has_error(const StoreResult& result, const std::string& fragment) {
    return std::any_of(result.errors.begin(), result.errors.end(),
                       [&](const ConfigError& error) { return error.to_string().find(fragment) != std::string::npos; });
}

TEST(Selector, AllLabelsMustMatch) {
    EXPECT_TRUE(selector_matches({{"app", "web"}}, {{"app", "web"}, {"tier", "backend"}}));
    EXPECT_TRUE(selector_matches({{"app", "web"}, {"tier", "backend"}}, {{"app", "web"}, {"tier", "backend"}}));
    EXPECT_FALSE(selector_matches({{"app", "web"}, {"tier", "backend"}}, {{"app", "web"}}));
    EXPECT_FALSE(selector_matches({{"app", "web"}}, {{"app", "api"}}));
    EXPECT_FALSE(selector_matches({{"app", "web"}}, {}));
}

TEST(ServiceStore, SelectorPicksMatchingPodsOfItsNamespaceOnly) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    objects.services.push_back(service("web", Labels{{"app", "web"}, {"tier", "backend"}}));
    objects.pods.push_back(pod("a", "198.19.1.1", {{"app", "web"}, {"tier", "backend"}}));
    objects.pods.push_back(pod("b", "198.19.1.2", {{"app", "web"}}));  // missing tier
    objects.pods.push_back(pod("c", "198.19.1.3", {{"app", "web"}, {"tier", "backend"}, {"x", "y"}}));
    PodConfig elsewhere = pod("d", "198.19.1.4", {{"app", "web"}, {"tier", "backend"}});
    elsewhere.namespace_name = "other";
    objects.pods.push_back(elsewhere);
    StoreResult result = store.apply(objects, "test");
    ASSERT_TRUE(result.ok()) << errors_of(result);
    EXPECT_EQ(endpoint_addresses(store, "default/web"), (std::vector<uint32_t>{ip("198.19.1.1"), ip("198.19.1.3")}));
    EXPECT_EQ(store.matched_pods("default/web"), 2u);
    const auto& endpoint = store.resolved().at("default/web").ports[0].endpoints[0];
    EXPECT_EQ(endpoint.port, 8080);
    EXPECT_EQ(endpoint.pod, "a");
}

TEST(ServiceStore, RelabelledPodLeavesAndJoinsEndpoints) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    objects.services.push_back(service("web", {{"app", "web"}}));
    objects.services.push_back(service("api", {{"app", "api"}}));
    objects.pods.push_back(pod("a", "198.19.1.1", {{"app", "web"}}));
    objects.pods.push_back(pod("b", "198.19.1.2", {{"app", "web"}}));
    ASSERT_TRUE(store.apply(objects, "test").ok());

    StoreResult moved = store.apply({{}, {pod("b", "198.19.1.2", {{"app", "api"}})}, {}}, "test");
    ASSERT_TRUE(moved.ok()) << errors_of(moved);
    EXPECT_EQ(endpoint_addresses(store, "default/web"), std::vector<uint32_t>{ip("198.19.1.1")});
    EXPECT_EQ(endpoint_addresses(store, "default/api"), std::vector<uint32_t>{ip("198.19.1.2")});
    std::vector<std::string> changed = moved.changed_services;
    std::sort(changed.begin(), changed.end());
    EXPECT_EQ(changed, (std::vector<std::string>{"default/api", "default/web"}));
}

TEST(ServiceStore, NamedTargetPortResolvesPerPod) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    objects.services.push_back(service("web", {{"app", "web"}}, {{"http", Protocol::Tcp, 80, 0, "http-web"}}));
    objects.pods.push_back(pod("a", "198.19.1.1", {{"app", "web"}}, {{"http-web", Protocol::Tcp, 8080}}));
    objects.pods.push_back(pod("b", "198.19.1.2", {{"app", "web"}}, {{"http-web", Protocol::Tcp, 9090}}));
    objects.pods.push_back(pod("c", "198.19.1.3", {{"app", "web"}}, {{"metrics", Protocol::Tcp, 9100}}));
    objects.pods.push_back(pod("d", "198.19.1.4", {{"app", "web"}}, {{"http-web", Protocol::Udp, 8080}}));
    ASSERT_TRUE(store.apply(objects, "test").ok());
    const auto& endpoints = store.resolved().at("default/web").ports[0].endpoints;
    ASSERT_EQ(endpoints.size(), 2u) << "pods without the named port (or with it on another protocol) are not endpoints";
    EXPECT_EQ(endpoints[0].port, 8080);
    EXPECT_EQ(endpoints[1].port, 9090);
}

TEST(ServiceStore, EndpointSlicePortsMatchServicePortNames) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    ServiceConfig web = service("web", {}, {{"http", Protocol::Tcp, 80, 8080, ""}, {"dns", Protocol::Udp, 53, 53, ""}});
    web.selector.reset();
    objects.services.push_back(web);
    EndpointSliceConfig slice;
    slice.name = "web-abc";
    slice.service_name = "web";
    slice.ports = {{"http", Protocol::Tcp, 8081}};
    slice.endpoints = {{ip("198.19.1.1"), 0, true, false, 1, {}}, {ip("198.19.1.2"), 0, true, true, 1, {}}};
    objects.endpoint_slices.push_back(slice);
    ASSERT_TRUE(store.apply(objects, "test").ok());
    const ResolvedService& resolved = store.resolved().at("default/web");
    ASSERT_EQ(resolved.ports[0].endpoints.size(), 2u);
    EXPECT_EQ(resolved.ports[0].endpoints[0].port, 8081);
    EXPECT_TRUE(resolved.ports[0].endpoints[1].terminating);
    EXPECT_TRUE(resolved.ports[1].endpoints.empty()) << "the slice has no 'dns' port";

    StoreResult removed = store.remove("endpointslice", "default", "web-abc");
    ASSERT_TRUE(removed.ok());
    EXPECT_TRUE(store.resolved().at("default/web").ports[0].endpoints.empty());
}

TEST(ServiceStore, ApplyIsIdempotent) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    objects.services.push_back(service("web", {{"app", "web"}}));
    objects.pods.push_back(pod("a", "198.19.1.1", {{"app", "web"}}));
    StoreResult first = store.apply(objects, "test");
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first.changes[0].action, "created");
    StoreResult second = store.apply(objects, "test");
    ASSERT_TRUE(second.ok());
    for (const auto& change : second.changes) EXPECT_EQ(change.action, "unchanged") << change.name;
    EXPECT_TRUE(second.changed_services.empty());
}

TEST(Allocation, OmittedAddressIsAllocatedAndKeptForTheServicesLife) {
    ServiceStore store(cluster("198.18.128.0/29"), {});
    ASSERT_TRUE(store.apply({{service("web", {{"app", "web"}})}, {}, {}}, "test").ok());
    const uint32_t allocated = store.services().at("default/web").cluster_ip;
    EXPECT_GE(allocated, ip("198.18.128.1"));
    EXPECT_LE(allocated, ip("198.18.128.6"));
    // Re-applying without an address keeps it; naming the same address is fine.
    ASSERT_TRUE(store.apply({{service("web", {{"app", "x"}})}, {}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/web").cluster_ip, allocated);
    ASSERT_TRUE(store.apply({{service("web", {{"app", "x"}}, {}, allocated)}, {}, {}}, "test").ok());
    // Changing it is refused.
    StoreResult changed = store.apply({{service("web", {{"app", "x"}}, {}, allocated + 1)}, {}, {}}, "test");
    EXPECT_TRUE(has_error(changed, "immutable")) << errors_of(changed);
    EXPECT_EQ(store.services().at("default/web").cluster_ip, allocated);
}

TEST(Allocation, ExplicitAddressMustBeInRangeAndFree) {
    ServiceStore store(cluster("198.18.128.0/24"), {ip("198.18.128.9")});
    ASSERT_TRUE(store.apply({{service("web", {}, {}, ip("198.18.128.10"))}, {}, {}}, "test").ok());
    StoreResult taken = store.apply({{service("api", {}, {}, ip("198.18.128.10"))}, {}, {}}, "test");
    EXPECT_TRUE(has_error(taken, "already allocated to service default/web")) << errors_of(taken);
    StoreResult outside = store.apply({{service("api", {}, {}, ip("198.18.200.1"))}, {}, {}}, "test");
    EXPECT_TRUE(has_error(outside, "outside the service CIDR 198.18.128.0/24")) << errors_of(outside);
    StoreResult reserved = store.apply({{service("api", {}, {}, ip("198.18.128.9"))}, {}, {}}, "test");
    EXPECT_TRUE(has_error(reserved, "gateway's own")) << errors_of(reserved);
    StoreResult twice = store.apply(
        {{service("a", {}, {}, ip("198.18.128.20")), service("b", {}, {}, ip("198.18.128.20"))}, {}, {}}, "test");
    EXPECT_TRUE(has_error(twice, "also requested by service default/a")) << errors_of(twice);
    EXPECT_EQ(store.services().size(), 1u) << "refused requests change nothing";
}

TEST(Allocation, ExhaustionIsRefusedAndDeleteReleases) {
    ServiceStore store(cluster("198.18.128.0/30"), {});  // two usable addresses
    ASSERT_TRUE(store.apply({{service("a", {{"app", "a"}}), service("b", {{"app", "b"}})}, {}, {}}, "test").ok());
    StoreResult full = store.apply({{service("c", {{"app", "c"}})}, {}, {}}, "test");
    EXPECT_TRUE(has_error(full, "exhausted")) << errors_of(full);
    const uint32_t released = store.services().at("default/a").cluster_ip;
    ASSERT_TRUE(store.remove("service", "default", "a").ok());
    EXPECT_FALSE(store.allocator().in_use(released));
    ASSERT_TRUE(store.apply({{service("c", {{"app", "c"}})}, {}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/c").cluster_ip, released);
}

TEST(Allocation, NoCidrMeansExplicitAddressesOnly) {
    ServiceStore store(ClusterConfig{}, {});
    EXPECT_TRUE(store.apply({{service("web", {}, {}, ip("198.18.100.1"))}, {}, {}}, "test").ok());
    StoreResult missing = store.apply({{service("api", {})}, {}, {}}, "test");
    EXPECT_TRUE(has_error(missing, "no [cluster] service_cidr")) << errors_of(missing);
}

TEST(Allocation, HeadlessServicesGetNoAddressButAreResolvedForDns) {
    ServiceStore store(cluster(), {});
    ServiceConfig headless = service("db", {{"app", "db"}});
    headless.headless = true;
    ASSERT_TRUE(store.apply({{headless}, {pod("a", "198.19.1.1", {{"app", "db"}})}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/db").cluster_ip, 0u);
    EXPECT_EQ(store.allocator().used(), 0u);
    const ResolvedService& resolved = store.resolved().at("default/db");
    EXPECT_TRUE(resolved.headless);
    EXPECT_FALSE(resolved.serves_vip());
    EXPECT_EQ(endpoint_addresses(store, "default/db"), std::vector<uint32_t>{ip("198.19.1.1")});
    ASSERT_EQ(resolved.addresses.size(), 1u);
    EXPECT_EQ(resolved.addresses[0].address, ip("198.19.1.1"));
}

TEST(Headless, ReadinessChangesReachTheResolutionAndTheChangedList) {
    ServiceStore store(cluster(), {});
    ServiceConfig headless = service("db", {{"app", "db"}});
    headless.headless = true;
    ASSERT_TRUE(
        store
            .apply({{headless}, {pod("a", "198.19.1.1", {{"app", "db"}}), pod("b", "198.19.1.2", {{"app", "db"}})}, {}},
                   "test")
            .ok());
    PodConfig not_ready = pod("b", "198.19.1.2", {{"app", "db"}});
    not_ready.ready = false;
    StoreResult result = store.apply({{}, {not_ready}, {}}, "test");
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.changed_services, std::vector<std::string>{"default/db"});
    EXPECT_FALSE(store.resolved().at("default/db").addresses[1].ready);
}

TEST(Headless, PublishNotReadyAddressesMakesSelectedPodsReady) {
    ServiceStore store(cluster(), {});
    ServiceConfig headless = service("db", {{"app", "db"}});
    headless.headless = true;
    headless.publish_not_ready_addresses = true;
    PodConfig starting = pod("a", "198.19.1.1", {{"app", "db"}});
    starting.ready = false;
    ASSERT_TRUE(store.apply({{headless}, {starting}, {}}, "test").ok());
    EXPECT_TRUE(store.resolved().at("default/db").addresses[0].ready);
    EXPECT_TRUE(store.resolved().at("default/db").ports[0].endpoints[0].ready);
}

TEST(Headless, HostnamesComeFromSlicesAndFromPodsWhoseSubdomainIsTheService) {
    ServiceStore store(cluster(), {});
    ServiceConfig headless = service("db", {{"app", "db"}});
    headless.headless = true;
    ServiceConfig plain = service("web", {{"app", "db"}});  // a ClusterIP service names no endpoint
    PodConfig named = pod("db-0", "198.19.1.1", {{"app", "db"}});
    named.hostname = "db-0";
    named.subdomain = "db";
    PodConfig elsewhere = pod("db-1", "198.19.1.2", {{"app", "db"}});
    elsewhere.hostname = "db-1";
    elsewhere.subdomain = "other";
    ServiceConfig sliced;
    sliced.name = "peers";
    sliced.headless = true;
    EndpointSliceConfig slice;
    slice.name = "peers-1";
    slice.service_name = "peers";
    slice.endpoints.push_back({ip("198.19.2.1"), 0, true, false, 1, {}, "peer-a"});
    ASSERT_TRUE(store.apply({{headless, plain, sliced}, {named, elsewhere}, {slice}}, "test").ok());
    const auto& db = store.resolved().at("default/db");
    EXPECT_EQ(db.addresses[0].hostname, "db-0");
    EXPECT_EQ(db.addresses[1].hostname, "");
    EXPECT_EQ(db.ports[0].endpoints[0].hostname, "db-0");
    EXPECT_EQ(store.resolved().at("default/web").ports[0].endpoints[0].hostname, "");
    EXPECT_EQ(store.resolved().at("default/peers").addresses.at(0).hostname, "peer-a");
}

TEST(ExternalName, NoClusterIpNoEndpointsAndTypeChangesFreeOrTakeAnAddress) {
    ServiceStore store(cluster(), {});
    ServiceConfig alias;
    alias.name = "billing";
    alias.external_name = "billing.example.com";
    ASSERT_TRUE(store.apply({{alias}, {}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/billing").cluster_ip, 0u);
    EXPECT_EQ(store.allocator().used(), 0u);
    const ResolvedService& resolved = store.resolved().at("default/billing");
    EXPECT_EQ(resolved.external_name, "billing.example.com");
    EXPECT_FALSE(resolved.serves_vip());
    EXPECT_TRUE(resolved.ports.empty());

    // ExternalName -> ClusterIP allocates, ClusterIP -> ExternalName releases (as Kubernetes).
    ServiceConfig served = service("billing", {}, {}, ip("198.18.128.7"));
    ASSERT_TRUE(store.apply({{served}, {}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/billing").cluster_ip, ip("198.18.128.7"));
    EXPECT_TRUE(store.resolved().at("default/billing").serves_vip());
    ASSERT_TRUE(store.apply({{alias}, {}, {}}, "test").ok());
    EXPECT_EQ(store.allocator().used(), 0u);
    EXPECT_TRUE(store.apply({{service("other", {}, {}, ip("198.18.128.7"))}, {}, {}}, "test").ok())
        << "the address is free again";
}

ObjectSet with_dns(std::vector<uint32_t> addresses, std::vector<ServiceConfig> services = {}) {
    ObjectSet set;
    set.services = std::move(services);
    set.dns = DnsConfig{};
    set.dns->addresses = std::move(addresses);
    return set;
}

TEST(DnsAddresses, ReservedFromServicesExplicitOrAllocated) {
    ServiceStore store(cluster("198.18.128.0/30"), {ip("198.18.0.1")});
    ASSERT_TRUE(store.apply(with_dns({ip("198.18.128.1")}), "test").ok());
    EXPECT_EQ(store.dns_addresses(), std::set<uint32_t>{ip("198.18.128.1")});
    StoreResult taken = store.apply({{service("web", {}, {}, ip("198.18.128.1"))}, {}, {}}, "test");
    EXPECT_TRUE(has_error(taken, "is a DNS address")) << errors_of(taken);
    ASSERT_TRUE(store.apply({{service("api", {})}, {}, {}}, "test").ok());
    EXPECT_EQ(store.services().at("default/api").cluster_ip, ip("198.18.128.2")) << "the DNS address is skipped";
    StoreResult full = store.apply({{service("third", {})}, {}, {}}, "test");
    EXPECT_TRUE(has_error(full, "exhausted")) << errors_of(full);
}

TEST(DnsAddresses, RefusedWhenAGatewayAddressOrAServiceHoldsThem) {
    ServiceStore store(cluster(), {ip("198.18.0.1")});
    ASSERT_TRUE(store.apply({{service("web", {}, {}, ip("198.18.128.9"))}, {}, {}}, "test").ok());
    StoreResult own = store.apply(with_dns({ip("198.18.0.1")}), "test");
    EXPECT_TRUE(has_error(own, "dns.addresses[0]: 198.18.0.1 is one of the gateway's own addresses")) << errors_of(own);
    StoreResult service_ip = store.apply(with_dns({ip("198.18.128.5"), ip("198.18.128.9")}), "test");
    EXPECT_TRUE(has_error(service_ip, "dns.addresses[1]: 198.18.128.9 is the cluster IP of service default/web"))
        << errors_of(service_ip);
    EXPECT_TRUE(store.dns_addresses().empty()) << "refused whole";
    // Deleting the service in the same change frees its address (replace_all: a reload).
    ObjectSet reload = with_dns({ip("198.18.128.9")});
    ASSERT_TRUE(store.replace_all(reload, "reload").ok());
    EXPECT_EQ(store.services().count("default/web"), 0u);
    EXPECT_EQ(store.dns_addresses(), std::set<uint32_t>{ip("198.18.128.9")});
    // A reload without [dns] clears them; an apply without one keeps them.
    ASSERT_TRUE(store.apply({}, "test").ok());
    EXPECT_EQ(store.dns_addresses().size(), 1u);
    ASSERT_TRUE(store.replace_all({}, "reload").ok());
    EXPECT_TRUE(store.dns_addresses().empty());
}

TEST(Allocator, NextFitSkipsNetworkAndBroadcast) {
    ClusterIpAllocator allocator(*parse_ipv4_prefix("198.18.128.0/30"));
    EXPECT_EQ(allocator.capacity(), 2u);
    EXPECT_EQ(allocator.allocate(), ip("198.18.128.1"));
    EXPECT_EQ(allocator.allocate(), ip("198.18.128.2"));
    EXPECT_EQ(allocator.allocate(), std::nullopt);
    allocator.release(ip("198.18.128.1"));
    EXPECT_FALSE(allocator.claim(ip("198.18.128.3"))) << "broadcast";
    EXPECT_TRUE(allocator.claim(ip("198.18.128.1")));
    EXPECT_FALSE(allocator.claim(ip("198.18.128.1")));
}

TEST(ServiceStore, PodAddressesAreUnique) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(store.apply({{}, {pod("a", "198.19.1.1", {})}, {}}, "test").ok());
    StoreResult duplicate = store.apply({{}, {pod("b", "198.19.1.1", {})}, {}}, "test");
    EXPECT_TRUE(has_error(duplicate, "already the address of pod default/a")) << errors_of(duplicate);
    // Moving the address from a to b in one request is fine.
    StoreResult moved = store.apply({{}, {pod("a", "198.19.1.2", {}), pod("b", "198.19.1.1", {})}, {}}, "test");
    EXPECT_TRUE(moved.ok()) << errors_of(moved);
}

// A request's own conflicts, each reported in request order, and nothing of it taken.
TEST(ServiceStore, ConflictsInsideOneRequestAreRefusedWhole) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(store.apply({{}, {pod("kept", "198.19.1.9", {})}, {}}, "test").ok());
    StoreResult refused = store.apply({{},
                                       {pod("a", "198.19.1.1", {}), pod("b", "198.19.1.1", {}),
                                        pod("a", "198.19.1.3", {}), pod("c", "198.19.1.9", {})},
                                       {}},
                                      "test");
    ASSERT_EQ(refused.errors.size(), 3u) << errors_of(refused);
    EXPECT_EQ(refused.errors[0].message, "198.19.1.1 is also the address of pod default/a in this request");
    EXPECT_EQ(refused.errors[0].field, "pod default/b.address");
    EXPECT_EQ(refused.errors[1].message, "defined twice in this request");
    EXPECT_EQ(refused.errors[1].field, "pod default/a");
    EXPECT_EQ(refused.errors[2].message, "198.19.1.9 is already the address of pod default/kept");
    EXPECT_EQ(refused.errors[2].field, "pod default/c.address");
    EXPECT_EQ(store.pods().size(), 1u);
    // The addresses of the refused request stay free.
    EXPECT_TRUE(store.apply({{}, {pod("d", "198.19.1.1", {})}, {}}, "test").ok());
}

TEST(ServiceStore, DrainSetsWeightZeroAndUndrainRestores) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(
        store.apply({{service("web", {{"app", "web"}})}, {pod("a", "198.19.1.1", {{"app", "web"}})}, {}}, "t").ok());
    StoreResult drained = store.set_drained(ip("198.19.1.1"), true);
    ASSERT_TRUE(drained.ok()) << errors_of(drained);
    EXPECT_EQ(drained.changes[0].action, "drained");
    EXPECT_EQ(store.resolved().at("default/web").ports[0].endpoints[0].weight, 0u);
    ASSERT_TRUE(store.set_drained(ip("198.19.1.1"), false).ok());
    EXPECT_EQ(store.resolved().at("default/web").ports[0].endpoints[0].weight, 1u);
    EXPECT_TRUE(has_error(store.set_drained(ip("198.19.9.9"), true), "no pod or endpoint"));
}

TEST(ServiceStore, RefusedAdmissionRollsBackEverything) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(
        store.apply({{service("web", {{"app", "web"}})}, {pod("a", "198.19.1.1", {{"app", "web"}})}, {}}, "t").ok());
    const ServiceStore::Admission refuse = [](const auto&, const auto&) { return std::optional<std::string>("full"); };
    store.set_admission(refuse);
    const uint32_t used = store.allocator().used();
    StoreResult refused = store.apply({{service("api", {{"app", "web"}})},
                                       {pod("a", "198.19.1.5", {{"app", "web"}}), pod("b", "198.19.1.2", {})},
                                       {}},
                                      "t");
    EXPECT_TRUE(has_error(refused, "full"));
    store.set_admission(nullptr);
    EXPECT_EQ(store.services().count("default/api"), 0u);
    EXPECT_EQ(store.pods().count("default/b"), 0u);
    EXPECT_EQ(store.pods().at("default/a").address, ip("198.19.1.1"));
    EXPECT_EQ(store.allocator().used(), used);
    EXPECT_EQ(endpoint_addresses(store, "default/web"), std::vector<uint32_t>{ip("198.19.1.1")});
    // The indexes were restored too: a pod at .5 and the old address reuse work as before.
    StoreResult again = store.apply({{}, {pod("c", "198.19.1.5", {{"app", "web"}})}, {}}, "t");
    ASSERT_TRUE(again.ok()) << errors_of(again);
    EXPECT_EQ(endpoint_addresses(store, "default/web"), (std::vector<uint32_t>{ip("198.19.1.1"), ip("198.19.1.5")}));
}

// A refused bulk creation leaves nothing behind: no object, no index entry, no resolution.
TEST(ServiceStore, RefusedBulkCreationLeavesTheIndexesAsTheyWere) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(
        store.apply({{service("web", {{"app", "web"}})}, {pod("a", "198.19.1.1", {{"app", "web"}})}, {}}, "t").ok());
    ObjectSet bulk;
    for (int i = 0; i < 50; ++i) {
        const std::string name = std::string("s").append(std::to_string(i));
        bulk.services.push_back(service(name.c_str(), {{"app", name}}));
        const std::string address = std::string("198.19.2.").append(std::to_string(i + 1));
        std::string pod_name = name;
        pod_name += "-0";
        bulk.pods.push_back(pod(pod_name.c_str(), address.c_str(), {{"app", name}}));
    }
    bulk.pods.push_back(pod("b", "198.19.1.2", {{"app", "web"}}));  // joins an existing service
    store.set_admission([](const auto&, const auto&) { return std::optional<std::string>("full"); });
    EXPECT_TRUE(has_error(store.apply(bulk, "t"), "full"));
    store.set_admission(nullptr);
    EXPECT_EQ(store.services().size(), 1u);
    EXPECT_EQ(store.pods().size(), 1u);
    EXPECT_EQ(store.resolved().size(), 1u);
    EXPECT_EQ(store.matched_pods("default/web"), 1u);
    EXPECT_EQ(endpoint_addresses(store, "default/web"), std::vector<uint32_t>{ip("198.19.1.1")});
    // The same bulk goes through afterwards: nothing of the refused attempt is in the way.
    StoreResult applied = store.apply(bulk, "t");
    ASSERT_TRUE(applied.ok()) << errors_of(applied);
    EXPECT_EQ(store.matched_pods("default/s7"), 1u);
    EXPECT_EQ(endpoint_addresses(store, "default/s7"), std::vector<uint32_t>{ip("198.19.2.8")});
    EXPECT_EQ(store.matched_pods("default/web"), 2u);
}

// A key deleted and created again in one transaction comes back as it was when it is refused.
TEST(ServiceStore, RefusedDeleteAndRecreateRestoresTheOldObject) {
    ServiceStore store(cluster(), {});
    // The cluster's objects (a sync may delete and upsert the same key at once; the API may not).
    ASSERT_TRUE(
        store.sync({{service("web", {{"app", "web"}})}, {pod("a", "198.19.1.1", {{"app", "web"}})}, {}}, {}, "k")
            .rejected.empty());
    store.set_admission([](const auto&, const auto&) { return std::optional<std::string>("full"); });
    const SyncResult synced =
        store.sync({{}, {pod("a", "198.19.1.9", {{"app", "web"}})}, {}}, {{ObjectKind::Pod, "default/a"}}, "t");
    EXPECT_FALSE(synced.rejected.empty());
    store.set_admission(nullptr);
    EXPECT_EQ(store.pods().at("default/a").address, ip("198.19.1.1"));
    EXPECT_EQ(endpoint_addresses(store, "default/web"), std::vector<uint32_t>{ip("198.19.1.1")});
    EXPECT_EQ(store.matched_pods("default/web"), 1u);
}

TEST(ServiceStore, ReplaceAllDeletesWhatIsMissing) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(store.apply({{service("web", {{"app", "web"}}), service("api", {{"app", "api"}})}, {}, {}}, "t").ok());
    StoreResult replaced = store.replace_all({{service("web", {{"app", "web"}})}, {}, {}}, "t");
    ASSERT_TRUE(replaced.ok());
    EXPECT_EQ(store.services().size(), 1u);
    EXPECT_EQ(store.resolved().count("default/api"), 0u);
}

}  // namespace
// Origins: local objects (file, vipctl) win over the Kubernetes source's; a reload keeps the
// source's objects; a sync takes every valid object even when one is refused.
TEST(ServiceStoreOrigins, LocalObjectsShadowTheClustersAndReloadsKeepTheClusters) {
    ServiceStore store(cluster(), {});
    ObjectSet file;
    file.services.push_back(service("local", {{"app", "local"}}, {}, ip("198.18.128.5")));
    ASSERT_TRUE(store.replace_all(file, "vipgate.toml").ok());
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/local"), Origin::File);

    ObjectSet cluster_objects;
    cluster_objects.services.push_back(service("local", {{"app", "other"}}, {}, ip("198.18.128.6")));
    cluster_objects.services.push_back(service("remote", {{"app", "remote"}}, {}, ip("198.18.128.7")));
    SyncResult synced = store.sync(cluster_objects, {}, "kubernetes");
    EXPECT_TRUE(synced.rejected.empty());
    EXPECT_EQ(synced.shadowed, 1u);
    EXPECT_EQ(store.services().at("default/local").cluster_ip, ip("198.18.128.5"));  // the file's, untouched
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/remote"), Origin::Kubernetes);

    // A reload of the file keeps the cluster's objects; a sync cannot delete a local one.
    ASSERT_TRUE(store.replace_all(file, "vipgate.toml").ok());
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/remote"), Origin::Kubernetes);
    store.sync({}, {{ObjectKind::Service, "default/local"}}, "kubernetes");
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/local"), Origin::File);

    // vipctl takes an object over; deleting it forgets the origin.
    ObjectSet api;
    api.services.push_back(service("remote", {{"app", "remote"}}, {}, ip("198.18.128.7")));
    ASSERT_TRUE(store.apply(api, "request").ok());
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/remote"), Origin::Api);
    EXPECT_EQ(store.sync(cluster_objects, {}, "kubernetes").shadowed, 2u);
    ASSERT_TRUE(store.remove("service", "default", "remote").ok());
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/remote"), std::nullopt);
}

// Origins live in the objects' entries: a drain (an update in place) keeps them, and a refused
// transaction leaves every origin as it was, of the objects it deleted and of those it changed.
TEST(ServiceStoreOrigins, DrainsKeepOriginsAndRefusedTransactionsChangeNone) {
    ServiceStore store(cluster(), {});
    ASSERT_TRUE(
        store.sync({{service("web", {{"app", "web"}})}, {pod("a", "198.19.1.1", {{"app", "web"}})}, {}}, {}, "k")
            .rejected.empty());
    ASSERT_TRUE(store.apply({{}, {pod("b", "198.19.1.2", {{"app", "web"}})}, {}}, "request").ok());
    ASSERT_TRUE(store.set_drained(ip("198.19.1.1"), true).ok());
    EXPECT_EQ(store.pods().at("default/a").weight, 0u);
    EXPECT_EQ(store.origin(ObjectKind::Pod, "default/a"), Origin::Kubernetes) << "drained, still the cluster's";
    EXPECT_EQ(store.origin(ObjectKind::Pod, "default/b"), Origin::Api);

    store.set_admission([](const auto&, const auto&) { return std::optional<std::string>("full"); });
    // The cluster deletes pod a and changes its service; vipctl takes the service over and moves pod b.
    const SyncResult refused_sync =
        store.sync({{service("web", {{"app", "web"}, {"tier", "x"}})}, {}, {}}, {{ObjectKind::Pod, "default/a"}}, "k");
    EXPECT_EQ(refused_sync.rejected.size(), 2u);
    EXPECT_TRUE(has_error(
        store.apply({{service("web", {{"app", "other"}})}, {pod("b", "198.19.1.3", {{"app", "web"}})}, {}}, "request"),
        "full"));
    store.set_admission(nullptr);
    EXPECT_EQ(store.origin(ObjectKind::Pod, "default/a"), Origin::Kubernetes) << "deleted, then put back";
    EXPECT_EQ(store.origin(ObjectKind::Service, "default/web"), Origin::Kubernetes) << "changed, then put back";
    EXPECT_EQ(store.origin(ObjectKind::Pod, "default/b"), Origin::Api);
    EXPECT_EQ(store.pods().at("default/b").address, ip("198.19.1.2"));
    EXPECT_EQ(store.pods().at("default/a").weight, 0u);
}

TEST(ServiceStoreOrigins, SyncTakesTheValidObjectsWhenOneIsRefused) {
    ServiceStore store(cluster(), {});
    ObjectSet objects;
    objects.services.push_back(service("good", {{"app", "good"}}, {}, ip("198.18.128.9")));
    objects.services.push_back(service("outside", {{"app", "bad"}}, {}, ip("198.19.0.9")));  // not in the CIDR
    SyncResult synced = store.sync(objects, {}, "kubernetes");
    ASSERT_EQ(synced.rejected.size(), 1u);
    EXPECT_NE(synced.rejected[0].to_string().find("outside the service CIDR"), std::string::npos);
    EXPECT_TRUE(synced.result.ok());
    EXPECT_EQ(store.services().count("default/good"), 1u);
    EXPECT_EQ(store.services().count("default/outside"), 0u);
    EXPECT_EQ(synced.result.changed_services, std::vector<std::string>{"default/good"});

    SyncResult deleted =
        store.sync({}, {{ObjectKind::Service, "default/good"}, {ObjectKind::Service, "default/never"}}, "kubernetes");
    EXPECT_TRUE(deleted.rejected.empty());
    EXPECT_EQ(store.services().count("default/good"), 0u);
}

// The label postings' flat set: members survive growth and the backward shift of erase, in any
// order of inserts and erases (every other member erased, then inserted again).
TEST(PointerSet, KeepsExactlyItsMembersThroughGrowthAndErase) {
    std::vector<int> objects(5000);
    PointerSet<int> set;
    for (const int& object : objects) EXPECT_TRUE(set.insert(&object));
    EXPECT_FALSE(set.insert(&objects[7]));
    EXPECT_EQ(set.size(), objects.size());
    for (size_t i = 0; i < objects.size(); i += 2) EXPECT_TRUE(set.erase(&objects[i]));
    EXPECT_FALSE(set.erase(&objects[0]));
    EXPECT_EQ(set.size(), objects.size() / 2);
    for (size_t i = 0; i < objects.size(); ++i) EXPECT_EQ(set.contains(&objects[i]), i % 2 == 1) << i;
    size_t visited = 0;
    set.for_each([&](const int* member) {
        EXPECT_EQ((member - objects.data()) % 2, 1);
        ++visited;
    });
    EXPECT_EQ(visited, objects.size() / 2);
    for (size_t i = 0; i < objects.size(); i += 2) EXPECT_TRUE(set.insert(&objects[i]));
    for (size_t i = 1; i < objects.size(); i += 2) EXPECT_TRUE(set.erase(&objects[i]));
    for (size_t i = 0; i < objects.size(); ++i) EXPECT_EQ(set.contains(&objects[i]), i % 2 == 0) << i;
    for (size_t i = 0; i < objects.size(); i += 2) EXPECT_TRUE(set.erase(&objects[i]));
    EXPECT_TRUE(set.empty());
}

// The store's flat hash table: every key keeps its value through growth and the backward shift
// of erase; string keys are found by a view; sequential integers (pod addresses) spread.
TEST(FlatHashMap, KeepsExactlyItsEntriesThroughGrowthAndErase) {
    FlatHashMap<std::string, int> names;
    FlatHashMap<uint32_t, size_t> addresses;
    const size_t count = 5000;
    for (size_t i = 0; i < count; ++i) {
        auto [value, fresh] = names.try_emplace("default/pod-" + std::to_string(i));
        EXPECT_TRUE(fresh);
        *value = static_cast<int>(i);
        *addresses.try_emplace(uint32_t(0xC6120100 + i)).first = i;
    }
    EXPECT_FALSE(names.try_emplace(std::string_view("default/pod-7")).second);
    EXPECT_EQ(names.size(), count);
    for (size_t i = 0; i < count; i += 2) {
        EXPECT_TRUE(names.erase(std::string_view("default/pod-" + std::to_string(i))));
        EXPECT_TRUE(addresses.erase(uint32_t(0xC6120100 + i)));
    }
    EXPECT_FALSE(names.erase(std::string("default/pod-0")));
    EXPECT_EQ(names.size(), count / 2);
    for (size_t i = 0; i < count; ++i) {
        const int* name = names.find(std::string_view("default/pod-" + std::to_string(i)));
        const size_t* address = addresses.find(uint32_t(0xC6120100 + i));
        EXPECT_EQ(name != nullptr, i % 2 == 1) << i;
        EXPECT_EQ(address != nullptr, i % 2 == 1) << i;
        if (name != nullptr) {
            EXPECT_EQ(*name, static_cast<int>(i));
        }
        if (address != nullptr) {
            EXPECT_EQ(*address, i);
        }
    }
    size_t visited = 0;
    names.for_each([&](const std::string& key, int value) {
        EXPECT_EQ(key, "default/pod-" + std::to_string(value));
        EXPECT_EQ(value % 2, 1);
        ++visited;
    });
    EXPECT_EQ(visited, count / 2);
    for (size_t i = 1; i < count; i += 2)
        EXPECT_TRUE(names.erase(std::string_view("default/pod-" + std::to_string(i))));
    EXPECT_TRUE(names.empty());
    EXPECT_EQ(names.find(std::string_view("default/pod-1")), nullptr);

    FlatHashMap<uint32_t, size_t> moved = std::move(addresses);
    EXPECT_EQ(moved.size(), count / 2);
    EXPECT_NE(moved.find(uint32_t(0xC6120101)), nullptr);
    EXPECT_TRUE(addresses.empty());  // NOLINT(bugprone-use-after-move): a moved-from table is empty
    EXPECT_EQ(addresses.find(uint32_t(0xC6120101)), nullptr);
    EXPECT_TRUE(addresses.try_emplace(uint32_t(1)).second);
}

}  // namespace vipgate::config
