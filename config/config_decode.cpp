// TOML -> Config: the shape of the document. Checks unknown keys (with a "did you mean"),
// types, address syntax and the range of each single value. Rules relating several fields are
// in config_validate.cpp.
#include "config/config_internal.h"
#include "dataplane/primes.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config::detail {

namespace {

// A value in the document together with its dotted path, e.g. "services[2].ports[0].port".
struct Field {
    const toml::node& node;
    std::string path;
};

std::string_view type_name(toml::node_type type) {
    switch (type) {
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a floating-point number";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
        return "a date";
    case toml::node_type::time:
        return "a time";
    case toml::node_type::date_time:
        return "a date-time";
    case toml::node_type::none:
        break;
    }
    return "nothing";
}

std::string quoted(std::string_view text) {
    std::string result(1, '\'');
    result.append(text);
    return result += '\'';
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

// A typo (a couple of edits) or a half-remembered name ("workers" for "worker_lcores").
bool looks_like(std::string_view unknown, std::string_view known) {
    size_t common_prefix =
        std::mismatch(unknown.begin(), unknown.end(), known.begin(), known.end()).first - unknown.begin();
    return edit_distance(unknown, known) <= 2 || common_prefix >= 4 ||
           (unknown.size() >= 4 && known.find(unknown) != std::string_view::npos);
}

std::string unknown_key_message(std::string_view unknown, const std::vector<std::string_view>& known) {
    std::string message = std::string("unknown key ").append(quoted(unknown));
    const std::string_view* best = nullptr;
    for (const auto& candidate : known) {
        if (looks_like(unknown, candidate) &&
            (!best || edit_distance(unknown, candidate) < edit_distance(unknown, *best))) {
            best = &candidate;
        }
    }
    if (best) return message + "; did you mean " + quoted(*best) + "?";
    message += "; allowed here:";
    for (const auto& candidate : known) message.append(" ").append(candidate);
    return message;
}

// "services[0].ports" -> "services.ports", the name of a TOML [[array of tables]] header.
std::string header_name(std::string_view path) {
    std::string name;
    bool in_index = false;
    for (char c : path) {
        if (c == '[' || c == ']')
            in_index = c == '[';
        else if (!in_index)
            name += c;
    }
    return name;
}

// "spec.ports[0].targetPort" -> "targetPort".
std::string_view last_key(std::string_view field) {
    size_t dot = field.rfind('.');
    return dot == std::string_view::npos ? field : field.substr(dot + 1);
}

// The keys of one TOML table. Every key the decoder asks for is known; whatever else the table
// holds is reported as unknown.
class TableFields {
public:
    TableFields(const toml::table& table, std::string path, Diagnostics& diagnostics)
        : table_(table), path_(std::move(path)), diagnostics_(diagnostics) {}

    std::optional<Field> optional(std::string_view key) {
        known_.push_back(key);
        const toml::node* node = table_.get(key);
        if (!node) return std::nullopt;
        return Field{*node, path_of(key)};
    }

    // The message names the key as the user's document spells it (see Diagnostics::field_name).
    std::optional<Field> required(std::string_view key) {
        auto field = optional(key);
        if (!field) {
            std::string path = path_of(key);
            diagnostics_.reject(path, "missing required key " + quoted(last_key(diagnostics_.field_name(path))));
        }
        return field;
    }

    void report_unknown_keys() const {
        for (const auto& [key, node] : table_) {
            if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
            diagnostics_.error_at(path_of(key.str()), location_of(key), unknown_key_message(key.str(), known_));
        }
    }

    // An object document holds only objects; the daemon's own settings are reported as such.
    void report_daemon_only_keys(const std::vector<std::string_view>& daemon_keys) const {
        for (const auto& [key, node] : table_) {
            if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
            bool daemon_key = std::find(daemon_keys.begin(), daemon_keys.end(), key.str()) != daemon_keys.end();
            diagnostics_.error_at(path_of(key.str()), location_of(key),
                                  daemon_key ? quoted(key.str()) + " can only be set in the daemon's config file"
                                             : unknown_key_message(key.str(), known_));
        }
    }

private:
    static SourceLocation location_of(const toml::key& key) {
        return {key.source().begin.line, key.source().begin.column};
    }

    std::string path_of(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    const toml::table& table_;
    std::string path_;
    Diagnostics& diagnostics_;
    std::vector<std::string_view> known_;
};

// How an "a.b.c.d/len" string is read.
enum class PrefixForm {
    InterfaceAddress,  // length required, host bits allowed: "198.18.0.1/24"
    Network,           // length optional (/32), host bits must be zero: "198.19.0.0/16"
};

// Each value decoder reports and rejects a bad value and then leaves its output untouched.
class Decoder {
public:
    using NameRule = std::string (*)(std::string_view);

    explicit Decoder(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

    void document(const toml::table& root, Config& config) {
        TableFields keys(root, "", diagnostics_);
        if (auto field = keys.optional("eal")) eal(*field, config.eal);
        if (auto field = keys.optional("dataplane")) dataplane(*field, config.dataplane);
        if (auto field = keys.optional("conntrack")) conntrack(*field, config.conntrack);
        if (auto field = keys.optional("snat")) snat(*field, config.snat);
        if (auto field = keys.optional("limits")) limits(*field, config.limits);
        if (auto field = keys.optional("ports")) list(*field, config.ports, &Decoder::port);
        if (auto field = keys.optional("routes")) list(*field, config.routes, &Decoder::route);
        if (auto field = keys.optional("neighbors")) list(*field, config.neighbors, &Decoder::neighbor);
        if (auto field = keys.optional("cluster")) cluster(*field, config.cluster);
        if (auto field = keys.optional("dns")) dns(*field, config.dns);
        if (auto field = keys.optional("announce")) announce(*field, config.announce);
        if (auto field = keys.optional("services")) list(*field, config.services, &Decoder::service);
        if (auto field = keys.optional("pods")) list(*field, config.pods, &Decoder::pod);
        if (auto field = keys.optional("endpoint_slices"))
            list(*field, config.endpoint_slices, &Decoder::endpoint_slice);
        keys.report_unknown_keys();
    }

    void objects(const toml::table& root, ObjectSet& objects) {
        TableFields keys(root, "", diagnostics_);
        if (auto field = keys.optional("services")) list(*field, objects.services, &Decoder::service);
        if (auto field = keys.optional("pods")) list(*field, objects.pods, &Decoder::pod);
        if (auto field = keys.optional("endpoint_slices"))
            list(*field, objects.endpoint_slices, &Decoder::endpoint_slice);
        if (auto field = keys.optional("dns")) dns(*field, objects.dns.emplace());
        keys.report_daemon_only_keys(
            {"eal", "dataplane", "conntrack", "snat", "ports", "routes", "neighbors", "cluster", "limits", "announce"});
    }

private:
    // --- sections and list entries ---

    void eal(const Field& field, EalConfig& eal) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto args = keys->optional("args")) list(*args, eal.args, &Decoder::text);
        keys->report_unknown_keys();
    }

    void dataplane(const Field& field, DataplaneConfig& dataplane) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("worker_lcores")) list(*f, dataplane.worker_lcores, &Decoder::lcore);
        if (auto f = keys->optional("nat_mode")) nat_mode(*f, dataplane.nat_mode);
        if (auto f = keys->optional("hash_seed")) integer<0, INT64_MAX>(*f, dataplane.hash_seed);
        if (auto f = keys->optional("maglev_max_table_size")) maglev_table_size(*f, dataplane.maglev_max_table_size);
        if (auto f = keys->optional("stats_interval_ms")) integer<10, 3'600'000>(*f, dataplane.stats_interval_ms);
        if (auto f = keys->optional("mbufs_per_port")) integer<1024, 1 << 24>(*f, dataplane.mbufs_per_port);
        if (auto f = keys->optional("rx_descriptors")) integer<32, 32768>(*f, dataplane.rx_descriptors);
        if (auto f = keys->optional("tx_descriptors")) integer<32, 32768>(*f, dataplane.tx_descriptors);
        if (auto f = keys->optional("idle")) idle_mode(*f, dataplane.idle);
        if (auto f = keys->optional("idle_max_sleep_us")) integer<1, 10'000>(*f, dataplane.idle_max_sleep_us);
        keys->report_unknown_keys();
    }

