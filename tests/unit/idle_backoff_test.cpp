#include <gtest/gtest.h>

#include "dataplane/idle_backoff.h"

namespace vipgate {
namespace {

constexpr IdlePolicy kAdaptive{true, 100};

TEST(IdleBackoff, BusyPollingNeverSleeps) {
    IdleBackoff backoff;
    for (int poll = 0; poll < 10'000; ++poll) ASSERT_EQ(backoff.after_poll(false, IdlePolicy{}), 0u);
}

TEST(IdleBackoff, SleepsOnlyAfterManyEmptyPollsThenDoublesUpToTheMaximum) {
    IdleBackoff backoff;
    for (uint32_t poll = 1; poll < IdleBackoff::kPollsBeforeSleep; ++poll) {
        ASSERT_EQ(backoff.after_poll(false, kAdaptive), 0u) << "poll " << poll;
    }
    const uint32_t expected[] = {1, 2, 4, 8, 16, 32, 64, 100, 100, 100};
    for (uint32_t sleep_us : expected) EXPECT_EQ(backoff.after_poll(false, kAdaptive), sleep_us);
}

TEST(IdleBackoff, OnePacketResetsTheBackoff) {
    IdleBackoff backoff;
    for (uint32_t poll = 0; poll < IdleBackoff::kPollsBeforeSleep + 5; ++poll) backoff.after_poll(false, kAdaptive);
    EXPECT_EQ(backoff.after_poll(true, kAdaptive), 0u);
    for (uint32_t poll = 1; poll < IdleBackoff::kPollsBeforeSleep; ++poll) {
        ASSERT_EQ(backoff.after_poll(false, kAdaptive), 0u);
    }
    EXPECT_EQ(backoff.after_poll(false, kAdaptive), 1u);
}

TEST(IdleBackoff, ALowerMaximumTakesEffectAtOnce) {
    IdleBackoff backoff;
    for (uint32_t poll = 0; poll < IdleBackoff::kPollsBeforeSleep + 20; ++poll) backoff.after_poll(false, kAdaptive);
    EXPECT_EQ(backoff.after_poll(false, IdlePolicy{true, 10}), 10u) << "a reload lowered idle_max_sleep_us";
}

}  // namespace
}  // namespace vipgate
