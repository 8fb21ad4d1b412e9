// `vipctl top`: the busiest service ports and the gateway's rates, refreshed every interval,
// like kubectl top and top(1).
//
// Design note: the daemon computes rates per second since the previous `get stats` sample of any
// client (control/stats_rates.h). top therefore asks once to start the interval, then once per
// interval, and shows the rates the daemon computed over exactly that interval (another client
// asking in between shortens it; the rates stay correct, only the window moves).
#pragma once

#include <functional>
#include <ostream>

#include <nlohmann/json.hpp>

#include "tools/vipctl/command_line.h"

namespace vipgate::vipctl {

// Service rows shown unless -o wide.
constexpr size_t kTopRows = 20;

using SendRequest = std::function<nlohmann::json(const nlohmann::json&)>;
using Sleep = std::function<void(double seconds)>;

// Runs command.count refreshes (0: until interrupted). Returns kExitDone, or kExitRefused when
// the daemon refuses (its error goes to err). A terminal gets its screen cleared per refresh.
int run_top(const CommandLine& command, const SendRequest& send, const Sleep& sleep, std::ostream& out,
            std::ostream& err, bool clear_screen);

// One refresh: the header line and the services table of a `get stats` answer.
std::string top_frame(const nlohmann::json& stats, bool wide);

}  // namespace vipgate::vipctl
