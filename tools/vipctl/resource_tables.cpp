#include "tools/vipctl/resource_tables.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

#include "tools/vipctl/json_fields.h"
#include "tools/vipctl/table.h"

namespace vipgate::vipctl {
namespace {

// Starts a table with a NAMESPACE column in front when listing every namespace.
Table namespaced_table(const TableOptions& options, std::vector<std::string> headers) {
    if (!options.namespace_name) headers.insert(headers.begin(), "NAMESPACE");
    return Table(std::move(headers));
}

void add_namespaced_row(Table& table, const TableOptions& options, const nlohmann::json& item,
                        std::vector<std::string> cells) {
    if (!options.namespace_name) cells.insert(cells.begin(), field_text(item, "namespace"));
    table.add_row(std::move(cells));
}

// kubectl's wording for an empty listing.
void print_or_nothing_found(const Table& table, const TableOptions& options, std::ostream& out, std::ostream& err) {
    if (!table.empty()) {
        out << table.render();
    } else if (options.namespace_name) {
        err << "No resources found in " << *options.namespace_name << " namespace.\n";
    } else {
        err << "No resources found.\n";
    }
}

std::string join(const std::vector<std::string>& parts, const char* separator = ",") {
    std::string text;
    for (const auto& part : parts) text.append(text.empty() ? "" : separator).append(part);
    return text;
}

std::string service_ports(const nlohmann::json& service) {
    std::vector<std::string> ports;
    for (const auto& port : field_list(service, "ports")) {
        ports.push_back(field_text(port, "port", "?") + "/" + field_text(port, "protocol", "?"));
    }
    return ports.empty() ? kNone : join(ports);
}

std::string target_ports(const nlohmann::json& service) {
    std::vector<std::string> ports;
    for (const auto& port : field_list(service, "ports")) ports.push_back(field_text(port, "target_port", "?"));
    return ports.empty() ? kNone : join(ports);
}

std::string affinity(const nlohmann::json& service) {
    const std::string mode = field_text(service, "session_affinity", "None");
    if (mode != "ClientIP") return mode;
    return mode + ":" + field_text(service, "affinity_timeout_s", "?") + "s";
}

// What keeps endpoints out of the ENDPOINTS column, or why there are none.
std::string endpoint_notes(const nlohmann::json& item, size_t serving) {
    std::vector<std::string> notes;
    const nlohmann::json& selector = field_list(item, "selector");
    const auto matched = item.find("matched_pods");
    if (!selector.empty() && matched != item.end() && matched->is_number() && *matched == 0) {
        notes.push_back("selector " + labels_text(selector) + " matches no pods");
    }
    std::set<std::string> not_ready, terminating, drained;
    for (const auto& endpoint : field_list(item, "endpoints")) {
        const std::string address = field_text(endpoint, "address");
        if (field_bool(endpoint, "terminating")) {
            terminating.insert(address);
        } else if (!field_bool(endpoint, "ready", true)) {
            not_ready.insert(address);
        } else if (field_number(endpoint, "weight", 1) == 0) {
            drained.insert(address);
        }
    }
    for (const auto& [addresses, what] :
         {std::pair{&not_ready, "not ready"}, std::pair{&terminating, "terminating"}, std::pair{&drained, "drained"}}) {
        if (!addresses->empty()) notes.push_back(std::to_string(addresses->size()) + " " + what);
    }
    if (serving == 0 && selector.empty() && field_list(item, "endpoints").empty()) {
        notes.push_back("no selector and no EndpointSlice");
    }
    return join(notes, "; ");
}

}  // namespace

std::string duration_text(uint64_t milliseconds) {
    const uint64_t seconds = milliseconds / 1000;
    if (seconds < 60) return std::to_string(seconds) + "s";
    if (seconds < 3600) return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
    if (seconds < 86400) return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60) + "m";
    return std::to_string(seconds / 86400) + "d" + std::to_string(seconds % 86400 / 3600) + "h";
}

