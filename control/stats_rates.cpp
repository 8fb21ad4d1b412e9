#include "control/stats_rates.h"

#include <string>

namespace vipgate {
namespace {

using nlohmann::json;

// Counters that are levels, not running totals: no rate.
bool is_gauge(const std::string& name) {
    return name == "active_connections";
}

double per_second(uint64_t now, uint64_t before, double seconds) {
    const uint64_t increase = now >= before ? now - before : now;  // a decrease is a reset
    return static_cast<double>(increase) / seconds;
}

uint64_t total_drops(const json& stats) {
    uint64_t total = 0;
    for (const auto& [reason, count] : stats.at("drops").items()) total += count.get<uint64_t>();
    return total;
}

}  // namespace

StatsRates::Sample StatsRates::sample_of(const json& stats, Clock::time_point now) {
    Sample sample{now, stats.at("counters"), total_drops(stats), json::object()};
    for (const json& service : stats.at("services")) {
        sample.services[service.at("service").get<std::string>()] = {{"connections", service.at("connections")},
                                                                     {"packets", service.at("packets")},
                                                                     {"bytes", service.at("bytes")}};
    }
    return sample;
}

void StatsRates::add_rates(json& stats, Clock::time_point now) {
    Sample current = sample_of(stats, now);
    const std::lock_guard<std::mutex> lock(mutex_);
    if (previous_ && now - previous_->taken < kMinimumInterval) return;
    if (previous_) {
        const double seconds = std::chrono::duration<double>(now - previous_->taken).count();
        json counters = json::object();
        for (const auto& [name, value] : current.counters.items()) {
            if (is_gauge(name) || !previous_->counters.contains(name)) continue;
            counters[name] = per_second(value.get<uint64_t>(), previous_->counters[name].get<uint64_t>(), seconds);
        }
        stats["rates"] = {{"interval_s", seconds},
                          {"counters", std::move(counters)},
                          {"drops", per_second(current.drops, previous_->drops, seconds)}};
        for (json& service : stats.at("services")) {
            const auto before = previous_->services.find(service.at("service").get<std::string>());
            for (const char* field : {"connections", "packets", "bytes"}) {
                const uint64_t earlier = before == previous_->services.end() ? 0 : before->at(field).get<uint64_t>();
                service[std::string(field) + "_per_second"] =
                    per_second(service.at(field).get<uint64_t>(), earlier, seconds);
            }
        }
    }
    previous_ = std::move(current);
}

}  // namespace vipgate
