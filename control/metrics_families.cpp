#include "control/metrics_families.h"

#include <limits>
#include <map>
#include <utility>

namespace vipgate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Families in the order they are first named, so the exposition reads in a stable order.
class Families {
public:
    MetricFamily& get(const std::string& name, const std::string& help, MetricType type) {
        auto [found, inserted] = index_.try_emplace(name, families_.size());
        if (inserted) families_.push_back(MetricFamily{name, help, type, {}});
        return families_[found->second];
    }

    void add(const std::string& name, const std::string& help, MetricType type, Labels labels, double value) {
        MetricFamily& family = get(name, help, type);
        ClientMetric metric;
        metric.label = std::move(labels);
        if (type == MetricType::Counter) {
            metric.counter.value = value;
        } else {
            metric.gauge.value = value;
        }
        family.metric.push_back(std::move(metric));
    }
    void counter(const std::string& name, const std::string& help, Labels labels, double value) {
        add(name, help, MetricType::Counter, std::move(labels), value);
    }
    void gauge(const std::string& name, const std::string& help, Labels labels, double value) {
        add(name, help, MetricType::Gauge, std::move(labels), value);
    }

    void histogram(const std::string& name, const std::string& help, Labels labels, const ConnectLatency& latency) {
        MetricFamily& family = get(name, help, MetricType::Histogram);
        ClientMetric metric;
        metric.label = std::move(labels);
        uint64_t cumulative = 0;
        for (uint32_t bucket = 0; bucket < kConnectLatencyBuckets; ++bucket) {
            cumulative += latency.buckets[bucket];
            const double bound = bucket + 1 == kConnectLatencyBuckets ? std::numeric_limits<double>::infinity()
                                                                      : connect_latency_bound_us(bucket) / 1e6;
            metric.histogram.bucket.push_back({cumulative, bound});
        }
        metric.histogram.sample_count = cumulative;
        metric.histogram.sample_sum = static_cast<double>(latency.sum_us) / 1e6;
        family.metric.push_back(std::move(metric));
    }

    std::vector<MetricFamily> take() { return std::move(families_); }

private:
    std::vector<MetricFamily> families_;
    std::map<std::string, size_t> index_;
};

void add_worker_counters(Families& families, const MetricsSample& sample) {
    for (const CounterMetric& metric : kCounterMetrics) {
        const MetricType type = metric.gauge ? MetricType::Gauge : MetricType::Counter;
        Labels fixed;
        if (metric.label != nullptr) fixed.push_back({metric.label, metric.value});
        if (metric.per_worker) {
            for (const WorkerSample& worker : sample.workers) {
                Labels labels = fixed;
                labels.insert(labels.begin(), {"worker", std::to_string(worker.index)});
                families.add(metric.family, metric.help, type, std::move(labels),
                             static_cast<double>(worker.counters.*metric.member));
            }
            continue;
        }
        uint64_t sum = 0;
        for (const WorkerSample& worker : sample.workers) sum += worker.counters.*metric.member;
        families.add(metric.family, metric.help, type, std::move(fixed), static_cast<double>(sum));
    }
    for (size_t reason = 0; reason < kDropReasonCount; ++reason) {
        uint64_t sum = 0;
        for (const WorkerSample& worker : sample.workers) sum += worker.counters.drops[reason];
        families.counter("vipgate_drops_total", "Packets not forwarded, by reason (every drop has one reason).",
                         {{"reason", std::string(drop_reason_name(static_cast<DropReason>(reason)))}},
                         static_cast<double>(sum));
    }
}

