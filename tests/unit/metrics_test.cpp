// The Prometheus families built from hand-made samples (no DPDK): every worker counter mapped
// once, sums over workers, per-worker series, drop reasons, service-port labels, per-endpoint
// series only when enabled, naming conventions, the text exposition, update histograms.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include <prometheus/text_serializer.h>

#include "control/metrics_families.h"

namespace vipgate {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

const MetricFamily* find_family(const std::vector<MetricFamily>& families, const std::string& name) {
    for (const MetricFamily& family : families) {
        if (family.name == name) return &family;
    }
    return nullptr;
}

// Value of the series of `name` whose labels include every pair of `labels`.
double value_of(const std::vector<MetricFamily>& families, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    const MetricFamily* family = find_family(families, name);
    if (family == nullptr) {
        ADD_FAILURE() << "no family " << name;
        return -1;
    }
    for (const auto& metric : family->metric) {
        size_t matched = 0;
        for (const auto& label : metric.label) {
            auto found = labels.find(label.name);
            if (found != labels.end() && found->second == label.value) ++matched;
        }
        if (matched != labels.size()) continue;
        return family->type == MetricType::Counter ? metric.counter.value : metric.gauge.value;
    }
    ADD_FAILURE() << "no series of " << name << " with the given labels";
    return -1;
}

MetricsSample two_workers() {
    MetricsSample sample;
    sample.version = "0.1.0";
    sample.dpdk_version = "DPDK 22.11.4";
    sample.generation = 7;
    for (uint16_t index = 0; index < 2; ++index) {
        WorkerSample worker;
        worker.index = index;
        worker.counters.forwarded_to_endpoint = 100 + index;
        worker.counters.forwarded_to_client = 50;
        worker.counters.new_connections = 10;
        worker.counters.conntrack_evictions = 1;
        worker.counters.active_connections = 4 + index;
        worker.counters.loops = 1000;
        worker.counters.busy_loops = 250 * (index + 1);
        worker.counters.snapshot_generation = 7;
        worker.counters.drop(DropReason::NoEndpoint);
        worker.counters.drop(DropReason::TxQueueFull);
        worker.counters.drop(DropReason::TxQueueFull);
        worker.conntrack = {TableFill{4u + index, 65536}, TableFill{10u * index, 16384}};
        worker.affinity = {TableFill{index, 131073}, TableFill{0, 0}};
        sample.workers.push_back(worker);
    }
    sample.ports.push_back(PortSample{"p0", 1000, 900, 64000, 57600, 3, 2, 1, 0});
    sample.pools.push_back(PoolSample{"mbufs_p0", 1234, 8191});
    ServicePortSample web;
    web.name = "default/web:http";
    web.protocol = "TCP";
    web.counters = EndpointCounters{20, 300, 19200};
    web.endpoints = {{"198.18.0.11:8080", {12, 180, 11520}}, {"198.18.0.12:8080", {8, 120, 7680}}};
    sample.service_ports.push_back(web);
    ServicePortSample dns;
    dns.name = "kube-system/dns:53";
    dns.protocol = "UDP";
    sample.service_ports.push_back(dns);
    return sample;
}

TEST(MetricsFamilies, EveryWorkerCounterIsExportedOnce) {
    for (const CounterField& field : kCounterFields) {
        int seen = 0;
        for (const CounterMetric& metric : kCounterMetrics) seen += metric.member == field.member;
        EXPECT_EQ(seen, 1) << field.name << " must map to exactly one series";
    }
    EXPECT_EQ(kCounterMetrics.size(), std::size(kCounterFields));
}

TEST(MetricsFamilies, NamesFollowThePrometheusConventions) {
    MetricsSample sample = two_workers();
    sample.per_endpoint = true;
    sample.neighbors = NeighborSample{};
    std::set<std::string> names;
    for (const MetricFamily& family : metric_families(sample)) {
        EXPECT_TRUE(names.insert(family.name).second) << family.name << " appears twice";
        EXPECT_EQ(family.name.rfind("vipgate_", 0), 0u) << family.name;
        EXPECT_FALSE(family.help.empty()) << family.name;
        const bool total = family.name.size() > 6 && family.name.substr(family.name.size() - 6) == "_total";
        EXPECT_EQ(total, family.type == MetricType::Counter) << family.name << ": _total iff a counter";
        for (const auto& metric : family.metric) {
            for (const auto& label : metric.label) {
                EXPECT_NE(label.name, "client") << "no per-client series";
            }
        }
    }
}

TEST(MetricsFamilies, SumsOverWorkersAndKeepsPerWorkerSeries) {
    const std::vector<MetricFamily> families = metric_families(two_workers());
    EXPECT_EQ(value_of(families, "vipgate_forwarded_packets_total", {{"direction", "to_endpoint"}}), 201);
    EXPECT_EQ(value_of(families, "vipgate_forwarded_packets_total", {{"direction", "to_client"}}), 100);
    EXPECT_EQ(value_of(families, "vipgate_connections_new_total"), 20);
    EXPECT_EQ(value_of(families, "vipgate_connections_evicted_total"), 2);
    EXPECT_EQ(value_of(families, "vipgate_connections_active"), 9);
    EXPECT_EQ(find_family(families, "vipgate_connections_active")->type, MetricType::Gauge);
    EXPECT_EQ(value_of(families, "vipgate_worker_polls_total", {{"worker", "1"}}), 1000);
    EXPECT_EQ(value_of(families, "vipgate_worker_busy_polls_total", {{"worker", "0"}}), 250);
    EXPECT_EQ(value_of(families, "vipgate_worker_busy_polls_total", {{"worker", "1"}}), 500);
    EXPECT_EQ(find_family(families, "vipgate_worker_polls_total")->metric.size(), 2u);
    EXPECT_EQ(value_of(families, "vipgate_worker_snapshot_generation", {{"worker", "0"}}), 7);
    EXPECT_EQ(value_of(families, "vipgate_conntrack_entries", {{"worker", "1"}, {"family", "ipv4"}}), 5);
    EXPECT_EQ(value_of(families, "vipgate_affinity_capacity", {{"worker", "0"}, {"family", "ipv4"}}), 131073);
    EXPECT_EQ(value_of(families, "vipgate_snapshot_generation"), 7);
    EXPECT_EQ(value_of(families, "vipgate_build_info", {{"version", "0.1.0"}, {"dpdk", "DPDK 22.11.4"}}), 1);
}

// Both families' tables are visible: a series a worker and family, the IPv6 table's counted apart
// from the IPv4 one's (and a family without a table shows capacity 0, not no series).
TEST(MetricsFamilies, TableFillHasASeriesPerWorkerAndFamily) {
    const std::vector<MetricFamily> families = metric_families(two_workers());
    for (const char* name : {"vipgate_conntrack_entries", "vipgate_conntrack_capacity", "vipgate_affinity_entries",
                             "vipgate_affinity_capacity"}) {
        const MetricFamily* family = find_family(families, name);
        ASSERT_NE(family, nullptr) << name;
        EXPECT_EQ(family->type, MetricType::Gauge) << name;
        std::set<std::pair<std::string, std::string>> series;
        for (const auto& metric : family->metric) {
            std::map<std::string, std::string> labels;
            for (const auto& label : metric.label) labels[label.name] = label.value;
            EXPECT_EQ(labels.size(), 2u) << name;
            series.insert({labels["worker"], labels["family"]});
        }
        EXPECT_EQ(series, (std::set<std::pair<std::string, std::string>>{
                              {"0", "ipv4"}, {"0", "ipv6"}, {"1", "ipv4"}, {"1", "ipv6"}}))
            << name;
    }
    EXPECT_EQ(value_of(families, "vipgate_conntrack_entries", {{"worker", "0"}, {"family", "ipv4"}}), 4);
    EXPECT_EQ(value_of(families, "vipgate_conntrack_entries", {{"worker", "1"}, {"family", "ipv6"}}), 10);
    EXPECT_EQ(value_of(families, "vipgate_conntrack_entries", {{"worker", "0"}, {"family", "ipv6"}}), 0);
    EXPECT_EQ(value_of(families, "vipgate_conntrack_capacity", {{"worker", "1"}, {"family", "ipv6"}}), 16384);
    EXPECT_EQ(value_of(families, "vipgate_affinity_entries", {{"worker", "1"}, {"family", "ipv4"}}), 1);
    EXPECT_EQ(value_of(families, "vipgate_affinity_capacity", {{"worker", "1"}, {"family", "ipv6"}}), 0);
}

TEST(MetricsFamilies, EveryDropReasonHasASeries) {
    const std::vector<MetricFamily> families = metric_families(two_workers());
    const MetricFamily* drops = find_family(families, "vipgate_drops_total");
    ASSERT_NE(drops, nullptr);
    EXPECT_EQ(drops->metric.size(), kDropReasonCount)
        << "zero reasons too: rate() needs the series before the first drop";
    EXPECT_EQ(value_of(families, "vipgate_drops_total", {{"reason", "tx_queue_full"}}), 4);
    EXPECT_EQ(value_of(families, "vipgate_drops_total", {{"reason", "no_endpoint"}}), 2);
    EXPECT_EQ(value_of(families, "vipgate_drops_total", {{"reason", "fragment"}}), 0);
}

TEST(MetricsFamilies, PortsAndPools) {
    const std::vector<MetricFamily> families = metric_families(two_workers());
    EXPECT_EQ(value_of(families, "vipgate_port_packets_total", {{"port", "p0"}, {"direction", "rx"}}), 1000);
    EXPECT_EQ(value_of(families, "vipgate_port_packets_total", {{"port", "p0"}, {"direction", "tx"}}), 900);
    EXPECT_EQ(value_of(families, "vipgate_port_bytes_total", {{"port", "p0"}, {"direction", "tx"}}), 57600);
    EXPECT_EQ(value_of(families, "vipgate_port_rx_missed_total", {{"port", "p0"}}), 3);
    EXPECT_EQ(value_of(families, "vipgate_port_rx_nombuf_total", {{"port", "p0"}}), 2);
    EXPECT_EQ(value_of(families, "vipgate_port_errors_total", {{"port", "p0"}, {"direction", "rx"}}), 1);
    EXPECT_EQ(value_of(families, "vipgate_mempool_in_use", {{"pool", "mbufs_p0"}}), 1234);
    EXPECT_EQ(value_of(families, "vipgate_mempool_size", {{"pool", "mbufs_p0"}}), 8191);
}

TEST(MetricsFamilies, AnnouncementsOnlyWhenAnnouncing) {
    MetricsSample sample = two_workers();
    EXPECT_EQ(find_family(metric_families(sample), "vipgate_announced_vips"), nullptr);
    sample.announcements = AnnouncementSample{3, 4, true, 2};
    const std::vector<MetricFamily> families = metric_families(sample);
    EXPECT_EQ(value_of(families, "vipgate_announced_vips"), 3);
    EXPECT_EQ(value_of(families, "vipgate_announced_routes"), 4);
    EXPECT_EQ(value_of(families, "vipgate_gateway_drained"), 1);
    EXPECT_EQ(value_of(families, "vipgate_announce_failures_total"), 2);
}

TEST(MetricsFamilies, NeighborCountsPerProtocol) {
    MetricsSample sample = two_workers();
    EXPECT_EQ(find_family(metric_families(sample), "vipgate_neighbor_solicitations_sent_total"), nullptr);
    sample.neighbors =
        NeighborSample{NeighborCounts{1, 2, 3, 4, 5, 6, 7, 8}, NeighborCounts{11, 12, 13, 14, 15, 16, 17, 18}};
    const std::vector<MetricFamily> families = metric_families(sample);
    for (const auto& [protocol, base] : {std::pair<std::string, double>{"arp", 0}, {"nd", 10}}) {
        const std::map<std::string, std::string> labels{{"protocol", protocol}};
        EXPECT_EQ(value_of(families, "vipgate_neighbor_solicitations_sent_total", labels), base + 1);
        EXPECT_EQ(value_of(families, "vipgate_neighbor_advertisements_sent_total", labels), base + 2);
        EXPECT_EQ(value_of(families, "vipgate_neighbors_learnt_total", labels), base + 3);
        EXPECT_EQ(value_of(families, "vipgate_neighbor_held_packets", labels), base + 4);
        EXPECT_EQ(
            value_of(families, "vipgate_neighbor_held_packets_total", {{"protocol", protocol}, {"outcome", "sent"}}),
            base + 5);
        EXPECT_EQ(
            value_of(families, "vipgate_neighbor_held_packets_total", {{"protocol", protocol}, {"outcome", "dropped"}}),
            base + 6);
        EXPECT_EQ(value_of(families, "vipgate_neighbor_conflicts_total", labels), base + 7);
        EXPECT_EQ(value_of(families, "vipgate_neighbor_updates_refused_total", labels), base + 8);
    }
}

TEST(MetricsFamilies, RouterAdvertisementsBesideTheNeighborCounts) {
    MetricsSample sample = two_workers();
    sample.neighbors = NeighborSample{};
    sample.neighbors->router_advertisements = RouterAdvertisementCounts{7, 3, 2, 1};
    sample.neighbors->default_routers = 2;
    const std::vector<MetricFamily> families = metric_families(sample);
    EXPECT_EQ(value_of(families, "vipgate_neighbor_router_advertisements_total", {{"outcome", "accepted"}}), 7);
    EXPECT_EQ(value_of(families, "vipgate_neighbor_router_advertisements_total", {{"outcome", "refused"}}), 3);
    EXPECT_EQ(value_of(families, "vipgate_neighbor_default_routers_removed_total", {{"reason", "withdrawn"}}), 2);
    EXPECT_EQ(value_of(families, "vipgate_neighbor_default_routers_removed_total", {{"reason", "expired"}}), 1);
    EXPECT_EQ(value_of(families, "vipgate_neighbor_default_routers"), 2);
}

TEST(MetricsFamilies, ServicePortsWithEndpointsOnlyWhenAskedFor) {
    MetricsSample sample = two_workers();
    std::vector<MetricFamily> families = metric_families(sample);
    const std::map<std::string, std::string> web{
        {"namespace", "default"}, {"service", "web"}, {"port", "http"}, {"protocol", "TCP"}};
    EXPECT_EQ(value_of(families, "vipgate_service_connections_total", web), 20);
    EXPECT_EQ(value_of(families, "vipgate_service_packets_total", web), 300);
    EXPECT_EQ(value_of(families, "vipgate_service_bytes_total", web), 19200);
    EXPECT_EQ(value_of(families, "vipgate_service_connections_total",
                       {{"namespace", "kube-system"}, {"service", "dns"}, {"port", "53"}, {"protocol", "UDP"}}),
              0);
    EXPECT_EQ(value_of(families, "vipgate_service_ports"), 2);
    EXPECT_EQ(find_family(families, "vipgate_endpoint_connections_total"), nullptr);

    sample.per_endpoint = true;
    families = metric_families(sample);
    std::map<std::string, std::string> endpoint = web;
    endpoint["endpoint"] = "198.18.0.12:8080";
    EXPECT_EQ(value_of(families, "vipgate_endpoint_connections_total", endpoint), 8);
    EXPECT_EQ(value_of(families, "vipgate_endpoint_packets_total", endpoint), 120);
    EXPECT_EQ(find_family(families, "vipgate_endpoint_bytes_total")->metric.size(), 2u);
}

TEST(MetricsFamilies, ServicePortNamesSplitIntoLabels) {
    ServicePortLabels labels = service_port_labels("default/web:http");
    EXPECT_EQ(labels.namespace_name, "default");
    EXPECT_EQ(labels.service, "web");
    EXPECT_EQ(labels.port, "http");
    labels = service_port_labels("web:80");
    EXPECT_EQ(labels.namespace_name, "");
    EXPECT_EQ(labels.service, "web");
    EXPECT_EQ(labels.port, "80");
    labels = service_port_labels("ns/svc");
    EXPECT_EQ(labels.namespace_name, "ns");
    EXPECT_EQ(labels.service, "svc");
    EXPECT_EQ(labels.port, "");
}

TEST(MetricsFamilies, TextExposition) {
    const std::string text = prometheus::TextSerializer().Serialize(metric_families(two_workers()));
    EXPECT_NE(text.find("# TYPE vipgate_forwarded_packets_total counter\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vipgate_forwarded_packets_total{direction=\"to_endpoint\"} 201\n"), std::string::npos);
    EXPECT_NE(text.find("vipgate_worker_busy_polls_total{worker=\"1\"} 500\n"), std::string::npos);
    EXPECT_NE(text.find("vipgate_service_connections_total{namespace=\"default\",service=\"web\",port=\"http\","
                        "protocol=\"TCP\"} 20\n"),
              std::string::npos);
    EXPECT_NE(text.find("# TYPE vipgate_connections_active gauge\n"), std::string::npos);
}

TEST(UpdateMetrics, HistogramsByPhaseAndResults) {
    UpdateMetrics updates;
    const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    updates.observe(UpdateMetrics::Result::Published, 0.00004, 0.0002, 0.003, 0.0035, when);
    updates.observe(UpdateMetrics::Result::Published, 0.6, 0.4, 0.004, 1.2, when);
    updates.observe(UpdateMetrics::Result::Unchanged, 0.0001, 0, 0, 0.0001, when + std::chrono::seconds(5));
    updates.observe(UpdateMetrics::Result::Refused, 0.0002, 0, 0, 0.0002, when + std::chrono::seconds(9));
    const std::vector<MetricFamily> families = updates.collect();

    const MetricFamily* phases = find_family(families, "vipgate_update_duration_seconds");
    ASSERT_NE(phases, nullptr);
    EXPECT_EQ(phases->type, MetricType::Histogram);
    std::map<std::string, const prometheus::ClientMetric::Histogram*> by_phase;
    for (const auto& metric : phases->metric) by_phase[metric.label.at(0).value] = &metric.histogram;
    ASSERT_EQ(by_phase.size(), 3u);
    EXPECT_EQ(by_phase["validate"]->sample_count, 4u) << "every update is validated";
    EXPECT_EQ(by_phase["build"]->sample_count, 2u) << "only published ones are built";
    EXPECT_EQ(by_phase["publish"]->sample_count, 2u);
    EXPECT_DOUBLE_EQ(by_phase["build"]->sample_sum, 0.4002);
    // Cumulative buckets: 0.0002 s falls in le=0.00025, 0.4 s in le=0.5.
    for (const auto& bucket : by_phase["build"]->bucket) {
        if (bucket.upper_bound == 0.00025) {
            EXPECT_EQ(bucket.cumulative_count, 1u);
        } else if (bucket.upper_bound == 0.25) {
            EXPECT_EQ(bucket.cumulative_count, 1u);
        } else if (bucket.upper_bound == 0.5) {
            EXPECT_EQ(bucket.cumulative_count, 2u);
        }
    }
    const MetricFamily* programming = find_family(families, "vipgate_network_programming_duration_seconds");
    ASSERT_NE(programming, nullptr);
    EXPECT_EQ(programming->metric.at(0).histogram.sample_count, 2u);
    EXPECT_DOUBLE_EQ(programming->metric.at(0).histogram.sample_sum, 1.2035);

    std::map<std::string, double> results;
    for (const auto& metric : find_family(families, "vipgate_updates_total")->metric) {
        results[metric.label.at(0).value] = metric.counter.value;
    }
    EXPECT_EQ(results, (std::map<std::string, double>{{"published", 2}, {"unchanged", 1}, {"refused", 1}}));
    EXPECT_EQ(find_family(families, "vipgate_last_update_timestamp_seconds")->metric.at(0).gauge.value, 1.8e9)
        << "the last published update, not the later unchanged or refused ones";
}

}  // namespace
}  // namespace vipgate
