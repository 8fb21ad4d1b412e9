#include "control/api_handlers.h"

#include <rte_byteorder.h>
#include <rte_cycles.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

#include "config/objects.h"
#include "control/connect_latency.h"
#include "control/default_routers.h"
#include "control/dns_text.h"
#include "control/in_process_capture.h"
#include "control/kubernetes_source.h"
#include "control/neighbor_counts.h"
#include "control/publisher.h"
#include "control/route_announcer.h"
#include "control/snapshot_builder.h"
#include "control/snapshot_text.h"
#include "control/stats_reporter.h"
#include "control/table_fill.h"
#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/dns_responder.h"

namespace vipgate {
namespace {

using nlohmann::json;

constexpr size_t kDefaultConntrackLimit = 1000;

json error_json(const config::ConfigError& error) {
    json out = {{"message", error.message}};
    if (!error.file.empty()) out["source"] = error.file;
    if (error.line != 0) out["line"] = error.line;
    if (error.column != 0) out["column"] = error.column;
    if (!error.field.empty()) out["field"] = error.field;
    return out;
}

json refused(const std::vector<config::ConfigError>& errors) {
    json out = {{"ok", false}, {"errors", json::array()}};
    for (const auto& error : errors) out["errors"].push_back(error_json(error));
    // The errors themselves are listed; the summary only says what became of the request.
    out["error"] =
        std::to_string(errors.size()) + (errors.size() == 1 ? " problem" : " problems") + "; nothing was changed";
    return out;
}

json refused(const std::string& message) {
    return {{"ok", false}, {"error", message}};
}

json outcome_json(const UpdateOutcome& outcome) {
    if (!outcome.result.ok()) return refused(outcome.result.errors);
    json results = json::array();
    for (const auto& change : outcome.result.changes) {
        results.push_back({{"kind", change.kind},
                           {"namespace", change.namespace_name},
                           {"name", change.name},
                           {"action", change.action}});
    }
    return {{"ok", true},
            {"results", results},
            {"generation", outcome.generation},
            {"published", outcome.published},
            {"timing_us",
             {{"validate", static_cast<uint64_t>(outcome.timing.validate_ms * 1000)},
              {"build", static_cast<uint64_t>(outcome.timing.build_ms * 1000)},
              {"publish", outcome.timing.publish_us}}}};
}

std::string text_field(const json& request, const char* name, bool required = true) {
    auto found = request.find(name);
    if (found == request.end() || found->is_null()) {
        if (required) throw std::invalid_argument(std::string("missing \"") + name + "\"");
        return {};
    }
    if (!found->is_string()) throw std::invalid_argument(std::string("\"") + name + "\" must be a string");
    return found->get<std::string>();
}

// Every document of the request, parsed; problems in any refuse the whole request.
config::ObjectSet parse_documents(const json& request, std::vector<config::ConfigError>& errors, std::string& sources) {
    config::ObjectSet all;
    auto documents = request.find("documents");
    if (documents == request.end() || !documents->is_array() || documents->empty()) {
        throw std::invalid_argument("\"documents\" must be a non-empty array of {\"source\", \"text\"}");
    }
    for (const json& document : *documents) {
        if (!document.is_object()) throw std::invalid_argument("each document must be an object");
        const std::string source = text_field(document, "source", false);
        const std::string text = text_field(document, "text");
        sources += (sources.empty() ? "" : ",") + (source.empty() ? std::string("request") : source);
        std::optional<config::DocumentFormat> format = config::detect_format(source, text);
        if (!format) {
            errors.push_back(
                {source, 0, 0, "", "cannot tell whether this is YAML or TOML; name the file .yaml or .toml"});
            continue;
        }
        config::ObjectsResult parsed = *format == config::DocumentFormat::Yaml
                                           ? config::load_kubernetes_yaml(text, source)
                                           : config::load_objects_toml(text, source);
        errors.insert(errors.end(), parsed.errors.begin(), parsed.errors.end());
        if (!parsed.objects) continue;
        auto append = [](auto& into, auto& from) { into.insert(into.end(), from.begin(), from.end()); };
        append(all.services, parsed.objects->services);
        append(all.pods, parsed.objects->pods);
        append(all.endpoint_slices, parsed.objects->endpoint_slices);
        if (parsed.objects->dns) {
            if (all.dns) {
                errors.push_back(
                    {source, 0, 0, "dns", "a second [dns] table in this request; give the DNS settings once"});
                continue;
            }
            all.dns = std::move(parsed.objects->dns);
        }
    }
    return all;
}

uint32_t address_field(const json& request) {
    const std::string text = text_field(request, "address");
    std::optional<uint32_t> address = config::parse_ipv4(text);
    if (!address) throw std::invalid_argument("\"address\": '" + text + "' is not an IPv4 address");
    // 0 is no endpoint's address (an IPv6 endpoint keeps 0 as its IPv4 one): it would drain them all.
    if (*address == 0) throw std::invalid_argument("\"address\": 0.0.0.0 is not an endpoint address");
    return *address;
}

json labels_json(const std::optional<config::Labels>& labels) {
    if (!labels) return nullptr;
    json out = json::object();
    for (const auto& [key, value] : *labels) out[key] = value;
    return out;
}

json ports_json(const std::vector<config::NamedPort>& ports) {
    json out = json::array();
    for (const auto& port : ports) {
        out.push_back({{"name", port.name}, {"protocol", config::protocol_name(port.protocol)}, {"port", port.port}});
    }
    return out;
}

json origin_json(const config::ServiceStore& store, config::ObjectKind kind, const std::string& key) {
    const std::optional<config::Origin> origin = store.origin(kind, key);
    return origin ? json(config::origin_name(*origin)) : json(nullptr);
}

bool in_namespace(const json& request, const std::string& namespace_name) {
    auto wanted = request.find("namespace");
    return wanted == request.end() || wanted->is_null() || *wanted == namespace_name;
}

// IPv6 cluster IPs are served when a port has an IPv6 address (the workers then have IPv6
// connection tables and an on-link prefix to reach IPv6 endpoints).
bool serves_ipv6(const config::Config& settings) {
    return std::any_of(settings.ports.begin(), settings.ports.end(),
                       [](const config::PortConfig& port) { return !port.addresses6.empty(); });
}

json get_services(const json& request, const config::ServiceStore& store, bool ipv6_served) {
    json items = json::array();
    for (const auto* entry : store.services().sorted()) {  // key order: the store hashes its services
        const std::string& key = entry->first;
        const config::ServiceConfig& service = entry->second;
        if (!in_namespace(request, service.namespace_name)) continue;
        json ports = json::array();
        for (const auto& port : service.ports) {
            const std::string target = !port.target_port_name.empty()
                                           ? port.target_port_name
                                           : std::to_string(port.target_port ? port.target_port : port.port);
            ports.push_back({{"name", port.name},
                             {"protocol", config::protocol_name(port.protocol)},
                             {"port", port.port},
                             {"target_port", target}});
        }
        size_t ready = 0;
        size_t total = 0;
        if (auto resolved = store.resolved().find(key); resolved != store.resolved().end()) {
            // Distinct addresses of both families (a dual-stack pod counts once per family).
            std::set<uint32_t> ready_addresses;
            std::set<uint32_t> addresses;
            std::set<config::Ipv6Address> ready_addresses6;
            std::set<config::Ipv6Address> addresses6;
            for (const auto& port : resolved->second.ports) {
                for (const auto& endpoint : port.endpoints) {
                    addresses.insert(endpoint.address);
                    if (endpoint.ready && !endpoint.terminating) ready_addresses.insert(endpoint.address);
                }
                for (const auto& endpoint : port.endpoints6) {
                    addresses6.insert(endpoint.address);
                    if (endpoint.ready && !endpoint.terminating) ready_addresses6.insert(endpoint.address);
                }
            }
            ready = ready_addresses.size() + ready_addresses6.size();
            total = addresses.size() + addresses6.size();
        }
        const bool external = !service.external_name.empty();
        json cluster_ips = json::array();
        json families = json::array();
        for (config::IpFamily family : service.ip_families) {
            if (service.headless || external) break;
            families.push_back(config::ip_family_name(family));
            cluster_ips.push_back(family == config::IpFamily::Ipv4 ? config::format_ipv4(service.cluster_ip)
                                                                   : config::format_ipv6(service.cluster_ip6));
        }
        const bool has_ipv6 = !service.headless && !external && !config::is_zero(service.cluster_ip6);
        items.push_back(
            {{"namespace", service.namespace_name},
             {"name", service.name},
             {"type", external           ? "ExternalName"
                      : service.headless ? "Headless"
                                         : "ClusterIP"},
             {"external_name", external ? json(service.external_name) : json(nullptr)},
             {"cluster_ip", service.headless || external ? std::string("None")
                            : cluster_ips.empty()        ? config::format_ipv4(service.cluster_ip)
                                                         : cluster_ips[0].get<std::string>()},
             {"cluster_ips", cluster_ips},
             {"ip_families", families},
             {"ip_family_policy", config::ip_family_policy_name(service.ip_family_policy)},
             {"ipv6", !has_ipv6     ? json(nullptr)
                      : ipv6_served ? json("served")
                                    : json("not served: no port has an IPv6 address")},
             {"ports", ports},
             {"selector", labels_json(service.selector)},
             {"session_affinity", service.session_affinity == config::SessionAffinity::ClientIp ? "ClientIP" : "None"},
             {"affinity_timeout_s", service.affinity_timeout_s},
             {"endpoints_ready", ready},
             {"endpoints_total", total},
             {"source", origin_json(store, config::ObjectKind::Service, key)}});
    }
    return {{"ok", true}, {"items", items}};
}

// The endpoint's health as the dataplane sees it, by (service port label, address, target port).
struct EndpointHealth {
    EndpointCounters counts;
    ConnectLatency latency;
};
// (service port label, the address as text (either family), target port in host order).
using HealthKey = std::tuple<std::string, std::string, uint16_t>;

std::map<HealthKey, EndpointHealth> endpoint_health(ApiBackend& backend) {
    std::map<HealthKey, EndpointHealth> health;
    const Snapshot& snapshot = *backend.publisher.current();
    const std::vector<EndpointCounters> counts = backend.reporter.endpoint_counts(snapshot);
    const std::vector<ConnectLatency> latencies = backend.reporter.endpoint_latencies(snapshot);
    for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
        const ServicePort& port = snapshot.service_ports[id];
        if (port.incarnation == 0) continue;
        for (uint32_t slot : port.endpoint_slots) {
            if (slot >= counts.size()) continue;
            const EndpointSlot& endpoint = snapshot.endpoints[slot];
            config::Ipv6Address address6{};
            std::memcpy(address6.data(), endpoint.address6, address6.size());
            const std::string address =
                endpoint.ipv6 ? config::format_ipv6(address6) : config::format_ipv4(rte_be_to_cpu_32(endpoint.address));
            health[{port.service_name, address, rte_be_to_cpu_16(endpoint.port)}] = {counts[slot], latencies[slot]};
        }
    }
    return health;
}

json latency_json(const ConnectLatency& latency) {
    auto quantile = [&](double q) {
        const std::optional<double> value = latency.quantile_us(q);
        return value ? json(static_cast<uint64_t>(*value)) : json(nullptr);
    };
    const uint64_t count = latency.count();
    return {{"handshakes", count},
            {"mean_us", count == 0 ? json(nullptr) : json(latency.sum_us / count)},
            {"p50_us", quantile(0.5)},
            {"p99_us", quantile(0.99)}};
}

// The service's endpoint slices and where each came from.
json slices_json(const config::ServiceStore& store, const std::string& service_key) {
    json out = json::array();
    for (const std::string& key : store.slices_of(service_key)) {
        const config::EndpointSliceConfig& slice = store.endpoint_slices().at(key);
        out.push_back({{"name", slice.name},
                       {"address_type", config::ip_family_name(slice.address_type)},
                       {"endpoints", slice.endpoints.size()},
                       {"source", origin_json(store, config::ObjectKind::EndpointSlice, key)}});
    }
    return out;
}

// Runs under the control plane's lock (inspect), so the published snapshot stays.
json get_endpoints(const json& request, const config::ServiceStore& store, ApiBackend& backend) {
    const std::map<HealthKey, EndpointHealth> health = endpoint_health(backend);
    json items = json::array();
    for (const auto* entry : store.services().sorted()) {  // key order: the store hashes its services
        const std::string& key = entry->first;
        const config::ServiceConfig& service = entry->second;
        if (!in_namespace(request, service.namespace_name)) continue;
        json endpoints = json::array();
        if (auto resolved = store.resolved().find(key); resolved != store.resolved().end()) {
            for (const auto& port : resolved->second.ports) {
                const std::string label =
                    service_port_label(service.namespace_name, service.name, port.port.name, port.port.port);
                // Both families' endpoints (IPv6: the pods' addresses for the IPv6 cluster IP,
                // counted under the IPv6 service port's own label).
                auto add = [&](const auto& endpoint, const std::string& address, const std::string& health_label) {
                    json seen = nullptr;
                    if (auto found = health.find({health_label, address, endpoint.port}); found != health.end()) {
                        seen = {{"connections", found->second.counts.connections},
                                {"syn_unanswered", found->second.counts.syn_unanswered},
                                {"connect", latency_json(found->second.latency)}};
                    }
                    endpoints.push_back({{"address", address},
                                         {"port", endpoint.port},
                                         {"port_name", port.port.name},
                                         {"protocol", config::protocol_name(port.port.protocol)},
                                         {"ready", endpoint.ready && !endpoint.terminating},
                                         {"serving", endpoint.ready},
                                         {"terminating", endpoint.terminating},
                                         {"weight", endpoint.weight},
                                         {"pod", endpoint.pod.empty() ? json(nullptr) : json(endpoint.pod)},
                                         {"dataplane", seen}});
                };
                for (const auto& endpoint : port.endpoints) add(endpoint, config::format_ipv4(endpoint.address), label);
                for (const auto& endpoint : port.endpoints6) {
                    add(endpoint, config::format_ipv6(endpoint.address), label + "/IPv6");
                }
            }
        }
        std::optional<size_t> matched = store.matched_pods(key);
        items.push_back({{"namespace", service.namespace_name},
                         {"name", service.name},
                         {"selector", labels_json(service.selector)},
                         {"matched_pods", matched ? json(*matched) : json(nullptr)},
                         {"endpoints", endpoints},
                         {"source", origin_json(store, config::ObjectKind::Service, key)},
                         {"slices", slices_json(store, key)}});
    }
    return {{"ok", true}, {"items", items}};
}

json get_pods(const json& request, const config::ServiceStore& store) {
    json items = json::array();
    for (const auto* entry : store.pods().sorted()) {  // key order: the store hashes its pods
        const std::string& key = entry->first;
        const config::PodConfig& pod = entry->second;
        if (!in_namespace(request, pod.namespace_name)) continue;
        items.push_back(
            {{"namespace", pod.namespace_name},
             {"name", pod.name},
             {"address", pod.address ? json(config::format_ipv4(pod.address)) : json(nullptr)},
             {"address_ipv6", config::is_zero(pod.address6) ? json(nullptr) : json(config::format_ipv6(pod.address6))},
             {"labels", labels_json(pod.labels)},
             {"ready", pod.ready},
             {"terminating", pod.terminating},
             {"weight", pod.weight},
             {"ports", ports_json(pod.ports)},
             {"source", origin_json(store, config::ObjectKind::Pod, key)}});
    }
    return {{"ok", true}, {"items", items}};
}

std::string endpoint_text(uint32_t address_be, uint16_t port_be) {
    return config::format_ipv4(rte_be_to_cpu_32(address_be)) + ":" + std::to_string(rte_be_to_cpu_16(port_be));
}

// "[2001:db8::10]:41000", as a URL writes an IPv6 address with a port.
std::string endpoint_text6(const uint8_t* address, uint16_t port_be) {
    config::Ipv6Address bytes{};
    std::memcpy(bytes.data(), address, bytes.size());
    std::string text(1, '[');
    text += config::format_ipv6(bytes);
    text += "]:";
    text += std::to_string(rte_be_to_cpu_16(port_be));
    return text;
}

// Either family's entry (Connection, Connection6): the same state machine.
template <class Entry>
const char* state_name(const Entry& connection) {
    switch (connection.tcp_state) {
    // UDP and ICMP: evictable with the short timeout until the endpoint has answered.
    case TcpState::None:
        return connection.seen_reply ? "active" : "unreplied";
    case TcpState::SynSent:
        return "syn-sent";
    case TcpState::SynReceived:
        return "syn-received";
    case TcpState::Established:
        return "established";
    case TcpState::Closing:
        return "closing";
    case TcpState::Closed:
        return "closed";
    }
    return "?";
}

json get_conntrack(const json& request, ApiBackend& backend) {
    size_t limit = kDefaultConntrackLimit;
    if (auto found = request.find("limit"); found != request.end() && !found->is_null()) {
        if (!found->is_number_unsigned()) throw std::invalid_argument("\"limit\" must be a non-negative integer");
        limit = found->get<size_t>();
    }
    const uint32_t now_ms = static_cast<uint32_t>(rte_get_tsc_cycles() / (rte_get_tsc_hz() / 1000));
    json items = json::array();
    bool truncated = false;
    // Under the control plane's lock: the publisher frees retired snapshots under it too.
    backend.control.locked([&] {
        const Snapshot& snapshot = *backend.publisher.current();
        for (const WorkerContext* worker : backend.workers) {
            worker->connections->for_each([&](const Connection& connection) {
                if (items.size() >= limit) {
                    truncated = true;
                    return;
                }
                const bool full_nat = snapshot.nat_mode == NatMode::FullNat;
                items.push_back(
                    {{"worker", worker->worker_index},
                     {"protocol", protocol_name(connection.original.protocol)},
                     {"client", endpoint_text(connection.original.src_addr, connection.original.src_port)},
                     {"vip", endpoint_text(connection.original.dst_addr, connection.original.dst_port)},
                     {"endpoint", endpoint_text(connection.reply.src_addr, connection.reply.src_port)},
                     {"snat", full_nat ? json(endpoint_text(connection.reply.dst_addr, connection.reply.dst_port))
                                       : json(nullptr)},
                     {"state", state_name(connection)},
                     {"expires_in_ms", std::max<int64_t>(0, static_cast<int32_t>(connection.deadline_ms - now_ms))}});
            });
            if (worker->connections6 == nullptr) continue;
            worker->connections6->for_each([&](const Connection6& connection) {
                if (items.size() >= limit) {
                    truncated = true;
                    return;
                }
                const FlowKey6& original = connection.original;
                const bool full_nat = connection.snat_slot != Connection6::kDnatOnly &&
                                      connection.snat_slot < snapshot.ipv6.snat_slots.size();
                items.push_back(
                    {{"worker", worker->worker_index},
                     {"protocol", protocol_name(original.protocol)},
                     {"client", endpoint_text6(original.src_addr, original.src_port)},
                     {"vip", endpoint_text6(original.dst_addr, original.dst_port)},
                     {"endpoint", endpoint_text6(connection.endpoint_addr, connection.endpoint_port)},
                     {"snat", full_nat ? json(endpoint_text6(snapshot.ipv6.snat_slots[connection.snat_slot].data(),
                                                             connection.reply_dst_port))
                                       : json(nullptr)},
                     {"state", state_name(connection)},
                     {"expires_in_ms", std::max<int64_t>(0, static_cast<int32_t>(connection.deadline_ms - now_ms))}});
            });
        }
    });
    return {{"ok", true}, {"items", items}, {"truncated", truncated}};
}

json kubernetes_json(const KubernetesStatus& status) {
    auto resource = [](const KubernetesResourceStatus& out) {
        return json{{"watching", out.watching}, {"resource_version", out.resource_version}, {"objects", out.objects}};
    };
    return {{"server", status.server},
            {"connected", status.connected},
            {"last_error", status.last_error.empty() ? json(nullptr) : json(status.last_error)},
            {"last_sync_unix_ms", status.last_sync_unix_ms == 0 ? json(nullptr) : json(status.last_sync_unix_ms)},
            {"services", resource(status.services)},
            {"endpointslices", resource(status.endpoint_slices)},
            {"events", status.events},
            {"lists", status.lists},
            {"gone", status.gone},
            {"reconnects", status.reconnects},
            {"syncs", status.syncs},
            {"publications", status.publications},
            {"rejected", status.rejected},
            {"shadowed", status.shadowed},
            {"skipped", status.skipped},
            {"sync_delay_ms",
             {{"last", status.last_sync_delay_ms},
              {"max", status.max_sync_delay_ms},
              {"mean", status.syncs == 0 ? 0.0 : status.sync_delay_sum_ms / static_cast<double>(status.syncs)}}}};
}

json neighbor_json(const NeighborCounts& counts) {
    return {{"solicitations_sent", counts.solicitations_sent},
            {"advertisements_sent", counts.advertisements_sent},
            {"learnt", counts.learnt},
            {"held", counts.held},
            {"held_sent", counts.held_sent},
            {"held_dropped", counts.held_dropped},
            {"conflicts", counts.conflicts},
            {"updates_refused", counts.updates_refused}};
}

// Each table's fill summed over the workers, a row a family: {"ipv4": {entries, capacity}, ...}.
json table_fill_json(const std::vector<WorkerContext*>& workers, FamilyFill (*fill_of)(const WorkerContext&) noexcept) {
    FamilyFill sum{};
    for (const WorkerContext* worker : workers) add_fill(sum, fill_of(*worker));
    json rows = json::object();
    for (size_t family = 0; family < kAddressFamilies.size(); ++family) {
        rows[kAddressFamilies[family]] = {{"entries", sum[family].entries}, {"capacity", sum[family].capacity}};
    }
    return rows;
}

json get_stats(ApiBackend& backend) {
    const WorkerCounters total = sum_counters(backend.workers);
    json counters = json::object();
    for (const CounterField& field : kCounterFields) {
        if (field.member == &WorkerCounters::snapshot_generation) continue;
        counters[std::string(field.name)] = total.*field.member;
    }
    json drops = json::object();
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        drops[std::string(drop_reason_name(static_cast<DropReason>(i)))] = total.drops[i];
    }
    const UpdateTiming timing = backend.control.last_timing();
    json services = json::array();
    uint64_t generation = 0;
    // Under the control plane's lock: the publisher frees retired snapshots under it too.
    backend.control.locked([&] {
        const Snapshot& snapshot = *backend.publisher.current();
        generation = snapshot.generation;
        // Since each endpoint took its slot, and per service port since it appeared (the
        // reporter keeps the baselines): the numbers Prometheus shows too.
        const std::vector<EndpointCounters> endpoints = backend.reporter.endpoint_counts(snapshot);
        const std::vector<ConnectLatency> latencies = backend.reporter.endpoint_latencies(snapshot);
        const std::vector<uint64_t> refusals = backend.reporter.service_port_refusals(snapshot);
        for (uint32_t id = 0; id < snapshot.service_ports.capacity(); ++id) {
            const ServicePort& port = snapshot.service_ports[id];
            if (port.incarnation == 0) continue;
            const EndpointCounters sum = backend.reporter.service_port_counts(snapshot, id, endpoints);
            services.push_back(
                {{"service", port.service_name},
                 {"vip", vip_text(port)},
                 {"protocol", protocol_name(port.protocol)},
                 {"connections", sum.connections},
                 {"packets", sum.packets},
                 {"bytes", sum.bytes},
                 {"refusals", id < refusals.size() ? refusals[id] : 0},
                 {"syn_unanswered", sum.syn_unanswered},
                 {"connect", latency_json(backend.reporter.service_port_latency(snapshot, id, latencies))}});
        }
    });
    json stats = {{"ok", true},
                  {"generation", generation},
                  {"counters", counters},
                  {"drops", drops},
                  {"services", services},
                  {"tables",
                   {{"conntrack", table_fill_json(backend.workers, connection_table_fill)},
                    {"affinity", table_fill_json(backend.workers, affinity_table_fill)}}},
                  {"last_update",
                   {{"validate_us", static_cast<uint64_t>(timing.validate_ms * 1000)},
                    {"build_us", static_cast<uint64_t>(timing.build_ms * 1000)},
                    {"publish_us", timing.publish_us}}}};
    if (backend.kubernetes != nullptr) stats["kubernetes"] = kubernetes_json(backend.kubernetes->status());
    if (backend.neighbors != nullptr) {
        stats["neighbors"] = {{"arp", neighbor_json(backend.neighbors->arp())},
                              {"nd", neighbor_json(backend.neighbors->nd())}};
        if (backend.router_advertisements != nullptr) {
            const RouterAdvertisementView view = backend.router_advertisements->view();
            stats["neighbors"]["router_advertisements"] = {{"accepted", view.counts.accepted},
                                                           {"refused", view.counts.refused},
                                                           {"withdrawn", view.counts.withdrawn},
                                                           {"expired", view.counts.expired},
                                                           {"default_routers", view.routers.size()}};
        }
    }
    backend.stats_rates.add_rates(stats, StatsRates::Clock::now());
    return stats;
}