// One series a worker and address family (`family`: ipv4, ipv6), as the neighbor families have
// one a protocol: an operator sees each family's table fill up, and sum() gives the worker's.
void add_tables(Families& families, const MetricsSample& sample) {
    for (const WorkerSample& worker : sample.workers) {
        for (size_t family = 0; family < kAddressFamilies.size(); ++family) {
            const Labels labels{{"worker", std::to_string(worker.index)}, {"family", kAddressFamilies[family]}};
            families.gauge("vipgate_conntrack_entries", "Connections in the worker's connection table of the family.",
                           labels, static_cast<double>(worker.conntrack[family].entries));
            families.gauge("vipgate_conntrack_capacity",
                           "Capacity of the worker's connection table of the family (0: the worker has none).", labels,
                           static_cast<double>(worker.conntrack[family].capacity));
            families.gauge("vipgate_affinity_entries",
                           "Entries of the worker's session affinity table (ClientIP) of the family, expired ones "
                           "not yet cleared included.",
                           labels, static_cast<double>(worker.affinity[family].entries));
            families.gauge("vipgate_affinity_capacity",
                           "Capacity of the worker's session affinity table of the family (0: the worker has none).",
                           labels, static_cast<double>(worker.affinity[family].capacity));
        }
    }
}

void add_ports(Families& families, const MetricsSample& sample) {
    for (const PortSample& port : sample.ports) {
        const std::string help_packets = "Packets through the port (rte_eth_stats ipackets/opackets).";
        const std::string help_bytes = "Bytes through the port (rte_eth_stats ibytes/obytes).";
        families.counter("vipgate_port_packets_total", help_packets, {{"port", port.name}, {"direction", "rx"}},
                         static_cast<double>(port.rx_packets));
        families.counter("vipgate_port_packets_total", help_packets, {{"port", port.name}, {"direction", "tx"}},
                         static_cast<double>(port.tx_packets));
        families.counter("vipgate_port_bytes_total", help_bytes, {{"port", port.name}, {"direction", "rx"}},
                         static_cast<double>(port.rx_bytes));
        families.counter("vipgate_port_bytes_total", help_bytes, {{"port", port.name}, {"direction", "tx"}},
                         static_cast<double>(port.tx_bytes));
        families.counter("vipgate_port_rx_missed_total",
                         "Packets the NIC dropped because the RX ring was full (rte_eth_stats imissed).",
                         {{"port", port.name}}, static_cast<double>(port.rx_missed));
        families.counter("vipgate_port_rx_nombuf_total", "RX mbuf allocation failures (rte_eth_stats rx_nombuf).",
                         {{"port", port.name}}, static_cast<double>(port.rx_nombuf));
        const std::string help_errors = "Erroneous packets (rte_eth_stats ierrors/oerrors).";
        families.counter("vipgate_port_errors_total", help_errors, {{"port", port.name}, {"direction", "rx"}},
                         static_cast<double>(port.rx_errors));
        families.counter("vipgate_port_errors_total", help_errors, {{"port", port.name}, {"direction", "tx"}},
                         static_cast<double>(port.tx_errors));
    }
    for (const PoolSample& pool : sample.pools) {
        families.gauge("vipgate_mempool_in_use", "Mbufs of the pool in use (rte_mempool_in_use_count).",
                       {{"pool", pool.name}}, static_cast<double>(pool.in_use));
        families.gauge("vipgate_mempool_size", "Mbufs in the pool.", {{"pool", pool.name}},
                       static_cast<double>(pool.size));
    }
}

