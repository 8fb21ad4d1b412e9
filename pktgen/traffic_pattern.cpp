#include "pktgen/traffic_pattern.h"

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace vipgen {

TrafficPattern::TrafficPattern(const PatternConfig& config) : config_(config) {
    if (config.lcore_count == 0 || config.lcore >= config.lcore_count) {
        throw std::invalid_argument("lcore index out of range");
    }
    if (config.flows < config.lcore_count) {
        throw std::invalid_argument("--flows must be at least the number of lcores (" +
                                    std::to_string(config.lcore_count) + ")");
    }
    if (!(config.new_share >= 0.0 && config.new_share <= 1.0)) {
        throw std::invalid_argument("--new-share must be within 0..1");
    }
    if (!(config.legit_share >= 0.0 && config.legit_share <= 1.0)) {
        throw std::invalid_argument("--legit-share must be within 0..1");
    }
    if (config.pattern == Pattern::Flood && config.flows >= kLegitimateFlowBase) {
        throw std::invalid_argument("--pattern flood takes fewer than " + std::to_string(kLegitimateFlowBase) +
                                    " --flows");
    }
    const uint64_t n = config.flows;
    // A stride coprime to N scatters consecutive packets over the table; derived from the seed.
    uint64_t stride = (config.seed * 0x9e3779b97f4a7c15ULL >> 17) % n;
    if (stride == 0) stride = 1;
    while (std::gcd(stride, n) != 1) stride = stride + 1 == n ? 1 : stride + 1;
    established_id_ = static_cast<uint32_t>((config.lcore * stride + config.seed) % n);
    established_step_ = static_cast<uint32_t>((config.lcore_count * stride) % n);
    new_id_ = config.flows + config.lcore;
    new_share_q32_ = static_cast<uint64_t>(std::llround(config.new_share * static_cast<double>(kOne)));
    legit_id_ = kLegitimateFlowBase + config.lcore;
    legit_share_q32_ = static_cast<uint64_t>(std::llround(config.legit_share * static_cast<double>(kOne)));
    slots_ = config.flows / config.lcore_count;
}

NextPacket TrafficPattern::next_lifecycle() noexcept {
    const uint32_t id = generation_base_ + config_.lcore * slots_ + slot_;
    PacketKind kind = PacketKind::Data;
    if (step_ == 0) kind = PacketKind::Open;
    if (step_ == config_.data_packets + 1) kind = PacketKind::Close;
    if (++slot_ == slots_) {
        slot_ = 0;
        if (++step_ == config_.data_packets + 2) {
            step_ = 0;
            generation_base_ += config_.flows;  // wraps: ids are 32-bit
        }
    }
    return {id, kind};
}

}  // namespace vipgen
