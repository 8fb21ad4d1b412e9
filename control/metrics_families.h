// Prometheus metric families of vipgate, built from a plain sample of its state.
//
// Design note. A scrape must never slow the workers, so nothing here is kept up to date on the
// packet path: the exporter (metrics_exporter.*) copies the workers' plain counters, the ports'
// rte_eth_stats and the published snapshot's service ports into a MetricsSample at scrape time,
// and metric_families() turns that sample into families. The split keeps the naming, labelling
// and summing free of DPDK, so the unit test checks every family against a hand-made sample.
// Control-plane updates are the one thing recorded as they happen (UpdateMetrics): a duration
// cannot be recovered at scrape time. They are prometheus-cpp histograms, observed by the
// control plane's thread, never by a worker.
//
// Names follow the Prometheus conventions: `vipgate_` prefix, base units (seconds, bytes),
// `_total` on counters, and labels of bounded cardinality (worker, port, pool, drop reason,
// address family, service port); per-endpoint series only when asked for (--metrics-endpoints).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "control/connect_latency.h"
#include "control/kubernetes_status.h"
#include "control/neighbor_counts.h"
#include "control/table_fill.h"
#include "dataplane/counters.h"

namespace vipgate {

struct WorkerSample {
    uint16_t index = 0;
    WorkerCounters counters;
    FamilyFill conntrack;  // the connection tables, by address family (table_fill.h)
    FamilyFill affinity;   // the session affinity tables
};

// A port's rte_eth_stats, under the port's configured name.
struct PortSample {
    std::string name;
    uint64_t rx_packets = 0;
    uint64_t tx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_bytes = 0;
    uint64_t rx_missed = 0;  // imissed: dropped by the NIC, no room in the RX ring
    uint64_t rx_nombuf = 0;  // rx_nombuf: RX mbuf allocation failures
    uint64_t rx_errors = 0;
    uint64_t tx_errors = 0;
};

struct PoolSample {
    std::string name;
    uint64_t in_use = 0;
    uint64_t size = 0;
};

struct EndpointSample {
    std::string endpoint;  // "address:port"
    EndpointCounters counters;
};

struct ServicePortSample {
    std::string name;                       // the snapshot's "namespace/name:port" (port name, or number when unnamed)
    std::string protocol;                   // TCP, UDP, SCTP
    EndpointCounters counters;              // since it appeared, endpoints that left it included
    ConnectLatency latency;                 // the same, SYN -> SYN-ACK
    uint64_t refusals = 0;                  // new connections refused: no usable endpoint
    std::vector<EndpointSample> endpoints;  // filled only with per-endpoint series enabled
};

// The route announcer ([announce]): what the gateway tells its routing daemon.
struct AnnouncementSample {
    uint64_t announced_vips = 0;  // /32 VIP routes held in the kernel table
    uint64_t routes = 0;          // every route held (the service CIDR aggregate included)
    bool drained = false;         // drain-gateway: nothing announced
    uint64_t failures = 0;        // route changes the kernel refused
};

// ARP and IPv6 Neighbor Discovery (neighbor_counts.h): the final report's `arp:` and `nd:` lines.
struct NeighborSample {
    NeighborCounts arp;
    NeighborCounts nd;
    RouterAdvertisementCounts router_advertisements;  // ports with accept_router_advertisements
    uint64_t default_routers = 0;                     // IPv6 default routers known now
};

struct MetricsSample {
    std::vector<WorkerSample> workers;
    std::vector<PortSample> ports;
    std::vector<PoolSample> pools;
    std::vector<ServicePortSample> service_ports;
    bool per_endpoint = false;
    uint64_t generation = 0;  // of the published snapshot
    uint64_t ipv6_cluster_ips_not_served = 0;
    std::string version;  // vipgate
    std::string dpdk_version;
    std::optional<KubernetesStatus> kubernetes;       // set when following a cluster
    std::optional<AnnouncementSample> announcements;  // set when [announce] is enabled
    std::optional<NeighborSample> neighbors;          // set by the daemon (not by every test sample)
};

// How a worker counter becomes a series: the family it belongs to and, when the family has
// several members, the one label that tells them apart. Counters summed over workers unless
// per_worker. Every kCounterFields entry appears exactly once (the unit test checks).
struct CounterMetric {
    uint64_t WorkerCounters::*member;
    const char* family;
    const char* help;
    bool gauge;
    bool per_worker;
    const char* label;  // nullptr: the family has this one series (per worker or summed)
    const char* value;
};
extern const std::vector<CounterMetric> kCounterMetrics;

// "namespace/name:port" split into its labels; a name without '/' or ':' keeps its parts empty.
struct ServicePortLabels {
    std::string namespace_name;
    std::string service;
    std::string port;
};
ServicePortLabels service_port_labels(const std::string& name);

std::vector<prometheus::MetricFamily> metric_families(const MetricsSample& sample);

// Control-plane updates: each call of the control plane (apply, delete, drain, reload) is one
// update. Thread-safe (prometheus-cpp metrics lock internally).
class UpdateMetrics {
public:
    enum class Result { Published, Unchanged, Refused };

    // Bucket bounds in seconds: 50 us to 10 s, roughly three per decade. A one-service change
    // takes tens of microseconds, a 10,000-service reload seconds.
    static const std::vector<double> kBuckets;

    UpdateMetrics();

    // validate/build/publish: the phases of ControlPlane (build and publish only for a
    // published update); programming: from the request to every worker using the new snapshot.
    void observe(Result result, double validate_seconds, double build_seconds, double publish_seconds,
                 double programming_seconds, std::chrono::system_clock::time_point when);

    std::vector<prometheus::MetricFamily> collect() const;

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Histogram* validate_;
    prometheus::Histogram* build_;
    prometheus::Histogram* publish_;
    prometheus::Histogram* programming_;
    prometheus::Counter* published_;
    prometheus::Counter* unchanged_;
    prometheus::Counter* refused_;
    prometheus::Gauge* last_update_;
};

}  // namespace vipgate