void print_services(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err) {
    std::vector<std::string> headers = {"NAME",      "TYPE",     "CLUSTER-IP", "PORT(S)",
                                        "ENDPOINTS", "SELECTOR", "AFFINITY",   "SOURCE"};
    if (options.wide) headers.insert(headers.begin() + 4, "TARGET-PORT(S)");
    Table table = namespaced_table(options, headers);
    size_t ipv6_not_served = 0;
    for (const auto& service : field_list(response, "items")) {
        const std::string cluster_ip = field_text(service, "cluster_ip");
        std::string addresses;  // every cluster IP, primary first, as kubectl's CLUSTER-IPS
        for (const auto& address : field_list(service, "cluster_ips")) {
            if (!addresses.empty()) addresses += ',';
            addresses += address.is_string() ? address.get<std::string>() : "?";
        }
        if (service.contains("ipv6") && service["ipv6"].is_string() &&
            service["ipv6"].get<std::string>().rfind("not served", 0) == 0) {
            ++ipv6_not_served;
        }
        std::vector<std::string> cells = {
            field_text(service, "name"),
            field_text(service, "type", cluster_ip == "None" ? "Headless" : "ClusterIP"),
            addresses.empty() ? cluster_ip : addresses,
            service_ports(service),
            field_text(service, "endpoints_ready", "?") + "/" + field_text(service, "endpoints_total", "?"),
            labels_text(field_list(service, "selector")),
            affinity(service),
            field_text(service, "source", "-")};
        if (options.wide) cells.insert(cells.begin() + 4, target_ports(service));
        add_namespaced_row(table, options, service, std::move(cells));
    }
    print_or_nothing_found(table, options, out, err);
    if (ipv6_not_served > 0) {
        err << "note: " << ipv6_not_served
            << " service(s) have an IPv6 cluster IP that is not served: no port has an IPv6 address\n";
    }
}

namespace {

// "12.3ms", "850us", "-": a connect latency for a table cell.
std::string latency_text(const nlohmann::json& microseconds) {
    if (!microseconds.is_number()) return "-";
    const double value = microseconds.get<double>();
    char text[32];
    if (value >= 1000) {
        std::snprintf(text, sizeof(text), "%.1fms", value / 1000);
    } else {
        std::snprintf(text, sizeof(text), "%.0fus", value);
    }
    return text;
}

// address:port, an IPv6 address in brackets as kubectl (net.JoinHostPort) writes it: [2001:db8::10]:8080.
std::string endpoint_text(const nlohmann::json& endpoint) {
    const std::string address = field_text(endpoint, "address", "?");
    std::string text;
    if (address.find(':') == std::string::npos) {
        text = address;
    } else {
        text += '[';
        text += address;
        text += ']';
    }
    text += ':';
    text += field_text(endpoint, "port", "?");
    return text;
}

// -o wide: each endpoint's health as the dataplane sees it (control/connect_latency.h).
void print_endpoint_health(const nlohmann::json& response, const TableOptions& options, std::ostream& out) {
    Table table = namespaced_table(options, {"NAME", "ENDPOINT", "PORT", "CONNECTIONS", "HANDSHAKES", "CONNECT P50",
                                             "CONNECT P99", "SYN UNANSWERED"});
    for (const auto& item : field_list(response, "items")) {
        for (const auto& endpoint : field_list(item, "endpoints")) {
            const nlohmann::json& seen = field_list(endpoint, "dataplane");
            if (seen.empty()) continue;
            const nlohmann::json& connect = field_list(seen, "connect");
            add_namespaced_row(
                table, options, item,
                {field_text(item, "name"), endpoint_text(endpoint), field_text(endpoint, "port_name", ""),
                 field_text(seen, "connections", "0"), field_text(connect, "handshakes", "0"),
                 latency_text(connect.value("p50_us", nlohmann::json())),
                 latency_text(connect.value("p99_us", nlohmann::json())), field_text(seen, "syn_unanswered", "0")});
        }
    }
    if (!table.empty()) out << "\n" << table.render();
}

}  // namespace

