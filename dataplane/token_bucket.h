// Token bucket on the worker's millisecond clock: how many answers (ICMP errors, TCP resets,
// SCTP aborts) a worker may send and how many packets it may punt to the control thread.
//
// Design note: Linux limits the ICMP errors it sends with one token bucket (icmp_msgs_per_sec,
// icmp_msgs_burst: 1000/s, burst 50); a flood of packets that each deserve an answer would
// otherwise turn the gateway into a reflector and make it spend its TX on the flood. Each worker
// keeps its own bucket (no shared state on the packet path), so the gateway's total is the
// per-worker rate times the number of workers. The bucket counts thousandths of a token: a
// millisecond of `rate` tokens per second is exactly `rate` thousandths, so any integer rate
// refills without rounding, however few milliseconds pass between two packets. The limit is
// read from the snapshot on every call, so a reload changes it at once; the tokens the bucket
// holds carry over (capped at the new burst). The clock is the caller's (WorkerContext::now_ms,
// which tests set), and a pure function of it: nothing here reads time.
#pragma once

#include <algorithm>
#include <cstdint>

namespace vipgate {

struct RateLimit {
    uint32_t rate_per_s = 0;  // tokens added per second; 0: no limit
    uint32_t burst = 1;       // tokens the bucket holds at most (>= 1)
    bool operator==(const RateLimit&) const = default;
};

class TokenBucket {
public:
    // Takes one token if the bucket holds one (refilled up to `now_ms` first). Always true when
    // the limit is off. The first call finds the bucket full.
    bool take(uint32_t now_ms, const RateLimit& limit) noexcept {
        if (limit.rate_per_s == 0) return true;
        refill(now_ms, limit);
        if (millitokens_ < kScale) return false;
        millitokens_ -= kScale;
        return true;
    }

    // Whole tokens held as of the last call (tests and statistics).
    uint64_t tokens() const noexcept { return millitokens_ / kScale; }

private:
    static constexpr uint64_t kScale = 1000;  // thousandths of a token per token

    void refill(uint32_t now_ms, const RateLimit& limit) noexcept {
        const uint64_t capacity = uint64_t(limit.burst) * kScale;
        if (!started_) {
            started_ = true;
            millitokens_ = capacity;
        } else {
            // Unsigned difference: correct across the 49-day wrap of a 32-bit millisecond clock.
            const uint32_t elapsed_ms = now_ms - last_ms_;
            millitokens_ = std::min(capacity, millitokens_ + uint64_t(elapsed_ms) * limit.rate_per_s);
        }
        last_ms_ = now_ms;
    }

    uint64_t millitokens_ = 0;
    uint32_t last_ms_ = 0;
    bool started_ = false;
};

// The limits a worker applies, from the configuration's [limits] table (snapshot.h).
struct RateLimits {
    RateLimit answers{1000, 50};    // ICMP errors, TCP RSTs, SCTP ABORTs the gateway writes
    RateLimit punts{10000, 1000};   // packets passed to the control thread (ARP, neighbor misses)
    RateLimit kernel{10000, 1000};  // packets passed to the kernel exception path (fixed, README)
    bool operator==(const RateLimits&) const = default;
};

}  // namespace vipgate
