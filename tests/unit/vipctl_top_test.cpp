#include <gtest/gtest.h>

#include <sstream>

#include "tools/vipctl/command_line.h"
#include "tools/vipctl/resource_tables.h"
#include "tools/vipctl/response_output.h"
#include "tools/vipctl/top.h"

namespace vipgate::vipctl {
namespace {

using nlohmann::json;

json service(const std::string& name, double packets_per_second) {
    return {{"service", name},
            {"vip", "198.18.128.10:80"},
            {"protocol", "TCP"},
            {"connections", 3},
            {"packets", 900},
            {"bytes", 64000},
            {"connections_per_second", 0.5},
            {"packets_per_second", packets_per_second},
            {"bytes_per_second", 45678.0}};
}

json stats_with_rates() {
    return {{"ok", true},
            {"generation", 12},
            {"counters", {{"rx_packets", 1000}, {"active_connections", 4}}},
            {"drops", {{"no_service", 7}}},
            {"services", {service("default/quiet:80", 2), service("default/busy:80", 7120000)}},
            {"rates", {{"interval_s", 1.0}, {"counters", {{"rx_packets", 1234.0}}}, {"drops", 0.5}}}};
}

TEST(VipctlTop, CommandLine) {
    const CommandLine command = parse_command_line({"top", "--interval", "0.5", "--count", "3", "-o", "wide"}, nullptr);
    EXPECT_EQ(command.verb, Verb::Top);
    EXPECT_DOUBLE_EQ(command.interval_s, 0.5);
    EXPECT_EQ(command.count, 3u);
    EXPECT_EQ(command.output, OutputFormat::Wide);
    auto usage_error = [](std::vector<std::string> args) {
        try {
            parse_command_line(args, nullptr);
        } catch (const UsageError& error) {
            return std::string(error.what());
        }
        return std::string("(accepted)");
    };
    EXPECT_EQ(usage_error({"top", "--interval", "0.1"}), "--interval takes seconds from 0.2 to 3600, not '0.1'");
    EXPECT_EQ(usage_error({"top", "--count", "0"}), "--count takes a positive number, not '0'");
    EXPECT_EQ(usage_error({"get", "stats", "--count", "2"}), "--count does not apply to 'get'");
    EXPECT_EQ(usage_error({"top", "-o", "json"}), "top prints tables; for JSON use: vipctl get stats -o json");
}

TEST(VipctlTop, FrameShowsRatesAndTheBusiestFirst) {
    const std::string frame = top_frame(stats_with_rates(), false);
    EXPECT_EQ(frame.rfind("generation 12   rx 1234 pkt/s   tx - pkt/s   new - conn/s   active 4   drops 0.5/s   "
                          "(over 1.0 s)\n\n",
                          0),
              0u)
        << frame;
    EXPECT_LT(frame.find("default/busy:80"), frame.find("default/quiet:80")) << frame;
    EXPECT_NE(frame.find("7.12M"), std::string::npos) << frame;
    EXPECT_NE(frame.find("45.7k"), std::string::npos) << frame;
}

TEST(VipctlTop, StatsTableGetsAPerSecondColumnWhenTheAnswerHasRates) {
    std::ostringstream out, err;
    print_stats(stats_with_rates(), TableOptions{std::nullopt, false}, out, err);
    EXPECT_NE(out.str().find("COUNTER              VALUE   PER SECOND"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("rx_packets           1000    1234"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("rates over the last 1.0 s"), std::string::npos) << out.str();
    EXPECT_TRUE(err.str().empty());
    json without = stats_with_rates();
    without.erase("rates");
    std::ostringstream out2, err2;
    print_stats(without, TableOptions{std::nullopt, false}, out2, err2);
    EXPECT_NE(err2.str().find("no rates yet"), std::string::npos);
}

TEST(VipctlTop, RefreshesCountTimesAfterAFirstSample) {
    CommandLine command = parse_command_line({"top", "--count", "2", "--interval", "0.3"}, nullptr);
    int requests = 0;
    std::vector<double> sleeps;
    std::ostringstream out, err;
    const int status = run_top(
        command,
        [&](const json&) {
            ++requests;
            return stats_with_rates();
        },
        [&](double seconds) { sleeps.push_back(seconds); }, out, err, false);
    EXPECT_EQ(status, kExitDone);
    EXPECT_EQ(requests, 3) << "one to start the interval, one per refresh";
    EXPECT_EQ(sleeps, (std::vector<double>{0.3, 0.3}));
    size_t frames = 0;
    for (size_t at = out.str().find("generation 12"); at != std::string::npos;
         at = out.str().find("generation 12", at + 1)) {
        ++frames;
    }
    EXPECT_EQ(frames, 2u);
}

TEST(VipctlTop, ARefusalEndsTopWithItsError) {
    CommandLine command = parse_command_line({"top", "--count", "5"}, nullptr);
    std::ostringstream out, err;
    const int status = run_top(
        command,
        [](const json&) {
            return json{{"ok", false}, {"error", "unknown resource 'stats'"}};
        },
        [](double) {}, out, err, false);
    EXPECT_EQ(status, kExitRefused);
    EXPECT_NE(err.str().find("unknown resource 'stats'"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace vipgate::vipctl