void add_service_ports(Families& families, const MetricsSample& sample) {
    const char* help_connections = "Connections opened to the service port's endpoints.";
    const char* help_packets = "Packets of the service port's connections (both directions).";
    const char* help_bytes = "Bytes of the service port's connections (both directions).";
    for (const ServicePortSample& port : sample.service_ports) {
        const ServicePortLabels names = service_port_labels(port.name);
        const Labels labels{{"namespace", names.namespace_name},
                            {"service", names.service},
                            {"port", names.port},
                            {"protocol", port.protocol}};
        families.counter("vipgate_service_connections_total", help_connections, labels,
                         static_cast<double>(port.counters.connections));
        families.counter("vipgate_service_packets_total", help_packets, labels,
                         static_cast<double>(port.counters.packets));
        families.counter("vipgate_service_bytes_total", help_bytes, labels, static_cast<double>(port.counters.bytes));
        families.counter("vipgate_service_refusals_total",
                         "New connections refused (TCP RST, SCTP ABORT, ICMP unreachable): no usable endpoint.", labels,
                         static_cast<double>(port.refusals));
        families.counter("vipgate_service_syn_unanswered_total",
                         "SYNs (SCTP INITs) forwarded to the service port's endpoints that no answer followed "
                         "before their connection-table entry expired or was evicted.",
                         labels, static_cast<double>(port.counters.syn_unanswered));
        families.histogram("vipgate_service_connect_latency_seconds",
                           "Time from forwarding a SYN (SCTP INIT) to the endpoint's SYN-ACK (INIT ACK).", labels,
                           port.latency);
        if (!sample.per_endpoint) continue;
        for (const EndpointSample& endpoint : port.endpoints) {
            Labels with_endpoint = labels;
            with_endpoint.push_back({"endpoint", endpoint.endpoint});
            families.counter("vipgate_endpoint_connections_total", "Connections opened to the endpoint.", with_endpoint,
                             static_cast<double>(endpoint.counters.connections));
            families.counter("vipgate_endpoint_packets_total", "Packets of the endpoint's connections.", with_endpoint,
                             static_cast<double>(endpoint.counters.packets));
            families.counter("vipgate_endpoint_bytes_total", "Bytes of the endpoint's connections.", with_endpoint,
                             static_cast<double>(endpoint.counters.bytes));
            families.counter("vipgate_endpoint_syn_unanswered_total",
                             "SYNs (SCTP INITs) forwarded to the endpoint that no answer followed.",
                             std::move(with_endpoint), static_cast<double>(endpoint.counters.syn_unanswered));
        }
    }
}

}  // namespace