namespace {

// "kubernetes", or "file service, kubernetes slices" when the service and its slices differ.
std::string endpoint_sources(const nlohmann::json& item) {
    const std::string service = field_text(item, "source", "-");
    std::set<std::string> slices;
    for (const auto& slice : field_list(item, "slices")) slices.insert(field_text(slice, "source", "-"));
    if (slices.empty() || (slices.size() == 1 && *slices.begin() == service)) return service;
    return service + " service, " + join({slices.begin(), slices.end()}) + " slices";
}

}  // namespace

void print_endpoints(const nlohmann::json& response, const TableOptions& options, std::ostream& out,
                     std::ostream& err) {
    struct Row {
        const nlohmann::json* item;
        std::string endpoints;
        std::string notes;
    };
    std::vector<Row> rows;
    bool any_notes = false;
    for (const auto& item : field_list(response, "items")) {
        // Serving endpoints only, as kubectl lists ready addresses; the rest are counted in NOTES.
        std::vector<std::string> serving;
        std::set<std::string> seen;
        for (const auto& endpoint : field_list(item, "endpoints")) {
            if (!field_bool(endpoint, "ready", true) || field_bool(endpoint, "terminating") ||
                field_number(endpoint, "weight", 1) == 0) {
                continue;
            }
            const std::string text = endpoint_text(endpoint);
            if (seen.insert(text).second) serving.push_back(text);
        }
        std::string endpoints = kNone;
        if (!serving.empty()) {
            const size_t shown = options.wide ? serving.size() : std::min(serving.size(), kEndpointsShown);
            endpoints = join({serving.begin(), serving.begin() + static_cast<long>(shown)});
            if (shown < serving.size()) endpoints += " + " + std::to_string(serving.size() - shown) + " more...";
        }
        rows.push_back({&item, endpoints, endpoint_notes(item, serving.size())});
        any_notes = any_notes || !rows.back().notes.empty();
    }
    std::vector<std::string> headers = {"NAME", "ENDPOINTS", "SOURCE"};
    if (any_notes) headers.push_back("NOTES");
    Table table = namespaced_table(options, headers);
    for (const Row& row : rows) {
        std::vector<std::string> cells = {field_text(*row.item, "name"), row.endpoints, endpoint_sources(*row.item)};
        if (any_notes) cells.push_back(row.notes);
        add_namespaced_row(table, options, *row.item, std::move(cells));
    }
    print_or_nothing_found(table, options, out, err);
    if (options.wide) print_endpoint_health(response, options, out);
}

void print_pods(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err) {
    std::vector<std::string> headers = {"NAME", "IP", "READY", "STATUS", "LABELS"};
    if (options.wide) headers.insert(headers.end(), {"WEIGHT", "PORTS"});
    Table table = namespaced_table(options, headers);
    for (const auto& pod : field_list(response, "items")) {
        const std::string status = field_bool(pod, "terminating")        ? "Terminating"
                                   : field_number(pod, "weight", 1) == 0 ? "Drained"
                                                                         : "Running";
        std::vector<std::string> cells = {field_text(pod, "name"), field_text(pod, "address"),
                                          field_bool(pod, "ready") ? "True" : "False", status,
                                          labels_text(field_list(pod, "labels"))};
        if (options.wide) {
            std::vector<std::string> ports;
            for (const auto& port : field_list(pod, "ports")) {
                const std::string name = field_text(port, "name", "");
                ports.push_back((name.empty() ? "" : name + ":") + field_text(port, "port", "?") + "/" +
                                field_text(port, "protocol", "?"));
            }
            cells.insert(cells.end(), {field_text(pod, "weight", "1"), ports.empty() ? kNone : join(ports)});
        }
        add_namespaced_row(table, options, pod, std::move(cells));
    }
    print_or_nothing_found(table, options, out, err);
}

