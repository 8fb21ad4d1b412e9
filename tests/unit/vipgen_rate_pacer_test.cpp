// RatePacer on a fake clock: packets leave at the rate (to the packet over a simulated second,
// whatever the polling pattern), saved-up credit never exceeds one burst after a stall, and a
// rate of 0 means unlimited.
#include "pktgen/rate_pacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>

namespace vipgen {
namespace {

constexpr uint64_t kTicksPerSecond = 2'200'000'000;  // a 2.2 GHz TSC: not a power of two
constexpr uint32_t kMaxBurst = 32;
constexpr uint64_t kStart = 123'456'789;  // the clock does not start at 0

// A sender that keeps up: polls at random intervals of 1..max_step ticks and sends its whole
// allowance, from `start` until exactly `start + duration` ticks. Returns the packets sent.
uint64_t run_sender(RatePacer& pacer, uint64_t start, uint64_t duration, uint64_t max_step, uint64_t seed) {
    std::mt19937_64 random(seed);
    std::uniform_int_distribution<uint64_t> step(1, max_step);
    uint64_t sent = 0;
    for (uint64_t now = start;; now = std::min(now + step(random), start + duration)) {
        const uint32_t allowed = pacer.allowance(now);
        EXPECT_LE(allowed, kMaxBurst);
        pacer.consume(allowed);
        sent += allowed;
        if (now == start + duration) return sent;
    }
}

TEST(RatePacerTest, SendsTheRateOverOneSecondToThePacket) {
    for (double rate : {1'000.0, 123'456.7, 1'000'000.0, 14'880'952.0, 20'000'000.0}) {
        RatePacer pacer(rate, kTicksPerSecond, kMaxBurst);
        // 1000 ticks at 20 Mpps is 9 packets: the sender always keeps up.
        const uint64_t sent = run_sender(pacer, kStart, kTicksPerSecond, 1'000, kStart + static_cast<uint64_t>(rate));
        EXPECT_NEAR(static_cast<double>(sent), rate, 1.0) << rate << " pps";
    }
}

TEST(RatePacerTest, LongRunDoesNotDrift) {
    constexpr double kRate = 3'333'333.3;
    constexpr uint64_t kSeconds = 20;
    RatePacer pacer(kRate, kTicksPerSecond, kMaxBurst);
    const uint64_t sent = run_sender(pacer, kStart, kSeconds * kTicksPerSecond, 5'000, 7);
    EXPECT_NEAR(static_cast<double>(sent), kRate * kSeconds, 1.0);
}

TEST(RatePacerTest, StartsEmptyAndSpacesPacketsByTheInterval) {
    constexpr uint64_t kTicks = uint64_t{1} << 20;
    constexpr uint64_t kInterval = 1024;  // 1024 packets per 2^20 ticks: exact in binary
    RatePacer pacer(static_cast<double>(kTicks / kInterval), kTicks, kMaxBurst);

    EXPECT_EQ(pacer.allowance(kStart), 0u);
    EXPECT_EQ(pacer.allowance(kStart + kInterval - 1), 0u);
    EXPECT_EQ(pacer.allowance(kStart + kInterval), 1u);
    pacer.consume(1);
    EXPECT_EQ(pacer.allowance(kStart + kInterval), 0u);
    EXPECT_EQ(pacer.allowance(kStart + 2 * kInterval - 1), 0u);
    EXPECT_EQ(pacer.allowance(kStart + 5 * kInterval), 4u);
}

TEST(RatePacerTest, UnsentAllowanceCarriesOver) {
    constexpr uint64_t kTicks = uint64_t{1} << 20;
    constexpr uint64_t kInterval = 1024;
    RatePacer pacer(static_cast<double>(kTicks / kInterval), kTicks, kMaxBurst);

    pacer.allowance(kStart);
    ASSERT_EQ(pacer.allowance(kStart + 10 * kInterval), 10u);
    pacer.consume(3);  // a partial burst: the TX ring took only 3
    EXPECT_EQ(pacer.allowance(kStart + 10 * kInterval), 7u);
    EXPECT_EQ(pacer.allowance(kStart + 11 * kInterval), 8u);
}

// After a one-second stall the sender may send one max_burst, not the million packets it
// missed; then it is back to the plain rate.
TEST(RatePacerTest, CreditAfterAStallIsCappedAtMaxBurst) {
    constexpr double kRate = 1'000'000.0;
    constexpr uint64_t kTicksPerPacket = kTicksPerSecond / 1'000'000;
    RatePacer pacer(kRate, kTicksPerSecond, kMaxBurst);
    run_sender(pacer, kStart, kTicksPerSecond / 100, 1'000, 11);

    const uint64_t resume = kStart + kTicksPerSecond / 100 + kTicksPerSecond;
    ASSERT_EQ(pacer.allowance(resume), kMaxBurst);
    pacer.consume(kMaxBurst);
    EXPECT_EQ(pacer.allowance(resume), 0u);
    EXPECT_EQ(pacer.allowance(resume + 10 * kTicksPerPacket + 1), 10u);
    pacer.consume(10);

    const uint64_t sent = run_sender(pacer, resume + 10 * kTicksPerPacket + 1, kTicksPerSecond, 1'000, 12);
    EXPECT_NEAR(static_cast<double>(sent), kRate, 1.0);
}

TEST(RatePacerTest, ClockSteppingBackAddsNoCredit) {
    constexpr uint64_t kTicks = uint64_t{1} << 20;
    constexpr uint64_t kInterval = 1024;
    RatePacer pacer(static_cast<double>(kTicks / kInterval), kTicks, kMaxBurst);

    pacer.allowance(kStart);
    ASSERT_EQ(pacer.allowance(kStart + 3 * kInterval), 3u);
    pacer.consume(3);
    EXPECT_EQ(pacer.allowance(kStart), 0u);
    EXPECT_EQ(pacer.allowance(kStart + 4 * kInterval), 1u);
}

TEST(RatePacerTest, RateAboveMaxBurstPerTickFillsOneBurstPerTick) {
    RatePacer pacer(1e12, 1'000'000'000, kMaxBurst);
    EXPECT_EQ(pacer.allowance(kStart), 0u);
    EXPECT_EQ(pacer.allowance(kStart + 1), kMaxBurst);
    pacer.consume(kMaxBurst);
    EXPECT_EQ(pacer.allowance(kStart + 1), 0u);
    EXPECT_EQ(pacer.allowance(kStart + 2), kMaxBurst);
}

TEST(RatePacerTest, ZeroRateIsUnlimited) {
    RatePacer pacer(0.0, kTicksPerSecond, kMaxBurst);
    for (uint64_t now : {uint64_t{0}, uint64_t{0}, kStart, kStart, kStart + kTicksPerSecond}) {
        EXPECT_EQ(pacer.allowance(now), kMaxBurst) << now;
        pacer.consume(kMaxBurst);
    }
}

}  // namespace
}  // namespace vipgen
