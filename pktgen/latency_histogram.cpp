#include "pktgen/latency_histogram.h"

#include <cmath>

namespace vipgen {

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
    for (size_t i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() noexcept {
    *this = LatencyHistogram{};
}

double LatencyHistogram::mean() const noexcept {
    if (count_ == 0) return 0.0;
    return static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t LatencyHistogram::percentile(double fraction) const noexcept {
    if (count_ == 0) return 0;
    const double clamped = fraction > 0.0 ? std::min(fraction, 1.0) : 0.0;
    // Compared in double first: a count above 2^53 rounds, and converting 2^64 back is undefined.
    const double position = std::ceil(clamped * static_cast<double>(count_));
    const uint64_t rank =
        position >= static_cast<double>(count_) ? count_ : std::max<uint64_t>(static_cast<uint64_t>(position), 1);

    uint64_t seen = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
        seen += buckets_[i];
        if (seen >= rank) return std::min(bucket_upper_edge(i), max_);
    }
    return max_;
}

}  // namespace vipgen