void print_conntrack(const nlohmann::json& response, const TableOptions& options, std::ostream& out,
                     std::ostream& err) {
    std::vector<std::string> headers = {"PROTO", "CLIENT", "VIP", "ENDPOINT", "SNAT", "STATE", "EXPIRES"};
    if (options.wide) headers.insert(headers.begin(), "WORKER");
    Table table(headers);
    for (const auto& connection : field_list(response, "items")) {
        std::vector<std::string> cells = {field_text(connection, "protocol"),
                                          field_text(connection, "client"),
                                          field_text(connection, "vip"),
                                          field_text(connection, "endpoint"),
                                          field_text(connection, "snat"),
                                          field_text(connection, "state"),
                                          duration_text(field_number(connection, "expires_in_ms"))};
        if (options.wide) cells.insert(cells.begin(), field_text(connection, "worker"));
        table.add_row(std::move(cells));
    }
    if (table.empty()) {
        err << "No connections tracked.\n";
    } else {
        out << table.render();
    }
    if (field_bool(response, "truncated")) {
        err << "(listing truncated at " << field_list(response, "items").size()
            << " connections; --limit N shows more)\n";
    }
}

namespace {

// The Kubernetes source's state, when the gateway follows a cluster.
void print_kubernetes_status(const nlohmann::json& status, std::ostream& out) {
    if (status.empty()) return;
    const nlohmann::json& delay = field_list(status, "sync_delay_ms");
    auto milliseconds = [&](const char* name) {
        char text[32];
        const auto value = delay.find(name);
        std::snprintf(text, sizeof(text), "%.1f ms",
                      value != delay.end() && value->is_number() ? value->get<double>() : 0.0);
        return std::string(text);
    };
    out << "\nkubernetes " << field_text(status, "server") << ": "
        << (field_bool(status, "connected") ? "connected" : "DISCONNECTED (serving the last state)") << "\n"
        << "  services " << field_text(field_list(status, "services"), "objects", "0") << ", endpointslices "
        << field_text(field_list(status, "endpointslices"), "objects", "0") << "; events "
        << field_text(status, "events", "0") << ", lists " << field_text(status, "lists", "0") << " (410 Gone "
        << field_text(status, "gone", "0") << "), errors " << field_text(status, "reconnects", "0") << "\n"
        << "  syncs " << field_text(status, "syncs", "0") << " (" << field_text(status, "publications", "0")
        << " published), refused " << field_text(status, "rejected", "0") << ", shadowed by local objects "
        << field_text(status, "shadowed", "0") << ", filtered " << field_text(status, "skipped", "0") << "\n"
        << "  event to publication: last " << milliseconds("last") << ", mean " << milliseconds("mean") << ", max "
        << milliseconds("max") << "\n";
    const std::string error = field_text(status, "last_error", "");
    if (!error.empty()) out << "  last error: " << error << "\n";
}

// The connection and session affinity tables summed over the workers, one row a table and
// address family.
void print_tables(const nlohmann::json& tables, std::ostream& out) {
    if (tables.empty()) return;
    Table table({"TABLE", "FAMILY", "ENTRIES", "CAPACITY"});
    for (const char* name : {"conntrack", "affinity"}) {
        for (const auto& [family, fill] : field_list(tables, name).items()) {
            table.add_row({name, family, field_text(fill, "entries", "0"), field_text(fill, "capacity", "0")});
        }
    }
    out << "\n" << table.render();
}

// ARP and IPv6 Neighbor Discovery (the daemon's NeighborCounts), one row a protocol.
void print_neighbors(const nlohmann::json& neighbors, std::ostream& out) {
    if (neighbors.empty()) return;
    static const char* const kFields[] = {"solicitations_sent", "advertisements_sent", "learnt",    "held",
                                          "held_sent",          "held_dropped",        "conflicts", "updates_refused"};
    Table table({"NEIGHBORS", "SOLICITATIONS", "ADVERTISEMENTS", "LEARNT", "HELD", "HELD SENT", "HELD DROPPED",
                 "CONFLICTS", "CHANGES REFUSED"});
    for (const char* protocol : {"arp", "nd"}) {
        const nlohmann::json& counts = field_list(neighbors, protocol);
        std::vector<std::string> row{protocol};
        for (const char* field : kFields) row.push_back(field_text(counts, field, "0"));
        table.add_row(row);
    }
    out << "\n" << table.render();
    const nlohmann::json& ra = field_list(neighbors, "router_advertisements");
    if (ra.empty()) return;
    out << "router advertisements: " << field_text(ra, "accepted", "0") << " accepted, "
        << field_text(ra, "refused", "0") << " refused; default routers: " << field_text(ra, "default_routers", "0")
        << " now, " << field_text(ra, "withdrawn", "0") << " withdrawn, " << field_text(ra, "expired", "0")
        << " expired\n";
}

}  // namespace

