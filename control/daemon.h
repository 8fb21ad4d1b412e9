// The vipgate daemon: EAL and ports up, snapshot published, workers launched, then the control
// loop (ARP, reloads, statistics, snapshot reclamation) until a signal or the run time ends.
#pragma once

#include <optional>
#include <string>

#include "control/kubernetes_source.h"

namespace vipgate {

struct DaemonOptions {
    std::string config_path;                           // empty: the embedded default (demo) configuration
    double duration_seconds = 0;                       // 0: run until SIGINT/SIGTERM
    bool show_endpoints = false;                       // print the per-endpoint spread with every summary line
    std::string api_socket = "/run/vipgate/api.sock";  // empty: no control API
    std::string metrics_address = "127.0.0.1:9431";    // Prometheus endpoint; empty: none
    bool metrics_endpoints = false;                    // per-endpoint series (one per endpoint)
    std::optional<KubernetesOptions> kubernetes;       // set: follow this cluster's API server
};

// Returns the process exit code. Errors are logged with what to change.
int run_daemon(const DaemonOptions& options);

}  // namespace vipgate
