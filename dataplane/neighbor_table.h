// NeighborTable: IPv4 address (network order) -> MAC, learnt by ARP (control/neighbor_resolver.h)
// or configured ([[neighbors]]); the table's design is NeighborSlots' (neighbor_slots.h).
#pragma once

#include <cstdint>

#include <rte_hash_crc.h>

#include "dataplane/neighbor_slots.h"

namespace vipgate {

struct Ipv4NeighborFamily {
    using Key = uint32_t;
    using Stored = uint32_t;
    static constexpr uint32_t kCapacity = 65536;  // 16 bytes a slot (1 MiB)
    static uint32_t hash(Key address) noexcept { return rte_hash_crc_4byte(address, 0x6e656967); }
    static bool equal(const Stored& stored, Key address) noexcept { return stored == address; }
    static void store(Stored& stored, Key address) noexcept { stored = address; }
    static bool usable(Key address) noexcept { return address != 0; }  // 0.0.0.0 is never a neighbor
};

using NeighborTable = NeighborSlots<Ipv4NeighborFamily>;

}  // namespace vipgate
