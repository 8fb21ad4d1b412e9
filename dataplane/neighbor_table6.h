// NeighborTable6: IPv6 neighbors learnt by Neighbor Discovery, written by the control thread
// (NeighborDiscovery), read by every worker. The design of NeighborTable (neighbor_table.h)
// for a 16-byte key: fixed open addressing, one writer, lock-free readers, a slot bound to one
// address for the table's life. The address bytes are written before the slot's `bound` flag
// is stored with release order and never change after, so a reader that sees the flag (acquire)
// reads the whole address. The MAC and its valid/static bits share NeighborTable's 64-bit word.
// Static IPv6 neighbors are not here: they live in the snapshot and the workers look there first.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ether.h>

namespace vipgate {

class NeighborTable6 {
public:
    static constexpr uint32_t kCapacity = 16384;  // power of two; 32 bytes a slot (512 KiB)
    static constexpr uint32_t kMaxProbe = 64;

    // Worker side.
    bool lookup(const uint8_t address[16], rte_ether_addr& mac) const noexcept;

    // Control side (single writer).
    enum class LearnResult : uint8_t { Added, Updated, Unchanged, Full };
    LearnResult learn(const uint8_t address[16], const rte_ether_addr& mac) noexcept;
    void invalidate(const uint8_t address[16]) noexcept;
    template <class Visitor>
    void for_each_valid(Visitor&& visit) const {  // visit(address, mac)
        for (const Slot& slot : slots_) {
            if (slot.bound.load(std::memory_order_acquire) == 0) continue;
            const uint64_t word = slot.mac_word.load(std::memory_order_relaxed);
            if ((word & kValidBit) != 0) visit(slot.address, unpack(word));
        }
    }

private:
    static constexpr uint64_t kValidBit = 1ull << 48;

    struct Slot {
        std::atomic<uint32_t> bound{0};
        uint8_t address[16] = {};
        std::atomic<uint64_t> mac_word{0};
    };

    static uint64_t pack(const rte_ether_addr& mac) noexcept;
    static rte_ether_addr unpack(uint64_t word) noexcept;
    static uint32_t home_slot(const uint8_t address[16]) noexcept;
    Slot* find_slot(const uint8_t address[16]) noexcept;  // bound to it, or first free
    const Slot* find_bound(const uint8_t address[16]) const noexcept;

    Slot slots_[kCapacity];
};

}  // namespace vipgate
