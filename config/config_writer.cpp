// Config and ObjectSet -> TOML text in the schema of default.toml, which the loaders read back
// to equal structs. Sections are written in full, defaults included, so a dumped file shows
// exactly what runs; objects are written one [[services]] / [[pods]] / [[endpoint_slices]]
// block each, with their lists as one inline table per line, and leave out only keys whose
// omission means the same (an unnamed port's name, an allocated cluster IP, ...).
#include "config/config.h"
#include "config/objects.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config {

namespace {

// A TOML basic string.
std::string quoted(std::string_view text) {
    std::string result = "\"";
    for (char c : text) {
        switch (c) {
        case '"':
            result += "\\\"";
            break;
        case '\\':
            result += "\\\\";
            break;
        case '\n':
            result += "\\n";
            break;
        case '\t':
            result += "\\t";
            break;
        case '\r':
            result += "\\r";
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char escape[8];
                std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
                result += escape;
            } else {
                result += c;
            }
        }
    }
    return result += '"';
}

// A bare key when TOML allows one, else quoted ("app.kubernetes.io/name").
std::string key(std::string_view text) {
    bool bare = !text.empty();
    for (char c : text) {
        bare = bare &&
               ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    }
    return bare ? std::string(text) : quoted(text);
}

std::string boolean(bool value) {
    return value ? "true" : "false";
}

template <class T, class Format>
std::string array(const std::vector<T>& values, Format format) {
    std::string text = "[";
    for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + format(values[i]);
    return text + "]";
}

std::string address(uint32_t value) {
    return quoted(format_ipv4(value));
}
std::string prefix(const Ipv4Prefix& value) {
    return quoted(format_ipv4_prefix(value));
}
std::string number(uint64_t value) {
    return std::to_string(value);
}

// "{ a = 1, b = 2 }" from fields added in order.
class InlineTable {
public:
    InlineTable& add(std::string_view name, const std::string& value) {
        text_ += (text_.empty() ? "{ " : ", ") + key(name) + " = " + value;
        return *this;
    }
    std::string str() const { return text_.empty() ? "{}" : text_ + " }"; }

private:
    std::string text_;
};

std::string labels(const Labels& values) {
    InlineTable table;
    for (const auto& [name, value] : values) table.add(name, quoted(value));
    return table.str();
}

std::string protocol(Protocol value) {
    return quoted(protocol_name(value));
}

std::string named_port(const NamedPort& port) {
    InlineTable table;
    if (!port.name.empty()) table.add("name", quoted(port.name));
    return table.add("protocol", protocol(port.protocol)).add("port", number(port.port)).str();
}

std::string service_port(const ServicePortConfig& port) {
    InlineTable table;
    if (!port.name.empty()) table.add("name", quoted(port.name));
    table.add("protocol", protocol(port.protocol)).add("port", number(port.port));
    if (!port.target_port_name.empty())
        table.add("target_port", quoted(port.target_port_name));
    else if (port.target_port != 0)
        table.add("target_port", number(port.target_port));
    return table.str();
}

// Slice endpoints take their ports from the slice: `with_ports` is false for them.
std::string endpoint(const EndpointConfig& endpoint, bool with_ports) {
    InlineTable table;
    table.add("address", endpoint.is_ipv6() ? quoted(format_ipv6(endpoint.address6)) : address(endpoint.address));
    if (endpoint.port != 0) table.add("port", number(endpoint.port));
    table.add("ready", boolean(endpoint.ready))
        .add("terminating", boolean(endpoint.terminating))
        .add("weight", number(endpoint.weight));
    if (with_ports && !endpoint.ports.empty()) table.add("ports", array(endpoint.ports, named_port));
    if (!endpoint.hostname.empty()) table.add("hostname", quoted(endpoint.hostname));
    return table.str();
}

