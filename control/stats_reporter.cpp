#include "control/stats_reporter.h"

#include "control/snapshot_text.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "config/config.h"

namespace vipgate {
namespace {

std::string format_rate(double per_second) {
    char text[32];
    if (per_second >= 1e6) {
        std::snprintf(text, sizeof(text), "%.2fM", per_second / 1e6);
    } else if (per_second >= 1e3) {
        std::snprintf(text, sizeof(text), "%.1fk", per_second / 1e3);
    } else {
        std::snprintf(text, sizeof(text), "%.0f", per_second);
    }
    return text;
}

uint64_t total_drops(const WorkerCounters& counters) {
    uint64_t total = 0;
    for (uint64_t value : counters.drops) total += value;
    return total;
}

}  // namespace

WorkerCounters sum_counters(const std::vector<WorkerContext*>& workers) {
    WorkerCounters sum;
    for (const WorkerContext* worker : workers) {
        const WorkerCounters& counters = worker->counters;
        for (const CounterField& field : kCounterFields) sum.*field.member += counters.*field.member;
        for (size_t i = 0; i < kDropReasonCount; ++i) sum.drops[i] += counters.drops[i];
    }
    return sum;
}

std::vector<EndpointCounters> sum_endpoint_counters(const std::vector<WorkerContext*>& workers, size_t slots) {
    std::vector<EndpointCounters> sum(slots);
    for (const WorkerContext* worker : workers) {
        size_t limit = std::min<size_t>(slots, worker->endpoint_counter_slots);
        for (size_t slot = 0; slot < limit; ++slot) {
            sum[slot].connections += worker->endpoint_counters[slot].connections;
            sum[slot].packets += worker->endpoint_counters[slot].packets;
            sum[slot].bytes += worker->endpoint_counters[slot].bytes;
            sum[slot].syn_unanswered += worker->endpoint_counters[slot].syn_unanswered;
        }
    }
    return sum;
}

std::vector<uint64_t> sum_service_port_refusals(const std::vector<WorkerContext*>& workers, size_t ids) {
    std::vector<uint64_t> sum(ids);
    for (const WorkerContext* worker : workers) {
        const size_t limit = std::min<size_t>(ids, worker->service_port_slots);
        for (size_t id = 0; id < limit; ++id) sum[id] += worker->service_port_refusals[id];
    }
    return sum;
}

std::string StatsReporter::interval_line(uint64_t now_ms) {
    WorkerCounters now = sum_counters(workers_);
    double seconds = previous_ms_ == 0 ? 0.0 : double(now_ms - previous_ms_) / 1000.0;
    auto rate = [&](uint64_t current, uint64_t before) {
        return seconds > 0 ? format_rate(double(current - before) / seconds) : std::string("-");
    };
    uint64_t drops_now = total_drops(now);
    uint64_t drops_before = total_drops(previous_);
    std::string line = "rx " + rate(now.rx_packets, previous_.rx_packets) + "pps, tx " +
                       rate(now.tx_packets, previous_.tx_packets) + "pps, new " +
                       rate(now.new_connections, previous_.new_connections) + "/s, active " +
                       std::to_string(now.active_connections) + ", drops " + rate(drops_now, drops_before) + "/s";
    size_t top = 0;
    for (size_t i = 1; i < kDropReasonCount; ++i) {
        if (now.drops[i] - previous_.drops[i] > now.drops[top] - previous_.drops[top]) top = i;
    }
    if (drops_now > drops_before) {
        line += " (mostly " + std::string(drop_reason_name(static_cast<DropReason>(top))) + ")";
    }
    previous_ = now;
    previous_ms_ = now_ms;
    return line;
}

namespace {

void add(EndpointCounters& into, const EndpointCounters& value) {
    into.connections += value.connections;
    into.packets += value.packets;
    into.bytes += value.bytes;
    into.syn_unanswered += value.syn_unanswered;
}

EndpointCounters difference(const EndpointCounters& now, const EndpointCounters& before) {
    return EndpointCounters{now.connections - before.connections, now.packets - before.packets,
                            now.bytes - before.bytes, now.syn_unanswered - before.syn_unanswered};
}

}  // namespace

void StatsReporter::note_snapshot(const Snapshot& snapshot) {
    std::vector<EndpointCounters> sums = sum_endpoint_counters(workers_, snapshot.endpoints.capacity());
    const std::vector<ConnectLatency> latencies = sum_connect_latencies(workers_, snapshot.endpoints.capacity());
    if (slot_generation_.size() < sums.size()) {
        slot_generation_.resize(sums.size());
        slot_baseline_.resize(sums.size());
        slot_latency_baseline_.resize(sums.size());
        slot_owner_.resize(sums.size());
    }
    if (retired_.size() < snapshot.service_ports.capacity()) retired_.resize(snapshot.service_ports.capacity());
    const std::vector<uint64_t> refusals = sum_service_port_refusals(workers_, snapshot.service_ports.capacity());
    if (refusal_incarnation_.size() < refusals.size()) {
        refusal_incarnation_.resize(refusals.size());
        refusal_baseline_.resize(refusals.size());
    }
    for (size_t id = 0; id < refusals.size(); ++id) {
        if (refusal_incarnation_[id] == snapshot.service_ports[id].incarnation) continue;
        refusal_incarnation_[id] = snapshot.service_ports[id].incarnation;
        refusal_baseline_[id] = refusals[id];
    }
    for (size_t slot = 0; slot < sums.size(); ++slot) {
        const EndpointSlot& endpoint = snapshot.endpoints[slot];
        if (slot_generation_[slot] == endpoint.generation) continue;
        if (slot_generation_[slot] != 0) {
            // The slot's endpoint leaves: its counts stay with its service port.
            const Owner& owner = slot_owner_[slot];
            Retired& retired = retired_[owner.id];
            if (retired.incarnation != owner.incarnation) retired = Retired{owner.incarnation, {}, {}};
            add(retired.counts, difference(sums[slot], slot_baseline_[slot]));
            retired.latency.add(latencies[slot].since(slot_latency_baseline_[slot]));
        }
        slot_generation_[slot] = endpoint.generation;
        slot_baseline_[slot] = sums[slot];
        slot_latency_baseline_[slot] = latencies[slot];
        if (endpoint.generation != 0) {
            slot_owner_[slot] = Owner{endpoint.service_port, snapshot.service_ports[endpoint.service_port].incarnation};
        }
    }
}

std::vector<EndpointCounters> StatsReporter::endpoint_counts(const Snapshot& snapshot) const {
    std::vector<EndpointCounters> endpoints = sum_endpoint_counters(workers_, snapshot.endpoints.capacity());
    for (size_t slot = 0; slot < endpoints.size() && slot < slot_baseline_.size(); ++slot) {
        endpoints[slot] = difference(endpoints[slot], slot_baseline_[slot]);
    }
    return endpoints;
}

EndpointCounters StatsReporter::service_port_counts(const Snapshot& snapshot, uint32_t id,
                                                    const std::vector<EndpointCounters>& endpoints) const {
    EndpointCounters total{};
    if (id < retired_.size() && retired_[id].incarnation == snapshot.service_ports[id].incarnation) {
        total = retired_[id].counts;
    }
    for (uint32_t slot : snapshot.service_ports[id].endpoint_slots) {
        if (slot < endpoints.size()) add(total, endpoints[slot]);
    }
    return total;
}

std::vector<uint64_t> StatsReporter::service_port_refusals(const Snapshot& snapshot) const {
    std::vector<uint64_t> refusals = sum_service_port_refusals(workers_, snapshot.service_ports.capacity());
    for (size_t id = 0; id < refusals.size() && id < refusal_baseline_.size(); ++id) {
        if (refusal_incarnation_[id] == snapshot.service_ports[id].incarnation) refusals[id] -= refusal_baseline_[id];
    }
    return refusals;
}

std::vector<ConnectLatency> StatsReporter::endpoint_latencies(const Snapshot& snapshot) const {
    std::vector<ConnectLatency> endpoints = sum_connect_latencies(workers_, snapshot.endpoints.capacity());
    for (size_t slot = 0; slot < endpoints.size() && slot < slot_latency_baseline_.size(); ++slot) {
        endpoints[slot] = endpoints[slot].since(slot_latency_baseline_[slot]);
    }
    return endpoints;
}

ConnectLatency StatsReporter::service_port_latency(const Snapshot& snapshot, uint32_t id,
                                                   const std::vector<ConnectLatency>& endpoints) const {
    ConnectLatency total;
    if (id < retired_.size() && retired_[id].incarnation == snapshot.service_ports[id].incarnation) {
        total = retired_[id].latency;
    }
    for (uint32_t slot : snapshot.service_ports[id].endpoint_slots) {
        if (slot < endpoints.size()) total.add(endpoints[slot]);
    }
    return total;
}

std::string StatsReporter::endpoint_table(const Snapshot& snapshot) const {
    std::vector<EndpointCounters> endpoints = endpoint_counts(snapshot);
    std::string text;
    char line[256];
    for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
        const ServicePort& service_port = snapshot.service_ports[id];
        if (service_port.incarnation == 0) continue;
        uint64_t connections = 0;
        for (uint32_t slot : service_port.endpoint_slots) connections += endpoints[slot].connections;
        std::snprintf(line, sizeof(line), "  %s (%s/%s): %llu connections\n", service_port.service_name.c_str(),
                      vip_text(service_port).c_str(), protocol_name(service_port.protocol),
                      static_cast<unsigned long long>(connections));
        text += line;
        for (uint32_t slot : service_port.endpoint_slots) {
            const EndpointSlot& endpoint = snapshot.endpoints[slot];
            double share = connections ? 100.0 * double(endpoints[slot].connections) / double(connections) : 0.0;
            std::string endpoint_name = endpoint_text(endpoint);
            std::string bar(static_cast<size_t>(share / 2.5), '#');
            std::snprintf(line, sizeof(line), "    %-21s w=%-3u %-11s %10llu conns %5.1f%% %12llu pkts  %s\n",
                          endpoint_name.c_str(), endpoint.weight,
                          endpoint.ready ? (endpoint.terminating ? "terminating" : "ready") : "not-ready",
                          static_cast<unsigned long long>(endpoints[slot].connections), share,
                          static_cast<unsigned long long>(endpoints[slot].packets), bar.c_str());
            text += line;
        }
    }
    return text;
}

std::string StatsReporter::final_report(double elapsed_seconds) const {
    WorkerCounters total = sum_counters(workers_);
    std::string text;
    char line[160];
    for (const CounterField& field : kCounterFields) {
        const uint64_t value = total.*field.member;
        // A sum of the workers' generations means nothing; the reload log reports them.
        if (value == 0 || field.member == &WorkerCounters::snapshot_generation) continue;
        std::snprintf(line, sizeof(line), "  %-28s %llu\n", std::string(field.name).c_str(),
                      static_cast<unsigned long long>(value));
        text += line;
    }
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        if (total.drops[i] == 0) continue;
        std::snprintf(line, sizeof(line), "  drop.%-23s %llu\n",
                      std::string(drop_reason_name(static_cast<DropReason>(i))).c_str(),
                      static_cast<unsigned long long>(total.drops[i]));
        text += line;
    }
    if (elapsed_seconds > 0) {
        std::snprintf(line, sizeof(line), "  average rx rate              %s pps over %.1f s\n",
                      format_rate(double(total.rx_packets) / elapsed_seconds).c_str(), elapsed_seconds);
        text += line;
    }
    return text;
}

}  // namespace vipgate