std::string base64(const std::string& bytes) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t at = 0; at < bytes.size(); at += 3) {
        const size_t left = bytes.size() - at;
        uint32_t group = static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 16;
        if (left > 1) group |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 8;
        if (left > 2) group |= static_cast<uint8_t>(bytes[at + 2]);
        text += kAlphabet[(group >> 18) & 63];
        text += kAlphabet[(group >> 12) & 63];
        text += left > 1 ? kAlphabet[(group >> 6) & 63] : '=';
        text += left > 2 ? kAlphabet[group & 63] : '=';
    }
    return text;
}

uint64_t bounded_number(const json& request, const char* field, uint64_t fallback, uint64_t low, uint64_t high) {
    const auto found = request.find(field);
    if (found == request.end() || found->is_null()) return fallback;
    if (!found->is_number_unsigned() || found->get<uint64_t>() < low || found->get<uint64_t>() > high) {
        throw std::invalid_argument("\"" + std::string(field) + "\" must be a whole number from " +
                                    std::to_string(low) + " to " + std::to_string(high));
    }
    return found->get<uint64_t>();
}

// In-process capture (control/in_process_capture.h): the pcapng comes back base64-encoded.
json capture(const json& request, ApiBackend& backend) {
    const std::string port_name = text_field(request, "port");
    const auto port = std::find_if(backend.ports.begin(), backend.ports.end(),
                                   [&](const CapturePort& candidate) { return candidate.name == port_name; });
    if (port == backend.ports.end()) {
        std::string names;
        for (const CapturePort& candidate : backend.ports) names += (names.empty() ? "" : ", ") + candidate.name;
        return refused("no port '" + port_name + "'; ports: " + names);
    }
    CaptureRequest capture_request;
    capture_request.port_id = port->port_id;
    capture_request.queues = static_cast<uint16_t>(backend.workers.size());
    capture_request.count = static_cast<uint32_t>(bounded_number(request, "count", 100, 1, 100'000));
    capture_request.snap_length = static_cast<uint32_t>(bounded_number(request, "snap_length", 2048, 64, 9216));
    capture_request.timeout = std::chrono::milliseconds(bounded_number(request, "timeout_ms", 10'000, 1, 600'000));
    capture_request.cancel = &backend.stopping;
    const CaptureResult result = capture_in_process(capture_request, backend.workers);
    return {{"ok", true},
            {"port", port_name},
            {"packets", result.packets},
            {"missed", result.missed},
            {"pcapng_base64", base64(result.pcapng)}};
}

// What the workers answer for a name: the same responder on the published zone, the query as
// dig sends it (EDNS, 1232 bytes), from a trusted client, over TCP when asked.
json dns_lookup(const json& request, ApiBackend& backend) {
    const std::string name = text_field(request, "name");
    const std::string type_text = text_field(request, "type", false);
    const std::optional<uint16_t> type = dns_type_from_text(type_text.empty() ? "A" : type_text);
    if (!type) return refused("unknown DNS type '" + type_text + "'; use A, SRV, PTR, TXT, CNAME, SOA, ANY or TYPEn");
    const bool tcp = text_field(request, "transport", false) == "tcp";
    std::shared_ptr<const DnsZone> zone;
    // Under the control plane's lock: the publisher frees retired snapshots under it too. The
    // zone itself is shared, so it outlives the lock.
    backend.control.locked([&] { zone = backend.publisher.current()->dns; });
    if (zone == nullptr) return refused("the gateway serves no DNS names: no [dns] addresses are configured");
    const std::vector<uint8_t> query = make_dns_query({.name = name, .type = *type, .edns_size = dns::kServerUdpSize});
    std::vector<uint8_t> response(0xFFFF);
    const DnsAnswer answer =
        answer_dns_query(*zone, query.data(), static_cast<uint32_t>(query.size()),
                         {.transport = tcp ? DnsTransport::Tcp : DnsTransport::Udp, .client_trusted = true},
                         response.data(), static_cast<uint32_t>(response.size()));
    if (answer.kind == DnsAnswerKind::Forward) {
        return {{"ok", true},
                {"forwarded", true},
                {"text", ";; " + name + " is outside the zone: the workers forward it to the upstreams\n"}};
    }
    if (answer.kind == DnsAnswerKind::Drop) return refused("the responder dropped the query");
    const DnsTextResponse decoded = decode_dns_response(response.data(), answer.length);
    json records = json::array();
    for (const DnsTextRecord& record : decoded.records) {
        records.push_back({{"section", record.section},
                           {"name", record.name},
                           {"ttl", record.ttl},
                           {"type", dns_type_to_text(record.type)},
                           {"data", record.data}});
    }
    return {{"ok", true},
            {"rcode", dns_rcode_to_text(decoded.rcode)},
            {"authoritative", decoded.authoritative},
            {"truncated", decoded.truncated},
            {"bytes", answer.length},
            {"records", records},
            {"text", decoded.to_text()}};
}

json prefix_json(const config::Ipv4Prefix& prefix) {
    return config::format_ipv4(prefix.address) + "/" + std::to_string(prefix.length);
}

const char* preference_name(int8_t preference) {
    return preference > 0 ? "high" : preference < 0 ? "low" : "medium";
}

// The routes the gateway forwards by, besides its ports' prefixes: the static [[routes]], then the
// IPv6 default routers learnt from router advertisements (the chosen one is installed unless a
// static ::/0 is configured, which always wins), each with its remaining lifetime.
json get_routes(ApiBackend& backend) {
    json routes = json::array();
    std::vector<std::string> port_names;
    bool static_default6 = false;
    backend.control.inspect([&](const config::ServiceStore&, const config::Config& settings) {
        for (const config::PortConfig& port : settings.ports) port_names.push_back(port.name);
        for (const config::RouteConfig& route : settings.routes) {
            static_default6 = static_default6 || (route.ipv6 && route.prefix6.length == 0);
            routes.push_back({{"prefix", route.ipv6 ? config::format_ipv6_prefix(route.prefix6)
                                                    : prefix_json(route.prefix).get<std::string>()},
                              {"via", route.ipv6 ? config::format_ipv6(route.via6) : config::format_ipv4(route.via)},
                              {"port", route.port},
                              {"origin", "static"},
                              {"installed", true}});
        }
    });
    if (backend.router_advertisements != nullptr) {
        const RouterAdvertisementView view = backend.router_advertisements->view();
        for (const LearntRouter& router : view.routers) {
            const uint64_t remaining_ms = router.expires_ms > view.now_ms ? router.expires_ms - view.now_ms : 0;
            routes.push_back({{"prefix", "::/0"},
                              {"via", config::format_ipv6(router.address)},
                              {"port", router.port_index < port_names.size() ? port_names[router.port_index] : "?"},
                              {"origin", "router-advertisement"},
                              {"installed", router.chosen && !static_default6},
                              {"preference", preference_name(router.preference)},
                              {"lifetime_s", (remaining_ms + 999) / 1000}});
        }
    }
    return {{"ok", true}, {"routes", routes}};
}

// The announcer's state and, while drained, what still runs through the gateway: the drain is
// done when open_connections reaches 0 (or the deadline passes and the operator stops it anyway).
json get_announcements(const ApiBackend& backend) {
    if (backend.announcer == nullptr) {
        return {{"ok", true}, {"enabled", false}, {"routes", json::array()}, {"announced_vips", 0}, {"drained", false}};
    }
    const AnnouncementStatus status = backend.announcer->status();
    json routes = json::array();
    for (const config::Ipv4Prefix& prefix : status.routes) routes.push_back(prefix_json(prefix));
    for (const config::Ipv6Prefix& prefix : status.routes6) routes.push_back(config::format_ipv6_prefix(prefix));
    json out = {{"ok", true},
                {"enabled", true},
                {"interface", status.interface},
                {"table", status.table},
                {"routes", routes},
                {"announced_vips", status.announced_vips},
                {"added", status.added},
                {"removed", status.removed},
                {"failures", status.failures},
                {"last_error", status.last_error},
                {"drained", status.drained}};
    if (status.drained) {
        out["drain"] = {{"seconds", status.drained_for_s},
                        {"open_connections", sum_counters(backend.workers).active_connections},
                        {"deadline_s", status.deadline_s ? json(*status.deadline_s) : json(nullptr)},
                        {"deadline_passed", status.deadline_s && status.drained_for_s >= *status.deadline_s}};
    }
    return out;
}

json drain_gateway(const json& request, ApiBackend& backend, bool drained) {
    if (backend.announcer == nullptr) {
        return refused("this gateway announces nothing ([announce] enabled = false): there is no route to withdraw");
    }
    std::optional<double> deadline_s;
    if (drained && request.contains("deadline_s") && !request.at("deadline_s").is_null()) {
        const json& value = request.at("deadline_s");
        if (!value.is_number() || value.get<double>() <= 0)
            return refused("deadline_s must be a number of seconds > 0");
        deadline_s = value.get<double>();
    }
    backend.announcer->set_drained(drained, deadline_s);
    // The control loop applies it within a turn or two (1 ms each): answer with the new state.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!backend.announcer->status().settled && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return get_announcements(backend);
}

json handle(const json& request, ApiBackend& backend) {
    const std::string op = text_field(request, "op");
    if (op == "apply" || (op == "delete" && request.contains("documents"))) {
        std::vector<config::ConfigError> errors;
        std::string sources;
        config::ObjectSet objects = parse_documents(request, errors, sources);
        if (!errors.empty()) return refused(errors);
        return outcome_json(op == "apply" ? backend.control.apply(std::move(objects), sources)
                                          : backend.control.remove(objects, sources));
    }
    if (op == "delete") {
        std::string kind = text_field(request, "kind");
        if (kind == "svc") kind = "service";
        std::string namespace_name = text_field(request, "namespace", false);
        if (namespace_name.empty()) namespace_name = "default";
        return outcome_json(backend.control.remove(kind, namespace_name, text_field(request, "name")));
    }
    if (op == "drain" || op == "undrain") {
        return outcome_json(backend.control.set_drained(address_field(request), op == "drain"));
    }
    if (op == "drain-gateway" || op == "undrain-gateway") return drain_gateway(request, backend, op == "drain-gateway");
    if (op == "capture") return capture(request, backend);
    if (op == "dns") return dns_lookup(request, backend);
    if (op == "dump") return {{"ok", true}, {"text", config::format_config(backend.control.running_config())}};
    if (op == "get") {
        const std::string resource = text_field(request, "resource");
        if (resource == "conntrack") return get_conntrack(request, backend);
        if (resource == "stats") return get_stats(backend);
        if (resource == "announcements") return get_announcements(backend);
        if (resource == "routes") return get_routes(backend);
        json out;
        backend.control.inspect([&](const config::ServiceStore& store, const config::Config& settings) {
            if (resource == "services") {
                out = get_services(request, store, serves_ipv6(settings));
            } else if (resource == "endpoints") {
                out = get_endpoints(request, store, backend);
            } else if (resource == "pods") {
                out = get_pods(request, store);
            } else {
                out = refused("unknown resource '" + resource +
                              "'; allowed: services, endpoints, pods, conntrack, stats, announcements, routes");
            }
        });
        return out;
    }
    return refused(
        "unknown op '" + op +
        "'; allowed: apply, delete, drain, undrain, drain-gateway, undrain-gateway, get, dump, capture, dns");
}

}  // namespace

json handle_api_request(const json& request, ApiBackend& backend) {
    if (!request.is_object()) return refused("a request must be a JSON object");
    try {
        return handle(request, backend);
    } catch (const std::invalid_argument& error) {
        return refused(std::string("bad request: ") + error.what());
    } catch (const json::exception& error) {
        return refused(std::string("bad request: ") + error.what());
    }
}

}  // namespace vipgate