const std::vector<CounterMetric> kCounterMetrics = {
    {&WorkerCounters::rx_packets, "vipgate_worker_packets_total", "Packets a worker received and transmitted.", false,
     true, "direction", "rx"},
    {&WorkerCounters::tx_packets, "vipgate_worker_packets_total", "", false, true, "direction", "tx"},
    {&WorkerCounters::rx_bytes, "vipgate_worker_bytes_total", "Bytes a worker received and transmitted.", false, true,
     "direction", "rx"},
    {&WorkerCounters::tx_bytes, "vipgate_worker_bytes_total", "", false, true, "direction", "tx"},
    {&WorkerCounters::forwarded_to_endpoint, "vipgate_forwarded_packets_total",
     "Packets translated and forwarded: client to endpoint, and replies endpoint to client.", false, false, "direction",
     "to_endpoint"},
    {&WorkerCounters::forwarded_to_client, "vipgate_forwarded_packets_total", "", false, false, "direction",
     "to_client"},
    {&WorkerCounters::new_connections, "vipgate_connections_new_total", "Connections set up.", false, false, nullptr,
     nullptr},
    {&WorkerCounters::conntrack_hits, "vipgate_conntrack_hits_total", "Packets of tracked connections.", false, false,
     nullptr, nullptr},
    {&WorkerCounters::rescheduled, "vipgate_connections_rescheduled_total",
     "Flows moved to another endpoint because theirs was removed.", false, false, nullptr, nullptr},
    {&WorkerCounters::resets_sent, "vipgate_resets_sent_total", "TCP RSTs and SCTP ABORTs sent.", false, false, nullptr,
     nullptr},
    {&WorkerCounters::icmp_sent, "vipgate_icmp_sent_total", "ICMP messages sent (errors and echo replies).", false,
     false, nullptr, nullptr},
    {&WorkerCounters::icmp_errors_translated, "vipgate_icmp_errors_translated_total",
     "ICMP errors about tracked flows, translated and forwarded.", false, false, nullptr, nullptr},
    {&WorkerCounters::handoffs_out, "vipgate_handoffs_total",
     "Packets handed to the worker owning their connection (out) and taken from others (in).", false, false,
     "direction", "out"},
    {&WorkerCounters::handoffs_in, "vipgate_handoffs_total", "", false, false, "direction", "in"},
    {&WorkerCounters::punted, "vipgate_punted_packets_total",
     "Packets passed to the control thread (ARP, packets waiting for a next hop's MAC).", false, false, nullptr,
     nullptr},
    {&WorkerCounters::stateless_forwards, "vipgate_stateless_forwards_total",
     "Packets forwarded by consistent hash without a connection entry (DNAT-only, table full).", false, false, nullptr,
     nullptr},
    {&WorkerCounters::stateless_replies, "vipgate_stateless_replies_total",
     "DNAT-only replies translated without a connection entry.", false, false, nullptr, nullptr},
    {&WorkerCounters::conntrack_evictions, "vipgate_connections_evicted_total",
     "Half-open or closing connections evicted to make room.", false, false, nullptr, nullptr},
    {&WorkerCounters::conntrack_expired, "vipgate_connections_expired_total", "Connections aged out.", false, false,
     nullptr, nullptr},
    {&WorkerCounters::affinity_hits, "vipgate_affinity_hits_total",
     "New connections sent to the endpoint their client's session affinity names.", false, false, nullptr, nullptr},
    {&WorkerCounters::affinity_table_full, "vipgate_affinity_table_full_total",
     "Session affinity choices not remembered (no free way).", false, false, nullptr, nullptr},
    {&WorkerCounters::dns_queries_udp, "vipgate_dns_queries_total",
     "DNS queries to the DNS addresses from allowed sources, by transport.", false, false, "transport", "udp"},
    {&WorkerCounters::dns_queries_tcp, "vipgate_dns_queries_total", "", false, false, "transport", "tcp"},
    {&WorkerCounters::dns_noerror, "vipgate_dns_responses_total",
     "DNS responses sent by the workers, by rcode (nodata: NOERROR without records).", false, false, "rcode",
     "noerror"},
    {&WorkerCounters::dns_nodata, "vipgate_dns_responses_total", "", false, false, "rcode", "nodata"},
    {&WorkerCounters::dns_nxdomain, "vipgate_dns_responses_total", "", false, false, "rcode", "nxdomain"},
    {&WorkerCounters::dns_refused, "vipgate_dns_responses_total", "", false, false, "rcode", "refused"},
    {&WorkerCounters::dns_formerr, "vipgate_dns_responses_total", "", false, false, "rcode", "formerr"},
    {&WorkerCounters::dns_notimp, "vipgate_dns_responses_total", "", false, false, "rcode", "notimp"},
    {&WorkerCounters::dns_badvers, "vipgate_dns_responses_total", "", false, false, "rcode", "badvers"},
    {&WorkerCounters::dns_truncated, "vipgate_dns_truncated_total", "DNS responses sent with TC set.", false, false,
     nullptr, nullptr},
    {&WorkerCounters::dns_slipped, "vipgate_dns_slipped_total",
     "Rate-limited DNS responses sent truncated so the client retries over TCP.", false, false, nullptr, nullptr},
    {&WorkerCounters::dns_forwarded_upstream, "vipgate_dns_forwarded_total",
     "DNS queries outside the zone sent on to the upstreams.", false, false, nullptr, nullptr},
    {&WorkerCounters::dns_tcp_control_sent, "vipgate_dns_tcp_control_sent_total",
     "SYN-ACKs and FIN acknowledgements of the DNS TCP responder.", false, false, nullptr, nullptr},
    {&WorkerCounters::fragments_forwarded, "vipgate_fragments_forwarded_total",
     "IPv4 and IPv6 fragments after the first, sent on with the first fragment's translation.", false, false, nullptr,
     nullptr},
    {&WorkerCounters::fragments_held, "vipgate_fragments_held_total",
     "IPv4 and IPv6 fragments that arrived before their first fragment and waited for it.", false, false, nullptr,
     nullptr},
    {&WorkerCounters::fragment_datagrams_completed, "vipgate_fragment_datagrams_completed_total",
     "Fragmented IPv4 and IPv6 datagrams whose every fragment was seen.", false, false, nullptr, nullptr},
    {&WorkerCounters::fragment_datagrams_expired, "vipgate_fragment_datagrams_expired_total",
     "Fragmented IPv4 and IPv6 datagrams that timed out before every fragment was seen.", false, false, nullptr,
     nullptr},
    {&WorkerCounters::to_kernel, "vipgate_kernel_path_packets_total",
     "Packets passed to the ports' kernel interfaces (to) and the kernel's frames sent out (from).", false, false,
     "direction", "to"},
    {&WorkerCounters::from_kernel, "vipgate_kernel_path_packets_total", "", false, false, "direction", "from"},
    {&WorkerCounters::active_connections, "vipgate_connections_active", "Connections tracked now.", true, false,
     nullptr, nullptr},
    {&WorkerCounters::loops, "vipgate_worker_polls_total", "Poll loops of the worker.", false, true, nullptr, nullptr},
    {&WorkerCounters::busy_loops, "vipgate_worker_busy_polls_total",
     "Poll loops that received at least one packet; rate over vipgate_worker_polls_total is the busy share.", false,
     true, nullptr, nullptr},
    {&WorkerCounters::idle_sleeps, "vipgate_worker_idle_sleeps_total",
     "Sleeps of an adaptive-idle worker while its queues were empty.", false, true, nullptr, nullptr},
    {&WorkerCounters::idle_sleep_us, "vipgate_worker_idle_sleep_microseconds_total",
     "Time an adaptive-idle worker asked to sleep, in microseconds.", false, true, nullptr, nullptr},
    {&WorkerCounters::snapshot_generation, "vipgate_worker_snapshot_generation",
     "Snapshot generation the worker used last.", true, true, nullptr, nullptr},
};