// `name = [` one entry per line `]`.
template <class T, class Format>
void list(std::string& out, std::string_view name, const std::vector<T>& values, Format format) {
    if (values.empty()) return;
    out += key(name) + " = [\n";
    for (const auto& value : values) out += "  " + format(value) + ",\n";
    out += "]\n";
}

void line(std::string& out, std::string_view name, const std::string& value) {
    out += key(name) + " = " + value + "\n";
}

// cluster_ip is the primary address, cluster_ips both when there are two; ip_families only when
// it is not what the addresses say (the decoder derives it from them), so an IPv4 service is
// written as it always was.
void cluster_addresses(std::string& out, const ServiceConfig& service) {
    std::vector<std::string> addresses;
    std::vector<IpFamily> derived;
    auto add = [&](IpFamily family) {
        if (family == IpFamily::Ipv4 && service.cluster_ip != 0) addresses.push_back(address(service.cluster_ip));
        if (family == IpFamily::Ipv6 && !is_zero(service.cluster_ip6))
            addresses.push_back(quoted(format_ipv6(service.cluster_ip6)));
        if (addresses.size() > derived.size()) derived.push_back(family);
    };
    for (IpFamily family : service.ip_families) add(family);
    if (service.ip_families.empty()) {
        add(IpFamily::Ipv4);
        add(IpFamily::Ipv6);
    }
    if (service.headless)
        line(out, "cluster_ip", quoted("None"));
    else if (!addresses.empty())
        line(out, "cluster_ip", addresses[0]);
    if (addresses.size() > 1) line(out, "cluster_ips", array(addresses, [](const std::string& text) { return text; }));
    if (!service.ip_families.empty() && service.ip_families != derived) {
        line(out, "ip_families",
             array(service.ip_families, [](IpFamily family) { return quoted(ip_family_name(family)); }));
    }
    if (service.ip_family_policy != IpFamilyPolicy::SingleStack) {
        line(out, "ip_family_policy", quoted(ip_family_policy_name(service.ip_family_policy)));
    }
}

void service(std::string& out, const ServiceConfig& service) {
    out += "\n[[services]]\n";
    line(out, "name", quoted(service.name));
    line(out, "namespace", quoted(service.namespace_name));
    cluster_addresses(out, service);
    if (!service.external_name.empty()) line(out, "external_name", quoted(service.external_name));
    if (service.publish_not_ready_addresses) line(out, "publish_not_ready_addresses", boolean(true));
    if (service.selector) line(out, "selector", labels(*service.selector));
    if (service.session_affinity == SessionAffinity::ClientIp) {
        line(out, "session_affinity", quoted("ClientIP"));
        line(out, "session_affinity_timeout", number(service.affinity_timeout_s));
    }
    list(out, "ports", service.ports, service_port);
    list(out, "endpoints", service.endpoints, [](const EndpointConfig& value) { return endpoint(value, true); });
}

void pod(std::string& out, const PodConfig& pod) {
    out += "\n[[pods]]\n";
    line(out, "name", quoted(pod.name));
    line(out, "namespace", quoted(pod.namespace_name));
    if (pod.address != 0) line(out, "address", address(pod.address));
    if (!is_zero(pod.address6)) {
        const std::string ipv6 = quoted(format_ipv6(pod.address6));
        if (pod.address == 0) {
            line(out, "address", ipv6);
        } else {
            const std::vector<std::string> both = {address(pod.address), ipv6};
            line(out, "pod_ips", array(both, [](const std::string& text) { return text; }));
        }
    }
    line(out, "labels", labels(pod.labels));
    line(out, "ready", boolean(pod.ready));
    line(out, "terminating", boolean(pod.terminating));
    line(out, "weight", number(pod.weight));
    if (!pod.hostname.empty()) line(out, "hostname", quoted(pod.hostname));
    if (!pod.subdomain.empty()) line(out, "subdomain", quoted(pod.subdomain));
    list(out, "ports", pod.ports, named_port);
}

