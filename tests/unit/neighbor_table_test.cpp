// NeighborTable: learning, updating, invalidating, static entries, a full table, and lock-free
// readers racing a writer (they may see an old MAC or none, never one that was not written for
// the address they asked about).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rte_byteorder.h>

#include "dataplane/neighbor_table.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using test::ipv4;
using test::mac;
using LearnResult = NeighborTable::LearnResult;

constexpr rte_ether_addr kMacA = mac("02:00:00:00:0a:01");
constexpr rte_ether_addr kMacB = mac("02:00:00:00:0b:02");
constexpr rte_ether_addr kMacC = mac("02:00:00:00:0c:03");

// The table is 64 KiB: keep it off the stack.
std::unique_ptr<NeighborTable> make_table() {
    return std::make_unique<NeighborTable>();
}

std::optional<rte_ether_addr> lookup(const NeighborTable& table, uint32_t address) {
    rte_ether_addr found = mac("02:ff:ff:ff:ff:ff");
    if (!table.lookup(address, found)) return std::nullopt;
    return found;
}

std::string text(const std::optional<rte_ether_addr>& address) {
    if (!address) return "(none)";
    char buffer[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(buffer, sizeof(buffer), &*address);
    return buffer;
}

std::string text(const rte_ether_addr& address) {
    return text(std::optional<rte_ether_addr>(address));
}

TEST(NeighborTable, LearnLookupUpdate) {
    auto table = make_table();
    const uint32_t router = ipv4("198.18.0.1");
    EXPECT_FALSE(lookup(*table, router));
    EXPECT_EQ(table->learn(router, kMacA, false), LearnResult::Added);
    EXPECT_EQ(text(lookup(*table, router)), text(kMacA));
    EXPECT_EQ(table->learn(router, kMacA, false), LearnResult::Unchanged);
    EXPECT_EQ(table->learn(router, kMacB, false), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, router)), text(kMacB));
    EXPECT_FALSE(table->is_static(router));

    // Neighbors are independent.
    const uint32_t other = ipv4("198.18.0.2");
    EXPECT_FALSE(lookup(*table, other));
    EXPECT_EQ(table->learn(other, kMacC, false), LearnResult::Added);
    EXPECT_EQ(text(lookup(*table, other)), text(kMacC));
    EXPECT_EQ(text(lookup(*table, router)), text(kMacB));
    // Network order matters: the byte-swapped address is another address.
    EXPECT_FALSE(lookup(*table, rte_bswap32(router)));
}

TEST(NeighborTable, InvalidateThenRelearn) {
    auto table = make_table();
    const uint32_t neighbor = ipv4("198.18.0.7");
    ASSERT_EQ(table->learn(neighbor, kMacA, false), LearnResult::Added);
    table->invalidate(neighbor);
    EXPECT_FALSE(lookup(*table, neighbor));
    table->invalidate(neighbor);  // twice is harmless
    EXPECT_FALSE(lookup(*table, neighbor));
    table->invalidate(ipv4("198.18.0.8"));  // unknown: nothing happens
    EXPECT_FALSE(lookup(*table, ipv4("198.18.0.8")));

    // The same MAC again revives the entry (it was invalid, so it counts as an update).
    EXPECT_EQ(table->learn(neighbor, kMacA, false), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, neighbor)), text(kMacA));

    int visited = 0;
    table->for_each_valid([&](uint32_t address, const rte_ether_addr& found, bool is_static) {
        ++visited;
        EXPECT_EQ(address, neighbor);
        EXPECT_EQ(text(found), text(kMacA));
        EXPECT_FALSE(is_static);
    });
    EXPECT_EQ(visited, 1);
    table->invalidate(neighbor);
    table->for_each_valid([&](uint32_t, const rte_ether_addr&, bool) { ADD_FAILURE() << "visited an invalid entry"; });
}

TEST(NeighborTable, StaticEntriesWinOverDynamicLearning) {
    auto table = make_table();
    const uint32_t gateway = ipv4("198.18.0.254");
    ASSERT_EQ(table->learn(gateway, kMacA, true), LearnResult::Added);
    EXPECT_TRUE(table->is_static(gateway));

    EXPECT_EQ(table->learn(gateway, kMacB, false), LearnResult::Unchanged) << "ARP overwrote a static entry";
    EXPECT_EQ(text(lookup(*table, gateway)), text(kMacA));
    table->invalidate(gateway);
    EXPECT_EQ(text(lookup(*table, gateway)), text(kMacA)) << "a static entry was invalidated";
    EXPECT_TRUE(table->is_static(gateway));

    // Configuration may change a static entry.
    EXPECT_EQ(table->learn(gateway, kMacC, true), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, gateway)), text(kMacC));

    // A dynamic entry can become static, and then stays.
    const uint32_t learned = ipv4("198.18.0.253");
    ASSERT_EQ(table->learn(learned, kMacA, false), LearnResult::Added);
    EXPECT_FALSE(table->is_static(learned));
    EXPECT_EQ(table->learn(learned, kMacB, true), LearnResult::Updated);
    EXPECT_TRUE(table->is_static(learned));
    table->invalidate(learned);
    EXPECT_EQ(text(lookup(*table, learned)), text(kMacB));

    std::map<uint32_t, bool> statics;
    table->for_each_valid(
        [&](uint32_t address, const rte_ether_addr&, bool is_static) { statics[address] = is_static; });
    EXPECT_EQ(statics, (std::map<uint32_t, bool>{{gateway, true}, {learned, true}}));
    EXPECT_FALSE(table->is_static(ipv4("198.18.0.1")));
}

