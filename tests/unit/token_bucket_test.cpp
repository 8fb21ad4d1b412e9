// TokenBucket (dataplane/token_bucket.h): a pure function of the clock it is given.
#include <gtest/gtest.h>

#include <cstdint>

#include "dataplane/token_bucket.h"

namespace vipgate {
namespace {

// How many of `attempts` takes at `now_ms` succeed.
uint32_t takes(TokenBucket& bucket, uint32_t now_ms, const RateLimit& limit, uint32_t attempts) {
    uint32_t taken = 0;
    for (uint32_t i = 0; i < attempts; ++i) taken += bucket.take(now_ms, limit) ? 1 : 0;
    return taken;
}

TEST(TokenBucket, StartsFullAndEmptiesAfterTheBurst) {
    TokenBucket bucket;
    const RateLimit limit{.rate_per_s = 1000, .burst = 50};
    EXPECT_EQ(takes(bucket, 5'000, limit, 60), 50u);
    EXPECT_FALSE(bucket.take(5'000, limit));
}

TEST(TokenBucket, RefillsAtTheRateAndNeverBeyondTheBurst) {
    TokenBucket bucket;
    const RateLimit limit{.rate_per_s = 1000, .burst = 50};
    takes(bucket, 0, limit, 50);
    EXPECT_EQ(takes(bucket, 10, limit, 100), 10u) << "1000/s: one token per millisecond";
    EXPECT_EQ(takes(bucket, 1'000'000, limit, 100), 50u) << "capped at the burst";
}

TEST(TokenBucket, SlowRatesAccumulateFractionsOfATokenAcrossCalls) {
    TokenBucket bucket;
    const RateLimit limit{.rate_per_s = 3, .burst = 3};
    ASSERT_EQ(takes(bucket, 0, limit, 3), 3u);
    uint32_t granted = 0;
    for (uint32_t now = 1; now <= 1000; ++now) granted += bucket.take(now, limit) ? 1 : 0;
    EXPECT_EQ(granted, 3u) << "3/s over one second, asked every millisecond";
}

TEST(TokenBucket, RateZeroIsNoLimit) {
    TokenBucket bucket;
    EXPECT_EQ(takes(bucket, 0, RateLimit{.rate_per_s = 0, .burst = 1}, 10'000), 10'000u);
}

TEST(TokenBucket, KeepsCountingAcrossTheClockWrap) {
    TokenBucket bucket;
    const RateLimit limit{.rate_per_s = 1000, .burst = 10};
    const uint32_t before_wrap = UINT32_MAX - 4;
    EXPECT_EQ(takes(bucket, before_wrap, limit, 20), 10u);
    EXPECT_EQ(takes(bucket, before_wrap + 8, limit, 20), 8u) << "8 ms later, across the wrap";
}

TEST(TokenBucket, ASmallerBurstAfterAReloadCapsWhatIsHeld) {
    TokenBucket bucket;
    const RateLimit wide{.rate_per_s = 1000, .burst = 100};
    ASSERT_TRUE(bucket.take(0, wide));
    EXPECT_EQ(bucket.tokens(), 99u);
    const RateLimit narrow{.rate_per_s = 1000, .burst = 5};
    EXPECT_EQ(takes(bucket, 1, narrow, 20), 5u);
}

}  // namespace
}  // namespace vipgate
