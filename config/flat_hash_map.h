// FlatHashMap: a hash table in two flat arrays, for the store's tables that are looked up and
// never walked in order (origins, pods by address, label postings, a request's checks).
//
// Design note: a bulk apply inserts 100k-110k keys into each of these. libstdc++'s
// unordered_map allocates a node per entry and links it into one list threaded through the
// buckets: an insert into an empty bucket also rewrites the bucket of the node that follows,
// which it finds by reading that node's cached hash, so an insert touches three scattered cache
// lines (perf put 30 ms of the 10,000 x 10 apply in the origins table alone). Here an entry is a
// slot of one array: an insert probes neighbouring slots (open addressing, linear probing, at
// most 3/4 full) and writes one. The full hash is kept in the slot, so a probe compares keys
// only when the hashes are equal and growing never hashes a key again; it sits beside the key
// and value, not in an array of hashes of its own: a table of 100k entries is far larger than
// the caches, most probes end at the home slot, and two arrays cost two cache misses there. Erase
// shifts the following entries back (no tombstones). Pointers into the table are valid until
// the next insert or erase. Iteration order is unspecified.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "config/linear_probing.h"

namespace vipgate::config {

// std::hash<std::string_view> for strings (so a std::string key is looked up by a view), the
// identity for integers: the table mixes every hash with a multiply before using it.
template <typename Key>
struct FlatHash {
    size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
};
template <>
struct FlatHash<uint32_t> {
    size_t operator()(uint32_t key) const noexcept { return key; }
};

template <typename Key, typename Value, typename Hash = FlatHash<Key>>
class FlatHashMap {
public:
    FlatHashMap() = default;
    FlatHashMap(const FlatHashMap&) = default;
    FlatHashMap& operator=(const FlatHashMap&) = default;
    // A moved-from table is empty (the vectors' moves leave the counts behind otherwise).
    FlatHashMap(FlatHashMap&& other) noexcept
        : slots_(std::move(other.slots_)),
          size_(std::exchange(other.size_, 0)),
          shift_(std::exchange(other.shift_, 64u)) {
        other.slots_.clear();
    }
    FlatHashMap& operator=(FlatHashMap&& other) noexcept {
        if (this == &other) return *this;
        slots_ = std::move(other.slots_);
        size_ = std::exchange(other.size_, 0);
        shift_ = std::exchange(other.shift_, 64u);
        other.slots_.clear();
        return *this;
    }

    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    // Room for `count` entries without growing.
    void reserve(size_t count) {
        const size_t capacity = linear_probing::capacity_for(count, slots_.size(), 8);
        if (capacity != slots_.size()) rehash(capacity);
    }
    template <typename Lookup>
    Value* find(const Lookup& key) noexcept {
        const size_t at = position(key, tag_of(key));
        return at == kMissing ? nullptr : &slots_[at].value;
    }
    template <typename Lookup>
    const Value* find(const Lookup& key) const noexcept {
        const size_t at = position(key, tag_of(key));
        return at == kMissing ? nullptr : &slots_[at].value;
    }
    // The entry of `key`, made with a default Value when absent (then second is true).
    template <typename Lookup>
    std::pair<Value*, bool> try_emplace(Lookup&& key) {
        if (4 * (size_ + 1) > 3 * slots_.size()) reserve(size_ + 1);
        const uint64_t tag = tag_of(key);
        size_t at = home(tag);
        for (; slots_[at].tag != 0; at = next(at)) {
            if (slots_[at].tag == tag && slots_[at].key == key) return {&slots_[at].value, false};
        }
        slots_[at].tag = tag;
        slots_[at].key = Key(std::forward<Lookup>(key));
        ++size_;
        return {&slots_[at].value, true};
    }
    // False when `key` was not there.
    template <typename Lookup>
    bool erase(const Lookup& key) {
        size_t hole = position(key, tag_of(key));
        if (hole == kMissing) return false;
        hole = linear_probing::close_gap(
            slots_, hole, [](const Slot& slot) { return slot.tag != 0; },
            [this](const Slot& slot) { return home(slot.tag); });
        slots_[hole] = Slot{};
        --size_;
        return true;
    }
    // Calls `visit(const Key&, const Value&)` for every entry.
    template <typename Visit>
    void for_each(Visit&& visit) const {
        for (const Slot& slot : slots_) {
            if (slot.tag != 0) visit(slot.key, slot.value);
        }
    }

private:
    static constexpr size_t kMissing = SIZE_MAX;
    struct Slot {
        uint64_t tag = 0;  // the mixed hash with its low bit set; 0: empty
        Key key{};
        Value value{};
    };

    template <typename Lookup>
    static uint64_t tag_of(const Lookup& key) noexcept {
        // Fibonacci hashing: the product's high bits (the home slot) mix every bit of the hash;
        // the low bit set marks a used slot.
        return (static_cast<uint64_t>(Hash{}(key)) * 0x9E3779B97F4A7C15ull) | 1u;
    }
    size_t home(uint64_t tag) const noexcept { return static_cast<size_t>(tag >> shift_); }
    size_t next(size_t at) const noexcept { return linear_probing::next(at, slots_.size()); }
    template <typename Lookup>
    size_t position(const Lookup& key, uint64_t tag) const noexcept {
        if (size_ == 0) return kMissing;
        for (size_t at = home(tag); slots_[at].tag != 0; at = next(at)) {
            if (slots_[at].tag == tag && slots_[at].key == key) return at;
        }
        return kMissing;
    }
    void rehash(size_t capacity) {
        std::vector<Slot> old_slots = std::move(slots_);
        slots_.clear();
        slots_.resize(capacity);
        shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
        for (Slot& old : old_slots) {
            if (old.tag == 0) continue;
            size_t at = home(old.tag);
            while (slots_[at].tag != 0) at = next(at);
            slots_[at] = std::move(old);
        }
    }

    std::vector<Slot> slots_;  // a power of two long
    size_t size_ = 0;
    unsigned shift_ = 64;
};

}  // namespace vipgate::config
