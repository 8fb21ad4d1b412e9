#include "dataplane/neighbor_table6.h"

#include <cstring>

#include <rte_hash_crc.h>

namespace vipgate {

uint64_t NeighborTable6::pack(const rte_ether_addr& mac) noexcept {
    uint64_t word = 0;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) word |= uint64_t(mac.addr_bytes[i]) << (8 * i);
    return word;
}

rte_ether_addr NeighborTable6::unpack(uint64_t word) noexcept {
    rte_ether_addr mac;
    for (int i = 0; i < RTE_ETHER_ADDR_LEN; ++i) mac.addr_bytes[i] = uint8_t(word >> (8 * i));
    return mac;
}

uint32_t NeighborTable6::home_slot(const uint8_t address[16]) noexcept {
    uint64_t words[2];
    std::memcpy(words, address, sizeof(words));
    return rte_hash_crc_8byte(words[1], rte_hash_crc_8byte(words[0], 0x6e643621)) & (kCapacity - 1);
}

const NeighborTable6::Slot* NeighborTable6::find_bound(const uint8_t address[16]) const noexcept {
    const uint32_t index = home_slot(address);
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
        const Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
        // Acquire pairs with the writer's release of `bound`: the address bytes are complete.
        if (slot.bound.load(std::memory_order_acquire) == 0) return nullptr;
        if (std::memcmp(slot.address, address, 16) == 0) return &slot;
    }
    return nullptr;
}

bool NeighborTable6::lookup(const uint8_t address[16], rte_ether_addr& mac) const noexcept {
    const Slot* slot = find_bound(address);
    if (slot == nullptr) return false;
    const uint64_t word = slot->mac_word.load(std::memory_order_relaxed);
    if ((word & kValidBit) == 0) return false;
    mac = unpack(word);
    return true;
}

NeighborTable6::Slot* NeighborTable6::find_slot(const uint8_t address[16]) noexcept {
    const uint32_t index = home_slot(address);
    for (uint32_t probe = 0; probe < kMaxProbe; ++probe) {
        Slot& slot = slots_[(index + probe) & (kCapacity - 1)];
        if (slot.bound.load(std::memory_order_relaxed) == 0 || std::memcmp(slot.address, address, 16) == 0) {
            return &slot;
        }
    }
    return nullptr;
}

NeighborTable6::LearnResult NeighborTable6::learn(const uint8_t address[16], const rte_ether_addr& mac) noexcept {
    Slot* slot = find_slot(address);
    if (slot == nullptr) return LearnResult::Full;
    const uint64_t word = pack(mac) | kValidBit;
    if (slot->bound.load(std::memory_order_relaxed) == 0) {
        std::memcpy(slot->address, address, 16);
        slot->mac_word.store(word, std::memory_order_relaxed);
        // Release: readers that see the slot bound see its address and MAC word.
        slot->bound.store(1, std::memory_order_release);
        return LearnResult::Added;
    }
    if (slot->mac_word.load(std::memory_order_relaxed) == word) return LearnResult::Unchanged;
    slot->mac_word.store(word, std::memory_order_relaxed);
    return LearnResult::Updated;
}

void NeighborTable6::invalidate(const uint8_t address[16]) noexcept {
    Slot* slot = const_cast<Slot*>(find_bound(address));
    if (slot == nullptr) return;
    slot->mac_word.store(slot->mac_word.load(std::memory_order_relaxed) & ~kValidBit, std::memory_order_relaxed);
}

}  // namespace vipgate
