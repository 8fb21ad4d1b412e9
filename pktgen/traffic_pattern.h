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
#pragma once

#include <cstdint>

#include "pktgen/packet_factory.h"

namespace vipgen {

enum class Pattern { Established, New, Mixed, Lifecycle };

struct PatternConfig {
    Pattern pattern = Pattern::Established;
    uint32_t flows = 1024;         // N
    double new_share = 0.1;        // mixed
    uint32_t data_packets = 8;     // lifecycle: D
    uint64_t seed = 1;
    uint32_t lcore = 0;            // w
    uint32_t lcore_count = 1;      // W
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
            case Pattern::Established: return {next_established(), PacketKind::Data};
            case Pattern::New: return {next_new(), PacketKind::Open};
            case Pattern::Mixed:
                new_credit_ += new_share_q32_;
                if (new_credit_ >= kOne) {
                    new_credit_ -= kOne;
                    return {next_new(), PacketKind::Open};
                }
                return {next_established(), PacketKind::Data};
            case Pattern::Lifecycle: return next_lifecycle();
        }
        return {0, PacketKind::Data};
    }

    // Flows this lcore opens before an established or mixed run: w, w + W, ... below N.
    bool opens_flows() const noexcept {
        return config_.pattern == Pattern::Established || config_.pattern == Pattern::Mixed;
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
    uint32_t slots_ = 0;          // lifecycle
    uint32_t slot_ = 0;
    uint32_t step_ = 0;
    uint32_t generation_base_ = 0;
};

}  // namespace vipgen