void print_stats(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err) {
    const nlohmann::json& rates = field_list(response, "rates");
    const nlohmann::json& counter_rates = field_list(rates, "counters");
    const bool with_rates = !rates.empty();
    Table counters(with_rates ? std::vector<std::string>{"COUNTER", "VALUE", "PER SECOND"}
                              : std::vector<std::string>{"COUNTER", "VALUE"});
    auto add = [&](const std::string& name, const std::string& value, const std::string& rate) {
        if (with_rates) {
            counters.add_row({name, value, rate});
        } else {
            counters.add_row({name, value});
        }
    };
    add("generation", field_text(response, "generation"), "");
    for (const auto& [name, value] : field_list(response, "counters").items()) {
        const auto rate = counter_rates.find(name);
        add(name, value.is_number() ? value.dump() : kNone,
            rate != counter_rates.end() && rate->is_number() ? rate_text(rate->get<double>()) : "");
    }
    // Zero drop counters are the common case and would bury the others; -o wide shows all.
    for (const auto& [reason, value] : field_list(response, "drops").items()) {
        if (options.wide || !(value.is_number() && value == 0)) {
            add("drops." + reason, value.is_number() ? value.dump() : kNone, "");
        }
    }
    out << counters.render();
    if (with_rates) {
        const auto drops = rates.find("drops");
        out << "\nrates over the last " << rate_text(rates.value("interval_s", 0.0)) << " s (since the previous "
            << "sample); drops "
            << (drops != rates.end() && drops->is_number() ? rate_text(drops->get<double>()) : kNone) << "/s\n";
    } else {
        err << "(no rates yet: they are per second since the previous sample; run again, or vipctl top)\n";
    }
    const nlohmann::json& update = field_list(response, "last_update");
    if (!update.empty()) {
        out << "\nlast update: validated in " << microseconds_as_ms(field_number(update, "validate_us"))
            << ", built in " << microseconds_as_ms(field_number(update, "build_us")) << ", published in "
            << microseconds_as_ms(field_number(update, "publish_us")) << "\n";
    }
    print_tables(field_list(response, "tables"), out);
    print_neighbors(field_list(response, "neighbors"), out);
    print_kubernetes_status(field_list(response, "kubernetes"), out);
    if (!field_list(response, "services").empty()) out << "\n" << service_rates_table(response, options).render();
}