void endpoint_slice(std::string& out, const EndpointSliceConfig& slice) {
    out += "\n[[endpoint_slices]]\n";
    line(out, "name", quoted(slice.name));
    line(out, "namespace", quoted(slice.namespace_name));
    line(out, "service", quoted(slice.service_name));
    if (slice.address_type != IpFamily::Ipv4) line(out, "address_type", quoted(ip_family_name(slice.address_type)));
    list(out, "ports", slice.ports, named_port);
    list(out, "endpoints", slice.endpoints, [](const EndpointConfig& value) { return endpoint(value, false); });
}

std::string upstream(const DnsUpstream& value) {
    return quoted(format_ipv4(value.address) + ":" + std::to_string(value.port));
}

void dns(std::string& out, const DnsConfig& settings) {
    out += "\n[dns]\n";
    line(out, "addresses", array(settings.addresses, address));
    line(out, "zone", quoted(settings.zone));
    line(out, "ttl", number(settings.ttl_s));
    line(out, "upstreams", array(settings.upstreams, upstream));
    line(out, "rate_limit", number(settings.rate_limit));
    line(out, "rate_limit_slip", number(settings.rate_limit_slip));
}

void objects(std::string& out, const std::vector<ServiceConfig>& services, const std::vector<PodConfig>& pods,
             const std::vector<EndpointSliceConfig>& slices) {
    for (const auto& value : services) service(out, value);
    for (const auto& value : pods) pod(out, value);
    for (const auto& value : slices) endpoint_slice(out, value);
}

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

}  // namespace

