// Properties of the Maglev table (balance, disruption, order independence, seeds, weights),
// checked over many seeds rather than on one hand-picked example. The disruption bounds are
// the measured behaviour of Maglev itself (an independent textbook implementation with random
// offsets and skips gives the same figures), with a margin; they are not the ideal 1/N.
#include <gtest/gtest.h>

#include <bit>

#include "dataplane/maglev.h"
#include "dataplane/primes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace vipgate {
namespace {

constexpr uint32_t kMaxTableSize = 65537;
constexpr uint64_t kSeedCount = 20;
constexpr uint64_t kClusterSeed = 0x76697067617465ULL;  // the fixed seed of the single-seed cases

// Backend i is (10.0.0.0 + i):8080 with value i: identities that differ in few bits, as pods' do.
uint64_t endpoint_identity(uint32_t ipv4, uint16_t port) {
    return (static_cast<uint64_t>(ipv4) << 16) | port;
}

std::vector<MaglevBackend> make_backends(uint32_t count, uint32_t weight = 1) {
    std::vector<MaglevBackend> backends;
    for (uint32_t i = 0; i < count; ++i) {
        backends.push_back(MaglevBackend{endpoint_identity(0x0a000000u + i, 8080), i, weight});
    }
    return backends;
}

// Slot count per value; values are 0..value_count-1.
std::vector<uint32_t> slot_counts(const MaglevTable& table, uint32_t value_count) {
    std::vector<uint32_t> counts(value_count, 0);
    for (uint32_t value : table.slots()) ++counts.at(value);
    return counts;
}

uint32_t changed_slots(const MaglevTable& before, const MaglevTable& after) {
    uint32_t changed = 0;
    for (uint32_t slot = 0; slot < before.size(); ++slot) changed += before.slots()[slot] != after.slots()[slot];
    return changed;
}

// Slots that pointed to a backend other than `removed` and now point elsewhere.
uint32_t survivor_changes(const MaglevTable& before, const MaglevTable& after, uint32_t removed) {
    uint32_t changed = 0;
    for (uint32_t slot = 0; slot < before.size(); ++slot) {
        uint32_t old_value = before.slots()[slot];
        changed += old_value != removed && old_value != after.slots()[slot];
    }
    return changed;
}

std::vector<MaglevBackend> without(std::vector<MaglevBackend> backends, uint32_t value) {
    std::erase_if(backends, [value](const MaglevBackend& backend) { return backend.value == value; });
    return backends;
}

double median(std::vector<double> values) {
    std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
    return values[values.size() / 2];
}

double mean(const std::vector<double>& values) {
    return std::accumulate(values.begin(), values.end(), 0.0) / values.size();
}

std::vector<bool> sieve(uint32_t limit) {
    std::vector<bool> prime(limit + 1, true);
    prime[0] = prime[1] = false;
    for (uint32_t i = 2; i * i <= limit; ++i) {
        if (!prime[i]) continue;
        for (uint32_t multiple = i * i; multiple <= limit; multiple += i) prime[multiple] = false;
    }
    return prime;
}

TEST(MaglevTableSize, IsPrimeAgreesWithSieve) {
    constexpr uint32_t kLimit = 200000;
    std::vector<bool> prime = sieve(kLimit);
    for (uint32_t n = 0; n <= kLimit; ++n) ASSERT_EQ(is_prime(n), prime[n]) << n;
}

TEST(MaglevTableSize, IsPrimeAtTheTopOfTheRange) {
    EXPECT_TRUE(is_prime(65537));
    EXPECT_TRUE(is_prime(2147483647u));   // 2^31 - 1
    EXPECT_TRUE(is_prime(4294967291u));   // largest 32-bit prime
    EXPECT_FALSE(is_prime(4294967295u));  // 3 x 5 x 17 x 257 x 65537
    EXPECT_FALSE(is_prime(4293001441u));  // 65521^2: the divisor loop must reach the square root
    EXPECT_FALSE(is_prime(4294049777u));  // 65521 x 65537
    EXPECT_FALSE(is_prime(4292870399u));  // 65519 x 65521
}

TEST(MaglevTableSize, SmallestPrimeAtLeastHundredPerBackendRoundedToPowerOfTwo) {
    EXPECT_EQ(maglev_table_size(0, kMaxTableSize), 101u);
    EXPECT_EQ(maglev_table_size(1, kMaxTableSize), 101u);
    EXPECT_EQ(maglev_table_size(2, kMaxTableSize), 211u);
    EXPECT_EQ(maglev_table_size(3, kMaxTableSize), 401u);
    EXPECT_EQ(maglev_table_size(4, kMaxTableSize), 401u);
    EXPECT_EQ(maglev_table_size(10, kMaxTableSize), 1601u);
    EXPECT_EQ(maglev_table_size(100, kMaxTableSize), 12809u);
    for (size_t count = 1; count <= 655; ++count) {
        uint32_t size = maglev_table_size(count, kMaxTableSize);
        size_t rounded = std::bit_ceil(count);
        ASSERT_TRUE(is_prime(size)) << count;
        ASSERT_GE(size, std::min<size_t>(100 * rounded, kMaxTableSize));
        if (100 * rounded > kMaxTableSize) continue;
        for (uint64_t smaller = 100 * rounded; smaller < size; ++smaller) {
            ASSERT_FALSE(is_prime(static_cast<uint32_t>(smaller))) << count;
        }
    }
}

TEST(MaglevTableSize, CappedAtMaximum) {
    EXPECT_EQ(maglev_table_size(656, kMaxTableSize), kMaxTableSize);
    EXPECT_EQ(maglev_table_size(513, kMaxTableSize), kMaxTableSize);
    EXPECT_EQ(maglev_table_size(100000, kMaxTableSize), kMaxTableSize);
    EXPECT_EQ(maglev_table_size(SIZE_MAX, kMaxTableSize), kMaxTableSize);
    EXPECT_EQ(maglev_table_size(5, 307), 307u);
    EXPECT_EQ(maglev_table_size(3, 307), 307u);
    EXPECT_EQ(maglev_table_size(3, 401), 401u);
    EXPECT_EQ(maglev_table_size(1, 13), 13u);
    EXPECT_EQ(maglev_table_size(SIZE_MAX, 4294967291u), 4294967291u);
}

TEST(MaglevTable, DefaultAndDegenerateTablesAreEmpty) {
    EXPECT_TRUE(MaglevTable{}.empty());
    EXPECT_EQ(MaglevTable{}.size(), 0u);
    EXPECT_TRUE(MaglevTable::build({}, 101, kClusterSeed).empty());
    std::vector<MaglevBackend> draining = make_backends(5, 0);
    MaglevTable table = MaglevTable::build(draining, 503, kClusterSeed);
    EXPECT_TRUE(table.empty());
    EXPECT_EQ(table.size(), 0u);
    EXPECT_TRUE(table.slots().empty());
}

TEST(MaglevTable, SingleBackendOwnsEverySlot) {
    std::vector<MaglevBackend> one = make_backends(1);
    MaglevTable table = MaglevTable::build(one, 101, kClusterSeed);
    ASSERT_EQ(table.size(), 101u);
    for (uint32_t value : table.slots()) EXPECT_EQ(value, 0u);
}

TEST(MaglevTable, BalanceWithinOnePercent) {
    for (uint32_t count : {3u, 10u, 100u}) {
        uint32_t size = maglev_table_size(count, kMaxTableSize);
        double mean = static_cast<double>(size) / count;
        std::vector<MaglevBackend> backends = make_backends(count);
        for (uint64_t seed = 0; seed < kSeedCount; ++seed) {
            MaglevTable table = MaglevTable::build(backends, size, seed);
            ASSERT_EQ(table.size(), size);
            std::vector<uint32_t> counts = slot_counts(table, count);
            for (uint32_t slots : counts) {
                EXPECT_LE(std::abs(slots - mean), 0.01 * mean) << "N=" << count << " seed=" << seed;
            }
            // Stronger: with equal weights every backend takes one slot per round.
            auto [fewest, most] = std::ranges::minmax(counts);
            EXPECT_LE(most - fewest, 1u) << "N=" << count << " seed=" << seed;
        }
    }
}

// Removing one of N backends moves all its slots (M/N) plus some churn among the survivors,
// which grows with N at M ~ 100 N. Medians (robust to the skip-collision tail described below)
// over 3000 removals (600 for N=100), measured with M = the smallest prime >= 100 N:
// changed/(M/N) = 1.03 (N=3), 1.24 (N=10), 2.60 (N=100); survivors' churn = 1.0 %, 2.4 %, 1.6 %
// of M. maglev_table_size now rounds N up to a power of two (more slots per backend), which only
// lowers these figures. The bounds are those figures with a margin.
TEST(MaglevTable, RemovingOneBackendMovesAboutItsShare) {
    struct Case {
        uint32_t count;
        uint64_t seeds;
        double median_changed_per_share;  // bound on median(changed / (M/N))
        double mean_changed_per_share;    // bound on mean(changed / (M/N))
        double median_survivor_churn;     // bound on median(survivor changes / M)
    };
    for (Case c :
         {Case{3, 100, 1.05, 1.10, 0.015}, Case{10, 100, 1.30, 1.30, 0.03}, Case{100, 20, 2.70, 2.70, 0.018}}) {
        uint32_t size = maglev_table_size(c.count, kMaxTableSize);
        double share = static_cast<double>(size) / c.count;
        std::vector<MaglevBackend> backends = make_backends(c.count);
        std::vector<double> changed_per_share;
        std::vector<double> survivor_churn;
        for (uint64_t seed = 0; seed < c.seeds; ++seed) {
            MaglevTable before = MaglevTable::build(backends, size, seed);
            for (uint32_t removed : {0u, c.count / 2, c.count - 1}) {
                MaglevTable after = MaglevTable::build(without(backends, removed), size, seed);
                uint32_t changed = changed_slots(before, after);
                ASSERT_EQ(slot_counts(after, c.count)[removed], 0u);
                ASSERT_GE(changed, slot_counts(before, c.count)[removed]);
                changed_per_share.push_back(changed / share);
                survivor_churn.push_back(static_cast<double>(survivor_changes(before, after, removed)) / size);
            }
        }
        EXPECT_LE(median(changed_per_share), c.median_changed_per_share) << "N=" << c.count;
        EXPECT_LE(mean(changed_per_share), c.mean_changed_per_share) << "N=" << c.count;
        EXPECT_LE(median(survivor_churn), c.median_survivor_churn) << "N=" << c.count;
    }
}

// Cilium's TestBackendRemoval: three backends, M = 1021, remove one; the surviving backends'
// slots that change must be under 1 %.
TEST(MaglevTable, CiliumRemovalCase) {
    constexpr uint32_t kSize = 1021;
    std::vector<MaglevBackend> three = make_backends(3);
    MaglevTable before = MaglevTable::build(three, kSize, kClusterSeed);
    MaglevTable after = MaglevTable::build(without(three, 2), kSize, kClusterSeed);
    uint32_t survivor_slots = kSize - slot_counts(before, 3)[2];
    uint32_t changes = survivor_changes(before, after, 2);
    EXPECT_LT(changes * 100, kSize);           // Cilium's own assertion: < 1 % of M
    EXPECT_LT(changes * 100, survivor_slots);  // and < 1 % of the survivors' slots
}

// The same case over many seeds. When the two survivors draw the same skip (probability
// 1/1020 per pair) their walks share one cycle and a removal can churn a third of the table;
// that is Maglev, not this implementation. Measured over 30000 removals (and identically for
// a textbook implementation with random offsets and skips): 92 % meet Cilium's bound, 81 %
// the stricter one, median 4 changed slots.
TEST(MaglevTable, CiliumRemovalCaseOverSeeds) {
    constexpr uint32_t kSize = 1021;
    constexpr uint64_t kSeeds = 300;
    std::vector<MaglevBackend> three = make_backends(3);
    uint32_t trials = 0;
    uint32_t under_one_percent_of_m = 0;
    uint32_t under_one_percent_of_survivors = 0;
    std::vector<double> changes;
    for (uint64_t seed = 0; seed < kSeeds; ++seed) {
        MaglevTable before = MaglevTable::build(three, kSize, seed);
        for (uint32_t removed = 0; removed < 3; ++removed) {
            MaglevTable after = MaglevTable::build(without(three, removed), kSize, seed);
            uint32_t change = survivor_changes(before, after, removed);
            uint32_t survivor_slots = kSize - slot_counts(before, 3)[removed];
            under_one_percent_of_m += change * 100 < kSize;
            under_one_percent_of_survivors += change * 100 < survivor_slots;
            changes.push_back(change);
            ++trials;
        }
    }
    EXPECT_GE(under_one_percent_of_m, 0.85 * trials);
    EXPECT_GE(under_one_percent_of_survivors, 0.75 * trials);
    EXPECT_LE(median(changes), 5);
}

// Adding one backend to N: it takes about M/(N+1) slots, plus survivor churn as above. Medians
// of changed/(M/(N+1)) over 1000 seeds: 1.06 (N=3), 1.28 (N=10), 2.60 (N=100, 200 seeds).
TEST(MaglevTable, AddingOneBackendMovesAboutItsShare) {
    struct Case {
        uint32_t count;
        uint64_t seeds;
        double median_changed_per_share;
    };
    for (Case c : {Case{3, 100, 1.10}, Case{10, 100, 1.35}, Case{100, 20, 2.80}}) {
        uint32_t size = maglev_table_size(c.count, kMaxTableSize);
        double share = static_cast<double>(size) / (c.count + 1);
        std::vector<MaglevBackend> backends = make_backends(c.count);
        std::vector<MaglevBackend> grown = make_backends(c.count + 1);
        std::vector<double> changed_per_share;
        for (uint64_t seed = 0; seed < c.seeds; ++seed) {
            MaglevTable before = MaglevTable::build(backends, size, seed);
            MaglevTable after = MaglevTable::build(grown, size, seed);
            uint32_t changed = changed_slots(before, after);
            ASSERT_GE(changed, slot_counts(after, c.count + 1)[c.count]);
            changed_per_share.push_back(changed / share);
        }
        EXPECT_LE(median(changed_per_share), c.median_changed_per_share) << "N=" << c.count;
    }
}

TEST(MaglevTable, IndependentOfInputOrder) {
    std::mt19937_64 random(1);
    std::vector<MaglevBackend> backends = make_backends(50);
    for (MaglevBackend& backend : backends) backend.weight = 1 + random() % 4;
    backends[7].weight = 0;
    uint32_t size = maglev_table_size(backends.size(), kMaxTableSize);
    MaglevTable reference = MaglevTable::build(backends, size, kClusterSeed);
    for (int shuffle = 0; shuffle < 20; ++shuffle) {
        std::shuffle(backends.begin(), backends.end(), random);
        MaglevTable table = MaglevTable::build(backends, size, kClusterSeed);
        ASSERT_TRUE(std::ranges::equal(table.slots(), reference.slots())) << "shuffle " << shuffle;
    }
}

// Duplicate identities are the caller's mistake, but the table still must not depend on order.
TEST(MaglevTable, DuplicateIdentitiesStayDeterministic) {
    std::vector<MaglevBackend> backends = make_backends(4);
    backends.push_back(MaglevBackend{backends[1].identity, 99, 1});
    MaglevTable reference = MaglevTable::build(backends, 503, kClusterSeed);
    std::reverse(backends.begin(), backends.end());
    EXPECT_TRUE(std::ranges::equal(MaglevTable::build(backends, 503, kClusterSeed).slots(), reference.slots()));
}

TEST(MaglevTable, SameSeedSameTableDifferentSeedDifferentTable) {
    std::vector<MaglevBackend> backends = make_backends(10);
    uint32_t size = maglev_table_size(backends.size(), kMaxTableSize);
    for (uint64_t seed = 0; seed < kSeedCount; ++seed) {
        MaglevTable first = MaglevTable::build(backends, size, seed);
        MaglevTable again = MaglevTable::build(backends, size, seed);
        MaglevTable other = MaglevTable::build(backends, size, seed + 1);
        ASSERT_TRUE(std::ranges::equal(first.slots(), again.slots()));
        // Unrelated tables agree on about 1/N of the slots.
        EXPECT_GT(changed_slots(first, other), size / 2) << "seed " << seed;
    }
}

// The permutation follows the identity, not the value: renumbering values relabels the table.
TEST(MaglevTable, PlacementFollowsIdentityNotValue) {
    std::vector<MaglevBackend> backends = make_backends(10);
    MaglevTable reference = MaglevTable::build(backends, 1009, kClusterSeed);
    for (MaglevBackend& backend : backends) backend.value += 1000;
    MaglevTable renumbered = MaglevTable::build(backends, 1009, kClusterSeed);
    for (uint32_t slot = 0; slot < 1009; ++slot) {
        ASSERT_EQ(renumbered.slots()[slot], reference.slots()[slot] + 1000);
    }
}

TEST(MaglevTable, SlotsProportionalToWeight) {
    std::vector<MaglevBackend> backends = make_backends(10);
    for (MaglevBackend& backend : backends) backend.weight = backend.value % 2 == 0 ? 1 : 2;
    uint32_t total_weight = 15;
    uint32_t size = maglev_table_size(total_weight, kMaxTableSize);
    for (uint64_t seed = 0; seed < kSeedCount; ++seed) {
        std::vector<uint32_t> counts = slot_counts(MaglevTable::build(backends, size, seed), 10);
        uint32_t weight_one_slots = 0;
        uint32_t weight_two_slots = 0;
        for (const MaglevBackend& backend : backends) {
            double expected = static_cast<double>(size) * backend.weight / total_weight;
            EXPECT_LE(std::abs(counts[backend.value] - expected), 0.02 * expected)
                << "backend " << backend.value << " seed " << seed;
            (backend.weight == 1 ? weight_one_slots : weight_two_slots) += counts[backend.value];
        }
        EXPECT_NEAR(static_cast<double>(weight_two_slots) / weight_one_slots, 2.0, 0.02 * 2.0) << "seed " << seed;
    }
}

TEST(MaglevTable, MixedWeightsProportional) {
    const std::vector<uint32_t> weights = {1, 2, 3, 5, 8, 13, 1, 100};
    uint32_t count = static_cast<uint32_t>(weights.size());
    std::vector<MaglevBackend> backends = make_backends(count);
    for (MaglevBackend& backend : backends) backend.weight = weights[backend.value];
    uint32_t total_weight = std::accumulate(weights.begin(), weights.end(), 0u);
    uint32_t size = maglev_table_size(total_weight, kMaxTableSize);
    std::vector<uint32_t> counts = slot_counts(MaglevTable::build(backends, size, kClusterSeed), count);
    for (const MaglevBackend& backend : backends) {
        double expected = static_cast<double>(size) * backend.weight / total_weight;
        EXPECT_LE(std::abs(counts[backend.value] - expected), 0.02 * expected) << "weight " << backend.weight;
    }
}

// Draining a backend (weight 0) gives exactly the table without it.
TEST(MaglevTable, ZeroWeightIsTheSameAsAbsent) {
    std::vector<MaglevBackend> backends = make_backends(10);
    backends[4].weight = 0;
    MaglevTable drained = MaglevTable::build(backends, 1009, kClusterSeed);
    EXPECT_EQ(slot_counts(drained, 10)[4], 0u);
    MaglevTable removed = MaglevTable::build(without(backends, 4), 1009, kClusterSeed);
    EXPECT_TRUE(std::ranges::equal(drained.slots(), removed.slots()));
}

// Multiply-shift gives slot k the hashes [ceil(k 2^32 / M), ceil((k+1) 2^32 / M)).
TEST(MaglevTable, LookupMapsHashRangesOntoSlotsInOrder) {
    MaglevTable table = MaglevTable::build(make_backends(10), 1009, kClusterSeed);
    constexpr uint64_t kHashSpace = uint64_t{1} << 32;
    for (uint64_t slot = 0; slot < table.size(); ++slot) {
        uint64_t first_hash = (slot * kHashSpace + table.size() - 1) / table.size();
        uint64_t last_hash = ((slot + 1) * kHashSpace + table.size() - 1) / table.size() - 1;
        ASSERT_EQ(table.lookup(static_cast<uint32_t>(first_hash)), table.slots()[slot]) << slot;
        ASSERT_EQ(table.lookup(static_cast<uint32_t>(last_hash)), table.slots()[slot]) << slot;
    }
    EXPECT_EQ(table.lookup(0), table.slots().front());
    EXPECT_EQ(table.lookup(UINT32_MAX), table.slots().back());
}

TEST(MaglevTable, LookupSpreadsRandomHashesInProportion) {
    constexpr uint32_t kBackends = 10;
    constexpr uint32_t kSamples = 1000000;
    std::vector<MaglevBackend> backends = make_backends(kBackends);
    backends[0].weight = 3;
    uint32_t size = maglev_table_size(kBackends + 2, kMaxTableSize);
    MaglevTable table = MaglevTable::build(backends, size, kClusterSeed);
    std::vector<uint32_t> counts = slot_counts(table, kBackends);
    std::vector<uint32_t> hits(kBackends, 0);
    std::mt19937 random(2);
    for (uint32_t sample = 0; sample < kSamples; ++sample) {
        ++hits.at(table.lookup(static_cast<uint32_t>(random())));
    }
    for (uint32_t value = 0; value < kBackends; ++value) {
        double expected = static_cast<double>(kSamples) * counts[value] / size;
        EXPECT_LE(std::abs(hits[value] - expected), 5 * std::sqrt(expected)) << "backend " << value;
    }
}

}  // namespace
}  // namespace vipgate
