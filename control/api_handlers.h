// The control API's requests (see control/api_protocol.md), served on the API thread.
//
// Design note: handlers turn JSON into ControlPlane calls and state into JSON; they hold no
// state of their own. Changes go through ControlPlane (validated whole, then published); reads
// take its lock too. Worker-owned data (connection tables, counters) is read without stopping
// the workers: the memory is preallocated and never freed while they run, so a listing can at
// worst show an entry that is being changed, never crash.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "control/control_plane.h"
#include "control/stats_rates.h"
#include "dataplane/worker_context.h"

namespace vipgate {

class Publisher;

class StatsReporter;

struct ApiBackend {
    ControlPlane& control;
    const Publisher& publisher;
    const StatsReporter& reporter;  // per-endpoint counts and latencies (read under the control lock)
    std::vector<WorkerContext*> workers;
    StatsRates stats_rates{};  // `get stats` rates: the one piece of state, with its own lock
};

nlohmann::json handle_api_request(const nlohmann::json& request, ApiBackend& backend);

}  // namespace vipgate
