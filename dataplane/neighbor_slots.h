// NeighborSlots: a neighbor address -> MAC table written by the control thread and read by every
// worker, for one address family (neighbor_table.h: IPv4 for ARP; neighbor_table6.h: IPv6 for ND).
//
// Design note: next hops change rarely and are read on every forwarded packet, so the table is a
// fixed open-addressing array with a single writer and lock-free readers. A slot is bound to one
// address for the life of the table: the address is written once, before the slot's `bound` flag
// is stored with release order, so a reader that sees the flag (acquire) reads the whole address
// and can never see a MAC paired with the wrong one. Invalidating an entry clears its "valid"
// bit; re-learning the address reuses the slot. The MAC and its valid/static bits live in one
// 64-bit word so they change atomically together. Timers (reachability, probing) are the control
// thread's business (control/neighbor_cache.h), never in the slots the workers read.
//
// A Family gives: Key (how callers pass an address), Stored (how a slot keeps it), kCapacity (a
// power of two), hash(Key), equal(Stored, Key), store(Stored&, Key) and usable(Key) (an address
// that can never be a neighbor, such as 0.0.0.0, is refused as if the table were full).
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ether.h>

namespace vipgate {

enum class NeighborLearnResult : uint8_t { Added, Updated, Unchanged, Full };

template <class Family>
class NeighborSlots {
public:
    using Key = typename Family::Key;
    using Stored = typename Family::Stored;
    using LearnResult = NeighborLearnResult;
    static constexpr uint32_t kCapacity = Family::kCapacity;
    static constexpr uint32_t kMaxProbe = 64;  // slots examined per lookup, hit or miss
    static_assert((kCapacity & (kCapacity - 1)) == 0, "capacity must be a power of two");

    // Worker side. Returns false when unknown or invalidated.
    bool lookup(Key address, rte_ether_addr& mac) const noexcept {
        const Slot* slot = find_bound(address);
        if (slot == nullptr) return false;
        const uint64_t word = slot->mac_word.load(std::memory_order_relaxed);
        if ((word & kValidBit) == 0) return false;
        mac = unpack(word);
        return true;
    }

    // Control side (single writer). A learnt entry never replaces a static one.
    LearnResult learn(Key address, const rte_ether_addr& mac, bool is_static = false) noexcept {
        Slot* slot = find_slot(address);
        if (slot == nullptr || !Family::usable(address)) return LearnResult::Full;
        const uint64_t word = pack(mac) | kValidBit | (is_static ? kStaticBit : 0);
        if (slot->bound.load(std::memory_order_relaxed) == 0) {
            Family::store(slot->address, address);
            slot->mac_word.store(word, std::memory_order_relaxed);
            // Release: readers that see the slot bound see its address and MAC word.
            slot->bound.store(1, std::memory_order_release);
            return LearnResult::Added;
        }
        const uint64_t old = slot->mac_word.load(std::memory_order_relaxed);
        if ((old & kStaticBit) != 0 && !is_static) return LearnResult::Unchanged;
        if (old == word) return LearnResult::Unchanged;
        // Relaxed is enough: the word is self-contained and readers tolerate old or new.
        slot->mac_word.store(word, std::memory_order_relaxed);
        return LearnResult::Updated;
    }
    void invalidate(Key address) noexcept {  // static entries are left alone
        Slot* slot = find_bound_mutable(address);
        if (slot == nullptr) return;
        const uint64_t word = slot->mac_word.load(std::memory_order_relaxed);
        if ((word & kStaticBit) != 0) return;
        slot->mac_word.store(word & ~kValidBit, std::memory_order_relaxed);
    }
    void remove_static(Key address) noexcept {  // a static entry dropped from the config
        Slot* slot = find_bound_mutable(address);
        if (slot != nullptr) slot->mac_word.store(0, std::memory_order_relaxed);
    }
    bool is_static(Key address) const noexcept {
        const Slot* slot = find_bound(address);
        return slot != nullptr && (slot->mac_word.load(std::memory_order_relaxed) & kStaticBit) != 0;
    }
    template <class Visitor>
    void for_each_valid(Visitor&& visit) const {  // visit(address, mac, is_static)
        for (const Slot& slot : slots_) {
            if (slot.bound.load(std::memory_order_acquire) == 0) continue;
            const uint64_t word = slot.mac_word.load(std::memory_order_relaxed);
            if ((word & kValidBit) != 0) visit(slot.address, unpack(word), (word & kStaticBit) != 0);
        }
    }

private:
    static constexpr uint64_t kValidBit = 1ull << 48;
    static constexpr uint64_t kStaticBit = 1ull << 49;

    struct Slot {
        std::atomic<uint32_t> bound{0};
        Stored address{};
        std::atomic<uint64_t> mac_word{0};  // 48-bit MAC | valid | static
    };

    static uint64_t pack(const rte_ether_addr& mac) noexcept {
        uint64_t word = 0;
        for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) word |= uint64_t(mac.addr_bytes[i]) << (8 * i);
        return word;
    }
    static rte_ether_addr unpack(uint64_t word) noexcept {
        rte_ether_addr mac;
        for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) mac.addr_bytes[i] = uint8_t(word >> (8 * i));
        return mac;
    }
    const Slot* find_bound(Key address) const noexcept {
        const uint32_t index = Family::hash(address) & (kCapacity - 1);
        for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
            const Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
            // Acquire pairs with the writer's release of `bound`: the address is complete.
            if (slot.bound.load(std::memory_order_acquire) == 0) return nullptr;
            if (Family::equal(slot.address, address)) return &slot;
        }
        return nullptr;
    }
    Slot* find_bound_mutable(Key address) noexcept { return const_cast<Slot*>(find_bound(address)); }
    Slot* find_slot(Key address) noexcept {  // bound to it, or the first free one
        const uint32_t index = Family::hash(address) & (kCapacity - 1);
        for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
            Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
            if (slot.bound.load(std::memory_order_relaxed) == 0 || Family::equal(slot.address, address)) return &slot;
        }
        return nullptr;
    }

    Slot slots_[kCapacity];
};

}  // namespace vipgate
