// The one place a DnsZoneBuilder is made: the records of control/dns_records.h compiled into the
// zone the workers answer from.
#include "control/dns_records.h"
#include "control/dns_zone_builder.h"

namespace vipgate {

std::shared_ptr<const DnsZone> build_dns_zone(const config::DnsConfig& dns,
                                              const std::map<std::string, config::ResolvedService>& services) {
    DnsZoneBuilder builder(dns.zone, dns.ttl_s, dns_server_parameters(dns));
    emit_dns_records(dns, services, builder);
    return builder.build();
}

}  // namespace vipgate
