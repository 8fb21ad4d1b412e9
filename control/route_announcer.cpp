#include "control/route_announcer.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "control/announcement_plan.h"
#include "control/rtnetlink.h"
#include "dataplane/snapshot.h"

namespace vipgate {
namespace {

constexpr auto kRetryPeriod = std::chrono::seconds(1);
// Route changes per control-loop turn: a large update (thousands of services) is announced over
// several turns, so ARP and the kernel path are never held up for long (one change costs a
// netlink round trip of some microseconds).
constexpr size_t kMaxChangesPerLoop = 256;

std::string announcing_interface(const config::Config& config) {
    for (const config::PortConfig& port : config.ports) {
        if (port.kernel_interface.empty()) continue;
        if (config.announce.port.empty() || port.name == config.announce.port) return port.kernel_interface;
    }
    throw std::runtime_error("[announce]: no port with a kernel_interface to route the announced VIPs through");
}

std::string prefix_text(const config::Ipv4Prefix& prefix) {
    return config::format_ipv4(prefix.address) + "/" + std::to_string(prefix.length);
}

std::string prefix_text(const config::Ipv6Prefix& prefix) {
    return config::format_ipv6_prefix(prefix);
}

unsigned interface_index(const std::string& name) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) throw std::runtime_error("[announce]: kernel interface " + name + " does not exist");
    return index;
}

}  // namespace

RouteAnnouncer::RouteAnnouncer(const config::Config& config)
    : interface_(announcing_interface(config)),
      interface_index_(interface_index(interface_)),
      table_(config.announce.table),
      aggregate_(config.announce.aggregate ? config.cluster.service_cidr : std::nullopt),
      aggregate6_(config.announce.aggregate ? config.cluster.service_cidr_ipv6 : std::nullopt) {
    std::string aggregates;
    if (aggregate_) aggregates += " and " + prefix_text(*aggregate_);
    if (aggregate6_) aggregates += " and " + prefix_text(*aggregate6_);
    spdlog::info("announcing served VIPs as /32 and /128 routes in kernel table {} via {}{}", table_, interface_,
                 aggregates.empty() ? "" : " (" + aggregates.substr(5) + ", the service CIDRs)");
}

// RTM_NEWROUTE / RTM_DELROUTE of `prefix` through the interface in the announcer's table.
int RouteAnnouncer::change(Rtnetlink& netlink, const config::Ipv4Prefix& prefix, bool add) {
    NetlinkRequest request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    request.header.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    request.header.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    request.route.rtm_family = AF_INET;
    request.route.rtm_dst_len = prefix.length;
    request.route.rtm_table = static_cast<uint8_t>(table_ < 256 ? table_ : uint32_t{RT_TABLE_UNSPEC});
    request.route.rtm_protocol = RTPROT_STATIC;
    request.route.rtm_scope = RT_SCOPE_LINK;
    request.route.rtm_type = RTN_UNICAST;
    const uint32_t destination = htonl(prefix.address);
    add_attribute(request, RTA_DST, &destination, sizeof(destination));
    const uint32_t table = table_;
    add_attribute(request, RTA_TABLE, &table, sizeof(table));
    const uint32_t interface = interface_index_;
    add_attribute(request, RTA_OIF, &interface, sizeof(interface));
    return netlink.transact(request);
}

// The same for an IPv6 prefix, in the table's IPv6 half.
int RouteAnnouncer::change(Rtnetlink& netlink, const config::Ipv6Prefix& prefix, bool add) {
    NetlinkRequest request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    request.header.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    request.header.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    request.route.rtm_family = AF_INET6;
    request.route.rtm_dst_len = prefix.length;
    request.route.rtm_table = static_cast<uint8_t>(table_ < 256 ? table_ : uint32_t{RT_TABLE_UNSPEC});
    request.route.rtm_protocol = RTPROT_STATIC;
    request.route.rtm_scope = RT_SCOPE_UNIVERSE;  // IPv6 routes have no link scope
    request.route.rtm_type = RTN_UNICAST;
    add_attribute(request, RTA_DST, prefix.address.data(), 16);
    const uint32_t table = table_;
    add_attribute(request, RTA_TABLE, &table, sizeof(table));
    const uint32_t interface = interface_index_;
    add_attribute(request, RTA_OIF, &interface, sizeof(interface));
    return netlink.transact(request);
}

void RouteAnnouncer::refused(const std::string& message, std::chrono::steady_clock::time_point now) {
    failed_ = true;
    next_retry_ = now + kRetryPeriod;
    ++failures_;
    if (message != last_error_) spdlog::warn("announce: {}; retrying every second", message);
    last_error_ = message;
}

