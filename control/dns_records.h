// The cluster's DNS records, derived from the resolved services (Kubernetes DNS specification,
// schema 1.1.0, https://github.com/kubernetes/dns/blob/master/docs/specification.md, with
// CoreDNS's kubernetes plugin as the reference where the specification leaves a choice):
//
// - dns-version.<zone> TXT "1.1.0"; the apex and svc.<zone> exist with no records of their own,
//   and so does <ns>.svc.<zone> for every namespace that holds a service.
// - A service with a cluster IP: <svc>.<ns>.svc.<zone> A <cluster IP> (AAAA <IPv6 cluster IP> for
//   an IPv6 or dual-stack service, RFC 3596, with its ip6.arpa PTR); for each named port
//   _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV 0 100 <port> <svc>.<ns>.svc.<zone>; the cluster
//   IP's in-addr.arpa name PTR <svc>.<ns>.svc.<zone>.
// - A headless service: <svc>.<ns>.svc.<zone> A <address> per ready endpoint address (every
//   endpoint with publishNotReadyAddresses); none ready: the name does not exist (NXDOMAIN, as
//   CoreDNS answers). Each ready endpoint is named <hostname>.<svc>.<ns>.svc.<zone> (its
//   EndpointSlice hostname, or its pod's hostname when the pod's subdomain is the service) or,
//   without a hostname, by its dashed address (198-18-0-11), as CoreDNS names SRV targets; that
//   name has an A record and is the PTR target of the endpoint's address. For each named port,
//   one SRV per ready endpoint of that port: priority 0, weight 100/n (CoreDNS's share of n
//   targets), the endpoint's port, the endpoint's name.
// - An ExternalName service: <svc>.<ns>.svc.<zone> CNAME <external name>.
//
// A name DNS cannot carry (a label over 63 bytes, a name over 253 characters, an empty label:
// service and namespace names are not checked as DNS labels) cannot be asked for either: its
// records are left out and counted, never passed to the zone builder.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "config/service_store.h"
#include "control/dns_record_sink.h"
#include "dataplane/dns_zone.h"

namespace vipgate {

inline constexpr std::string_view kDnsSchemaVersion = "1.1.0";

struct DnsRecordCounts {
    size_t records = 0;  // passed to the sink (names included)
    size_t skipped = 0;  // left out: a name DNS cannot carry
};

// Every record of the zone `dns.zone`: the zone's own names, then each service's.
DnsRecordCounts emit_dns_records(const config::DnsConfig& dns,
                                 const std::map<std::string, config::ResolvedService>& services, DnsRecordSink& sink);

// The records of one service (its namespace's name included), as emit_dns_records writes them.
DnsRecordCounts emit_service_records(const std::string& zone, const config::ResolvedService& service,
                                     DnsRecordSink& sink);

// What the workers need beside the names (network-order addresses, upstreams, rate limits).
DnsServerParameters dns_server_parameters(const config::DnsConfig& dns);

// The zone the workers answer from, built with DnsZoneBuilder (control/dns_zone_publication.cpp).
// Throws std::invalid_argument when the builder refuses a name.
std::shared_ptr<const DnsZone> build_dns_zone(const config::DnsConfig& dns,
                                              const std::map<std::string, config::ResolvedService>& services);

}  // namespace vipgate
