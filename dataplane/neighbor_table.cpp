#include "dataplane/neighbor_table.h"

#include <rte_hash_crc.h>

namespace vipgate {

uint64_t NeighborTable::pack_mac(const rte_ether_addr& mac) noexcept {
    uint64_t word = 0;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) word |= uint64_t(mac.addr_bytes[i]) << (8 * i);
    return word;
}

rte_ether_addr NeighborTable::unpack_mac(uint64_t word) noexcept {
    rte_ether_addr mac;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) mac.addr_bytes[i] = uint8_t(word >> (8 * i));
    return mac;
}

uint32_t NeighborTable::home_slot(uint32_t address) noexcept {
    return rte_hash_crc_4byte(address, 0x6e656967) & (kCapacity - 1);
}

const NeighborTable::Slot* NeighborTable::find_bound(uint32_t address) const noexcept {
    uint32_t index = home_slot(address);
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
        const Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
        // Acquire pairs with the writer's release store of the address: the MAC word written
        // before it is visible.
        uint32_t slot_address = slot.address.load(std::memory_order_acquire);
        if (slot_address == 0) return nullptr;
        if (slot_address == address) return &slot;
    }
    return nullptr;
}

bool NeighborTable::lookup(uint32_t address, rte_ether_addr& mac) const noexcept {
    const Slot* slot = find_bound(address);
    if (slot == nullptr) return false;
    uint64_t word = slot->mac_word.load(std::memory_order_relaxed);
    if ((word & kValidBit) == 0) return false;
    mac = unpack_mac(word);
    return true;
}

NeighborTable::Slot* NeighborTable::find_slot(uint32_t address) noexcept {
    uint32_t index = home_slot(address);
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
        Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
        uint32_t slot_address = slot.address.load(std::memory_order_relaxed);
        if (slot_address == address || slot_address == 0) return &slot;
    }
    return nullptr;
}

NeighborTable::LearnResult NeighborTable::learn(uint32_t address, const rte_ether_addr& mac, bool is_static) noexcept {
    Slot* slot = find_slot(address);
    if (slot == nullptr || address == 0) return LearnResult::Full;
    uint64_t word = pack_mac(mac) | kValidBit | (is_static ? kStaticBit : 0);
    uint32_t slot_address = slot->address.load(std::memory_order_relaxed);
    if (slot_address == 0) {
        slot->mac_word.store(word, std::memory_order_relaxed);
        // Release: readers that see the address also see the MAC word stored above.
        slot->address.store(address, std::memory_order_release);
        return LearnResult::Added;
    }
    uint64_t old = slot->mac_word.load(std::memory_order_relaxed);
    if ((old & kStaticBit) != 0 && !is_static) return LearnResult::Unchanged;
    if (old == word) return LearnResult::Unchanged;
    // Relaxed is enough: the word is self-contained and readers tolerate old or new.
    slot->mac_word.store(word, std::memory_order_relaxed);
    return LearnResult::Updated;
}

void NeighborTable::invalidate(uint32_t address) noexcept {
    Slot* slot = find_slot(address);
    if (slot == nullptr || slot->address.load(std::memory_order_relaxed) != address) return;
    uint64_t word = slot->mac_word.load(std::memory_order_relaxed);
    if ((word & kStaticBit) != 0) return;
    slot->mac_word.store(word & ~kValidBit, std::memory_order_relaxed);
}

void NeighborTable::remove_static(uint32_t address) noexcept {
    Slot* slot = find_slot(address);
    if (slot == nullptr || slot->address.load(std::memory_order_relaxed) != address) return;
    slot->mac_word.store(0, std::memory_order_relaxed);
}

bool NeighborTable::is_static(uint32_t address) const noexcept {
    const Slot* slot = find_bound(address);
    return slot != nullptr && (slot->mac_word.load(std::memory_order_relaxed) & kStaticBit) != 0;
}

}  // namespace vipgate
