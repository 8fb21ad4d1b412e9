// DnsPublication: the DNS zone that goes into each snapshot the control plane publishes.
//
// Design note: the zone changes with the same publication that changes the dataplane (a pod that
// stops being ready leaves a headless service's answer in the snapshot that stops sending it
// traffic), but most updates touch no name: an endpoint of a ClusterIP service moving, a weight,
// a drain. Rebuilding the whole zone for those would make every small change pay for 10,000
// services. So the records of each service are remembered as a fingerprint (the records
// themselves, written out): a published update rebuilds the zone only when the DNS settings
// changed or the fingerprint of one of its changed services did, and otherwise carries the
// previous zone's pointer forward.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/service_store.h"
#include "dataplane/dns_zone.h"

namespace vipgate {

struct DnsPublicationStatistics {
    uint64_t builds = 0;       // zones built since start
    double last_build_ms = 0;  // the last build, records and compilation
};

class DnsPublication {
public:
    // Builds a zone from every service (build_dns_zone in production, a fake in tests).
    using ZoneFactory = std::function<std::shared_ptr<const DnsZone>(
        const config::DnsConfig&, const std::map<std::string, config::ResolvedService>&)>;

    // Without a factory no zone is ever built (snapshots carry none).
    explicit DnsPublication(ZoneFactory factory) : factory_(std::move(factory)) {}

    // The zone for the next snapshot: null without DNS addresses; rebuilt when `dns` differs
    // from the previous call's or a service in `changed` has different records; else the
    // previous one. A zone the factory refuses is logged and the previous zone kept.
    std::shared_ptr<const DnsZone> update(const config::DnsConfig& dns,
                                          const std::map<std::string, config::ResolvedService>& services,
                                          const std::vector<std::string>& changed);

    const DnsPublicationStatistics& statistics() const noexcept { return statistics_; }

private:
    bool fingerprints_changed(const config::DnsConfig& dns,
                              const std::map<std::string, config::ResolvedService>& services,
                              const std::vector<std::string>& changed);
    void rebuild(const config::DnsConfig& dns, const std::map<std::string, config::ResolvedService>& services);

    ZoneFactory factory_;
    std::optional<config::DnsConfig> dns_;             // the settings the current zone was built with
    std::map<std::string, std::string> fingerprints_;  // service key -> its records, written out
    std::shared_ptr<const DnsZone> zone_;
    DnsPublicationStatistics statistics_;
};

}  // namespace vipgate
