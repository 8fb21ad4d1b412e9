// DnsRecordSink: what produces DNS records (control/dns_records.h, from the service store) writes
// them to. The zone builder (control/dns_zone_builder.h) implements it; tests use a recording
// fake. Names are absolute, dotted, without the trailing dot, in any case
// ("web.default.svc.cluster.local", "10.0.18.198.in-addr.arpa", and ip6.arpa names). Every ancestor of a name inside
// the zone exists implicitly (an empty non-terminal answers NODATA, RFC 8020), so add_name is
// needed only for a name that has no records of its own.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace vipgate {

class DnsRecordSink {
public:
    virtual ~DnsRecordSink() = default;
    virtual void add_name(std::string_view name) = 0;
    virtual void add_a(std::string_view name, uint32_t address_host_order) = 0;
    virtual void add_aaaa(std::string_view name, const std::array<uint8_t, 16>& address) = 0;
    virtual void add_srv(std::string_view name, uint16_t priority, uint16_t weight, uint16_t port,
                         std::string_view target) = 0;
    virtual void add_ptr(std::string_view name, std::string_view target) = 0;
    virtual void add_txt(std::string_view name, std::string_view text) = 0;
    virtual void add_cname(std::string_view name, std::string_view target) = 0;
};

}  // namespace vipgate
