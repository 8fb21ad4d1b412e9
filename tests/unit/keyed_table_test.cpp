// KeyedTable (the store's hash-keyed services and pods): entries stay put, listings come in key
// order, and the store's own listings keep the order users read.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/keyed_table.h"
#include "config/service_store.h"

namespace vipgate::config {
namespace {

std::string pod_key(size_t i) {
    return "default/pod-" + std::to_string(i);
}

// The store's indexes point at entries: an entry keeps its address while others are inserted
// (the index grows many times) and erased (the backward shift moves index slots, not entries).
TEST(KeyedTable, EntriesKeepTheirAddressThroughGrowthAndErase) {
    KeyedTable<int> table;
    const size_t count = 5000;
    std::vector<const KeyedTable<int>::Entry*> addresses;
    for (size_t i = 0; i < count; ++i) addresses.push_back(&table.insert(pod_key(i), static_cast<int>(i)));
    EXPECT_EQ(table.size(), count);
    for (size_t i = 0; i < count; i += 2) EXPECT_TRUE(table.erase(pod_key(i)));
    EXPECT_FALSE(table.erase(pod_key(0)));
    EXPECT_EQ(table.size(), count / 2);
    for (size_t i = 0; i < count; ++i) {
        const KeyedTable<int>::Entry* found = table.find(pod_key(i));
        if (i % 2 == 0) {
            EXPECT_EQ(found, nullptr) << i;
            EXPECT_EQ(table.count(pod_key(i)), 0u);
            continue;
        }
        ASSERT_NE(found, nullptr) << i;
        EXPECT_EQ(found, addresses[i]) << i;
        EXPECT_EQ(found->first, pod_key(i));
        EXPECT_EQ(found->second, static_cast<int>(i));
        EXPECT_EQ(table.at(pod_key(i)), static_cast<int>(i));
    }
    EXPECT_THROW(table.at(pod_key(0)), std::out_of_range);
    EXPECT_THROW(table.insert(pod_key(1), 0), std::logic_error);
    EXPECT_EQ(table.at(pod_key(1)), 1) << "a refused duplicate leaves the entry as it was";
}

// Each entry carries its owner's Meta (the store's origins): fresh entries start from the value-
// initialised Meta, and a Meta stays with its entry while the index grows and shifts around it.
TEST(KeyedTable, MetaStaysWithItsEntry) {
    using Table = KeyedTable<int, int>;
    Table table;
    const size_t count = 3000;
    for (size_t i = 0; i < count; ++i) {
        Table::Entry& entry = table.insert(pod_key(i), static_cast<int>(i));
        EXPECT_EQ(Table::meta(entry), 0) << i;
        Table::meta(entry) = static_cast<int>(i) + 7;
    }
    for (size_t i = 0; i < count; i += 3) EXPECT_TRUE(table.erase(pod_key(i)));
    for (size_t i = 0; i < count; ++i) {
        const Table::Entry* found = table.find(pod_key(i));
        if (i % 3 == 0) {
            EXPECT_EQ(found, nullptr) << i;
            continue;
        }
        ASSERT_NE(found, nullptr) << i;
        EXPECT_EQ(Table::meta(*found), static_cast<int>(i) + 7) << i;
    }
    Table moved = std::move(table);
    EXPECT_TRUE(table.empty());
    EXPECT_EQ(table.find(pod_key(1)), nullptr);
    EXPECT_EQ(Table::meta(*moved.find(pod_key(1))), 8);
}

// The undo log erases an entry by a reference to the entry's own key.
TEST(KeyedTable, EraseByTheEntrysOwnKey) {
    KeyedTable<std::string> table;
    for (size_t i = 0; i < 100; ++i) table.insert(pod_key(i), "value");
    for (size_t i = 0; i < 100; i += 3) {
        const std::string& own_key = table.find(pod_key(i))->first;
        EXPECT_TRUE(table.erase(own_key));
    }
    for (size_t i = 0; i < 100; ++i) EXPECT_EQ(table.count(pod_key(i)), i % 3 == 0 ? 0u : 1u) << i;
}

// Listings are in key order whatever the order of inserts and erases; for_each sees every entry once.
TEST(KeyedTable, SortedListsInKeyOrder) {
    std::vector<size_t> order(2000);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(17));
    KeyedTable<size_t> table;
    for (size_t i : order) table.insert(pod_key(i), i);
    for (size_t i = 0; i < order.size(); i += 5) table.erase(pod_key(i));
    std::vector<std::string> expected;
    for (size_t i = 0; i < order.size(); ++i) {
        if (i % 5 != 0) expected.push_back(pod_key(i));
    }
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> listed;
    for (const auto* entry : table.sorted()) listed.push_back(entry->first);
    EXPECT_EQ(listed, expected);
    size_t visited = 0;
    table.for_each([&](const KeyedTable<size_t>::Entry& entry) {
        EXPECT_EQ(entry.first, pod_key(entry.second));
        ++visited;
    });
    EXPECT_EQ(visited, expected.size());

    KeyedTable<size_t> moved = std::move(table);
    EXPECT_EQ(moved.size(), expected.size());
    EXPECT_NE(moved.find(pod_key(1)), nullptr);
    EXPECT_TRUE(table.empty());  // NOLINT(bugprone-use-after-move): a moved-from table is empty
    EXPECT_EQ(table.find(pod_key(1)), nullptr);
}

// The dump (objects()) lists services and pods by "namespace/name", as the ordered maps did,
// whatever order they were applied in.
TEST(KeyedTable, StoreListingsStayInKeyOrder) {
    ClusterConfig cluster;
    cluster.service_cidr = parse_ipv4_prefix("198.18.128.0/24");
    ServiceStore store(cluster, {});
    ObjectSet objects;
    const std::vector<std::pair<const char*, const char*>> names = {
        {"prod", "web"}, {"default", "zeta"}, {"default", "api"}, {"prod", "api"}, {"default", "db"}};
    uint32_t address = *parse_ipv4("198.19.1.1");
    for (const auto& [namespace_name, name] : names) {
        ServiceConfig service;
        service.namespace_name = namespace_name;
        service.name = name;
        service.selector = Labels{{"app", name}};
        service.ports = {{"http", Protocol::Tcp, 80, 8080, ""}};
        objects.services.push_back(service);
        PodConfig pod;
        pod.namespace_name = namespace_name;
        pod.name = std::string(name) + "-0";
        pod.address = address++;
        pod.labels = {{"app", name}};
        objects.pods.push_back(pod);
    }
    ASSERT_TRUE(store.apply(objects, "t").ok());
    const ObjectSet dumped = store.objects();
    std::vector<std::string> services;
    for (const auto& service : dumped.services) services.push_back(object_key(service.namespace_name, service.name));
    std::vector<std::string> pods;
    for (const auto& pod : dumped.pods) pods.push_back(object_key(pod.namespace_name, pod.name));
    EXPECT_EQ(services,
              (std::vector<std::string>{"default/api", "default/db", "default/zeta", "prod/api", "prod/web"}));
    EXPECT_EQ(pods, (std::vector<std::string>{"default/api-0", "default/db-0", "default/zeta-0", "prod/api-0",
                                              "prod/web-0"}));
}

}  // namespace
}  // namespace vipgate::config
