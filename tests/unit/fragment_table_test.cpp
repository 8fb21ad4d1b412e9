// Fragment table (dataplane/fragment_table.h): ranges seen per datagram (merging, overlaps,
// the datagram's end), completion, the set bound and expiry on an injected clock.
// IPv6 keys too (the same table over FragmentEntry6).
#include <gtest/gtest.h>

#include <memory>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/flow_key.h"
#include "dataplane/fragment_table.h"
#include "tests/support/ipv6_builder.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

FragmentKey key_of(uint16_t id) {
    return {test::ipv4("198.18.0.10"), test::ipv4("198.18.100.1"), id, kProtoUdp, 0};
}

constexpr uint32_t kSeed = 7;

TEST(FragmentEntry, InOrderFragmentsMergeIntoOneRangeAndComplete) {
    FragmentEntry entry;
    EXPECT_EQ(entry.add_range(0, 48, true), RangeResult::Added);
    EXPECT_EQ(entry.add_range(48, 48, true), RangeResult::Added);
    EXPECT_FALSE(entry.complete());
    EXPECT_EQ(entry.add_range(96, 12, false), RangeResult::Added);
    EXPECT_EQ(entry.range_count, 1);
    EXPECT_TRUE(entry.complete());
}

TEST(FragmentEntry, ReverseAndScatteredOrderComplete) {
    FragmentEntry entry;
    EXPECT_EQ(entry.add_range(96, 12, false), RangeResult::Added);
    EXPECT_EQ(entry.add_range(0, 48, true), RangeResult::Added);
    EXPECT_EQ(entry.range_count, 2);
    EXPECT_FALSE(entry.complete()) << "a hole at [48, 96)";
    EXPECT_EQ(entry.add_range(48, 48, true), RangeResult::Added);
    EXPECT_EQ(entry.range_count, 1) << "the hole closed both sides";
    EXPECT_TRUE(entry.complete());
}

TEST(FragmentEntry, OverlapsAndContradictionsAreRefused) {
    FragmentEntry entry;
    ASSERT_EQ(entry.add_range(0, 48, true), RangeResult::Added);
    EXPECT_EQ(entry.add_range(40, 16, true), RangeResult::Overlap) << "teardrop: starts inside";
    EXPECT_EQ(entry.add_range(8, 8, true), RangeResult::Overlap) << "wholly inside";
    EXPECT_EQ(entry.add_range(0, 48, true), RangeResult::Overlap) << "a duplicate";
    ASSERT_EQ(entry.add_range(96, 16, false), RangeResult::Added);
    EXPECT_EQ(entry.add_range(112, 8, true), RangeResult::Overlap) << "past the datagram's end";
    EXPECT_EQ(entry.add_range(48, 8, false), RangeResult::Overlap) << "a second last fragment";
    EXPECT_EQ(entry.range_count, 2) << "refusals change nothing";

    FragmentEntry early_end;
    ASSERT_EQ(early_end.add_range(64, 8, true), RangeResult::Added);
    EXPECT_EQ(early_end.add_range(0, 16, false), RangeResult::Overlap) << "a last fragment before data seen";
}

TEST(FragmentEntry, IslandsAreBounded) {
    FragmentEntry entry;
    for (uint16_t i = 0; i < FragmentEntry::kMaxRanges; ++i) {
        ASSERT_EQ(entry.add_range(static_cast<uint16_t>(i * 16), 8, true), RangeResult::Added);
    }
    EXPECT_EQ(entry.add_range(FragmentEntry::kMaxRanges * 16, 8, true), RangeResult::TooManyRanges);
    EXPECT_EQ(entry.add_range(8, 8, true), RangeResult::Added) << "one that joins two islands still fits";
    EXPECT_EQ(entry.range_count, FragmentEntry::kMaxRanges - 1);
}

TEST(FragmentEntry, HoldsAtMostKMaxHeld) {
    FragmentEntry entry;
    rte_mbuf* fake[FragmentEntry::kMaxHeld + 1] = {};
    for (uint32_t i = 0; i < FragmentEntry::kMaxHeld; ++i) EXPECT_TRUE(entry.hold(fake[i]));
    EXPECT_FALSE(entry.hold(fake[FragmentEntry::kMaxHeld]));
}

