// NeighborTable: IPv4 address -> MAC, written by the control thread, read by every worker.
//
// Design note: next hops change rarely and are read on every forwarded packet, so the table
// is a fixed open-addressing array with a single writer and lock-free readers. A slot is bound
// to one address for the life of the table (the address word is written once, with release
// order, after the MAC word), so a reader can never see a MAC paired with the wrong address.
// Invalidating an entry clears its "valid" bit; re-learning the same address reuses the slot.
// The MAC and its state live in one 64-bit word so they change atomically together.
// Timers (reachability, probing) are the control thread's business and live beside the table
// in NeighborResolver, never in the slots the workers read.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ether.h>

namespace vipgate {

class NeighborTable {
public:
    static constexpr uint32_t kCapacity = 65536;  // power of two; 16 bytes a slot (1 MiB)
    static constexpr uint32_t kMaxProbe = 64;     // slots examined per lookup, hit or miss

    // Worker side. address in network order. Returns false when unknown or invalidated.
    bool lookup(uint32_t address, rte_ether_addr& mac) const noexcept;

    // Control side (single writer).
    enum class LearnResult : uint8_t { Added, Updated, Unchanged, Full };
    LearnResult learn(uint32_t address, const rte_ether_addr& mac, bool is_static) noexcept;
    void invalidate(uint32_t address) noexcept;     // static entries are left alone
    void remove_static(uint32_t address) noexcept;  // a static entry dropped from the config
    bool is_static(uint32_t address) const noexcept;
    template <class Visitor>
    void for_each_valid(Visitor&& visit) const {  // visit(address, mac, is_static)
        for (const Slot& slot : slots_) {
            uint32_t address = slot.address.load(std::memory_order_acquire);
            uint64_t word = slot.mac_word.load(std::memory_order_relaxed);
            if (address != 0 && (word & kValidBit) != 0) {
                visit(address, unpack_mac(word), (word & kStaticBit) != 0);
            }
        }
    }

private:
    static constexpr uint64_t kValidBit = 1ull << 48;
    static constexpr uint64_t kStaticBit = 1ull << 49;

    struct Slot {
        std::atomic<uint32_t> address{0};   // network order; 0 = unused (0.0.0.0 is never a neighbor)
        std::atomic<uint64_t> mac_word{0};  // 48-bit MAC | valid | static
    };

    static uint64_t pack_mac(const rte_ether_addr& mac) noexcept;
    static rte_ether_addr unpack_mac(uint64_t word) noexcept;
    static uint32_t home_slot(uint32_t address) noexcept;
    Slot* find_slot(uint32_t address) noexcept;  // bound or first free
    const Slot* find_bound(uint32_t address) const noexcept;

    Slot slots_[kCapacity];
};

}  // namespace vipgate
