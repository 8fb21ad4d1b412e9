#include "control/metrics_exporter.h"

#include "control/snapshot_text.h"

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include "config/config.h"
#include "control/control_plane.h"
#include "control/default_routers.h"
#include "control/kubernetes_source.h"
#include "control/neighbor_counts.h"
#include "control/publisher.h"
#include "control/route_announcer.h"
#include "control/stats_reporter.h"
#include "dataplane/worker_context.h"

namespace vipgate {

MetricsSample sample_metrics(const MetricsSources& sources) {
    MetricsSample sample;
    sample.version = VIPGATE_VERSION;
    sample.dpdk_version = rte_version();
    sample.per_endpoint = sources.per_endpoint;
    if (sources.kubernetes != nullptr) sample.kubernetes = sources.kubernetes->status();
    if (sources.announcer != nullptr) {
        const AnnouncementStatus status = sources.announcer->status();
        sample.announcements = AnnouncementSample{status.announced_vips, status.routes.size() + status.routes6.size(),
                                                  status.drained, status.failures};
    }
    if (sources.neighbors != nullptr) {
        sample.neighbors = NeighborSample{sources.neighbors->arp(), sources.neighbors->nd()};
        if (sources.router_advertisements != nullptr) {
            const RouterAdvertisementView view = sources.router_advertisements->view();
            sample.neighbors->router_advertisements = view.counts;
            sample.neighbors->default_routers = view.routers.size();
        }
    }
    for (const WorkerContext* worker : sources.workers) {
        WorkerSample& out = sample.workers.emplace_back();
        out.index = worker->worker_index;
        out.counters = worker->counters;  // plain reads of what the worker writes (counters.h)
        out.conntrack = connection_table_fill(*worker);
        out.affinity = affinity_table_fill(*worker);
    }
    std::set<const rte_mempool*> pools;
    for (const PortRuntime& port : sources.ports) {
        rte_eth_stats stats{};
        if (rte_eth_stats_get(port.port_id, &stats) == 0) {
            sample.ports.push_back(PortSample{port.name, stats.ipackets, stats.opackets, stats.ibytes, stats.obytes,
                                              stats.imissed, stats.rx_nombuf, stats.ierrors, stats.oerrors});
        }
        if (port.pool != nullptr && pools.insert(port.pool).second) {
            sample.pools.push_back(PoolSample{port.pool->name, rte_mempool_in_use_count(port.pool), port.pool->size});
        }
    }
    sample.ipv6_cluster_ips_not_served = sources.control.ipv6_cluster_ips_not_served();
    // Under the control plane's lock: the publisher frees retired snapshots under it, and the
    // reporter notes every snapshot under it before publication.
    sources.control.locked([&] {
        const Snapshot& snapshot = *sources.publisher.current();
        sample.generation = snapshot.generation;
        const std::vector<EndpointCounters> endpoints = sources.reporter.endpoint_counts(snapshot);
        const std::vector<ConnectLatency> latencies = sources.reporter.endpoint_latencies(snapshot);
        const std::vector<uint64_t> refusals = sources.reporter.service_port_refusals(snapshot);
        for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
            const ServicePort& port = snapshot.service_ports[id];
            if (port.incarnation == 0) continue;
            ServicePortSample& out = sample.service_ports.emplace_back();
            out.name = port.service_name;
            out.protocol = protocol_name(port.protocol);
            out.counters = sources.reporter.service_port_counts(snapshot, id, endpoints);
            out.latency = sources.reporter.service_port_latency(snapshot, id, latencies);
            out.refusals = id < refusals.size() ? refusals[id] : 0;
            if (!sources.per_endpoint) continue;
            for (uint32_t slot : port.endpoint_slots) {
                if (slot >= endpoints.size()) continue;
                const EndpointSlot& endpoint = snapshot.endpoints[slot];
                out.endpoints.push_back(EndpointSample{endpoint_text(endpoint), endpoints[slot]});
            }
        }
    });
    return sample;
}

class MetricsExporter::Collector : public prometheus::Collectable {
public:
    explicit Collector(MetricsSources sources) : sources_(std::move(sources)) {}

    std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> families = metric_families(sample_metrics(sources_));
        std::vector<prometheus::MetricFamily> updates = sources_.updates.collect();
        families.insert(families.end(), std::make_move_iterator(updates.begin()),
                        std::make_move_iterator(updates.end()));
        return families;
    }

private:
    MetricsSources sources_;
};

MetricsExporter::MetricsExporter(MetricsSources sources)
    : collector_(std::make_shared<Collector>(std::move(sources))) {}

MetricsExporter::~MetricsExporter() = default;

void MetricsExporter::start(const std::string& address) {
    try {
        // One thread: scrapes are seconds apart, and each takes the control plane's lock anyway.
        exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
    } catch (const std::exception& error) {
        throw std::runtime_error("cannot serve metrics on " + address +
                                 " (address in use or invalid?): " + error.what());
    }
    exposer_->RegisterCollectable(collector_);
    address_ = address;
}

std::string MetricsExporter::listening_address() const {
    const std::vector<int> ports = exposer_->GetListeningPorts();
    const std::size_t colon = address_.rfind(':');
    if (ports.empty() || colon == std::string::npos) return address_;
    return address_.substr(0, colon + 1) + std::to_string(ports.front());
}

}  // namespace vipgate
