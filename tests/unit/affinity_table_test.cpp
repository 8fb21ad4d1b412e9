// AffinityTable (and AffinityTable6) with an injected clock: insert, lookup, refresh, expiry, replacement in a full
// set, clock wrap; and remembered_endpoint_usable against a hand-built snapshot.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include <rte_byteorder.h>
#include <rte_memory.h>

#include "dataplane/affinity_table.h"

namespace vipgate {
namespace {

constexpr uint32_t kSeed = 0xaff1a1e5;
constexpr uint32_t kTimeoutMs = 10'800'000;  // the Kubernetes default, 10800 s

struct TableDeleter {
    void operator()(AffinityTable* table) const { AffinityTable::destroy(table); }
};
using TablePtr = std::unique_ptr<AffinityTable, TableDeleter>;

TablePtr make_table(uint32_t capacity) {
    TablePtr table(AffinityTable::create(capacity, kSeed, SOCKET_ID_ANY));
    EXPECT_NE(table, nullptr) << "AffinityTable::create(" << capacity << ") failed";
    return table;
}

uint32_t client(uint32_t n) {
    return rte_cpu_to_be_32(0x0a000000 + n);
}  // 10.0.0.n

TEST(AffinityTable, CreateRejectsZeroAndRoundsUpToWholeBuckets) {
    EXPECT_EQ(AffinityTable::create(0, kSeed, SOCKET_ID_ANY), nullptr);
    TablePtr table = make_table(4);
    EXPECT_EQ(table->capacity(), 2 * AffinityTable::kWays);
    EXPECT_EQ(table->memory_bytes(), sizeof(AffinityTable) + 2 * 64);
}

TEST(AffinityTable, FindsWhatWasInsertedByClientAndServicePort) {
    TablePtr table = make_table(1024);
    const uint32_t now = 5'000;
    ASSERT_TRUE(table->insert(client(1), 7, 42, 3, now, kTimeoutMs));
    const AffinityEntry* entry = table->find(client(1), 7, now);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->endpoint_slot, 42u);
    EXPECT_EQ(entry->endpoint_generation, 3u);
    EXPECT_EQ(entry->deadline_ms, now + kTimeoutMs);
    EXPECT_EQ(table->find(client(2), 7, now), nullptr) << "another client";
    EXPECT_EQ(table->find(client(1), 8, now), nullptr) << "another service port";
}

TEST(AffinityTable, FreshUntilTheTimeoutAfterTheLastRefresh) {
    TablePtr table = make_table(1024);
    const uint32_t start = 1'000;
    const uint32_t timeout = 500;
    ASSERT_TRUE(table->insert(client(1), 0, 1, 1, start, timeout));
    EXPECT_NE(table->find(client(1), 0, start + timeout - 1), nullptr);
    AffinityEntry* entry = table->find(client(1), 0, start + 400);
    ASSERT_NE(entry, nullptr);
    AffinityTable::refresh(*entry, start + 400, timeout);
    EXPECT_NE(table->find(client(1), 0, start + timeout), nullptr) << "the refresh extended it";
    EXPECT_NE(table->find(client(1), 0, start + 400 + timeout - 1), nullptr);
    EXPECT_EQ(table->find(client(1), 0, start + 400 + timeout), nullptr) << "expired";
}

TEST(AffinityTable, FreshnessSurvivesTheClockWrap) {
    TablePtr table = make_table(1024);
    const uint32_t before_wrap = 0xffffff00u;
    ASSERT_TRUE(table->insert(client(1), 0, 1, 1, before_wrap, 1'000));
    EXPECT_NE(table->find(client(1), 0, 0x100), nullptr);  // 512 ms later
    EXPECT_EQ(table->find(client(1), 0, before_wrap + 1'000), nullptr);
}

TEST(AffinityTable, InsertReplacesTheKeysOwnEntryWithoutTakingASecondWay) {
    TablePtr table = make_table(AffinityTable::kWays);  // one bucket: every key shares it
    const uint32_t now = 0;
    ASSERT_TRUE(table->insert(client(1), 0, 10, 1, now, kTimeoutMs));
    ASSERT_TRUE(table->insert(client(1), 0, 11, 2, now + 10, kTimeoutMs));  // re-pick
    const AffinityEntry* entry = table->find(client(1), 0, now + 10);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->endpoint_slot, 11u);
    EXPECT_EQ(entry->endpoint_generation, 2u);
    EXPECT_EQ(table->size(), 1u) << "a re-pick replaces the entry";
    for (uint32_t n = 2; n <= AffinityTable::kWays; ++n) {
        EXPECT_TRUE(table->insert(client(n), 0, n, 1, now, kTimeoutMs)) << "way for client " << n;
    }
    EXPECT_EQ(table->size(), AffinityTable::kWays);
}

TEST(AffinityTable, AFullSetKeepsItsFreshEntriesAndReusesExpiredOnes) {
    TablePtr table = make_table(AffinityTable::kWays);
    const uint32_t timeout = 1'000;
    for (uint32_t n = 1; n <= AffinityTable::kWays; ++n) {
        ASSERT_TRUE(table->insert(client(n), 0, n, 1, n * 100, timeout));  // deadlines 1100, 1200, 1300
    }
    const uint32_t newcomer = client(100);
    EXPECT_FALSE(table->insert(newcomer, 0, 99, 1, 1'050, timeout)) << "never evicts a fresh entry";
    for (uint32_t n = 1; n <= AffinityTable::kWays; ++n) {
        EXPECT_NE(table->find(client(n), 0, 1'050), nullptr) << "client " << n << " lost its affinity";
    }
    EXPECT_EQ(table->find(newcomer, 0, 1'050), nullptr);

    // At 1100 the first entry has expired: its way is reused, the others stay.
    ASSERT_TRUE(table->insert(newcomer, 0, 99, 1, 1'100, timeout));
    EXPECT_EQ(table->size(), AffinityTable::kWays) << "an expired way reused holds one entry still";
    EXPECT_NE(table->find(newcomer, 0, 1'100), nullptr);
    EXPECT_EQ(table->find(client(1), 0, 1'100), nullptr);
    EXPECT_NE(table->find(client(2), 0, 1'100), nullptr);
    EXPECT_NE(table->find(client(3), 0, 1'100), nullptr);
}

TEST(AffinityTable, ExpireClearsOnlyExpiredEntries) {
    TablePtr table = make_table(300);
    const uint32_t short_timeout = 100;
    const uint32_t long_timeout = 100'000;
    for (uint32_t n = 0; n < 20; ++n) {
        ASSERT_TRUE(table->insert(client(n), 1, n, 1, 0, n % 2 == 0 ? short_timeout : long_timeout));
    }
    EXPECT_EQ(table->expire(50, 1'000'000), 0u) << "nothing expired yet";
    EXPECT_EQ(table->size(), 20u);
    EXPECT_EQ(table->expire(short_timeout, 1'000'000), 10u);
    EXPECT_EQ(table->size(), 10u) << "the fill counts what expire() has not cleared yet";
    for (uint32_t n = 0; n < 20; ++n) {
        EXPECT_EQ(table->find(client(n), 1, short_timeout) != nullptr, n % 2 == 1) << "client " << n;
    }
    // A budget of one bucket per call: a full sweep takes capacity / ways calls.
    const uint32_t buckets = table->capacity() / AffinityTable::kWays;
    uint32_t cleared = 0;
    for (uint32_t call = 0; call < buckets; ++call) cleared += table->expire(long_timeout, 1);
    EXPECT_EQ(cleared, 10u);
    EXPECT_EQ(table->size(), 0u);
}

TEST(AffinityTable, KeysSpreadOverBuckets) {
    // With two candidate buckets per key, a table at half load refuses almost nothing and one at
    // two thirds about 1 % (one bucket per key would refuse about 6 % and 11 %).
    TablePtr table = make_table(30'000);
    std::vector<uint32_t> stored;
    const auto insert_until = [&](uint32_t end) {
        for (uint32_t n = static_cast<uint32_t>(stored.size() == 0 ? 0 : stored.back() + 1); n < end; ++n) {
            if (table->insert(client(n), 5, n, 1, 0, kTimeoutMs)) stored.push_back(n);
        }
    };
    insert_until(15'000);
    EXPECT_GT(stored.size(), 15'000u - 30u) << "at half load";
    insert_until(20'000);
    EXPECT_GT(stored.size(), 20'000u - 400u) << "at two thirds";
    for (uint32_t n : stored) {
        const AffinityEntry* entry = table->find(client(n), 5, 0);
        ASSERT_NE(entry, nullptr) << "client " << n << " was stored";
        EXPECT_EQ(entry->endpoint_slot, n);
    }
}

// remembered_endpoint_usable: a snapshot with one service port (id 2) and endpoint slots
// 0 (ready), 1 (ready, terminating), 2 (drained), 3 (not ready), 4 (another service port's).
class RememberedEndpoint : public testing::Test {
protected:
    RememberedEndpoint() {
        set(0, {.ready = true, .generation = 10, .weight = 1, .service_port = 2});
        set(1, {.ready = true, .terminating = true, .generation = 11, .weight = 1, .service_port = 2});
        set(2, {.ready = true, .generation = 12, .weight = 0, .service_port = 2});
        set(3, {.ready = false, .generation = 13, .weight = 1, .service_port = 2});
        set(4, {.ready = true, .generation = 14, .weight = 1, .service_port = 3});
    }
    void set(uint32_t slot, EndpointSlot endpoint) { snapshot.endpoints.mutable_entry(slot) = endpoint; }
    bool usable(uint32_t slot, uint32_t generation, uint32_t hashed_slot = 0) const {
        AffinityEntry entry{client(1), 2, slot, generation, 0};
        return remembered_endpoint_usable(snapshot, entry, 2, hashed_slot);
    }
    Snapshot snapshot;
};

TEST_F(RememberedEndpoint, AReadyEndpointOfTheServicePortIsUsable) {
    EXPECT_TRUE(usable(0, 10));
}

TEST_F(RememberedEndpoint, AStaleSlotGenerationIsIgnored) {
    EXPECT_FALSE(usable(0, 9)) << "the slot was reused by another endpoint";
    EXPECT_FALSE(usable(200'000, 10)) << "a slot beyond the table";
}

TEST_F(RememberedEndpoint, DrainedNotReadyAndForeignEndpointsAreNot) {
    EXPECT_FALSE(usable(2, 12)) << "weight 0";
    EXPECT_FALSE(usable(3, 13)) << "not ready";
    EXPECT_FALSE(usable(4, 14)) << "owned by another service port";
}

TEST_F(RememberedEndpoint, ATerminatingEndpointOnlyWhileNoneIsReady) {
    EXPECT_FALSE(usable(1, 11, /*hashed_slot=*/0)) << "Maglev holds ready endpoints";
    EXPECT_TRUE(usable(1, 11, /*hashed_slot=*/1)) << "Maglev holds only terminating endpoints";
}

TEST(AffinityHash, ClientsOfOneSubnetSpreadOverMaglevSlots) {
    // Multiply-shift reads the high bits: 256 addresses of a /24 over 401 slots should touch
    // most of the distinct values a uniform hash would (about 195).
    std::set<uint32_t> slots;
    for (uint32_t n = 0; n < 256; ++n) {
        slots.insert(static_cast<uint32_t>((uint64_t{affinity_hash(client(n), kSeed)} * 401) >> 32));
    }
    EXPECT_GT(slots.size(), 170u);
}

// The IPv6 table: the same mechanism over 16-byte client addresses, two ways per bucket.
struct Table6Deleter {
    void operator()(AffinityTable6* table) const { AffinityTable6::destroy(table); }
};
using Table6Ptr = std::unique_ptr<AffinityTable6, Table6Deleter>;

AffinityClient6 client6(uint8_t n) {
    AffinityClient6 client{{0x20, 0x01, 0x0d, 0xb8}};  // 2001:db8::n
    client.bytes[15] = n;
    return client;
}

TEST(AffinityTable6, RemembersEachClientAndServicePortUntilItsDeadline) {
    static_assert(AffinityTable6::kWays == 2);
    Table6Ptr table(AffinityTable6::create(64, kSeed, SOCKET_ID_ANY));
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(table->capacity(), 64u);
    EXPECT_TRUE(table->insert(client6(1), 7, 3, 1, 1000, 500));
    EXPECT_TRUE(table->insert(client6(2), 7, 4, 1, 1000, 500));
    EXPECT_TRUE(table->insert(client6(1), 8, 5, 1, 1000, 900));
    ASSERT_NE(table->find(client6(1), 7, 1499), nullptr);
    EXPECT_EQ(table->find(client6(1), 7, 1499)->endpoint_slot, 3u);
    EXPECT_EQ(table->find(client6(2), 7, 1499)->endpoint_slot, 4u);
    EXPECT_EQ(table->find(client6(1), 8, 1499)->endpoint_slot, 5u);
    EXPECT_EQ(table->find(client6(3), 7, 1000), nullptr) << "another client";
    EXPECT_EQ(table->size(), 3u);

    AffinityTable6::refresh(*table->find(client6(2), 7, 1400), 1400, 500);
    EXPECT_EQ(table->find(client6(1), 7, 1500), nullptr) << "expired at its deadline";
    EXPECT_NE(table->find(client6(2), 7, 1500), nullptr) << "refreshed";
    EXPECT_EQ(table->expire(1500, table->capacity()), 1u);
    EXPECT_EQ(table->size(), 2u);
}

TEST(AffinityTable6, AFullSetRefusesRatherThanEvictingAFreshEntry) {
    Table6Ptr table(AffinityTable6::create(AffinityTable6::kWays, kSeed, SOCKET_ID_ANY));  // one bucket
    ASSERT_NE(table, nullptr);
    EXPECT_TRUE(table->insert(client6(1), 1, 1, 1, 0, 100));
    EXPECT_TRUE(table->insert(client6(2), 1, 2, 1, 0, 100));
    EXPECT_FALSE(table->insert(client6(3), 1, 3, 1, 50, 100));
    EXPECT_EQ(table->find(client6(1), 1, 50)->endpoint_slot, 1u);
    EXPECT_TRUE(table->insert(client6(3), 1, 3, 1, 100, 100)) << "an expired way is reused";
    EXPECT_EQ(table->size(), 2u);
}

}  // namespace
}  // namespace vipgate