TEST(FragmentTable, FindsWhatItCreatedAndFreesOnRelease) {
    auto table = std::make_unique<FragmentTable>();
    WorkerCounters counters;
    FragmentEntry* entry = table->find_or_create(key_of(1), kSeed, 1000, counters);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->action, FragmentAction::AwaitFirst);
    EXPECT_EQ(table->find_or_create(key_of(1), kSeed, 1001, counters), entry);
    EXPECT_NE(table->find_or_create(key_of(2), kSeed, 1001, counters), entry);
    EXPECT_EQ(table->size(), 2u);
    table->release(*entry);
    EXPECT_EQ(table->size(), 1u);
    FragmentEntry* again = table->find_or_create(key_of(1), kSeed, 1002, counters);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->range_count, 0) << "a fresh entry";
}

// Every set has kWays entries: more datagrams than the table holds are refused, not evicted,
// until their entries expire; an expired entry is reclaimed by the next datagram of its set.
TEST(FragmentTable, FullSetsRefuseUntilEntriesExpire) {
    auto table = std::make_unique<FragmentTable>();
    WorkerCounters counters;
    uint32_t created = 0;
    uint32_t refused_id = 65536;
    for (uint32_t id = 0; id < 65536 && refused_id == 65536; ++id) {
        if (table->find_or_create(key_of(static_cast<uint16_t>(id)), kSeed, 0, counters) != nullptr) {
            ++created;
        } else {
            refused_id = id;
        }
    }
    ASSERT_LT(refused_id, 65536u) << "some set filled up";
    EXPECT_LE(created, FragmentTable::kCapacity);
    EXPECT_GE(created, FragmentTable::kWays);
    EXPECT_EQ(table->size(), created);
    const FragmentKey refused = key_of(static_cast<uint16_t>(refused_id));
    EXPECT_EQ(table->find_or_create(refused, kSeed, FragmentTable::kTimeoutMs - 1, counters), nullptr)
        << "nothing in its set has expired yet";
    // Past the timeout, the refused datagram reclaims an expired entry of its set at once.
    EXPECT_NE(table->find_or_create(refused, kSeed, FragmentTable::kTimeoutMs, counters), nullptr);
    EXPECT_EQ(table->size(), created) << "one entry reclaimed, one created";
    EXPECT_EQ(counters.fragment_datagrams_expired, 1u) << "the reclaimed datagram had waited for its first";
}

TEST(FragmentTable, ExpiryFreesHeldFragmentsAndCountsThem) {
    auto table = std::make_unique<FragmentTable>();
    WorkerCounters counters;
    rte_mempool* pool = test::test_mempool();
    const unsigned available = rte_mempool_avail_count(pool);
    FragmentEntry* waiting = table->find_or_create(key_of(1), kSeed, 500, counters);
    ASSERT_NE(waiting, nullptr);
    ASSERT_TRUE(waiting->hold(rte_pktmbuf_alloc(pool)));
    ASSERT_TRUE(waiting->hold(rte_pktmbuf_alloc(pool)));
    FragmentEntry* handed = table->find_or_create(key_of(2), kSeed, 500, counters);
    ASSERT_NE(handed, nullptr);
    handed->action = FragmentAction::HandOff;

    EXPECT_EQ(table->expire(500 + FragmentTable::kTimeoutMs - 1, FragmentTable::kCapacity, counters), 0u);
    EXPECT_EQ(table->expire(500 + FragmentTable::kTimeoutMs, FragmentTable::kCapacity, counters), 2u);
    EXPECT_EQ(counters.drops[static_cast<size_t>(DropReason::FragmentTimeout)], 2u);
    EXPECT_EQ(counters.fragment_datagrams_expired, 1u) << "the handed-off datagram is its owner's to count";
    EXPECT_EQ(table->size(), 0u);
    EXPECT_EQ(rte_mempool_avail_count(pool), available);
}

