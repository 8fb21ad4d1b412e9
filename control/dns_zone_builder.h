// DnsZoneBuilder: collects the records of one zone version (DnsRecordSink) and compiles them into
// the immutable DnsZone the workers answer from (see dataplane/dns_zone.h for the layout's why).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "control/dns_record_sink.h"
#include "dataplane/dns_zone.h"

namespace vipgate {

class DnsZoneBuilder final : public DnsRecordSink {
public:
    // `zone`: the cluster domain ("cluster.local"); `ttl_s`: the TTL of every record (negative
    // answers use min(ttl_s, 300) as CoreDNS does).
    DnsZoneBuilder(std::string zone, uint32_t ttl_s, DnsServerParameters parameters);
    ~DnsZoneBuilder() override;

    void add_name(std::string_view name) override;
    void add_a(std::string_view name, uint32_t address_host_order) override;
    void add_aaaa(std::string_view name, const std::array<uint8_t, 16>& address) override;
    void add_srv(std::string_view name, uint16_t priority, uint16_t weight, uint16_t port,
                 std::string_view target) override;
    void add_ptr(std::string_view name, std::string_view target) override;
    void add_txt(std::string_view name, std::string_view text) override;
    void add_cname(std::string_view name, std::string_view target) override;

    // Throws std::invalid_argument naming the offending name (a label over 63 bytes, a name over
    // 255, an empty label).
    std::shared_ptr<const DnsZone> build();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vipgate