// One family's changes, removals first, while `done` < `limit`.
template <class Prefix, class Held>
void RouteAnnouncer::apply_family(Rtnetlink& netlink, const std::vector<Prefix>& remove, const std::vector<Prefix>& add,
                                  Held& held, size_t limit, size_t& done, std::chrono::steady_clock::time_point now) {
    auto route_refused = [&](const Prefix& prefix, const char* what, int error) {
        refused(std::string("cannot ") + what + " the route " + prefix_text(prefix) + " (table " +
                    std::to_string(table_) + ", " + interface_ + "): " + std::strerror(-error),
                now);
    };
    for (const Prefix& prefix : remove) {
        if (done >= limit) return;
        ++done;
        const int error = change(netlink, prefix, false);
        if (error == 0 || error == -ESRCH) {
            held.erase(prefix);
            ++removed_;
        } else {
            route_refused(prefix, "remove", error);
        }
    }
    for (const Prefix& prefix : add) {
        if (done >= limit) return;
        ++done;
        const int error = change(netlink, prefix, true);
        if (error == 0) {
            held.insert(prefix);
            ++added_;
        } else {
            route_refused(prefix, "add", error);
        }
    }
}

// Under mutex_: at most `limit` changes towards wanted_ and wanted6_. A refused change stays to
// do (a route not added is not held; one not removed still is) and is retried a second later.
void RouteAnnouncer::apply(size_t limit, std::chrono::steady_clock::time_point now) {
    const RouteChanges changes = route_changes(held_, wanted_);
    const RouteChanges6 changes6 = route_changes6(held6_, wanted6_);
    const size_t total = changes.add.size() + changes.remove.size() + changes6.add.size() + changes6.remove.size();
    unfinished_ = total > limit;
    failed_ = false;
    if (total == 0) return;
    std::optional<Rtnetlink> socket;
    try {
        socket.emplace();
    } catch (const std::runtime_error& error) {
        refused(error.what(), now);
        unfinished_ = false;
        return;
    }
    size_t done = 0;
    apply_family(*socket, changes.remove, changes.add, held_, limit, done, now);
    apply_family(*socket, changes6.remove, changes6.add, held6_, limit, done, now);
    if (!failed_) last_error_.clear();
    if (!unfinished_) {
        spdlog::info("announce: {} routes announced{}", held_.size() + held6_.size(),
                     drained_ ? " (gateway drained)" : "");
    }
}

void RouteAnnouncer::sync(const Snapshot& snapshot, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    const bool changed = snapshot.generation != synced_generation_ || drained_ != synced_drained_;
    if (changed) {
        synced_generation_ = snapshot.generation;
        synced_drained_ = drained_;
        wanted_ = wanted_routes(drained_ ? std::vector<uint32_t>{} : served_vips(snapshot), aggregate_, drained_);
        wanted6_ = wanted_routes6(drained_ ? std::vector<config::Ipv6Address>{} : served_vips6(snapshot), aggregate6_,
                                  drained_);
    } else if (!unfinished_ && !(failed_ && now >= next_retry_)) {
        return;
    }
    apply(kMaxChangesPerLoop, now);
}

void RouteAnnouncer::withdraw_all() {
    std::lock_guard lock(mutex_);
    const size_t count = held_.size() + held6_.size();
    wanted_.clear();
    wanted6_.clear();
    apply(SIZE_MAX, std::chrono::steady_clock::now());
    const size_t left = held_.size() + held6_.size();
    spdlog::info("announce: withdrew {} route(s) at exit{}", count - left,
                 left == 0 ? "" : " (" + std::to_string(left) + " refused: they go with " + interface_ + ")");
}

void RouteAnnouncer::set_drained(bool drained, std::optional<double> deadline_s) {
    std::lock_guard lock(mutex_);
    if (drained && !drained_) drained_at_ = std::chrono::steady_clock::now();
    if (drained) deadline_s_ = deadline_s;
    if (!drained) deadline_s_.reset();
    if (drained != drained_) spdlog::info("gateway {}", drained ? "drained: withdrawing every route" : "undrained");
    drained_ = drained;
}

AnnouncementStatus RouteAnnouncer::status() const {
    std::lock_guard lock(mutex_);
    AnnouncementStatus status;
    status.interface = interface_;
    status.table = table_;
    status.routes.assign(held_.begin(), held_.end());
    status.routes6.assign(held6_.begin(), held6_.end());
    for (const config::Ipv4Prefix& prefix : held_) status.announced_vips += prefix == aggregate_ ? 0 : 1;
    for (const config::Ipv6Prefix& prefix : held6_) status.announced_vips += prefix == aggregate6_ ? 0 : 1;
    status.added = added_;
    status.removed = removed_;
    status.failures = failures_;
    status.last_error = last_error_;
    status.drained = drained_;
    status.settled = synced_drained_ == drained_ && !unfinished_ && !failed_;
    if (drained_) {
        status.drained_for_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - drained_at_).count();
        status.deadline_s = deadline_s_;
    }
    return status;
}

}  // namespace vipgate