// A datagram whose entry expired before the sweep reached it starts again: never handed out
// expired, since another datagram of its set could reclaim it while it is in use.
TEST(FragmentTable, AnExpiredEntryIsNotFoundAgain) {
    auto table = std::make_unique<FragmentTable>();
    WorkerCounters counters;
    rte_mempool* pool = test::test_mempool();
    const unsigned available = rte_mempool_avail_count(pool);
    FragmentEntry* old_entry = table->find_or_create(key_of(1), kSeed, 0, counters);
    ASSERT_NE(old_entry, nullptr);
    ASSERT_EQ(old_entry->add_range(48, 48, true), RangeResult::Added);
    ASSERT_TRUE(old_entry->hold(rte_pktmbuf_alloc(pool)));
    FragmentEntry* fresh = table->find_or_create(key_of(1), kSeed, FragmentTable::kTimeoutMs, counters);
    ASSERT_NE(fresh, nullptr);
    EXPECT_EQ(fresh->range_count, 0);
    EXPECT_EQ(fresh->held_count, 0);
    EXPECT_EQ(fresh->expires_ms, 2 * FragmentTable::kTimeoutMs);
    EXPECT_EQ(counters.drops[static_cast<size_t>(DropReason::FragmentTimeout)], 1u);
    EXPECT_EQ(table->size(), 1u);
    EXPECT_EQ(rte_mempool_avail_count(pool), available);
}

TEST(FragmentTable, ExpiryWorksAcrossTheClockWrap) {
    auto table = std::make_unique<FragmentTable>();
    WorkerCounters counters;
    const uint32_t near_wrap = UINT32_MAX - 100;
    ASSERT_NE(table->find_or_create(key_of(1), kSeed, near_wrap, counters), nullptr);
    EXPECT_EQ(table->expire(near_wrap + 200, FragmentTable::kCapacity, counters), 0u);
    EXPECT_EQ(table->expire(near_wrap + FragmentTable::kTimeoutMs, FragmentTable::kCapacity, counters), 1u);
}

// Datagrams spread over the workers: no worker is every datagram's home.
TEST(FragmentHome, SpreadsDatagramsOverTheWorkers) {
    constexpr uint16_t kWorkers = 4;
    constexpr uint32_t kDatagrams = 4096;
    uint32_t per_worker[kWorkers] = {};
    for (uint32_t id = 0; id < kDatagrams; ++id) {
        const uint16_t home = fragment_home(key_of(static_cast<uint16_t>(id)), kSeed, kWorkers);
        ASSERT_LT(home, kWorkers);
        ++per_worker[home];
    }
    for (uint32_t count : per_worker) {
        EXPECT_GT(count, kDatagrams / kWorkers * 8 / 10);
        EXPECT_LT(count, kDatagrams / kWorkers * 12 / 10);
    }
    EXPECT_EQ(fragment_home(key_of(1), kSeed, 1), 0);
}

// IPv6 (RFC 8200 4.5): a datagram is (source, destination, 32-bit identification); ids that
// agree in their low 16 bits are different datagrams.
FragmentKey6 key6_of(uint32_t id, const char* source = "2001:db8::10") {
    FragmentKey6 key;
    key.src_addr = test::ipv6(source);
    key.dst_addr = test::ipv6("2001:db8:100::1");
    key.id = id;
    return key;
}

TEST(FragmentTable6, KeysAreTheWholeIdentificationAndBothAddresses) {
    auto table = std::make_unique<FragmentTable6>();
    WorkerCounters counters;
    FragmentEntry6* entry = table->find_or_create(key6_of(0x00010001), kSeed, 1000, counters);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(table->find_or_create(key6_of(0x00010001), kSeed, 1001, counters), entry);
    EXPECT_NE(table->find_or_create(key6_of(0x00020001), kSeed, 1001, counters), entry);
    EXPECT_NE(table->find_or_create(key6_of(0x00010001, "2001:db8::11"), kSeed, 1001, counters), entry);
    EXPECT_EQ(table->size(), 3u);
    EXPECT_EQ(table->expire(1001 + FragmentTable6::kTimeoutMs, FragmentTable6::kCapacity, counters), 3u);
    EXPECT_EQ(table->size(), 0u);
    EXPECT_EQ(counters.fragment_datagrams_expired, 3u);
}

TEST(FragmentHome6, SpreadsDatagramsOverTheWorkers) {
    constexpr uint16_t kWorkers = 4;
    constexpr uint32_t kDatagrams = 4096;
    uint32_t per_worker[kWorkers] = {};
    for (uint32_t id = 0; id < kDatagrams; ++id) ++per_worker[fragment_home6(key6_of(id), kSeed, kWorkers)];
    for (uint32_t count : per_worker) {
        EXPECT_GT(count, kDatagrams / kWorkers * 8 / 10);
        EXPECT_LT(count, kDatagrams / kWorkers * 12 / 10);
    }
}

}  // namespace
}  // namespace vipgate
