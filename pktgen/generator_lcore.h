// One generator lcore: polls its RX queue, checks and answers what comes back, and sends its
// share of the traffic pattern from templates at the commanded rate.
//
// Design note: run-to-completion on one queue pair, like the dataplane it tests. Received
// packets are handled first (backend replies go out in the same burst as new client
// packets), then the pacer says how many new packets may be built. Packets the port did not
// accept stay staged and are offered again on the next turn, so generation never silently
// drops its own packets: every loss vipgen reports happened after the port took the packet.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <utility>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "pktgen/checker.h"
#include "pktgen/dns_mode.h"
#include "pktgen/flow_memory.h"
#include "pktgen/lcore_stats.h"
#include "pktgen/packet_factory.h"
#include "pktgen/rate_pacer.h"
#include "pktgen/run_control.h"
#include "pktgen/traffic_pattern.h"

namespace vipgen {

struct LcoreSetup {
    uint16_t port_id = 0;
    uint16_t queue = 0;
    rte_mempool* pool = nullptr;
    uint32_t index = 0;  // 0..lcores-1, also the queue
    rte_ether_addr our_mac{};
    uint64_t tsc_hz = 0;
    const PacketFactory* factory = nullptr;
    const Checker* checker = nullptr;
    FlowMemory* memory = nullptr;
    const std::vector<uint32_t>* impersonated_hosts = nullptr;  // sorted, answered by ARP
    bool answer_backends = true;                                // gateway mode: emulate the endpoints
    PatternConfig pattern;
    size_t endpoint_count = 0;
    DnsMode* dns = nullptr;  // DNS query mode: queries instead of the pattern's packets
};

class GeneratorLcore {
public:
    static constexpr uint16_t kBurst = 32;

    GeneratorLcore(const LcoreSetup& setup, RunControl& control);

    // The lcore's main loop; returns when the Exit command arrives.
    void run() noexcept;

    const LcoreStats& statistics() const noexcept { return statistics_; }
    bool open_pass_done() const noexcept { return open_done_.load(std::memory_order_acquire); }

private:
    void apply(const Command& command) noexcept;
    void receive() noexcept;
    void handle(rte_mbuf* m) noexcept;
    void generate(uint64_t now) noexcept;
    bool tally_flood_reply(rte_mbuf* m, const Signature& signature, uint64_t now) noexcept;
    void open_flows(uint64_t now) noexcept;
    void transmit() noexcept;

    LcoreSetup setup_;
    RunControl& control_;
    TrafficPattern pattern_;
    LcoreStats statistics_;
    LcoreStats scratch_;
    LcoreStats* current_;
    Command command_;
    RatePacer pacer_;
    double ns_per_tick_;
    static constexpr double kBatchIntervalSeconds = 20e-6;
    uint32_t min_batch_ = 1;
    uint32_t size_slot_ = 0;
    uint32_t open_cursor_ = 0;
    alignas(64) std::atomic<bool> open_done_{true};
    // Packets waiting for the port. Answers (backend replies, ARP, handshake ACKs) go first: a reply that the
    // generator itself dropped would show up as the device's loss. Client packets are only
    // built when their queue has room, so a slow device slows the generator down instead.
    struct TxQueue {
        std::array<rte_mbuf*, 4 * kBurst> mbufs{};
        std::array<uint16_t, 4 * kBurst> bytes{};  // frame length of each packet
        uint32_t count = 0;
        uint32_t room() const noexcept { return static_cast<uint32_t>(mbufs.size()) - count; }
        void push(rte_mbuf* m, uint16_t frame_bytes) noexcept {
            mbufs[count] = m;
            bytes[count++] = frame_bytes;
        }
        // Sends what the port takes; returns the packets and bytes sent, keeps the rest.
        std::pair<uint32_t, uint64_t> send(uint16_t port, uint16_t queue) noexcept;
    };
    TxQueue answers_;
    TxQueue clients_;
    // Received packets that are done with (checked, not answered): freed once per burst.
    static constexpr uint16_t kPrefetchAhead = 4;
    std::array<rte_mbuf*, kBurst> finished_{};
    uint32_t finished_count_ = 0;
};

}  // namespace vipgen
