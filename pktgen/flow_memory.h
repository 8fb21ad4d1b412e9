// Which endpoint each flow reached, and whether its reply came back.
//
// Design note: "the same flow always reaches the same endpoint" needs one remembered endpoint
// per live flow, for up to 100 million flows, written by whichever lcore receives the flow's
// packets. One 32-bit atomic word per slot (a power-of-two table indexed by the low bits of the
// flow id) holds a tag from the id's next bits, a "reply seen" bit and the endpoint index + 1.
// Established flows have ids below the table size, so they never share a slot; new-flow and
// lifecycle ids run past it and simply take the slot over (their tag differs). Relaxed
// atomics suffice: each word is self-contained and no other memory is published through it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace vipgen {

class FlowMemory {
public:
    static constexpr uint32_t kMaxEndpoints = (1u << 20) - 1;

    // Slots: the smallest power of two >= flows (at least 1024, at most 2^28).
    explicit FlowMemory(uint32_t flows);

    enum class PinResult { First, Same, Moved };

    // Records that `flow_id` reached `endpoint_index` (< kMaxEndpoints). Moved when the flow had
    // reached another endpoint before.
    PinResult pin(uint32_t flow_id, uint32_t endpoint_index) noexcept;

    void mark_replied(uint32_t flow_id) noexcept;
    bool replied(uint32_t flow_id) const noexcept;

private:
    static constexpr uint32_t kEndpointBits = 20;
    static constexpr uint32_t kRepliedBit = 1u << kEndpointBits;
    static constexpr uint32_t kTagShift = kEndpointBits + 1;

    uint32_t tag_of(uint32_t flow_id) const noexcept {
        return (flow_id >> index_bits_) & ((1u << (32 - kTagShift)) - 1);
    }

    std::unique_ptr<std::atomic<uint32_t>[]> slots_;
    uint32_t mask_;
    uint32_t index_bits_;
};

}  // namespace vipgen