    void conntrack(const Field& field, ConntrackConfig& conntrack) {
        constexpr int64_t kMaxTimeout = 7 * 24 * 3600;
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("capacity")) integer<1024, 1 << 26>(*f, conntrack.capacity);
        if (auto f = keys->optional("tcp_syn_timeout")) integer<1, kMaxTimeout>(*f, conntrack.tcp_syn_timeout_s);
        if (auto f = keys->optional("tcp_established_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_established_timeout_s);
        if (auto f = keys->optional("tcp_closing_timeout"))
            integer<1, kMaxTimeout>(*f, conntrack.tcp_closing_timeout_s);
        if (auto f = keys->optional("tcp_closed_timeout")) integer<1, kMaxTimeout>(*f, conntrack.tcp_closed_timeout_s);
        if (auto f = keys->optional("udp_timeout")) integer<1, kMaxTimeout>(*f, conntrack.udp_timeout_s);
        if (auto f = keys->optional("udp_unreplied_timeout")) {
            integer<1, kMaxTimeout>(*f, conntrack.udp_unreplied_timeout_s);
        } else {
            // Omitted: the default, or udp_timeout when that is shorter (a file written before
            // this key existed, with a short udp_timeout, stays valid).
            conntrack.udp_unreplied_timeout_s = std::min(conntrack.udp_unreplied_timeout_s, conntrack.udp_timeout_s);
        }
        if (auto f = keys->optional("icmp_timeout")) integer<1, kMaxTimeout>(*f, conntrack.icmp_timeout_s);
        if (auto f = keys->optional("half_open_min_idle_ms")) integer<0, 60'000>(*f, conntrack.half_open_min_idle_ms);
        keys->report_unknown_keys();
    }

    void snat(const Field& field, SnatConfig& snat) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("addresses")) snat_addresses(*f, snat);
        if (auto f = keys->optional("port_range")) port_range(*f, snat);
        keys->report_unknown_keys();
    }

    void limits(const Field& field, LimitsConfig& limits) {
        // Bounds keep the token arithmetic far from overflow (token_bucket.h).
        constexpr int64_t kMaxRate = 100'000'000;
        constexpr int64_t kMaxBurst = 10'000'000;
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("answer_rate")) integer<0, kMaxRate>(*f, limits.answer_rate);
        if (auto f = keys->optional("answer_burst")) integer<1, kMaxBurst>(*f, limits.answer_burst);
        if (auto f = keys->optional("punt_rate")) integer<0, kMaxRate>(*f, limits.punt_rate);
        if (auto f = keys->optional("punt_burst")) integer<1, kMaxBurst>(*f, limits.punt_burst);
        keys->report_unknown_keys();
    }

    void announce(const Field& field, AnnounceConfig& announce) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("enabled")) flag(*f, announce.enabled);
        if (auto f = keys->optional("table")) integer<1, UINT32_MAX>(*f, announce.table);
        if (auto f = keys->optional("port")) text(*f, announce.port);
        if (auto f = keys->optional("aggregate")) flag(*f, announce.aggregate);
        keys->report_unknown_keys();
    }

    void port(const Field& field, PortConfig& port) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, port.name);
        if (auto f = keys->required("device")) text(*f, port.device);
        if (auto f = keys->optional("mac")) {
            MacAddress value{};
            if (mac(*f, value)) port.mac = value;
        }
        if (auto f = keys->required("addresses")) port_addresses(*f, port);
        if (auto f = keys->optional("vlan")) integer<0, 4094>(*f, port.vlan);
        if (auto f = keys->optional("promiscuous")) flag(*f, port.promiscuous);
        if (auto f = keys->optional("mtu")) {
            // 68: the smallest MTU IPv4 allows (RFC 791); 16000 keeps a jumbo mbuf's data room
            // (MTU + headers + headroom) within its 16-bit length.
            uint16_t value = 0;
            if (integer<68, 16000>(*f, value)) port.mtu = value;
        }
        if (auto f = keys->optional("kernel_interface")) text(*f, port.kernel_interface);
        if (auto f = keys->optional("accept_router_advertisements")) flag(*f, port.accept_router_advertisements);
        keys->report_unknown_keys();
    }

    void route(const Field& field, RouteConfig& route) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("prefix")) {
            route.ipv6 = is_ipv6_text(f->node);
            if (route.ipv6) {
                ipv6_network(*f, route.prefix6);
            } else {
                prefix(*f, route.prefix, PrefixForm::Network);
            }
        }
        if (auto f = keys->required("via")) {
            if (is_ipv6_text(f->node) != route.ipv6) {
                diagnostics_.reject(f->path, std::string("the next hop must be of the prefix's family (") +
                                                 (route.ipv6 ? "IPv6" : "IPv4") + ")");
            } else if (route.ipv6) {
                ipv6_unicast(*f, route.via6);
            } else {
                address(*f, route.via);
            }
        }
        if (auto f = keys->optional("port")) text(*f, route.port);
        keys->report_unknown_keys();
    }

    void neighbor(const Field& field, NeighborConfig& neighbor) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("address")) {
            if (is_ipv6_text(f->node))
                ipv6_unicast(*f, neighbor.address6);
            else
                address(*f, neighbor.address);
        }
        if (auto f = keys->required("mac")) mac(*f, neighbor.mac);
        if (auto f = keys->optional("port")) text(*f, neighbor.port);
        keys->report_unknown_keys();
    }

    void cluster(const Field& field, ClusterConfig& cluster) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("service_cidr")) service_cidrs(*f, cluster);
        if (auto f = keys->optional("client_ranges")) client_ranges(*f, cluster);
        keys->report_unknown_keys();
    }

    void dns(const Field& field, DnsConfig& dns) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("addresses")) list(*f, dns.addresses, &Decoder::dns_address);
        if (auto f = keys->optional("zone")) dns_zone(*f, dns.zone);
        if (auto f = keys->optional("ttl")) integer<0, 3600>(*f, dns.ttl_s);
        if (auto f = keys->optional("upstreams")) list(*f, dns.upstreams, &Decoder::dns_upstream);
        if (auto f = keys->optional("rate_limit")) integer<0, 1'000'000>(*f, dns.rate_limit);
        if (auto f = keys->optional("rate_limit_slip")) integer<0, 100>(*f, dns.rate_limit_slip);
        keys->report_unknown_keys();
    }

    void service(const Field& field, ServiceConfig& service) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, service.name);
        if (auto f = keys->optional("namespace")) text(*f, service.namespace_name);
        ServiceAddresses given;
        if (auto f = keys->optional("cluster_ip")) cluster_ip(*f, service, given);
        dual_stack(*keys, field.path, service, given);
        if (auto f = keys->optional("external_name")) external_name(*f, service.external_name);
        if (auto f = keys->optional("publish_not_ready_addresses")) flag(*f, service.publish_not_ready_addresses);
        if (auto f = keys->optional("selector")) {
            Labels selector;
            if (labels(*f, selector)) service.selector = std::move(selector);
        }
        auto affinity = keys->optional("session_affinity");
        if (affinity) session_affinity(*affinity, service.session_affinity);
        if (auto f = keys->optional("session_affinity_timeout")) {
            if (integer<1, 86400>(*f, service.affinity_timeout_s) &&
                service.session_affinity != SessionAffinity::ClientIp &&
                (!affinity || diagnostics_.intact(affinity->path))) {
                std::string affinity_path = field.path + ".session_affinity";
                diagnostics_.reject(f->path,
                                    "only applies when " + diagnostics_.field_name(affinity_path) + " is \"ClientIP\"");
            }
        }
        if (auto f = keys->optional("ports")) list(*f, service.ports, &Decoder::service_port);
        if (auto f = keys->optional("endpoints")) list(*f, service.endpoints, &Decoder::endpoint);
        keys->report_unknown_keys();
    }

    void service_port(const Field& field, ServicePortConfig& port) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("name")) port_name(*f, port.name, service_port_name_problem);
        if (auto f = keys->optional("protocol")) protocol(*f, port.protocol);
        if (auto f = keys->required("port")) integer<1, 65535>(*f, port.port);
        if (auto f = keys->optional("target_port")) target_port(*f, port);
        keys->report_unknown_keys();
    }

    void endpoint(const Field& field, EndpointConfig& endpoint) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("address")) endpoint_address(*f, endpoint);
        if (auto f = keys->optional("port")) integer<1, 65535>(*f, endpoint.port);
        endpoint_conditions(*keys, endpoint);
        if (auto f = keys->optional("hostname")) dns_label(*f, endpoint.hostname, "hostname");
        if (auto f = keys->optional("ports")) list(*f, endpoint.ports, &Decoder::named_port);
        keys->report_unknown_keys();
    }

    void endpoint_conditions(TableFields& keys, EndpointConfig& endpoint) {
        if (auto f = keys.optional("ready")) flag(*f, endpoint.ready);
        if (auto f = keys.optional("terminating")) flag(*f, endpoint.terminating);
        if (auto f = keys.optional("weight")) integer<0, 65535>(*f, endpoint.weight);
    }

    // A container port (of a pod or an endpoint): named as a targetPort refers to it.
    void named_port(const Field& field, NamedPort& port) { named_port_of(field, port, port_name_problem); }

    // A port of an endpoint slice: named after its service port.
    void slice_port(const Field& field, NamedPort& port) { named_port_of(field, port, service_port_name_problem); }

    void named_port_of(const Field& field, NamedPort& port, NameRule name_rule) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->optional("name")) port_name(*f, port.name, name_rule);
        if (auto f = keys->optional("protocol")) protocol(*f, port.protocol);
        if (auto f = keys->required("port")) integer<1, 65535>(*f, port.port);
        keys->report_unknown_keys();
    }

    void pod(const Field& field, PodConfig& pod) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, pod.name);
        if (auto f = keys->optional("namespace")) text(*f, pod.namespace_name);
        bool address_given = false;
        if (auto f = keys->optional("address")) address_given = pod_address(*f, pod);
        if (auto f = keys->optional("pod_ips")) pod_ips(*f, pod, address_given);
        if (auto f = keys->optional("labels")) labels(*f, pod.labels);
        if (auto f = keys->optional("ready")) flag(*f, pod.ready);
        if (auto f = keys->optional("terminating")) flag(*f, pod.terminating);
        if (auto f = keys->optional("weight")) integer<0, 65535>(*f, pod.weight);
        if (auto f = keys->optional("ports")) list(*f, pod.ports, &Decoder::named_port);
        if (auto f = keys->optional("hostname")) dns_label(*f, pod.hostname, "hostname");
        if (auto f = keys->optional("subdomain")) dns_label(*f, pod.subdomain, "subdomain");
        keys->report_unknown_keys();
    }

    void endpoint_slice(const Field& field, EndpointSliceConfig& slice) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("name")) text(*f, slice.name);
        if (auto f = keys->optional("namespace")) text(*f, slice.namespace_name);
        if (auto f = keys->required("service")) text(*f, slice.service_name);
        if (auto f = keys->optional("ports")) list(*f, slice.ports, &Decoder::slice_port);
        if (auto f = keys->optional("address_type")) address_type(*f, slice.address_type);
        if (auto f = keys->optional("endpoints")) list(*f, slice.endpoints, &Decoder::slice_endpoint);
        keys->report_unknown_keys();
        // addressType: every endpoint of a slice is of its family (Kubernetes' validation).
        const std::string type_name = diagnostics_.field_name(field.path + ".address_type");
        for (size_t k = 0; k < slice.endpoints.size(); ++k) {
            const EndpointConfig& endpoint = slice.endpoints[k];
            const IpFamily family = endpoint.is_ipv6() ? IpFamily::Ipv6 : IpFamily::Ipv4;
            const std::string path = field.path + ".endpoints[" + std::to_string(k) + "].address";
            if (family == slice.address_type || !diagnostics_.intact(path)) continue;
            diagnostics_.reject(path, "is an " + std::string(ip_family_name(family)) + " address and " + type_name +
                                          " is " + std::string(ip_family_name(slice.address_type)) +
                                          "; a slice holds one family (put the other family's endpoints in a slice "
                                          "of that addressType)");
        }
    }

    // An EndpointSlice's addressType: "IPv4" (the default) or "IPv6"; FQDN slices are not served.
    void address_type(const Field& field, IpFamily& out) {
        std::string name;
        if (!text(field, name)) return;
        if (name != "IPv4" && name != "IPv6") {
            diagnostics_.reject(field.path, quoted(name) +
                                                " is not supported; allowed: \"IPv4\", \"IPv6\" (vipgate serves no "
                                                "FQDN endpoint slices)");
            return;
        }
        out = name == "IPv4" ? IpFamily::Ipv4 : IpFamily::Ipv6;
    }

    // An IPv4 or IPv6 endpoint address (IPv6: address6 set, address left 0).
    bool endpoint_address(const Field& field, EndpointConfig& endpoint) {
        if (const auto* value = field.node.as_string(); value && value->get().find(':') != std::string::npos) {
            return ipv6_unicast(field, endpoint.address6);
        }
        return address(field, endpoint.address);
    }

    // An endpoint of a slice: its ports are the slice's.
    void slice_endpoint(const Field& field, EndpointConfig& endpoint) {
        auto keys = table_fields(field);
        if (!keys) return;
        if (auto f = keys->required("address")) endpoint_address(*f, endpoint);
        endpoint_conditions(*keys, endpoint);
        if (auto f = keys->optional("hostname")) dns_label(*f, endpoint.hostname, "hostname");
        keys->report_unknown_keys();
    }

    // --- values ---

    void wrong_type(const Field& field, std::string_view expected, std::string_view hint = {}) {
        diagnostics_.reject(field.path, "expected " + std::string(expected) + ", found " +
                                            std::string(type_name(field.node.type())) + std::string(hint));
    }

    std::optional<TableFields> table_fields(const Field& field) {
        const toml::table* table = field.node.as_table();
        if (!table) {
            wrong_type(field, "a table");
            return std::nullopt;
        }
        return std::optional<TableFields>{std::in_place, *table, field.path, diagnostics_};
    }

    // Every entry is kept, decoded or not, so that entry i is always at path "list[i]".
    template <class T, class Element>
    void list(const Field& field, std::vector<T>& out, Element element) {
        const toml::array* array = field.node.as_array();
        if (!array) {
            wrong_type(
                field, "an array",
                field.node.is_table() ? "; write a [[" + header_name(field.path) + "]] table for each entry" : "");
            return;
        }
        out.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            (this->*element)(item, out.emplace_back());
        }
    }

    bool text(const Field& field, std::string& out) {
        const auto* value = field.node.as_string();
        if (!value) {
            wrong_type(field, "a string");
            return false;
        }
        if (value->get().empty()) {
            diagnostics_.reject(field.path, "must not be empty");
            return false;
        }
        if (!is_valid_utf8(value->get())) {
            diagnostics_.reject(field.path, "is not valid UTF-8 text; save the file as UTF-8");
            return false;
        }
        out = value->get();
        return true;
    }

    bool flag(const Field& field, bool& out) {
        const auto* value = field.node.as_boolean();
        if (!value) {
            wrong_type(field, "a boolean (true or false)");
            return false;
        }
        out = value->get();
        return true;
    }

    template <int64_t Min, int64_t Max, class T>
    bool integer(const Field& field, T& out) {
        static_assert(Min >= 0 && static_cast<uint64_t>(Max) <= std::numeric_limits<T>::max());
        const auto* value = field.node.as_integer();
        if (!value) {
            wrong_type(field, "an integer");
            return false;
        }
        int64_t number = value->get();
        if (number < Min || number > Max) {
            diagnostics_.reject(field.path, std::to_string(number) + " is out of range; allowed: " +
                                                std::to_string(Min) + ".." + std::to_string(Max));
            return false;
        }
        out = static_cast<T>(number);
        return true;
    }

    bool lcore(const Field& field, unsigned& out) { return integer<0, 1023>(field, out); }

    bool maglev_table_size(const Field& field, uint32_t& out) {
        const auto* value = field.node.as_integer();
        if (!value) {
            wrong_type(field, "an integer");
            return false;
        }
        int64_t size = value->get();
        if (size < 101 || size > 1'000'003 || !is_prime(static_cast<uint32_t>(size))) {
            diagnostics_.reject(field.path, std::to_string(size) +
                                                " is not allowed; the Maglev table size must be a "
                                                "prime in 101..1000003 (e.g. 65537)");
            return false;
        }
        out = static_cast<uint32_t>(size);
        return true;
    }

    bool address(const Field& field, uint32_t& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv4(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv4 address; expected a dotted quad "
                                                "like \"198.18.0.1\" (no prefix length)");
            return false;
        }
        out = *parsed;
        return true;
    }

    // 0.0.0.0 parses, but as a pod or cluster IP it would mean "none"; omitting the key says so.
    bool unicast_address(const Field& field, uint32_t& out, std::string_view what) {
        uint32_t value = 0;
        if (!address(field, value)) return false;
        if (value == 0) {
            diagnostics_.reject(field.path, "0.0.0.0 is not a " + std::string(what) + "; leave the key out instead");
            return false;
        }
        out = value;
        return true;
    }

    // An IPv4 or IPv6 pod address; true when it decoded.
    bool pod_address(const Field& field, PodConfig& pod) {
        if (const auto* value = field.node.as_string(); value && value->get().find(':') != std::string::npos) {
            return ipv6_unicast(field, pod.address6);
        }
        return unicast_address(field, pod.address, "pod address");
    }

    // status.podIPs: one address per family, the first one being status.podIP when both are set.
    void pod_ips(const Field& field, PodConfig& pod, bool address_given) {
        const toml::array* array = field.node.as_array();
        if (!array || array->empty() || array->size() > 2) {
            diagnostics_.reject(field.path, "must be a list of one or two pod addresses, one per family");
            return;
        }
        PodConfig listed;
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            const PodConfig before = listed;
            if (!pod_address(item, listed)) return;
            if (before.address != 0 && listed.address != before.address) {
                diagnostics_.reject(item.path, "a second IPv4 address; a pod has one address per family");
                return;
            }
            if (!is_zero(before.address6) && listed.address6 != before.address6) {
                diagnostics_.reject(item.path, "a second IPv6 address; a pod has one address per family");
                return;
            }
            const bool differs = listed.address != 0 ? listed.address != pod.address : listed.address6 != pod.address6;
            if (i == 0 && address_given && differs) {
                diagnostics_.reject(item.path,
                                    "must be the pod address (" +
                                        diagnostics_.field_name(std::string(parent_path(field.path)) + ".address") +
                                        "): the primary address comes first");
                return;
            }
            if (before == listed) {
                diagnostics_.reject(item.path, "is listed twice");
                return;
            }
        }
        pod.address = listed.address;
        pod.address6 = listed.address6;
    }

    // The families of the cluster IPs a service names, in the order it names them.
    struct ServiceAddresses {
        std::vector<IpFamily> families;
        bool primary_given = false;  // cluster_ip itself
        bool intact = true;
    };

    // "None": headless; an IPv4 or IPv6 address; omitted: allocated (the validator checks there
    // is a CIDR).
    void cluster_ip(const Field& field, ServiceConfig& service, ServiceAddresses& given) {
        if (const auto* value = field.node.as_string(); value && value->get() == "None") {
            service.headless = true;
            return;
        }
        given.primary_given = true;
        if (const auto* value = field.node.as_string(); value && value->get().find(':') != std::string::npos) {
            if (ipv6_unicast(field, service.cluster_ip6))
                given.families.push_back(IpFamily::Ipv6);
            else
                given.intact = false;
            return;
        }
        if (unicast_address(field, service.cluster_ip, "cluster IP (\"None\" makes a headless service)"))
            given.families.push_back(IpFamily::Ipv4);
        else
            given.intact = false;
    }

    bool ipv6_unicast(const Field& field, Ipv6Address& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv6(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv6 address; expected one like "
                                                "\"2001:db8::10\" (no prefix length, no zone)");
            return false;
        }
        if (is_zero(*parsed) || (*parsed)[0] == 0xFF) {
            diagnostics_.reject(field.path, quoted(text_value) + " is not a unicast IPv6 address");
            return false;
        }
        out = *parsed;
        return true;
    }

    // cluster_ips, ip_families, ip_family_policy: Kubernetes' rules between them and cluster_ip.
    // Without ip_families the families are those of the addresses given (none: left to the store).
    void dual_stack(TableFields& keys, const std::string& path, ServiceConfig& service, ServiceAddresses& given) {
        if (auto f = keys.optional("ip_family_policy")) {
            std::string value;
            if (text(*f, value)) {
                if (auto policy = parse_ip_family_policy(value))
                    service.ip_family_policy = *policy;
                else
                    diagnostics_.reject(f->path, quoted(value) +
                                                     " is not an IP family policy; allowed: SingleStack, "
                                                     "PreferDualStack, RequireDualStack");
            }
        }
        if (auto f = keys.optional("cluster_ips")) cluster_ips(*f, service, given);
        std::optional<std::string> families_path;
        if (auto f = keys.optional("ip_families")) {
            families_path = f->path;
            ip_families(*f, service.ip_families);
        }
        const bool single = service.ip_family_policy == IpFamilyPolicy::SingleStack;
        const std::string policy_name = diagnostics_.field_name(path + ".ip_family_policy");
        if (single && given.families.size() > 1) {
            diagnostics_.reject(path + ".cluster_ips", "two cluster IPs need " + policy_name +
                                                           " PreferDualStack or RequireDualStack, not SingleStack");
        }
        if (!families_path) {
            if (given.intact) service.ip_families = given.families;
            return;
        }
        if (single && service.ip_families.size() > 1) {
            diagnostics_.reject(*families_path, "two IP families need " + policy_name +
                                                    " PreferDualStack or RequireDualStack, not SingleStack");
        }
        if (!given.intact || !diagnostics_.intact(*families_path)) return;
        for (size_t i = 0; i < given.families.size(); ++i) {
            if (i < service.ip_families.size() && service.ip_families[i] == given.families[i]) continue;
            diagnostics_.reject(*families_path,
                                "does not match the cluster IPs: address " + std::to_string(i + 1) + " is " +
                                    std::string(ip_family_name(given.families[i])) +
                                    "; list the families in the order of the cluster IPs (primary first)");
            return;
        }
    }

    void ip_families(const Field& field, std::vector<IpFamily>& out) {
        const toml::array* array = field.node.as_array();
        if (!array || array->empty() || array->size() > 2) {
            diagnostics_.reject(field.path,
                                "must be a list of one or two families: [\"IPv4\"], [\"IPv6\"], "
                                "[\"IPv4\", \"IPv6\"] or [\"IPv6\", \"IPv4\"]");
            return;
        }
        out.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            const auto* value = array->get(i)->as_string();
            const std::string item = field.path + "[" + std::to_string(i) + "]";
            const std::string name = value ? value->get() : std::string();
            if (name != "IPv4" && name != "IPv6") {
                diagnostics_.reject(item, "is not an IP family; allowed: \"IPv4\", \"IPv6\"");
                return;
            }
            const IpFamily family = name == "IPv4" ? IpFamily::Ipv4 : IpFamily::Ipv6;
            if (std::find(out.begin(), out.end(), family) != out.end()) {
                diagnostics_.reject(item, name + " is listed twice; a dual-stack service has one family of each");
                return;
            }
            out.push_back(family);
        }
    }

    // cluster_ips: primary first, one per family; its first entry is cluster_ip when both are set.
    void cluster_ips(const Field& field, ServiceConfig& service, ServiceAddresses& given) {
        const toml::array* array = field.node.as_array();
        if (!array || array->empty() || array->size() > 2) {
            diagnostics_.reject(field.path,
                                "must be a list of one or two cluster IPs, one per family, primary "
                                "first (or [\"None\"] for a headless service)");
            given.intact = false;
            return;
        }
        ServiceConfig listed;
        ServiceAddresses found;
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            const size_t before = found.families.size();
            const bool none = listed.headless;
            cluster_ip(item, listed, found);
            if (listed.headless && (array->size() > 1 || none)) {
                diagnostics_.reject(item.path, "\"None\" (headless) must be the only entry");
                given.intact = false;
                return;
            }
            if (found.families.size() > before && before == 1 && found.families[0] == found.families[1]) {
                diagnostics_.reject(item.path, "a second " + std::string(ip_family_name(found.families[1])) +
                                                   " address; a dual-stack service has one cluster IP per family");
                given.intact = false;
                return;
            }
        }
        if (!found.intact) {
            given.intact = false;
            return;
        }
        if (listed.headless) {
            if (given.primary_given) {
                diagnostics_.reject(field.path, "says None but the cluster IP is an address; they must agree");
                given.intact = false;
            } else {
                service.headless = true;
            }
            return;
        }
        if (service.headless || (given.primary_given && given.intact &&
                                 (given.families[0] != found.families[0] ||
                                  (found.families[0] == IpFamily::Ipv4 ? listed.cluster_ip != service.cluster_ip
                                                                       : listed.cluster_ip6 != service.cluster_ip6)))) {
            diagnostics_.reject(field.path,
                                "its first entry must be the cluster IP (" +
                                    diagnostics_.field_name(std::string(parent_path(field.path)) + ".cluster_ip") +
                                    "): the primary address comes first");
            given.intact = false;
            return;
        }
        if (!given.intact) return;
        service.cluster_ip = listed.cluster_ip;
        service.cluster_ip6 = listed.cluster_ip6;
        given.families = found.families;
    }

    // One CIDR (either family) or a list of one per family.
    void service_cidrs(const Field& field, ClusterConfig& cluster) {
        if (field.node.is_string()) {
            service_cidr(field, cluster);
            return;
        }
        const toml::array* array = field.node.as_array();
        if (!array || array->empty() || array->size() > 2) {
            diagnostics_.reject(field.path,
                                "must be a CIDR or a list of two, one per family, like "
                                "[\"198.18.128.0/20\", \"2001:db8:1::/112\"]");
            return;
        }
        bool seen[2] = {false, false};  // IPv4, IPv6
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            const auto* value = item.node.as_string();
            const bool ipv6 = value && value->get().find(':') != std::string::npos;
            if (seen[ipv6]) {
                diagnostics_.reject(item.path, "a second CIDR of the same family; give one IPv4 and one IPv6 CIDR");
                return;
            }
            seen[ipv6] = true;
            service_cidr(item, cluster);
        }
    }

    // Client prefixes of either family, in one list.
    void client_ranges(const Field& field, ClusterConfig& cluster) {
        const toml::array* array = field.node.as_array();
        if (!array) {
            wrong_type(field, "an array");
            return;
        }
        cluster.client_ranges.clear();
        cluster.client_ranges6.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            if (is_ipv6_text(item.node)) {
                ipv6_network(item, cluster.client_ranges6.emplace_back());
            } else {
                network(item, cluster.client_ranges.emplace_back());
            }
        }
    }

    // An IPv6 prefix in network form (no host bits).
    bool ipv6_network(const Field& field, Ipv6Prefix& out) {
        const auto* value = field.node.as_string();
        auto parsed = value ? parse_ipv6_prefix(value->get()) : std::nullopt;
        if (!parsed) {
            diagnostics_.reject(field.path, (value ? quoted(value->get()) : std::string("the value")) +
                                                " is not an IPv6 prefix; expected one like "
                                                "\"2001:db8:1::/112\"");
            return false;
        }
        Ipv6Prefix network = *parsed;
        for (unsigned bit = network.length; bit < 128; ++bit) network.address[bit / 8] &= ~(0x80 >> (bit % 8));
        if (network != *parsed) {
            diagnostics_.reject(field.path, quoted(value->get()) + " has host bits set; did you mean \"" +
                                                format_ipv6_prefix(network) + "\"?");
            return false;
        }
        out = network;
        return true;
    }

    void service_cidr(const Field& field, ClusterConfig& cluster) {
        const auto* value = field.node.as_string();
        if (!value || value->get().find(':') == std::string::npos) {
            Ipv4Prefix prefix_value;
            if (prefix(field, prefix_value, PrefixForm::Network)) cluster.service_cidr = prefix_value;
            return;
        }
        Ipv6Prefix network;
        if (!ipv6_network(field, network)) return;
        if (network.length < ClusterConfig::kMinIpv6ServiceCidrLength) {
            diagnostics_.reject(field.path, quoted(value->get()) +
                                                " is too large; an IPv6 service CIDR is at most a /" +
                                                std::to_string(ClusterConfig::kMinIpv6ServiceCidrLength) +
                                                " (as kube-apiserver requires)");
            return;
        }
        cluster.service_cidr_ipv6 = network;
    }

    bool dns_address(const Field& field, uint32_t& out) { return unicast_address(field, out, "DNS address"); }

    // A DNS label (a pod's hostname or subdomain, an endpoint's hostname), as Kubernetes checks it.
    bool dns_label(const Field& field, std::string& out, std::string_view what) {
        std::string value;
        if (!text(field, value)) return false;
        if (std::string problem = dns_label_problem(value, what); !problem.empty()) {
            diagnostics_.reject(field.path, problem);
            return false;
        }
        out = value;
        return true;
    }

    // A DNS name, as Kubernetes checks spec.externalName: one trailing dot is allowed (and
    // dropped).
    bool external_name(const Field& field, std::string& out) {
        std::string value;
        if (!text(field, value)) return false;
        if (value.size() > 1 && value.back() == '.') value.pop_back();
        if (std::string problem = dns_subdomain_problem(value, "external name"); !problem.empty()) {
            diagnostics_.reject(field.path, problem);
            return false;
        }
        out = value;
        return true;
    }

    // The cluster domain: any case (DNS names compare case-insensitively), kept lower-case.
    bool dns_zone(const Field& field, std::string& out) {
        std::string value;
        if (!text(field, value)) return false;
        if (value.size() > 1 && value.back() == '.') value.pop_back();
        std::transform(value.begin(), value.end(), value.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (std::string problem = dns_subdomain_problem(value, "zone"); !problem.empty()) {
            diagnostics_.reject(field.path, problem + " (e.g. \"cluster.local\")");
            return false;
        }
        out = value;
        return true;
    }

    // "198.18.0.53" or "198.18.0.53:5353"; the port defaults to 53.
    bool dns_upstream(const Field& field, DnsUpstream& out) {
        std::string value;
        if (!text(field, value)) return false;
        const size_t colon = value.find(':');
        std::optional<uint32_t> address = parse_ipv4(std::string_view(value).substr(0, colon));
        uint32_t port = 53;
        bool port_ok = true;
        if (colon != std::string::npos) {
            const std::string digits = value.substr(colon + 1);
            port_ok = !digits.empty() && digits.size() <= 5 &&
                      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (port_ok) port = static_cast<uint32_t>(std::stoul(digits));
            port_ok = port_ok && port >= 1 && port <= 65535;
        }
        if (!address || *address == 0 || !port_ok) {
            diagnostics_.reject(field.path, quoted(value) +
                                                " is not a resolver address; expected \"a.b.c.d\" or "
                                                "\"a.b.c.d:port\" (port 1..65535, default 53)");
            return false;
        }
        out = DnsUpstream{*address, static_cast<uint16_t>(port)};
        return true;
    }

    bool network(const Field& field, Ipv4Prefix& out) { return prefix(field, out, PrefixForm::Network); }

    bool port_name(const Field& field, std::string& out, NameRule name_rule) {
        std::string value;
        if (!text(field, value)) return false;
        if (std::string problem = name_rule(value); !problem.empty()) {
            diagnostics_.reject(field.path, problem);
            return false;
        }
        out = value;
        return true;
    }

    // IntOrString: a number is a port number, a string the name of a port of each endpoint.
    void target_port(const Field& field, ServicePortConfig& port) {
        if (field.node.is_string()) {
            std::string name;
            if (port_name(field, name, port_name_problem)) port.target_port_name = name;
        } else if (field.node.is_integer()) {
            integer<1, 65535>(field, port.target_port);
        } else {
            wrong_type(field, "a port number or a port name");
        }
    }

    // A table of string values whose keys and values follow the Kubernetes label rules.
    bool labels(const Field& field, Labels& out) {
        const toml::table* table = field.node.as_table();
        if (!table) {
            wrong_type(field, "a table of labels, e.g. { app = \"web\" }");
            return false;
        }
        Labels result;
        bool ok = true;
        for (const auto& [key, node] : *table) {
            Field label{node, field.path + "." + std::string(key.str())};
            std::string problem = label_key_problem(key.str());
            const auto* value = node.as_string();
            if (problem.empty() && !value) {
                problem = "a label value must be a string, found " + std::string(type_name(node.type()));
            }
            if (problem.empty()) problem = label_value_problem(value->get());
            if (!problem.empty()) {
                report_at_node(label, problem);
                ok = false;
                continue;
            }
            result.emplace(key.str(), value->get());
        }
        if (!ok) return false;
        out = std::move(result);
        return true;
    }

    // Label keys hold dots and slashes, so their paths cannot be looked up; a TOML node knows
    // its own position.
    void report_at_node(const Field& field, const std::string& message) {
        const auto& begin = field.node.source().begin;
        if (begin.line != 0)
            diagnostics_.reject_at(field.path, {begin.line, begin.column}, message);
        else
            diagnostics_.reject(field.path, message);
    }

    bool session_affinity(const Field& field, SessionAffinity& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        if (text_value == "None") {
            out = SessionAffinity::None;
        } else if (text_value == "ClientIP") {
            out = SessionAffinity::ClientIp;
        } else {
            diagnostics_.reject(field.path,
                                "unknown session affinity " + quoted(text_value) + "; allowed: \"None\", \"ClientIP\"");
            return false;
        }
        return true;
    }

    bool interface_address(const Field& field, Ipv4Prefix& out) {
        return prefix(field, out, PrefixForm::InterfaceAddress);
    }

    static bool is_ipv6_text(const toml::node& node) {
        const auto* value = node.as_string();
        return value != nullptr && value->get().find(':') != std::string::npos;
    }

    // A port's `addresses` take both families: IPv4 ones into `addresses`, IPv6 into `addresses6`.
    void port_addresses(const Field& field, PortConfig& port) {
        const toml::array* array = field.node.as_array();
        if (!array) {
            wrong_type(field, "an array", "");
            return;
        }
        port.addresses.clear();
        port.addresses6.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            if (is_ipv6_text(item.node)) {
                interface_address6(item, port.addresses6.emplace_back());
            } else {
                interface_address(item, port.addresses.emplace_back());
            }
        }
    }

    bool interface_address6(const Field& field, Ipv6Prefix& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv6_prefix(text_value);
        if (!parsed || text_value.find('/') == std::string::npos || is_zero(parsed->address) ||
            parsed->address[0] == 0xFF) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv6 interface address; expected a unicast address and "
                                                "length like \"2001:db8::1/64\"");
            return false;
        }
        out = *parsed;
        return true;
    }

    void snat_addresses(const Field& field, SnatConfig& snat) {
        const toml::array* array = field.node.as_array();
        if (!array) {
            wrong_type(field, "an array", "");
            return;
        }
        snat.addresses.clear();
        snat.addresses6.clear();
        for (size_t i = 0; i < array->size(); ++i) {
            Field item{*array->get(i), field.path + "[" + std::to_string(i) + "]"};
            if (is_ipv6_text(item.node)) {
                ipv6_unicast(item, snat.addresses6.emplace_back());
            } else {
                address(item, snat.addresses.emplace_back());
            }
        }
    }

    bool prefix(const Field& field, Ipv4Prefix& out, PrefixForm form) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_ipv4_prefix(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path, quoted(text_value) +
                                                " is not an IPv4 prefix; expected an address and "
                                                "length like \"198.18.0.1/24\"");
            return false;
        }
        bool has_length = text_value.find('/') != std::string::npos;
        if (form == PrefixForm::InterfaceAddress && !has_length) {
            diagnostics_.reject(field.path, quoted(text_value) + " needs a prefix length, e.g. \"" + text_value +
                                                "/24\"; it defines the port's connected subnet");
            return false;
        }
        Ipv4Prefix network{parsed->address & prefix_mask(parsed->length), parsed->length};
        if (form == PrefixForm::Network && network != *parsed) {
            diagnostics_.reject(field.path, quoted(text_value) + " has host bits set; did you mean \"" +
                                                format_ipv4_prefix(network) + "\"?");
            return false;
        }
        out = *parsed;
        return true;
    }

    bool mac(const Field& field, MacAddress& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        auto parsed = parse_mac(text_value);
        if (!parsed) {
            diagnostics_.reject(
                field.path,
                quoted(text_value) + " is not a MAC address; expected six hex octets like \"02:00:00:00:00:01\"");
            return false;
        }
        if ((*parsed)[0] & 0x01) {
            diagnostics_.reject(
                field.path, quoted(text_value) + " is a multicast address; a unicast MAC is needed (first octet even)");
            return false;
        }
        out = *parsed;
        return true;
    }

    bool idle_mode(const Field& field, IdleMode& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        if (text_value == "poll")
            out = IdleMode::Poll;
        else if (text_value == "adaptive")
            out = IdleMode::Adaptive;
        else {
            diagnostics_.reject(field.path,
                                "unknown idle mode " + quoted(text_value) + "; allowed: \"poll\", \"adaptive\"");
            return false;
        }
        return true;
    }

    bool nat_mode(const Field& field, NatMode& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        if (text_value == "fullnat")
            out = NatMode::FullNat;
        else if (text_value == "dnat")
            out = NatMode::DnatOnly;
        else {
            diagnostics_.reject(field.path,
                                "unknown NAT mode " + quoted(text_value) + "; allowed: \"fullnat\", \"dnat\"");
            return false;
        }
        return true;
    }

    // Kubernetes spells protocols in capitals; any case is accepted.
    bool protocol(const Field& field, Protocol& out) {
        std::string text_value;
        if (!text(field, text_value)) return false;
        const std::optional<Protocol> parsed = parse_protocol(text_value);
        if (!parsed) {
            diagnostics_.reject(field.path,
                                "unknown protocol " + quoted(text_value) + "; allowed: \"TCP\", \"UDP\", \"SCTP\"");
            return false;
        }
        out = *parsed;
        return true;
    }

    void port_range(const Field& field, SnatConfig& snat) {
        const toml::array* array = field.node.as_array();
        if (!array || array->size() != 2) {
            diagnostics_.reject(field.path, "expected [min, max], two port numbers like [1024, 65535]");
            return;
        }
        Field min{*array->get(0), field.path + "[0]"};
        Field max{*array->get(1), field.path + "[1]"};
        integer<1, 65535>(min, snat.port_min);
        integer<1, 65535>(max, snat.port_max);
    }

    Diagnostics& diagnostics_;
};

}  // namespace

void decode(const toml::table& root, Config& config, Diagnostics& diagnostics) {
    Decoder(diagnostics).document(root, config);
}

void decode_objects(const toml::table& root, ObjectSet& objects, Diagnostics& diagnostics) {
    Decoder(diagnostics).objects(root, objects);
}

}  // namespace vipgate::config::detail
