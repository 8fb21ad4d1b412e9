#include "pktgen/flow_memory.h"

#include <algorithm>
#include <bit>

namespace vipgen {

FlowMemory::FlowMemory(uint32_t flows) {
    const uint32_t slots = std::bit_ceil(std::clamp<uint32_t>(flows, 1024, 1u << 28));
    index_bits_ = static_cast<uint32_t>(std::countr_zero(slots));
    mask_ = slots - 1;
    slots_ = std::make_unique<std::atomic<uint32_t>[]>(slots);
}

FlowMemory::PinResult FlowMemory::pin(uint32_t flow_id, uint32_t endpoint_index) noexcept {
    std::atomic<uint32_t>& slot = slots_[flow_id & mask_];
    const uint32_t tag = tag_of(flow_id);
    const uint32_t endpoint = endpoint_index + 1;
    uint32_t current = slot.load(std::memory_order_relaxed);
    for (;;) {
        const uint32_t current_endpoint = current & (kRepliedBit - 1);
        if ((current >> kTagShift) == tag && current_endpoint != 0) {
            return current_endpoint == endpoint ? PinResult::Same : PinResult::Moved;
        }
        // Relaxed: the word carries all the state; a losing lcore re-reads and compares.
        if (slot.compare_exchange_weak(current, (tag << kTagShift) | endpoint, std::memory_order_relaxed)) {
            return PinResult::First;
        }
    }
}

void FlowMemory::mark_replied(uint32_t flow_id) noexcept {
    std::atomic<uint32_t>& slot = slots_[flow_id & mask_];
    if ((slot.load(std::memory_order_relaxed) >> kTagShift) == tag_of(flow_id)) {
        slot.fetch_or(kRepliedBit, std::memory_order_relaxed);
    }
}

bool FlowMemory::replied(uint32_t flow_id) const noexcept {
    const uint32_t value = slots_[flow_id & mask_].load(std::memory_order_relaxed);
    return (value >> kTagShift) == tag_of(flow_id) && (value & kRepliedBit) != 0;
}

}  // namespace vipgen
