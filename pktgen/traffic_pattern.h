// The order in which one lcore's packets visit flows, for each traffic pattern.
//
// Design note: every sequence is a pure function of (pattern, flows, seed, lcore, lcore
// count), so a run can be reproduced and a test can predict which flow comes when. The flow
// id is the only state a packet needs (flow_space.h turns it into a tuple). Sequences advance
// with additions only: the per-packet path has no division.
//   established  flows 0..N-1 in a seeded scattered order (stride coprime to N), so the
//                gateway's tables are visited the way a million independent clients would;
//                lcore w starts at its own offset and steps by W strides.
//   new          every packet opens a new flow (TCP SYN): ids N + w, N + w + W, ...
//   mixed        established, except a share of packets (error diffusion, no randomness)
//                that open new flows.
//   lifecycle    lcore w owns N / W connection slots; each slot in turn sends SYN, D data
//                packets and FIN|ACK, then reopens with a fresh id (fresh tuple), so
//                connections open, carry data and close at a steady rate.
//   flood        established, except a share of packets (legit_share) that open legitimate
//                connections (ids from kLegitimateFlowBase: the client completes each
//                handshake) and a share of the rest (new_share) that are spoofed SYNs (ids
//                from N, never completed; the flow space scatters their sources over every
//                client address and port). The id alone says which a reply belongs to.
#pragma once

#include <cstdint>

#include "pktgen/packet_factory.h"

namespace vipgen {

enum class Pattern { Established, New, Mixed, Lifecycle, Flood };

// Flood pattern: ids from here are legitimate connections; spoofed SYNs take ids from N up
// (below it: flow_space.h keeps ids below 2^31 distinct, so neither range aliases the other
// or the established flows within a run of under 1.4 billion spoofed SYNs). Alternating bits:
// FlowMemory keys a flow by its low bits and tags it with the next 11, and a base with bits in
// every such window keeps legitimate ids from passing for established flows there (1 << 30
// would give id 2^30 + k the slot and tag of flow k: a false "moved").
inline constexpr uint32_t kLegitimateFlowBase = 0x55555555u;

enum class FlowClass : uint8_t { Established, Spoofed, Legitimate };

constexpr FlowClass flow_class(uint32_t flow_id, uint32_t flows) {
    if (flow_id >= kLegitimateFlowBase) return FlowClass::Legitimate;
    return flow_id < flows ? FlowClass::Established : FlowClass::Spoofed;
}

struct PatternConfig {
    Pattern pattern = Pattern::Established;
    uint32_t flows = 1024;      // N
    double new_share = 0.1;     // mixed; flood: spoofed SYNs among the non-legitimate packets
    double legit_share = 0.01;  // flood: legitimate new connections
    uint32_t data_packets = 8;  // lifecycle: D
    uint64_t seed = 1;
    uint32_t lcore = 0;        // w
    uint32_t lcore_count = 1;  // W
};

struct NextPacket {
    uint32_t flow_id;
    PacketKind kind;
};

class TrafficPattern {
public:
    // Throws std::invalid_argument for impossible combinations (fewer flows than lcores, ...).
    explicit TrafficPattern(const PatternConfig& config);

    NextPacket next() noexcept {
        switch (config_.pattern) {
        case Pattern::Established:
            return {next_established(), PacketKind::Data};
        case Pattern::New:
            return {next_new(), PacketKind::Open};
        case Pattern::Mixed:
            new_credit_ += new_share_q32_;
            if (new_credit_ >= kOne) {
                new_credit_ -= kOne;
                return {next_new(), PacketKind::Open};
            }
            return {next_established(), PacketKind::Data};
        case Pattern::Lifecycle:
            return next_lifecycle();
        case Pattern::Flood:
            legit_credit_ += legit_share_q32_;
            if (legit_credit_ >= kOne) {
                legit_credit_ -= kOne;
                legit_id_ += config_.lcore_count;
                return {legit_id_ - config_.lcore_count, PacketKind::Open};
            }
            new_credit_ += new_share_q32_;
            if (new_credit_ >= kOne) {
                new_credit_ -= kOne;
                return {next_new(), PacketKind::Open};
            }
            return {next_established(), PacketKind::Data};
        }
        return {0, PacketKind::Data};
    }

    // Flows this lcore opens before an established or mixed run: w, w + W, ... below N.
    bool opens_flows() const noexcept {
        return config_.pattern == Pattern::Established || config_.pattern == Pattern::Mixed ||
               config_.pattern == Pattern::Flood;
    }

private:
    static constexpr uint64_t kOne = 1ULL << 32;

    uint32_t next_established() noexcept {
        const uint32_t id = established_id_;
        established_id_ += established_step_;
        if (established_id_ >= config_.flows) established_id_ -= config_.flows;
        return id;
    }
    uint32_t next_new() noexcept {
        const uint32_t id = new_id_;
        new_id_ += config_.lcore_count;
        return id;
    }
    NextPacket next_lifecycle() noexcept;

    PatternConfig config_;
    uint32_t established_id_ = 0;
    uint32_t established_step_ = 0;
    uint32_t new_id_ = 0;
    uint64_t new_share_q32_ = 0;
    uint64_t new_credit_ = 0;
    uint32_t legit_id_ = 0;  // flood
    uint64_t legit_share_q32_ = 0;
    uint64_t legit_credit_ = 0;
    uint32_t slots_ = 0;  // lifecycle
    uint32_t slot_ = 0;
    uint32_t step_ = 0;
    uint32_t generation_base_ = 0;
};

}  // namespace vipgen
