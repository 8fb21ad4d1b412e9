// Rates for the API's `get stats`: per second, since the previous sample any client took.
//
// Design note: vipctl is one process per command, so the daemon keeps the previous sample and
// every answer carries the rates against it; `vipctl top` polling once a second therefore shows
// one-second rates, and two `vipctl get stats` a minute apart show the minute's average. A
// sample younger than kMinimumInterval is not used (a rate over a few milliseconds is noise)
// and not kept (it would shorten the next caller's interval the same way). A counter that went
// down (a service port's endpoints changed, and with them the slots its sum is made of) is
// treated like a Prometheus counter reset: its increase is its current value. The clock is a
// parameter, so tests drive it.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

namespace vipgate {

class StatsRates {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kMinimumInterval{200};

    // `stats` is a `get stats` answer: {"counters":{...},"drops":{...},"services":[{...}]}.
    // Adds "rates" {"interval_s", "counters":{name: per second}, "drops": per second} and, per
    // service, "connections_per_second", "packets_per_second", "bytes_per_second" when a usable
    // previous sample exists; then keeps `stats` as the previous sample. Thread-safe.
    void add_rates(nlohmann::json& stats, Clock::time_point now);

private:
    struct Sample {
        Clock::time_point taken;
        nlohmann::json counters;
        uint64_t drops = 0;
        nlohmann::json services;  // {label: {"connections","packets","bytes"}}
    };

    static Sample sample_of(const nlohmann::json& stats, Clock::time_point now);

    std::mutex mutex_;
    std::optional<Sample> previous_;
};

}  // namespace vipgate
