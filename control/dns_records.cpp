#include "control/dns_records.h"

#include <rte_byteorder.h>

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace vipgate {
namespace {

constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxNameLength = 253;  // presentation form without the final dot: 255 on the wire
constexpr uint16_t kSrvPriority = 0;
constexpr uint32_t kSrvWeightTotal = 100;

bool carriable(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    size_t start = 0;
    for (;;) {
        const size_t dot = name.find('.', start);
        const size_t length = (dot == std::string_view::npos ? name.size() : dot) - start;
        if (length == 0 || length > kMaxLabelLength) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

// Forwards the records whose names DNS can carry and counts the rest.
class CheckedSink {
public:
    explicit CheckedSink(DnsRecordSink& sink) : sink_(sink) {}

    void name(std::string_view owner) {
        if (check(owner)) sink_.add_name(owner);
    }
    void a(std::string_view owner, uint32_t address) {
        if (check(owner)) sink_.add_a(owner, address);
    }
    void aaaa(std::string_view owner, const config::Ipv6Address& address) {
        if (check(owner)) sink_.add_aaaa(owner, address);
    }
    void srv(std::string_view owner, uint16_t weight, uint16_t port, std::string_view target) {
        if (check(owner, target)) sink_.add_srv(owner, kSrvPriority, weight, port, target);
    }
    void ptr(std::string_view owner, std::string_view target) {
        if (check(owner, target)) sink_.add_ptr(owner, target);
    }
    void txt(std::string_view owner, std::string_view text) {
        if (check(owner)) sink_.add_txt(owner, text);
    }
    void cname(std::string_view owner, std::string_view target) {
        if (check(owner, target)) sink_.add_cname(owner, target);
    }

    DnsRecordCounts counts() const { return counts_; }

private:
    bool check(std::string_view owner, std::string_view target = "x") {
        const bool ok = carriable(owner) && carriable(target);
        ++(ok ? counts_.records : counts_.skipped);
        return ok;
    }

    DnsRecordSink& sink_;
    DnsRecordCounts counts_;
};

std::string join(std::string_view first, std::string_view rest) {
    std::string name(first);
    name += '.';
    name += rest;
    return name;
}

// 198.18.0.11 -> "11.0.18.198.in-addr.arpa".
std::string reverse_name(uint32_t address) {
    std::string name;
    for (int shift = 0; shift < 32; shift += 8) {
        name += std::to_string((address >> shift) & 0xff);
        name += '.';
    }
    return name + "in-addr.arpa";
}

// 2001:db8::1 -> "1.0.0.0. ... .8.b.d.0.1.0.0.2.ip6.arpa" (RFC 3596: nibbles, least significant first).
std::string reverse_name(const config::Ipv6Address& address) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string name;
    name.reserve(64 + 8);
    for (size_t i = address.size(); i-- > 0;) {
        name += kHex[address[i] & 0xf];
        name += '.';
        name += kHex[address[i] >> 4];
        name += '.';
    }
    return name + "ip6.arpa";
}

// 198.18.0.11 -> "198-18-0-11".
std::string dashed(uint32_t address) {
    std::string name = config::format_ipv4(address);
    std::replace(name.begin(), name.end(), '.', '-');
    return name;
}

std::string protocol_label(config::Protocol protocol) {
    std::string label = "_";
    for (char c : config::protocol_name(protocol)) label += static_cast<char>(c - 'A' + 'a');
    return label;
}

// 2001:db8::11 -> "2001-db8--11", as CoreDNS names an IPv6 endpoint without a hostname.
std::string dashed(const config::Ipv6Address& address) {
    std::string name = config::format_ipv6(address);
    std::replace(name.begin(), name.end(), ':', '-');
    return name;
}

// Kubernetes' Ready (ready and not terminating), or any endpoint when the service says so.
template <typename Endpoint>
bool published(const config::ResolvedService& service, const Endpoint& endpoint) {
    return service.publish_not_ready_addresses || (endpoint.ready && !endpoint.terminating);
}

std::string srv_owner(const config::ResolvedPort& port, std::string_view service_name) {
    std::string owner = "_" + port.port.name;
    owner += '.';
    owner += protocol_label(port.port.protocol);
    return join(owner, service_name);
}

// A and AAAA for the cluster IPs it has (an IPv6 single-stack service: AAAA alone), a PTR for each.
void cluster_ip_records(const config::ResolvedService& service, const std::string& name, CheckedSink& sink) {
    if (service.cluster_ip != 0) {
        sink.a(name, service.cluster_ip);
        sink.ptr(reverse_name(service.cluster_ip), name);
    }
    if (service.cluster_ip6 != config::Ipv6Address{}) {
        sink.aaaa(name, service.cluster_ip6);
        sink.ptr(reverse_name(service.cluster_ip6), name);
    }
    if (service.cluster_ip == 0 && service.cluster_ip6 == config::Ipv6Address{}) return;
    for (const config::ResolvedPort& port : service.ports) {
        if (port.port.name.empty()) continue;
        sink.srv(srv_owner(port, name), kSrvWeightTotal, port.port.port, name);
    }
}

void headless_records(const config::ResolvedService& service, const std::string& name, CheckedSink& sink) {
    std::map<uint32_t, std::string> endpoint_names;
    for (const config::ResolvedEndpoint& endpoint : service.addresses) {
        if (!published(service, endpoint)) continue;
        const std::string endpoint_name =
            join(endpoint.hostname.empty() ? dashed(endpoint.address) : endpoint.hostname, name);
        sink.a(name, endpoint.address);
        sink.a(endpoint_name, endpoint.address);
        sink.ptr(reverse_name(endpoint.address), endpoint_name);
        endpoint_names.emplace(endpoint.address, endpoint_name);
    }
    // IPv6 endpoint addresses as the IPv4 ones: AAAA under the service's and the endpoint's
    // names, a PTR in ip6.arpa. A pod with a hostname and both families has one name with both.
    std::map<config::Ipv6Address, std::string> endpoint_names6;
    for (const config::ResolvedEndpoint6& endpoint : service.addresses6) {
        if (!published(service, endpoint)) continue;
        const std::string endpoint_name =
            join(endpoint.hostname.empty() ? dashed(endpoint.address) : endpoint.hostname, name);
        sink.aaaa(name, endpoint.address);
        sink.aaaa(endpoint_name, endpoint.address);
        sink.ptr(reverse_name(endpoint.address), endpoint_name);
        endpoint_names6.emplace(endpoint.address, endpoint_name);
    }
    // One SRV per (target name, port), over both families: the additional section then carries
    // each target's A and AAAA.
    for (const config::ResolvedPort& port : service.ports) {
        if (port.port.name.empty()) continue;
        std::vector<std::pair<const std::string*, uint16_t>> targets;
        std::set<std::pair<std::string_view, uint16_t>> seen;
        auto add = [&](const std::string& target, uint16_t target_port) {
            if (seen.emplace(target, target_port).second) targets.emplace_back(&target, target_port);
        };
        for (const config::ResolvedEndpoint& endpoint : port.endpoints) {
            auto found = endpoint_names.find(endpoint.address);
            if (published(service, endpoint) && found != endpoint_names.end()) add(found->second, endpoint.port);
        }
        for (const config::ResolvedEndpoint6& endpoint : port.endpoints6) {
            auto found = endpoint_names6.find(endpoint.address);
            if (published(service, endpoint) && found != endpoint_names6.end()) add(found->second, endpoint.port);
        }
        if (targets.empty()) continue;
        const std::string owner = srv_owner(port, name);
        const auto weight = static_cast<uint16_t>(kSrvWeightTotal / targets.size());
        for (const auto& [target, target_port] : targets) sink.srv(owner, weight, target_port, *target);
    }
}

DnsRecordCounts service_records(const std::string& zone, const config::ResolvedService& service, DnsRecordSink& out) {
    CheckedSink sink(out);
    const std::string namespace_name = join(service.namespace_name, join("svc", zone));
    const std::string name = join(service.name, namespace_name);
    sink.name(namespace_name);
    if (!service.external_name.empty()) {
        sink.cname(name, service.external_name);
    } else if (service.headless) {
        headless_records(service, name, sink);
    } else {
        cluster_ip_records(service, name, sink);
    }
    return sink.counts();
}

}  // namespace

DnsRecordCounts emit_service_records(const std::string& zone, const config::ResolvedService& service,
                                     DnsRecordSink& sink) {
    return service_records(zone, service, sink);
}

DnsRecordCounts emit_dns_records(const config::DnsConfig& dns,
                                 const std::map<std::string, config::ResolvedService>& services, DnsRecordSink& out) {
    CheckedSink sink(out);
    sink.name(dns.zone);
    sink.name(join("svc", dns.zone));
    sink.txt(join("dns-version", dns.zone), kDnsSchemaVersion);
    DnsRecordCounts counts = sink.counts();
    for (const auto& [key, service] : services) {
        const DnsRecordCounts added = service_records(dns.zone, service, out);
        counts.records += added.records;
        counts.skipped += added.skipped;
    }
    return counts;
}

DnsServerParameters dns_server_parameters(const config::DnsConfig& dns) {
    DnsServerParameters parameters;
    for (uint32_t address : dns.addresses) parameters.addresses.push_back(rte_cpu_to_be_32(address));
    parameters.has_upstreams = !dns.upstreams.empty();
    parameters.rate_limit = dns.rate_limit;
    parameters.rate_limit_slip = dns.rate_limit_slip;
    return parameters;
}

}  // namespace vipgate
