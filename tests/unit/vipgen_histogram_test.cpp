// LatencyHistogram: exact below 128 ns, percentiles within 1/64 above the sorted truth and never
// below it, exact count/min/max/mean at any value, merge equal to recording everything in one.
#include "pktgen/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace vipgen {
namespace {

constexpr uint64_t kSeed = 0x5eed1234;
constexpr uint64_t kMaxValue = std::numeric_limits<uint64_t>::max();

// Fractions checked against the sorted reference: the usual report points plus a dense grid.
std::vector<double> fractions_to_check() {
    std::vector<double> fractions = {0.0, 0.001, 0.01, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
    for (int i = 1; i < 1000; ++i) fractions.push_back(i / 1000.0);
    return fractions;
}

// Nearest rank, as percentile() documents it.
uint64_t reference_percentile(const std::vector<uint64_t>& sorted, double fraction) {
    const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::max<size_t>(rank, 1) - 1];
}

// A latency-like mixture: a tight cluster around 5 us, a long tail up to ~1 ms and values spread
// log-uniformly over the whole tracked range.
std::vector<uint64_t> random_latencies(size_t count, uint64_t seed) {
    std::mt19937_64 random(seed);
    std::normal_distribution<double> cluster(5'000.0, 400.0);
    std::exponential_distribution<double> tail(1.0 / 50'000.0);
    std::uniform_real_distribution<double> exponent(0.0, LatencyHistogram::kRangeBits);
    std::vector<uint64_t> values;
    values.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        double value = 0;
        switch (i % 3) {
        case 0:
            value = cluster(random);
            break;
        case 1:
            value = 2'000.0 + tail(random);
            break;
        default:
            value = std::exp2(exponent(random));
            break;
        }
        values.push_back(static_cast<uint64_t>(std::max(value, 0.0)));
    }
    return values;
}

// About 18 KB: kept off the test's stack.
std::unique_ptr<LatencyHistogram> histogram_of(const std::vector<uint64_t>& values) {
    auto histogram = std::make_unique<LatencyHistogram>();
    for (uint64_t value : values) histogram->record(value);
    return histogram;
}

TEST(LatencyHistogramTest, EmptyReportsZeros) {
    LatencyHistogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.min(), 0u);
    EXPECT_EQ(histogram.max(), 0u);
    EXPECT_EQ(histogram.mean(), 0.0);
    for (double fraction : {0.0, 0.5, 0.999, 1.0}) EXPECT_EQ(histogram.percentile(fraction), 0u) << fraction;
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
    LatencyHistogram histogram;
    for (uint64_t value = 0; value < 128; ++value) histogram.record(value);

    EXPECT_EQ(histogram.count(), 128u);
    EXPECT_EQ(histogram.min(), 0u);
    EXPECT_EQ(histogram.max(), 127u);
    EXPECT_DOUBLE_EQ(histogram.mean(), 63.5);
    EXPECT_EQ(histogram.percentile(0.0), 0u);
    for (uint64_t rank = 1; rank <= 128; ++rank) {
        EXPECT_EQ(histogram.percentile(static_cast<double>(rank) / 128.0), rank - 1) << "rank " << rank;
    }
}

// Every bucket is contiguous with the next, and every value in it is within 1/64 below the
// upper edge that percentile() reports; buckets below 128 hold one value.
TEST(LatencyHistogramTest, BucketGeometryBoundsTheRelativeError) {
    uint64_t lower = 0;
    for (size_t index = 0; index < LatencyHistogram::kOverflowBucket; ++index) {
        const uint64_t upper = LatencyHistogram::bucket_upper_edge(index);
        ASSERT_GE(upper, lower) << "bucket " << index;
        ASSERT_EQ(LatencyHistogram::bucket_index(lower), index) << "lower edge " << lower;
        ASSERT_EQ(LatencyHistogram::bucket_index(upper), index) << "upper edge " << upper;
        ASSERT_LE((upper - lower) * 64, lower) << "bucket " << index << " [" << lower << ", " << upper << "]";
        if (lower < 128) {
            ASSERT_EQ(upper, lower);
        }
        lower = upper + 1;
    }
    EXPECT_EQ(lower, LatencyHistogram::kMaxTrackedNs + 1);
    EXPECT_EQ(LatencyHistogram::bucket_index(lower), LatencyHistogram::kOverflowBucket);
    EXPECT_EQ(LatencyHistogram::bucket_index(kMaxValue), LatencyHistogram::kOverflowBucket);
}

TEST(LatencyHistogramTest, PercentilesWithinOneSixtyFourthAboveSortedReference) {
    std::vector<uint64_t> values = random_latencies(300'000, kSeed);
    const auto histogram = histogram_of(values);
    std::sort(values.begin(), values.end());

    for (double fraction : fractions_to_check()) {
        const uint64_t expected = reference_percentile(values, fraction);
        const uint64_t reported = histogram->percentile(fraction);
        EXPECT_GE(reported, expected) << "p" << fraction * 100;
        EXPECT_LE((reported - expected) * 64, expected)
            << "p" << fraction * 100 << ": " << reported << " vs " << expected;
        EXPECT_LE(reported, values.back()) << "p" << fraction * 100;
    }
    EXPECT_EQ(histogram->percentile(1.0), values.back());
}

TEST(LatencyHistogramTest, CountMinMaxMeanAreExact) {
    const std::vector<uint64_t> values = random_latencies(100'000, kSeed + 1);
    const auto histogram = histogram_of(values);

    uint64_t sum = 0;  // below 2^57 for these values: no overflow
    for (uint64_t value : values) sum += value;
    EXPECT_EQ(histogram->count(), values.size());
    EXPECT_EQ(histogram->min(), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(histogram->max(), *std::max_element(values.begin(), values.end()));
    EXPECT_DOUBLE_EQ(histogram->mean(), static_cast<double>(sum) / static_cast<double>(values.size()));
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
    const std::vector<uint64_t> first = random_latencies(50'000, kSeed + 2);
    std::vector<uint64_t> second = random_latencies(70'000, kSeed + 3);
    second.push_back(0);  // the overall minimum and maximum come from the merged-in histogram
    second.push_back(uint64_t{1} << 45);

    auto merged = histogram_of(first);
    merged->merge(*histogram_of(second));
    std::vector<uint64_t> all = first;
    all.insert(all.end(), second.begin(), second.end());
    const auto together = histogram_of(all);

    EXPECT_EQ(merged->count(), together->count());
    EXPECT_EQ(merged->min(), 0u);
    EXPECT_EQ(merged->max(), uint64_t{1} << 45);
    EXPECT_DOUBLE_EQ(merged->mean(), together->mean());
    for (double fraction : fractions_to_check()) {
        EXPECT_EQ(merged->percentile(fraction), together->percentile(fraction)) << "p" << fraction * 100;
    }
}

TEST(LatencyHistogramTest, MergingWithEmptyChangesNothing) {
    const auto values = histogram_of({700, 800, 900});

    auto into_empty = std::make_unique<LatencyHistogram>();
    into_empty->merge(*values);
    auto empty_into = histogram_of({700, 800, 900});
    empty_into->merge(LatencyHistogram{});

    for (const auto* histogram : {into_empty.get(), empty_into.get()}) {
        EXPECT_EQ(histogram->count(), 3u);
        EXPECT_EQ(histogram->min(), 700u);
        EXPECT_EQ(histogram->max(), 900u);
        EXPECT_DOUBLE_EQ(histogram->mean(), 800.0);
        EXPECT_EQ(histogram->percentile(0.5), values->percentile(0.5));
    }
}

TEST(LatencyHistogramTest, ResetEmptiesAndStartsAfresh) {
    auto histogram = histogram_of({5, 1'000'000, 3'000'000'000});
    histogram->reset();
    EXPECT_EQ(histogram->count(), 0u);
    EXPECT_EQ(histogram->max(), 0u);
    EXPECT_EQ(histogram->percentile(1.0), 0u);

    histogram->record(40);
    histogram->record(60);
    EXPECT_EQ(histogram->count(), 2u);
    EXPECT_EQ(histogram->min(), 40u);
    EXPECT_EQ(histogram->max(), 60u);
    EXPECT_DOUBLE_EQ(histogram->mean(), 50.0);
    EXPECT_EQ(histogram->percentile(0.5), 40u);
    EXPECT_EQ(histogram->percentile(1.0), 60u);
}

// Values from 2^40 up share the overflow bucket: percentiles landing there report max(), which
// stays exact, and the mean stays exact where a 64-bit sum would wrap.
TEST(LatencyHistogramTest, HugeValuesKeepMaxAndMeanExact) {
    const std::vector<uint64_t> values = {100, uint64_t{1} << 40, uint64_t{1} << 50, kMaxValue};
    const auto histogram = histogram_of(values);

    EXPECT_EQ(histogram->count(), 4u);
    EXPECT_EQ(histogram->min(), 100u);
    EXPECT_EQ(histogram->max(), kMaxValue);
    EXPECT_EQ(histogram->percentile(0.25), 100u);
    EXPECT_EQ(histogram->percentile(0.5), kMaxValue);
    EXPECT_EQ(histogram->percentile(1.0), kMaxValue);
    EXPECT_DOUBLE_EQ(histogram->mean(), (100.0 + 0x1p40 + 0x1p50 + 0x1p64) / 4);
}

// The top power of two below 2^40 is still within the bound (an overflow there would report max()).
TEST(LatencyHistogramTest, LargestTrackedPowerOfTwoKeepsTheBound) {
    constexpr uint64_t kTop = LatencyHistogram::kMaxTrackedNs;
    constexpr uint64_t kLow = (kTop >> 1) + 12'345;
    const auto histogram = histogram_of({kLow, kTop});
    const uint64_t median = histogram->percentile(0.5);
    EXPECT_GE(median, kLow);
    EXPECT_LE((median - kLow) * 64, kLow) << median;
    EXPECT_EQ(histogram->percentile(1.0), kTop);
}

TEST(LatencyHistogramTest, FractionIsClampedToZeroOne) {
    const auto histogram = histogram_of({10, 20, 30});
    EXPECT_EQ(histogram->percentile(-1.0), 10u);
    EXPECT_EQ(histogram->percentile(std::nan("")), 10u);
    EXPECT_EQ(histogram->percentile(2.0), 30u);
}

}  // namespace
}  // namespace vipgen