TEST(NeighborTable, AddressZeroIsNeverANeighbor) {
    auto table = make_table();
    EXPECT_EQ(table->learn(0, kMacA, false), LearnResult::Full);
    EXPECT_FALSE(lookup(*table, 0));
    int visited = 0;
    table->for_each_valid([&](uint32_t, const rte_ether_addr&, bool) { ++visited; });
    EXPECT_EQ(visited, 0);
}

TEST(NeighborTable, FullTable) {
    auto table = make_table();
    const auto address_of = [](uint32_t n) { return rte_cpu_to_be_32(0xC6120000u + n); };  // 198.18.x.y
    const auto mac_of = [](uint32_t n) {
        rte_ether_addr result = mac("02:00:00:00:00:00");
        result.addr_bytes[4] = static_cast<uint8_t>(n >> 8);
        result.addr_bytes[5] = static_cast<uint8_t>(n);
        return result;
    };
    // Probing is bounded (kMaxProbe slots), so the table reports Full somewhat before every slot
    // is taken; it must still hold the great majority of its capacity.
    uint32_t learnt = 0;
    for (uint32_t n = 1; n <= NeighborTable::kCapacity; ++n) {
        LearnResult result = table->learn(address_of(n), mac_of(n), false);
        if (result == LearnResult::Full) break;
        ASSERT_EQ(result, LearnResult::Added) << "entry " << n;
        learnt = n;
    }
    EXPECT_GE(learnt, NeighborTable::kCapacity * 3 / 4);
    EXPECT_EQ(table->learn(address_of(learnt + 1), kMacA, false), LearnResult::Full);
    EXPECT_FALSE(lookup(*table, address_of(learnt + 1)));  // a miss in a full table ends
    for (uint32_t n = 1; n <= learnt; n += 97) {
        EXPECT_EQ(text(lookup(*table, address_of(n))), text(mac_of(n))) << "entry " << n;
    }
    // Known addresses can still change and be invalidated and relearned.
    EXPECT_EQ(table->learn(address_of(5), kMacB, false), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, address_of(5))), text(kMacB));
    table->invalidate(address_of(6));
    EXPECT_FALSE(lookup(*table, address_of(6)));
    EXPECT_EQ(table->learn(address_of(6), kMacC, false), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, address_of(6))), text(kMacC));
    EXPECT_EQ(table->learn(address_of(learnt + 2), kMacA, true), LearnResult::Full);
    int valid = 0;
    table->for_each_valid([&](uint32_t, const rte_ether_addr&, bool) { ++valid; });
    EXPECT_EQ(valid, static_cast<int>(learnt));
}

// Concurrency: one writer (the control thread) learns, updates and invalidates while readers
// (workers) look up. Every MAC the writer stores for neighbor i in round r is
//   02:i:r_hi:r_lo:(i ^ r_lo):(i ^ r_hi ^ a5)
// so a reader can tell a MAC written for i from anything else (another neighbor's MAC, a torn
// mix of two writes, garbage), and rounds must never go backwards for one reader.
constexpr uint32_t kRacedNeighbors = 64;   // updated every round
constexpr uint32_t kLateNeighbors = 64;    // first learned while the readers run
constexpr uint32_t kStaticNeighbor = 200;  // never changes
constexpr uint32_t kRounds = 3000;

uint32_t raced_address(uint32_t i) {
    return rte_cpu_to_be_32(0xC6130000u + i);
}  // 198.19.x.y

rte_ether_addr raced_mac(uint32_t i, uint32_t round) {
    const auto id = static_cast<uint8_t>(i);
    const auto high = static_cast<uint8_t>(round >> 8);
    const auto low = static_cast<uint8_t>(round);
    return {{0x02, id, high, low, static_cast<uint8_t>(id ^ low), static_cast<uint8_t>(id ^ high ^ 0xa5)}};
}

// The round encoded in `found` if it is a MAC written for neighbor i, else -1.
int64_t round_of(uint32_t i, const rte_ether_addr& found) {
    const uint8_t* b = found.addr_bytes;
    const auto id = static_cast<uint8_t>(i);
    if (b[0] != 0x02 || b[1] != id || b[4] != uint8_t(id ^ b[3]) || b[5] != uint8_t(id ^ b[2] ^ 0xa5)) return -1;
    return int64_t(b[2]) << 8 | b[3];
}

