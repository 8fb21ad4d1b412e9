// Adaptive polling: a worker keeps busy-polling while packets arrive and backs off to short
// sleeps when its queues stay empty, as DPDK's l3fwd-power and VPP's adaptive mode do. Busy
// polling owns a core whether or not there is traffic; a gateway that shares its cores (a small
// edge site, a test machine, several gateways on one host) or that cares about power trades a
// little latency at low load for an idle core.
//
// The back-off: after kPollsBeforeSleep empty polls in a row (tens of microseconds of polling,
// so a burst that pauses briefly never meets a sleep), sleep 1 us, then double each empty poll
// up to max_sleep_us. The first packet resets it. At full load a poll never comes back empty,
// so adaptive mode costs nothing there; at low load a packet waits at most max_sleep_us, and
// the RX ring must hold what arrives meanwhile (1,024 descriptors hold 100 us at 10 Mpps).
#pragma once

#include <algorithm>
#include <cstdint>

namespace vipgate {

struct IdlePolicy {
    bool adaptive = false;  // false: busy-poll always
    uint32_t max_sleep_us = 100;
};

class IdleBackoff {
public:
    static constexpr uint32_t kPollsBeforeSleep = 512;

    // Called after every poll loop; how long to sleep now (0: poll again at once).
    uint32_t after_poll(bool busy, const IdlePolicy& policy) noexcept {
        if (busy || !policy.adaptive) {
            empty_polls_ = 0;
            sleep_us_ = 0;
            return 0;
        }
        if (++empty_polls_ < kPollsBeforeSleep) return 0;
        sleep_us_ = sleep_us_ == 0 ? 1 : std::min(sleep_us_ * 2, policy.max_sleep_us);
        return std::min(sleep_us_, policy.max_sleep_us);
    }

private:
    uint32_t empty_polls_ = 0;
    uint32_t sleep_us_ = 0;
};

}  // namespace vipgate
