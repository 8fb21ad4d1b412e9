// A vipgen session: the port, the generator lcores, and the trials run on them.
//
// Design note: one process runs every trial of a search on the same port and the same
// opened flows, so the gateway's connection table stays warm and trials differ only in rate.
// A trial is: reset the lcores' statistics, run at the rate for the duration (printing a
// progress line each second), stop sending, wait for the packets in flight, freeze the
// statistics and sum them. Loss is counted at the client: packets sent that never came back
// as a correct reply.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "pktgen/checker.h"
#include "pktgen/dns_mode.h"
#include "pktgen/flow_memory.h"
#include "pktgen/flow_space.h"
#include "pktgen/generator_lcore.h"
#include "pktgen/latency_histogram.h"
#include "pktgen/lcore_stats.h"
#include "pktgen/options.h"
#include "pktgen/packet_factory.h"
#include "pktgen/rate_search.h"
#include "pktgen/run_control.h"
#include "pktgen/targets.h"

namespace vipgen {

struct Measurement {
    double rate_target_pps = 0;
    double duration_s = 0;
    LcoreCounters counters;
    LatencyHistogram latency;
    std::vector<uint64_t> endpoint_packets;
    bool replies_expected = true;  // false with silent backends: a packet counts once it reached its endpoint
    bool flood = false;            // flood pattern: loss is the established flows' (spoofed SYNs are not answered)

    uint64_t lost() const noexcept {
        if (flood) {
            return counters.established_sent > counters.established_returned
                       ? counters.established_sent - counters.established_returned
                       : 0;
        }
        const uint64_t arrived = replies_expected ? counters.returned_packets : counters.forwarded_packets;
        return counters.tx_packets > arrived ? counters.tx_packets - arrived : 0;
    }
    double loss_ratio() const noexcept {
        const uint64_t sent = flood ? counters.established_sent : counters.tx_packets;
        return sent == 0 ? 0.0 : static_cast<double>(lost()) / static_cast<double>(sent);
    }
    uint64_t check_failures() const noexcept;  // every verdict but Ok
    double sent_pps() const noexcept {
        return duration_s > 0 ? static_cast<double>(counters.tx_packets) / duration_s : 0.0;
    }
};

class Session {
public:
    // Opens the port (EAL must be initialised) and learns the gateway's MAC. Throws
    // std::runtime_error with what to fix.
    Session(const Options& options, const Targets& targets);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Sends every flow's opening packet (retrying those without a reply); returns how many
    // flows got a reply. Only for patterns that open flows first.
    uint64_t open_flows();

    Measurement run_trial(double rate_pps, double duration_s);
    SearchResult search(std::vector<Measurement>& measurements);

    // What the flow-opening passes measured (check failures there count too).
    const Measurement& warmup() const noexcept { return warmup_; }

    // DNS query mode: the names asked (null in the other modes).
    const DnsMode* dns() const noexcept { return dns_.get(); }

private:
    void start_port();
    void resolve_gateway();
    void launch_lcores();
    Measurement collect(double rate_pps, double duration_s) const;

    const Options& options_;
    const Targets& targets_;
    uint16_t port_id_ = 0;
    rte_mempool* pool_ = nullptr;
    rte_ether_addr our_mac_{};
    rte_ether_addr gateway_mac_{};
    FlowSpace flows_;
    FlowSpace6 flows6_;
    FlowMemory memory_;
    std::unique_ptr<PacketFactory> factory_;
    std::unique_ptr<Checker> checker_;
    std::unique_ptr<DnsMode> dns_;
    RunControl control_;
    std::vector<std::unique_ptr<GeneratorLcore>> lcores_;
    bool lcores_running_ = false;
    uint64_t flows_opened_ = 0;
    Measurement warmup_;
};

}  // namespace vipgen
