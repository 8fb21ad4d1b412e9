// The control API's requests (see control/api_protocol.md), served on the API thread.
//
// Design note: handlers turn JSON into ControlPlane calls and state into JSON; they hold no
// state of their own. Changes go through ControlPlane (validated whole, then published); reads
// take its lock too. Worker-owned data (connection tables, counters) is read without stopping
// the workers: the memory is preallocated and never freed while they run, so a listing can at
// worst show an entry that is being changed, never crash. So handle_api_request is thread-safe:
// the API serves connections concurrently, and DPDK's telemetry thread calls it as well.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/control_plane.h"
#include "control/stats_rates.h"
#include "dataplane/worker_context.h"

namespace vipgate {

class Publisher;

class StatsReporter;
class KubernetesSource;
class RouteAnnouncer;
class NeighborCountsBoard;
class RouterAdvertisementBoard;

// A port `vipctl capture` can name.
struct CapturePort {
    std::string name;  // the configured name, e.g. "p0"
    uint16_t port_id = 0;
};

struct ApiBackend {
    ControlPlane& control;
    const Publisher& publisher;
    const StatsReporter& reporter;  // per-endpoint counts and latencies (read under the control lock)
    std::vector<WorkerContext*> workers;
    StatsRates stats_rates{};  // `get stats` rates: the one piece of state, with its own lock
    std::vector<CapturePort> ports{};
    std::atomic<bool> stopping{false};               // set by the daemon before it stops the API: long requests end
    const KubernetesSource* kubernetes = nullptr;    // set: its state goes into `get stats`
    RouteAnnouncer* announcer = nullptr;             // set: [announce] enabled (get announcements, drain-gateway)
    const NeighborCountsBoard* neighbors = nullptr;  // set: ARP and ND counts go into `get stats`
    // set: the default routers learnt from router advertisements (`get routes`, `get stats`)
    const RouterAdvertisementBoard* router_advertisements = nullptr;
};

nlohmann::json handle_api_request(const nlohmann::json& request, ApiBackend& backend);

}  // namespace vipgate
