#include <gtest/gtest.h>

#include "control/stats_rates.h"

namespace vipgate {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json stats(uint64_t rx, uint64_t active, uint64_t no_service, uint64_t web_packets) {
    return {
        {"ok", true},
        {"counters", {{"rx_packets", rx}, {"active_connections", active}}},
        {"drops", {{"no_service", no_service}, {"ttl_exceeded", 0}}},
        {"services", {{{"service", "default/web:80"}, {"connections", 1}, {"packets", web_packets}, {"bytes", 100}}}}};
}

TEST(StatsRates, FirstSampleHasNoRatesTheNextHasThem) {
    StatsRates rates;
    const auto start = StatsRates::Clock::time_point{} + 1h;
    json first = stats(1000, 5, 10, 400);
    rates.add_rates(first, start);
    EXPECT_FALSE(first.contains("rates"));
    json second = stats(3000, 7, 14, 1400);
    rates.add_rates(second, start + 2s);
    ASSERT_TRUE(second.contains("rates")) << second;
    EXPECT_DOUBLE_EQ(second["rates"]["interval_s"], 2.0);
    EXPECT_DOUBLE_EQ(second["rates"]["counters"]["rx_packets"], 1000.0);
    EXPECT_FALSE(second["rates"]["counters"].contains("active_connections")) << "a gauge has no rate";
    EXPECT_DOUBLE_EQ(second["rates"]["drops"], 2.0);
    EXPECT_DOUBLE_EQ(second["services"][0]["packets_per_second"], 500.0);
    EXPECT_DOUBLE_EQ(second["services"][0]["connections_per_second"], 0.0);
}

TEST(StatsRates, ASampleTooSoonIsNeitherUsedNorKept) {
    StatsRates rates;
    const auto start = StatsRates::Clock::time_point{} + 1h;
    json first = stats(1000, 0, 0, 0);
    rates.add_rates(first, start);
    json soon = stats(1010, 0, 0, 0);
    rates.add_rates(soon, start + 50ms);
    EXPECT_FALSE(soon.contains("rates"));
    json later = stats(2000, 0, 0, 0);
    rates.add_rates(later, start + 1s);
    EXPECT_DOUBLE_EQ(later["rates"]["counters"]["rx_packets"], 1000.0) << "measured from the first sample";
}

TEST(StatsRates, ADecreaseIsAResetAndANewServiceCountsFromZero) {
    StatsRates rates;
    const auto start = StatsRates::Clock::time_point{} + 1h;
    json first = stats(1000, 0, 0, 900);
    rates.add_rates(first, start);
    json second = stats(1500, 0, 0, 300);  // the service's endpoints changed: its sum went down
    second["services"].push_back({{"service", "default/dns:53"}, {"connections", 4}, {"packets", 8}, {"bytes", 800}});
    rates.add_rates(second, start + 1s);
    EXPECT_DOUBLE_EQ(second["services"][0]["packets_per_second"], 300.0);
    EXPECT_DOUBLE_EQ(second["services"][1]["connections_per_second"], 4.0);
    EXPECT_DOUBLE_EQ(second["services"][1]["bytes_per_second"], 800.0);
}

}  // namespace
}  // namespace vipgate