ServicePortLabels service_port_labels(const std::string& name) {
    ServicePortLabels labels;
    const size_t slash = name.find('/');
    const size_t colon = name.rfind(':');
    const size_t service_start = slash == std::string::npos ? 0 : slash + 1;
    if (slash != std::string::npos) labels.namespace_name = name.substr(0, slash);
    if (colon != std::string::npos && colon >= service_start) {
        labels.service = name.substr(service_start, colon - service_start);
        labels.port = name.substr(colon + 1);
    } else {
        labels.service = name.substr(service_start);
    }
    return labels;
}

namespace {

// The Kubernetes source: its connection, what it follows and how fast its changes land.
void add_kubernetes(Families& families, const KubernetesStatus& status) {
    families.gauge("vipgate_kubernetes_connected",
                   "1 while every resource is listed and watched from the API server; 0 while reconnecting (the "
                   "dataplane keeps its last state).",
                   {{"server", status.server}}, status.connected ? 1 : 0);
    for (const KubernetesResourceStatus* resource : {&status.services, &status.endpoint_slices}) {
        families.gauge("vipgate_kubernetes_objects", "Objects followed from the API server, after the filters.",
                       {{"resource", resource->resource}}, static_cast<double>(resource->objects));
    }
    families.counter("vipgate_kubernetes_events_total", "Watch events (added, modified, deleted) received.", {},
                     static_cast<double>(status.events));
    families.counter("vipgate_kubernetes_lists_total", "Lists (the first, and relists after 410 Gone or errors).", {},
                     static_cast<double>(status.lists));
    families.counter("vipgate_kubernetes_gone_total", "410 Gone answers: each leads to a relist and reconciliation.",
                     {}, static_cast<double>(status.gone));
    families.counter("vipgate_kubernetes_errors_total", "Failed lists and watches (each retried after a backoff).", {},
                     static_cast<double>(status.reconnects));
    families.counter("vipgate_kubernetes_syncs_total",
                     "Store transactions of coalesced changes, by whether they were published.",
                     {{"published", "true"}}, static_cast<double>(status.publications));
    families.counter("vipgate_kubernetes_syncs_total",
                     "Store transactions of coalesced changes, by whether they were published.",
                     {{"published", "false"}}, static_cast<double>(status.syncs - status.publications));
    families.counter("vipgate_kubernetes_rejected_objects_total", "Objects the translation or the store refused.", {},
                     static_cast<double>(status.rejected));
    families.gauge("vipgate_kubernetes_last_sync_timestamp_seconds", "Unix time of the last sync (0: none yet).", {},
                   static_cast<double>(status.last_sync_unix_ms) / 1e3);
    families.gauge("vipgate_kubernetes_sync_delay_seconds",
                   "From the first event a sync carried to its publication (every worker on it): the last sync's.", {},
                   status.last_sync_delay_ms / 1e3);
    families.counter("vipgate_kubernetes_sync_delay_seconds_total",
                     "Sum of the sync delays (divide by vipgate_kubernetes_syncs_total for the mean).", {},
                     status.sync_delay_sum_ms / 1e3);
}

// The final report's `arp:` and `nd:` counts: one series per protocol in each family, the held
// packets by what became of them (`outcome`).
struct NeighborMetric {
    uint64_t NeighborCounts::*member;
    const char* family;
    const char* help;
    MetricType type;
    const char* outcome;  // nullptr: no outcome label
};
const NeighborMetric kNeighborMetrics[] = {
    {&NeighborCounts::solicitations_sent, "vipgate_neighbor_solicitations_sent_total",
     "Requests for a neighbor's MAC sent: ARP requests, IPv6 neighbor solicitations.", MetricType::Counter, nullptr},
    {&NeighborCounts::advertisements_sent, "vipgate_neighbor_advertisements_sent_total",
     "Statements of the gateway's own addresses sent: ARP replies and announcements, IPv6 neighbor advertisements "
     "(answers and defences).",
     MetricType::Counter, nullptr},
    {&NeighborCounts::learnt, "vipgate_neighbors_learnt_total", "Neighbors learnt (entries added to the table).",
     MetricType::Counter, nullptr},
    {&NeighborCounts::held, "vipgate_neighbor_held_packets", "Packets waiting now for their next hop's MAC.",
     MetricType::Gauge, nullptr},
    {&NeighborCounts::held_sent, "vipgate_neighbor_held_packets_total",
     "Packets that waited for their next hop's MAC: sent once it answered, or dropped (it never answered, or too "
     "many were waiting).",
     MetricType::Counter, "sent"},
    {&NeighborCounts::held_dropped, "vipgate_neighbor_held_packets_total", "", MetricType::Counter, "dropped"},
    {&NeighborCounts::conflicts, "vipgate_neighbor_conflicts_total",
     "Messages in which another MAC claimed one of the gateway's addresses.", MetricType::Counter, nullptr},
    {&NeighborCounts::updates_refused, "vipgate_neighbor_updates_refused_total",
     "Unsolicited messages refused: they would have changed a known neighbor's MAC.", MetricType::Counter, nullptr},
};

void add_neighbors(Families& families, const NeighborSample& sample) {
    const std::pair<const char*, const NeighborCounts*> protocols[] = {{"arp", &sample.arp}, {"nd", &sample.nd}};
    for (const auto& protocol : protocols) {
        for (const NeighborMetric& metric : kNeighborMetrics) {
            Labels labels = {{"protocol", protocol.first}};
            if (metric.outcome != nullptr) labels.push_back({"outcome", metric.outcome});
            families.add(metric.family, metric.help, metric.type, std::move(labels),
                         static_cast<double>(protocol.second->*metric.member));
        }
    }
    const RouterAdvertisementCounts& ra = sample.router_advertisements;
    constexpr const char* kRaHelp =
        "IPv6 router advertisements on ports with accept_router_advertisements: accepted, or refused (invalid per "
        "RFC 4861 6.1.2, or a router beyond the 16 kept).";
    families.add("vipgate_neighbor_router_advertisements_total", kRaHelp, MetricType::Counter,
                 {{"outcome", "accepted"}}, static_cast<double>(ra.accepted));
    families.add("vipgate_neighbor_router_advertisements_total", kRaHelp, MetricType::Counter, {{"outcome", "refused"}},
                 static_cast<double>(ra.refused));
    families.add("vipgate_neighbor_default_routers", "IPv6 default routers learnt from router advertisements now.",
                 MetricType::Gauge, {}, static_cast<double>(sample.default_routers));
    constexpr const char* kRemovedHelp =
        "IPv6 default routers removed: withdrawn (router lifetime 0) or expired (no advertisement within their "
        "lifetime).";
    families.add("vipgate_neighbor_default_routers_removed_total", kRemovedHelp, MetricType::Counter,
                 {{"reason", "withdrawn"}}, static_cast<double>(ra.withdrawn));
    families.add("vipgate_neighbor_default_routers_removed_total", kRemovedHelp, MetricType::Counter,
                 {{"reason", "expired"}}, static_cast<double>(ra.expired));
}

}  // namespace

