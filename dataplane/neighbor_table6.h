// NeighborTable6: IPv6 neighbors learnt by Neighbor Discovery (control/neighbor_discovery.h);
// the table's design is NeighborSlots' (neighbor_slots.h). Static IPv6 neighbors are not here:
// they live in the snapshot and the workers look there first.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include <rte_hash_crc.h>

#include "dataplane/neighbor_slots.h"

namespace vipgate {

struct Ipv6NeighborFamily {
    using Key = const uint8_t*;  // 16 bytes
    using Stored = std::array<uint8_t, 16>;
    static constexpr uint32_t kCapacity = 16384;  // 32 bytes a slot (512 KiB)
    static uint32_t hash(Key address) noexcept {
        uint64_t words[2];
        std::memcpy(words, address, sizeof(words));
        return rte_hash_crc_8byte(words[1], rte_hash_crc_8byte(words[0], 0x6e643621));
    }
    static bool equal(const Stored& stored, Key address) noexcept {
        return std::memcmp(stored.data(), address, 16) == 0;
    }
    static void store(Stored& stored, Key address) noexcept { std::memcpy(stored.data(), address, 16); }
    static bool usable(Key) noexcept { return true; }
};

using NeighborTable6 = NeighborSlots<Ipv6NeighborFamily>;

}  // namespace vipgate
