// Latency histogram for the packet path: one per generator lcore, merged by the control thread
// after a trial.
//
// Design note. A log-linear layout (HDR Histogram's): values below 128 ns have a bucket each;
// above that every power of two [2^k, 2^(k+1)) is cut into 64 equal buckets of width 2^(k-6).
// The bucket of a value is one bit_width, a shift and an add, so record() costs the same for
// 10 ns and 10 s, never allocates and has no data-dependent branches (the clamps compile to
// conditional moves). Storing raw samples or sorting them would cost memory and time
// proportional to the packet count; a fixed linear histogram cannot span nanoseconds to
// seconds in a few kilobytes.
//
// Error bound. A bucket above 127 starts at 64 * 2^s or later and is 2^s wide, so every value
// in it lies within 1/64 (1.6 %) of its upper edge. percentile() reports that upper edge
// (clamped to max()), so it never understates and overstates by less than 1/64 of the true
// value; values below 128 ns are reported exactly. Values of 2^40 ns (18 minutes) and above
// share one overflow bucket: a percentile that lands there reports max(). count(), min() and
// max() are exact at any value, and mean() divides an exact 128-bit sum.
//
// Threading. Not synchronised: the owning lcore records, and the control thread reads or
// merges only once that lcore has stopped recording (between trials). The object is about
// 18 KB and is meant to be allocated once per lcore, outside the packet path.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace vipgen {

class alignas(64) LatencyHistogram {
public:
    static constexpr unsigned kSubBucketBits = 6;  // 64 buckets per power of two
    static constexpr unsigned kRangeBits = 40;     // values up to kMaxTrackedNs keep the error bound
    static constexpr uint64_t kMaxTrackedNs = (uint64_t{1} << kRangeBits) - 1;
    static constexpr size_t kOverflowBucket = (kRangeBits - kSubBucketBits + 1) << kSubBucketBits;
    static constexpr size_t kBucketCount = kOverflowBucket + 1;

    void record(uint64_t ns) noexcept {
        ++buckets_[bucket_index(ns)];
        ++count_;
        sum_ += ns;
        min_ = std::min(min_, ns);
        max_ = std::max(max_, ns);
    }

    void merge(const LatencyHistogram& other) noexcept;
    void reset() noexcept;

    uint64_t count() const noexcept { return count_; }
    uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }  // 0 when empty
    uint64_t max() const noexcept { return max_; }                    // 0 when empty
    double mean() const noexcept;                                     // 0 when empty

    // Nearest-rank percentile: the upper edge of the bucket holding the sample of rank
    // ceil(fraction * count()) (at least 1), clamped to max(). fraction is clamped to [0, 1]
    // (NaN counts as 0): 0 reports the bucket of min(), 1 reports max(). 0 when empty.
    uint64_t percentile(double fraction) const noexcept;

    // Bucket geometry. shift is 0 below 2^7 and bit_width - 7 above, so (ns >> shift) keeps the
    // leading 7 bits (64..127 from 2^6 up) and index = 64 * shift + (ns >> shift).
    static constexpr size_t bucket_index(uint64_t ns) noexcept {
        const auto shift = static_cast<unsigned>(std::bit_width(ns | kSubBuckets)) - kExactBits;
        const size_t index = (size_t{shift} << kSubBucketBits) + static_cast<size_t>(ns >> shift);
        return std::min(index, kOverflowBucket);
    }

    // The largest value mapped to index: bucket 64 * (s + 1) + j holds [(64 + j) << s, (65 + j) << s).
    static constexpr uint64_t bucket_upper_edge(size_t index) noexcept {
        if (index == kOverflowBucket) return std::numeric_limits<uint64_t>::max();
        const size_t shift = std::max(index >> kSubBucketBits, size_t{1}) - 1;
        return (static_cast<uint64_t>(index - (shift << kSubBucketBits) + 1) << shift) - 1;
    }

private:
    static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
    static constexpr unsigned kExactBits = kSubBucketBits + 1;  // values below 2^7 get a bucket each

    __extension__ using Sum = unsigned __int128;  // 2^64 values below 2^64 cannot overflow it

    uint64_t count_ = 0;
    Sum sum_ = 0;
    uint64_t min_ = std::numeric_limits<uint64_t>::max();
    uint64_t max_ = 0;
    std::array<uint64_t, kBucketCount> buckets_{};
};

static_assert(LatencyHistogram::bucket_index(127) == 127);
static_assert(LatencyHistogram::bucket_upper_edge(LatencyHistogram::bucket_index(LatencyHistogram::kMaxTrackedNs)) ==
              LatencyHistogram::kMaxTrackedNs);
static_assert(LatencyHistogram::bucket_index(LatencyHistogram::kMaxTrackedNs + 1) == LatencyHistogram::kOverflowBucket);

}  // namespace vipgen
