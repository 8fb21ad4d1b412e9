// RouteAnnouncer: tells an unmodified routing daemon what to announce through kernel routes.
//
// Design note: every served VIP (announcement_plan.h states the rule) is a /32 (IPv4) or /128
// (IPv6) route in a kernel table of its own ([announce] table; the kernel keeps a table per
// family under one number), routed through the port's kernel interface
// (the net_tap of the kernel exception path). A daemon on the gateway host (BIRD's kernel
// protocol with `learn`, FRR's `redistribute table`) imports that table and announces it to
// the router. Kernel routes, not the daemon's control socket, because they need nothing from
// the daemon and they fail safe: when vipgate dies, even by SIGKILL, the tap goes with its
// file descriptor, the kernel drops every route through it, and the daemon withdraws them
// (its BGP session, which runs over the same tap, goes down too). The table is separate from
// main so the routes never steer the gateway host's own traffic.
//
// The control thread calls sync() each loop; it recomputes the wanted routes only when the
// snapshot's generation or the drain state changed, makes at most a few hundred changes per
// turn, and retries refused changes once a second.
// API threads drain and read the state; one mutex orders the two sides (never a worker).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/announcement_plan.h"

namespace vipgate {

class Rtnetlink;
class Snapshot;

struct AnnouncementStatus {
    std::string interface;  // the kernel interface the routes go through
    uint32_t table = 0;
    std::vector<config::Ipv4Prefix> routes;   // held in the kernel table now
    std::vector<config::Ipv6Prefix> routes6;  // ... IPv6
    uint64_t announced_vips = 0;              // of those, /32 and /128 VIP routes
    uint64_t added = 0;                       // routes added since start
    uint64_t removed = 0;                     // routes removed since start
    uint64_t failures = 0;                    // netlink changes the kernel refused (retried)
    std::string last_error;                   // the latest refusal, empty: none
    bool drained = false;                     // drain-gateway: nothing is announced
    double drained_for_s = 0;                 // since drain-gateway
    std::optional<double> deadline_s;         // drain-gateway --deadline
    bool settled = false;                     // the table holds what the last state seen asks for
};

class RouteAnnouncer {
public:
    // Throws std::runtime_error when the interface named by the config does not exist.
    explicit RouteAnnouncer(const config::Config& config);
    ~RouteAnnouncer() = default;
    RouteAnnouncer(const RouteAnnouncer&) = delete;
    RouteAnnouncer& operator=(const RouteAnnouncer&) = delete;

    static bool wanted(const config::Config& config) { return config.announce.enabled; }

    void sync(const Snapshot& snapshot, std::chrono::steady_clock::time_point now);  // control thread
    void withdraw_all();                                                             // control thread, at a clean exit

    void set_drained(bool drained, std::optional<double> deadline_s);  // any thread
    AnnouncementStatus status() const;                                 // any thread

private:
    void apply(size_t limit, std::chrono::steady_clock::time_point now);
    int change(Rtnetlink& netlink, const config::Ipv4Prefix& prefix, bool add);
    int change(Rtnetlink& netlink, const config::Ipv6Prefix& prefix, bool add);
    template <class Prefix, class Held>
    void apply_family(Rtnetlink& netlink, const std::vector<Prefix>& remove, const std::vector<Prefix>& add, Held& held,
                      size_t limit, size_t& done, std::chrono::steady_clock::time_point now);
    void refused(const std::string& message, std::chrono::steady_clock::time_point now);

    const std::string interface_;
    const unsigned interface_index_;
    const uint32_t table_;
    const std::optional<config::Ipv4Prefix> aggregate_;
    const std::optional<config::Ipv6Prefix> aggregate6_;

    mutable std::mutex mutex_;
    std::set<config::Ipv4Prefix> held_;    // in the kernel table
    std::set<config::Ipv4Prefix> wanted_;  // for the last snapshot and drain state seen
    Routes6 held6_;
    Routes6 wanted6_;
    uint64_t synced_generation_ = UINT64_MAX;  // none seen yet
    bool synced_drained_ = false;
    bool unfinished_ = false;  // more changes to make than one turn makes
    bool failed_ = false;      // the kernel refused a change: retried at next_retry_
    std::chrono::steady_clock::time_point next_retry_{};
    bool drained_ = false;
    std::chrono::steady_clock::time_point drained_at_{};
    std::optional<double> deadline_s_;
    uint64_t added_ = 0;
    uint64_t removed_ = 0;
    uint64_t failures_ = 0;
    std::string last_error_;
};

}  // namespace vipgate