void print_announcements(const nlohmann::json& response, std::ostream& out) {
    if (response.value("enabled", false) != true) {
        out << "announcing is off ([announce] enabled = false): no route is given to a routing daemon\n";
        return;
    }
    out << "announced: " << field_text(response, "announced_vips", "0") << " VIPs, "
        << field_list(response, "routes").size() << " routes in table " << field_text(response, "table", "?") << " via "
        << field_text(response, "interface", "?") << " (added " << field_text(response, "added", "0") << ", removed "
        << field_text(response, "removed", "0") << ", refused " << field_text(response, "failures", "0") << ")\n";
    const std::string error = field_text(response, "last_error", "");
    if (!error.empty()) out << "last error: " << error << "\n";
    if (response.value("drained", false) == true) {
        const nlohmann::json& drain = field_list(response, "drain");
        const double seconds = drain.value("seconds", 0.0);
        out << "gateway DRAINED for " << duration_text(static_cast<uint64_t>(seconds * 1000)) << ": "
            << field_text(drain, "open_connections", "?") << " connections still open";
        if (drain.contains("deadline_s") && drain.at("deadline_s").is_number()) {
            out << ", deadline " << field_text(drain, "deadline_s") << " s "
                << (drain.value("deadline_passed", false) ? "PASSED" : "not passed");
        }
        out << "\n";
    } else {
        out << "gateway serving (not drained)\n";
    }
    Table routes({"ROUTE"});
    for (const auto& route : field_list(response, "routes"))
        routes.add_row({route.is_string() ? route.get<std::string>() : kNone});
    if (!field_list(response, "routes").empty()) out << routes.render();
}

void print_routes(const nlohmann::json& response, std::ostream& out) {
    Table table({"PREFIX", "VIA", "PORT", "ORIGIN", "INSTALLED", "PREFERENCE", "LIFETIME"});
    for (const auto& route : field_list(response, "routes")) {
        const bool learnt = route.contains("lifetime_s");
        table.add_row({field_text(route, "prefix", kNone), field_text(route, "via", kNone),
                       field_text(route, "port", kNone), field_text(route, "origin", kNone),
                       route.value("installed", false) ? "yes" : "no", learnt ? field_text(route, "preference") : kNone,
                       learnt ? field_text(route, "lifetime_s") + "s" : kNone});
    }
    if (field_list(response, "routes").empty()) {
        out << "no routes: every destination is on a port's prefix\n";
        return;
    }
    out << table.render();
}

Table service_rates_table(const nlohmann::json& response, const TableOptions& options, size_t rows) {
    std::vector<nlohmann::json> services(field_list(response, "services").begin(),
                                         field_list(response, "services").end());
    const bool with_rates = !field_list(response, "rates").empty();
    if (with_rates) {
        // Busiest first, as top does.
        std::stable_sort(services.begin(), services.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
            return a.value("packets_per_second", 0.0) > b.value("packets_per_second", 0.0);
        });
    }
    std::vector<std::string> header = {"SERVICE", "VIP", "PROTO", "CONNECTIONS", "PACKETS", "BYTES", "REFUSED"};
    if (with_rates) header.insert(header.end(), {"CONN/S", "PKT/S", "BYTES/S"});
    Table table(header);
    size_t shown = 0;
    for (const auto& service : services) {
        if (!options.wide && rows != 0 && shown++ == rows) break;
        std::vector<std::string> row = {field_text(service, "service"),      field_text(service, "vip"),
                                        field_text(service, "protocol"),     field_text(service, "connections", "0"),
                                        field_text(service, "packets", "0"), field_text(service, "bytes", "0"),
                                        field_text(service, "refusals", "0")};
        if (with_rates) {
            for (const char* field : {"connections_per_second", "packets_per_second", "bytes_per_second"}) {
                row.push_back(rate_text(service.value(field, 0.0)));
            }
        }
        table.add_row(row);
    }
    return table;
}

// 0.5 -> "0.5", 1234 -> "1234", 45678 -> "45.7k", 7120000 -> "7.12M".
std::string rate_text(double per_second) {
    char text[32];
    if (per_second >= 1e9) {
        std::snprintf(text, sizeof(text), "%.2fG", per_second / 1e9);
    } else if (per_second >= 1e6) {
        std::snprintf(text, sizeof(text), "%.2fM", per_second / 1e6);
    } else if (per_second >= 1e4) {
        std::snprintf(text, sizeof(text), "%.1fk", per_second / 1e3);
    } else if (per_second >= 100) {
        std::snprintf(text, sizeof(text), "%.0f", per_second);
    } else {
        std::snprintf(text, sizeof(text), "%.1f", per_second);
    }
    return text;
}

}  // namespace vipgate::vipctl
