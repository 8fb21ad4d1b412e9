// Linear probing over a power-of-two array of slots: the one probing and erase mechanism of the
// store's open-addressing tables (FlatHashMap, KeyedTable, PointerSet), which differ only in
// what a slot holds (a key, value and hash; a hash and a node; a bare pointer).
//
// Design note: erase shifts entries back instead of leaving tombstones, so a table that shrinks
// and grows again (pods rescheduled all day) never degrades into long probe sequences. The
// condition is the subtle part (the probe sequence may wrap around the array's end), which is why
// it exists once.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace vipgate::config::linear_probing {

// The slot after `at` in an array of `size` slots (a power of two).
inline size_t next(size_t at, size_t size) noexcept {
    return (at + 1) & (size - 1);
}

// The slot count, a power of two from `current` (or `minimum` when empty) up, that holds `count`
// entries at most 3/4 full.
inline size_t capacity_for(size_t count, size_t current, size_t minimum) noexcept {
    size_t capacity = current == 0 ? minimum : current;
    while (4 * count > 3 * capacity) capacity *= 2;
    return capacity;
}

// After the entry at `hole` is gone: moves up every following entry whose home slot is not
// between the hole and its own slot, so no probe sequence crosses an empty slot. Returns the
// slot left over, for the caller to mark empty. `used(slot)` tells an occupied slot, `home(slot)`
// its entry's home.
template <typename Slot, typename Used, typename Home>
size_t close_gap(std::vector<Slot>& slots, size_t hole, Used&& used, Home&& home) {
    for (size_t at = next(hole, slots.size()); used(slots[at]); at = next(at, slots.size())) {
        const size_t wanted = home(slots[at]);
        const bool stays = hole < at ? (wanted > hole && wanted <= at) : (wanted > hole || wanted <= at);
        if (stays) continue;
        slots[hole] = std::move(slots[at]);
        hole = at;
    }
    return hole;
}

}  // namespace vipgate::config::linear_probing
