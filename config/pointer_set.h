// PointerSet: a set of pointers in one flat array, for the store's label postings.
//
// Design note: a label every pod carries ("tier=backend") has a posting per pod, 100k in a bulk
// apply. A node-based set (std::set, std::unordered_set) allocates a node per posting and, for
// the unordered one, relinks every node on each rehash; here an insert is a multiply, a shift
// and a probe of neighbouring slots, and growing moves plain pointers. Open addressing with
// linear probing at most 3/4 full (Fibonacci hashing spreads heap addresses evenly; at half
// full the 100k-member posting took 2 MiB), starting at 16 slots so the label of a 10-pod
// service allocates once; erase shifts the following entries back (no tombstones,
// so a set that shrinks and grows again never degrades). Iteration order is unspecified.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/linear_probing.h"

namespace vipgate::config {

template <typename T>
class PointerSet {
public:
    using key_type = const T*;

    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    bool contains(const T* pointer) const noexcept {
        if (slots_.empty()) return false;
        for (size_t at = home(pointer);; at = next(at)) {
            if (slots_[at] == pointer) return true;
            if (slots_[at] == nullptr) return false;
        }
    }
    // Adds `pointer` (not null); false when it was there already.
    bool insert(const T* pointer) {
        if (4 * (size_ + 1) > 3 * slots_.size()) grow();
        size_t at = home(pointer);
        for (; slots_[at] != nullptr; at = next(at)) {
            if (slots_[at] == pointer) return false;
        }
        slots_[at] = pointer;
        ++size_;
        return true;
    }
    // Removes `pointer`; false when it was not there.
    bool erase(const T* pointer) noexcept {
        if (slots_.empty()) return false;
        size_t hole = home(pointer);
        for (; slots_[hole] != pointer; hole = next(hole)) {
            if (slots_[hole] == nullptr) return false;
        }
        hole = linear_probing::close_gap(
            slots_, hole, [](const T* slot) { return slot != nullptr; }, [this](const T* slot) { return home(slot); });
        slots_[hole] = nullptr;
        --size_;
        return true;
    }
    // Calls `visit(const T*)` for every member.
    template <typename Visit>
    void for_each(Visit&& visit) const {
        for (const T* pointer : slots_) {
            if (pointer != nullptr) visit(pointer);
        }
    }

private:
    size_t home(const T* pointer) const noexcept {
        // Fibonacci hashing: the product's high bits mix every bit of the address.
        return static_cast<size_t>((reinterpret_cast<uintptr_t>(pointer) * 0x9E3779B97F4A7C15ull) >> shift_);
    }
    size_t next(size_t at) const noexcept { return linear_probing::next(at, slots_.size()); }
    void grow() {
        std::vector<const T*> old = std::move(slots_);
        const size_t capacity = linear_probing::capacity_for(size_ + 1, old.size(), 16);
        slots_.assign(capacity, nullptr);
        shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
        for (const T* pointer : old) {
            if (pointer == nullptr) continue;
            size_t at = home(pointer);
            while (slots_[at] != nullptr) at = next(at);
            slots_[at] = pointer;
        }
    }

    std::vector<const T*> slots_;  // a power of two long; null: empty
    size_t size_ = 0;
    unsigned shift_ = 64;
};

}  // namespace vipgate::config
