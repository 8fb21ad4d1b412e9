// The Prometheus endpoint: an HTTP server (prometheus-cpp's Exposer, civetweb threads) whose
// collector samples vipgate at scrape time.
//
// Design note. The workers know nothing of it: a scrape copies their plain counters (as the
// summary line and `vipctl get stats` do; see counters.h), reads each port's rte_eth_stats and
// the mempools' in-use counts, and reads the published snapshot's service ports under the
// control plane's lock, the lock under which retired snapshots are reclaimed (so the snapshot
// cannot be freed mid-read; an update in progress delays the scrape, never a worker). Nothing
// is allocated, locked or written on the packet path for it. Formatting lives in
// metrics_families.* (no DPDK).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "control/metrics_families.h"
#include "control/port_setup.h"

namespace prometheus {
class Exposer;
}

namespace vipgate {

class ControlPlane;
class Publisher;
class StatsReporter;
class KubernetesSource;
class RouteAnnouncer;
class NeighborCountsBoard;
class RouterAdvertisementBoard;
struct WorkerContext;

struct MetricsSources {
    std::vector<WorkerContext*> workers;
    std::vector<PortRuntime> ports;
    ControlPlane& control;
    Publisher& publisher;
    const StatsReporter& reporter;  // per-endpoint and per-service-port counts (read under the lock)
    const UpdateMetrics& updates;
    bool per_endpoint = false;
    const KubernetesSource* kubernetes = nullptr;                     // set: the source's state as series
    const RouteAnnouncer* announcer = nullptr;                        // set: the announced routes as series
    const NeighborCountsBoard* neighbors = nullptr;                   // set: the ARP and ND counts as series
    const RouterAdvertisementBoard* router_advertisements = nullptr;  // set: with the ND counts
};

// Everything one scrape reports, read from the live sources (the control plane's lock is taken
// for the snapshot part).
MetricsSample sample_metrics(const MetricsSources& sources);

class MetricsExporter {
public:
    explicit MetricsExporter(MetricsSources sources);
    ~MetricsExporter();  // stops the HTTP server: no scrape runs afterwards

    // Listens on "address:port" and serves /metrics. Throws std::runtime_error (port in use,
    // bad address) with the address in the message. Port 0 takes a free port.
    void start(const std::string& address);

    // "address:port" with the port actually bound (what port 0 became). After start().
    std::string listening_address() const;

private:
    class Collector;
    std::shared_ptr<Collector> collector_;
    std::unique_ptr<prometheus::Exposer> exposer_;
    std::string address_;
};

}  // namespace vipgate