TEST(NeighborTable, ReadersNeverSeeAMacThatWasNotWrittenForTheAddress) {
    auto table = make_table();
    const rte_ether_addr static_mac = raced_mac(kStaticNeighbor, 0xbeef);
    ASSERT_EQ(table->learn(raced_address(kStaticNeighbor), static_mac, true), LearnResult::Added);
    for (uint32_t i = 0; i < kRacedNeighbors; ++i) {
        ASSERT_EQ(table->learn(raced_address(i), raced_mac(i, 0), false), LearnResult::Added);
    }
    std::atomic<bool> done{false};
    struct ReaderReport {
        uint64_t lookups = 0;
        uint64_t hits = 0;
        uint64_t foreign = 0;    // a MAC never written for that address
        uint64_t backwards = 0;  // an older round after a newer one
        uint64_t static_misses = 0;
    };
    constexpr int kReaders = 2;
    std::vector<ReaderReport> reports(kReaders);
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&, r] {
            ReaderReport& report = reports[r];
            std::vector<int64_t> last_round(kRacedNeighbors + kLateNeighbors, -1);
            while (!done.load(std::memory_order_acquire)) {
                for (uint32_t i = 0; i < kRacedNeighbors + kLateNeighbors; ++i) {
                    rte_ether_addr found;
                    ++report.lookups;
                    if (!table->lookup(raced_address(i), found)) continue;
                    ++report.hits;
                    const int64_t round = round_of(i, found);
                    if (round < 0) {
                        ++report.foreign;
                    } else {
                        if (round < last_round[i]) ++report.backwards;
                        last_round[i] = round;
                    }
                }
                rte_ether_addr found;
                if (!table->lookup(raced_address(kStaticNeighbor), found) ||
                    round_of(kStaticNeighbor, found) != 0xbeef) {
                    ++report.static_misses;
                }
            }
        });
    }
    for (uint32_t round = 1; round <= kRounds; ++round) {
        for (uint32_t i = 0; i < kRacedNeighbors; ++i) {
            if ((i + round) % 7 == 0) {
                table->invalidate(raced_address(i));
            } else {
                table->learn(raced_address(i), raced_mac(i, round), false);
            }
        }
        // Now and then a new neighbor appears (binds a fresh slot while readers probe).
        if (round % (kRounds / kLateNeighbors) == 0 && round / (kRounds / kLateNeighbors) <= kLateNeighbors) {
            const uint32_t i = kRacedNeighbors + round / (kRounds / kLateNeighbors) - 1;
            table->learn(raced_address(i), raced_mac(i, round), false);
        }
        // The static entry is attacked too: dynamic learning and invalidation must not touch it.
        table->learn(raced_address(kStaticNeighbor), raced_mac(kStaticNeighbor, round), false);
        table->invalidate(raced_address(kStaticNeighbor));
        if (round % 64 == 0) std::this_thread::yield();
    }
    done.store(true, std::memory_order_release);
    for (auto& reader : readers) reader.join();

    for (int r = 0; r < kReaders; ++r) {
        SCOPED_TRACE("reader " + std::to_string(r));
        EXPECT_GT(reports[r].hits, 0u);
        EXPECT_EQ(reports[r].foreign, 0u);
        EXPECT_EQ(reports[r].backwards, 0u);
        EXPECT_EQ(reports[r].static_misses, 0u);
    }
    // After the race every neighbor holds what was written last.
    for (uint32_t i = 0; i < kRacedNeighbors; ++i) {
        const auto found = lookup(*table, raced_address(i));
        if ((i + kRounds) % 7 == 0) {
            EXPECT_FALSE(found) << "neighbor " << i;
        } else {
            EXPECT_EQ(text(found), text(raced_mac(i, kRounds))) << "neighbor " << i;
        }
    }
    for (uint32_t i = kRacedNeighbors; i < kRacedNeighbors + kLateNeighbors; ++i) {
        const auto found = lookup(*table, raced_address(i));
        ASSERT_TRUE(found) << "late neighbor " << i;
        EXPECT_GE(round_of(i, *found), 0);
    }
}

TEST(NeighborTable, RemovedStaticEntryIsGoneAndCanBeLearntAgain) {
    auto table = make_table();
    const uint32_t address = rte_cpu_to_be_32(0xC6120010u);  // 198.18.0.16
    ASSERT_EQ(table->learn(address, kMacA, true), LearnResult::Added);
    table->invalidate(address);
    EXPECT_TRUE(lookup(*table, address));  // invalidate leaves static entries alone
    table->remove_static(address);
    EXPECT_FALSE(lookup(*table, address));
    EXPECT_FALSE(table->is_static(address));
    EXPECT_EQ(table->learn(address, kMacB, false), LearnResult::Updated);
    EXPECT_EQ(text(lookup(*table, address)), text(kMacB));
}

}  // namespace
}  // namespace vipgate
