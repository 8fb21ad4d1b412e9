// Token-bucket pacing of one generator lcore on a caller-supplied clock (TSC ticks in the
// generator, a plain counter in tests).
//
// Design note.
// - Why a token bucket rather than a per-packet departure schedule: the lcore sends in bursts,
//   so it needs "how many may go now", and it must not make up for time it lost. Credit
//   accrues at the rate but is capped at max_burst packets: after a stall (a full TX ring, an
//   interrupt, a slow poll) the sender gets at most one max_burst, never a catch-up burst far
//   above the rate that would distort the very measurement it feeds. The price is that a sender
//   that cannot keep up sends below the rate instead of averaging out; the trial reports the
//   rate actually sent, so that shortfall is visible rather than hidden.
// - Why fixed point: credit is counted in 2^-64 packets in 128-bit integers. Each tick adds a
//   constant (rate / ticks_per_second, rounded once at construction), and sending a packet
//   subtracts exactly 2^64, so no error accumulates from call to call, whatever the polling
//   pattern: the only error is that one rounding (about 10^-16 of the rate, plus under 2^-64
//   packets per tick). Floating-point credit would round on every call and drift with the
//   polling pattern. allowance() is a multiply, an add and a shift: no division, no syscall.
// - Time starts at the first allowance() call, with an empty bucket: over D seconds a sender
//   that keeps up sends rate * D packets to within one, without a max_burst head start (32
//   extra packets would be 3 % of a one-second trial at 1000 pps).
// - A clock that steps back adds no credit until it passes its previous reading.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace vipgen {

class RatePacer {
public:
    // packets_per_second <= 0 (or NaN), or ticks_per_second == 0, means unlimited: allowance()
    // always returns max_burst. A rate above max_burst packets per tick fills the bucket every
    // tick.
    RatePacer(double packets_per_second, uint64_t ticks_per_second, uint32_t max_burst) noexcept
        : unlimited_(!(packets_per_second > 0.0) || ticks_per_second == 0),
          max_burst_(max_burst),
          credit_cap_(Credit{max_burst} << kFractionBits),
          credit_per_tick_(unlimited_ ? 1 : to_credit_per_tick(packets_per_second / ticks_per_second, max_burst)),
          fill_ticks_(to_fill_ticks(credit_cap_, credit_per_tick_)) {}

    // How many packets may be sent at now_ticks, at most max_burst. Call consume() with the
    // number actually sent; what is not sent stays as credit (up to the cap).
    uint32_t allowance(uint64_t now_ticks) noexcept {
        if (unlimited_) return max_burst_;
        if (!started_) {
            started_ = true;
            last_ticks_ = now_ticks;
        }
        const uint64_t elapsed = now_ticks > last_ticks_ ? now_ticks - last_ticks_ : 0;
        last_ticks_ = std::max(last_ticks_, now_ticks);
        credit_ = std::min(credit_ + Credit{std::min(elapsed, fill_ticks_)} * credit_per_tick_, credit_cap_);
        return static_cast<uint32_t>(credit_ >> kFractionBits);
    }

    // Spends the credit of `sent` packets; sending more than the allowance only empties the bucket.
    void consume(uint32_t sent) noexcept { credit_ -= std::min(Credit{sent} << kFractionBits, credit_); }

private:
    __extension__ using Credit = unsigned __int128;  // packets in 64.64 fixed point
    static constexpr unsigned kFractionBits = 64;

    static Credit to_credit_per_tick(double packets_per_tick, uint32_t max_burst) noexcept {
        if (!(packets_per_tick < max_burst)) return std::max(Credit{max_burst} << kFractionBits, Credit{1});
        return std::max(static_cast<Credit>(std::round(std::ldexp(packets_per_tick, kFractionBits))), Credit{1});
    }

    // Ticks that take an empty bucket to full; a longer gap adds nothing more, which also keeps
    // elapsed * credit_per_tick_ far from overflowing after a long stall.
    static uint64_t to_fill_ticks(Credit cap, Credit per_tick) noexcept {
        return static_cast<uint64_t>((cap + per_tick - 1) / per_tick);
    }

    bool unlimited_;
    bool started_ = false;
    uint32_t max_burst_;
    Credit credit_cap_;       // max_burst packets
    Credit credit_per_tick_;  // at least 1: a positive rate never rounds to "no credit"
    uint64_t fill_ticks_;
    uint64_t last_ticks_ = 0;
    Credit credit_ = 0;
};

}  // namespace vipgen