std::vector<MetricFamily> metric_families(const MetricsSample& sample) {
    Families families;
    families.gauge("vipgate_build_info", "vipgate's version and the DPDK it runs on; the value is 1.",
                   {{"version", sample.version}, {"dpdk", sample.dpdk_version}}, 1);
    add_worker_counters(families, sample);
    add_tables(families, sample);
    add_ports(families, sample);
    families.gauge("vipgate_snapshot_generation", "Generation of the published snapshot.", {},
                   static_cast<double>(sample.generation));
    families.gauge("vipgate_service_ports", "Service ports in the published snapshot.", {},
                   static_cast<double>(sample.service_ports.size()));
    families.gauge("vipgate_ipv6_cluster_ips_not_served",
                   "IPv6 cluster IPs of services, configured and not served: no port has an IPv6 address.", {},
                   static_cast<double>(sample.ipv6_cluster_ips_not_served));
    add_service_ports(families, sample);
    if (sample.kubernetes) add_kubernetes(families, *sample.kubernetes);
    if (sample.announcements) {
        const AnnouncementSample& announcements = *sample.announcements;
        families.gauge("vipgate_announced_vips",
                       "Served VIPs announced: /32 routes in the [announce] kernel table for the routing daemon.", {},
                       static_cast<double>(announcements.announced_vips));
        families.gauge("vipgate_announced_routes", "Routes in the [announce] kernel table (the aggregate included).",
                       {}, static_cast<double>(announcements.routes));
        families.gauge("vipgate_gateway_drained", "1 while the gateway is drained (vipctl drain-gateway).", {},
                       announcements.drained ? 1 : 0);
        families.counter("vipgate_announce_failures_total", "Route changes the kernel refused (each is retried).", {},
                         static_cast<double>(announcements.failures));
    }
    if (sample.neighbors) add_neighbors(families, *sample.neighbors);
    return families.take();
}