std::string format_config(const Config& config) {
    std::string out = "# vipgate configuration";
    if (!config.source.empty()) out += ", written from " + config.source;
    out += "\n\n[eal]\n";
    line(out, "args", array(config.eal.args, quoted));

    const DataplaneConfig& dataplane = config.dataplane;
    out += "\n[dataplane]\n";
    line(out, "worker_lcores", array(dataplane.worker_lcores, number));
    line(out, "nat_mode", quoted(dataplane.nat_mode == NatMode::FullNat ? "fullnat" : "dnat"));
    line(out, "hash_seed", hex(dataplane.hash_seed));
    line(out, "maglev_max_table_size", number(dataplane.maglev_max_table_size));
    line(out, "stats_interval_ms", number(dataplane.stats_interval_ms));
    line(out, "mbufs_per_port", number(dataplane.mbufs_per_port));
    line(out, "rx_descriptors", number(dataplane.rx_descriptors));
    line(out, "tx_descriptors", number(dataplane.tx_descriptors));
    line(out, "idle", quoted(dataplane.idle == IdleMode::Adaptive ? "adaptive" : "poll"));
    line(out, "idle_max_sleep_us", number(dataplane.idle_max_sleep_us));

    const ConntrackConfig& conntrack = config.conntrack;
    out += "\n[conntrack]\n";
    line(out, "capacity", number(conntrack.capacity));
    line(out, "tcp_syn_timeout", number(conntrack.tcp_syn_timeout_s));
    line(out, "tcp_established_timeout", number(conntrack.tcp_established_timeout_s));
    line(out, "tcp_closing_timeout", number(conntrack.tcp_closing_timeout_s));
    line(out, "tcp_closed_timeout", number(conntrack.tcp_closed_timeout_s));
    line(out, "udp_timeout", number(conntrack.udp_timeout_s));
    line(out, "udp_unreplied_timeout", number(conntrack.udp_unreplied_timeout_s));
    line(out, "icmp_timeout", number(conntrack.icmp_timeout_s));
    line(out, "half_open_min_idle_ms", number(conntrack.half_open_min_idle_ms));

    out += "\n[limits]\n";
    line(out, "answer_rate", number(config.limits.answer_rate));
    line(out, "answer_burst", number(config.limits.answer_burst));
    line(out, "punt_rate", number(config.limits.punt_rate));
    line(out, "punt_burst", number(config.limits.punt_burst));

    out += "\n[announce]\n";
    line(out, "enabled", boolean(config.announce.enabled));
    line(out, "table", number(config.announce.table));
    if (!config.announce.port.empty()) line(out, "port", quoted(config.announce.port));
    line(out, "aggregate", boolean(config.announce.aggregate));

    out += "\n[snat]\n";
    std::vector<std::string> snat_addresses;
    for (uint32_t value : config.snat.addresses) snat_addresses.push_back(address(value));
    for (const auto& value : config.snat.addresses6) snat_addresses.push_back(quoted(format_ipv6(value)));
    line(out, "addresses", array(snat_addresses, [](const std::string& text) { return text; }));
    std::string port_range = "[";
    port_range.append(number(config.snat.port_min)).append(", ").append(number(config.snat.port_max)).append("]");
    line(out, "port_range", port_range);

    out += "\n[cluster]\n";
    const auto& cidr4 = config.cluster.service_cidr;
    const auto& cidr6 = config.cluster.service_cidr_ipv6;
    if (cidr4 && cidr6) {
        const std::vector<std::string> both = {prefix(*cidr4), quoted(format_ipv6_prefix(*cidr6))};
        line(out, "service_cidr", array(both, [](const std::string& text) { return text; }));
    } else if (cidr4) {
        line(out, "service_cidr", prefix(*cidr4));
    } else if (cidr6) {
        line(out, "service_cidr", quoted(format_ipv6_prefix(*cidr6)));
    }
    std::vector<std::string> client_ranges;
    for (const auto& value : config.cluster.client_ranges) client_ranges.push_back(prefix(value));
    for (const auto& value : config.cluster.client_ranges6) client_ranges.push_back(quoted(format_ipv6_prefix(value)));
    line(out, "client_ranges", array(client_ranges, [](const std::string& text) { return text; }));
    dns(out, config.dns);

    for (const auto& port : config.ports) {
        out += "\n[[ports]]\n";
        line(out, "name", quoted(port.name));
        line(out, "device", quoted(port.device));
        if (port.mac) line(out, "mac", quoted(format_mac(*port.mac)));
        std::vector<std::string> port_addresses;
        for (const auto& value : port.addresses) port_addresses.push_back(prefix(value));
        for (const auto& value : port.addresses6) port_addresses.push_back(quoted(format_ipv6_prefix(value)));
        line(out, "addresses", array(port_addresses, [](const std::string& text) { return text; }));
        line(out, "vlan", number(port.vlan));
        line(out, "promiscuous", boolean(port.promiscuous));
        if (port.mtu) line(out, "mtu", number(*port.mtu));
        if (!port.kernel_interface.empty()) line(out, "kernel_interface", quoted(port.kernel_interface));
        if (port.accept_router_advertisements) line(out, "accept_router_advertisements", boolean(true));
    }
    for (const auto& route : config.routes) {
        out += "\n[[routes]]\n";
        line(out, "prefix", route.ipv6 ? quoted(format_ipv6_prefix(route.prefix6)) : prefix(route.prefix));
        line(out, "via", route.ipv6 ? quoted(format_ipv6(route.via6)) : address(route.via));
        if (!route.port.empty()) line(out, "port", quoted(route.port));
    }
    for (const auto& neighbor : config.neighbors) {
        out += "\n[[neighbors]]\n";
        line(out, "address",
             is_zero(neighbor.address6) ? address(neighbor.address) : quoted(format_ipv6(neighbor.address6)));
        line(out, "mac", quoted(format_mac(neighbor.mac)));
        if (!neighbor.port.empty()) line(out, "port", quoted(neighbor.port));
    }
    objects(out, config.services, config.pods, config.endpoint_slices);
    return out;
}

std::string format_objects_toml(const ObjectSet& set) {
    std::string out = "# vipgate objects\n";
    if (set.dns) dns(out, *set.dns);
    objects(out, set.services, set.pods, set.endpoint_slices);
    return out;
}

}  // namespace vipgate::config
