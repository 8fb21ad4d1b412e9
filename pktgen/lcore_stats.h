// Per-lcore measurements: written by one generator lcore only, summed by the main lcore.
//
// Design note: counters are plain integers updated with relaxed atomic_ref stores (a load,
// add and store, no locked instruction), so the main lcore may read them for the live
// progress line at any time without a data race. The histogram and the per-endpoint counts
// are read only after the lcore acknowledged a non-counting command (run_control.h).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "pktgen/checker.h"
#include "pktgen/latency_histogram.h"

namespace vipgen {

inline void bump(uint64_t& counter, uint64_t by = 1) noexcept {
    std::atomic_ref<uint64_t>(counter).store(counter + by, std::memory_order_relaxed);
}
inline uint64_t read_counter(const uint64_t& counter) noexcept {
    return std::atomic_ref<const uint64_t>(counter).load(std::memory_order_relaxed);
}

struct LcoreCounters {
    uint64_t tx_packets = 0;        // client packets the port accepted
    uint64_t tx_bytes = 0;          // their frame bytes, without FCS
    uint64_t alloc_failures = 0;    // bursts skipped for lack of mbufs
    uint64_t returned_packets = 0;  // client side, checked ok
    uint64_t returned_bytes = 0;
    uint64_t forwarded_packets = 0;  // backend side, checked ok
    uint64_t replies_sent = 0;       // backend replies (and ARP answers) the port accepted
    uint64_t replies_dropped = 0;    // backend replies the generator could not queue (its own loss)
    uint64_t arp_answers = 0;
    // Flood pattern (traffic_pattern.h), by flow class: packets built, and replies checked ok.
    uint64_t established_sent = 0;
    uint64_t established_returned = 0;
    uint64_t spoofed_sent = 0;                       // SYNs from spoofed sources
    uint64_t spoofed_answered = 0;                   // their SYN-ACKs (the gateway forwarded the SYN)
    uint64_t legit_sent = 0;                         // SYNs of legitimate connections
    uint64_t legit_answered = 0;                     // SYN-ACKs received (the client then ACKs with data)
    uint64_t legit_completed = 0;                    // the endpoint's answer to that data: the connection works
    std::array<uint64_t, kVerdictCount> verdicts{};  // packets by failed check; [Ok] unused

    void add(const LcoreCounters& other) noexcept;
};

struct alignas(64) LcoreStats {
    LcoreCounters counters;
    LatencyHistogram latency;
    std::vector<uint64_t> endpoint_packets;  // by Targets::endpoints index

    explicit LcoreStats(size_t endpoints) : endpoint_packets(endpoints, 0) {}
    void reset() noexcept;
};

}  // namespace vipgen