const std::vector<double> UpdateMetrics::kBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

UpdateMetrics::UpdateMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
    auto& phases = prometheus::BuildHistogram()
                       .Name("vipgate_update_duration_seconds")
                       .Help(
                           "Control-plane update phases: validate (store transaction), build (snapshot of the "
                           "changed services), publish (until every worker uses it).")
                       .Register(*registry_);
    validate_ = &phases.Add({{"phase", "validate"}}, kBuckets);
    build_ = &phases.Add({{"phase", "build"}}, kBuckets);
    publish_ = &phases.Add({{"phase", "publish"}}, kBuckets);
    programming_ = &prometheus::BuildHistogram()
                        .Name("vipgate_network_programming_duration_seconds")
                        .Help(
                            "From an update request (API call, or SIGHUP including reading the file) to every "
                            "worker forwarding with its snapshot.")
                        .Register(*registry_)
                        .Add({}, kBuckets);
    auto& updates = prometheus::BuildCounter()
                        .Name("vipgate_updates_total")
                        .Help(
                            "Control-plane updates by result: published, unchanged (nothing the dataplane uses "
                            "changed), refused (invalid: nothing changed).")
                        .Register(*registry_);
    published_ = &updates.Add({{"result", "published"}});
    unchanged_ = &updates.Add({{"result", "unchanged"}});
    refused_ = &updates.Add({{"result", "refused"}});
    last_update_ = &prometheus::BuildGauge()
                        .Name("vipgate_last_update_timestamp_seconds")
                        .Help("Unix time of the last published update (0: none since start).")
                        .Register(*registry_)
                        .Add({});
}

void UpdateMetrics::observe(Result result, double validate_seconds, double build_seconds, double publish_seconds,
                            double programming_seconds, std::chrono::system_clock::time_point when) {
    validate_->Observe(validate_seconds);
    if (result == Result::Refused) {
        refused_->Increment();
        return;
    }
    if (result == Result::Unchanged) {
        unchanged_->Increment();
        return;
    }
    build_->Observe(build_seconds);
    publish_->Observe(publish_seconds);
    programming_->Observe(programming_seconds);
    published_->Increment();
    last_update_->Set(std::chrono::duration<double>(when.time_since_epoch()).count());
}

std::vector<MetricFamily> UpdateMetrics::collect() const {
    return registry_->Collect();
}

}  // namespace vipgate
