// KeyedTable: the store's objects by "namespace/name" key, in a hash table whose entries never
// move, put in key order only when listed.
//
// Design note: the pod map held 100k "ns/name" keys in an ordered map, and a bulk apply paid a
// tree walk per pod: about 17 scattered nodes, each a string comparison of keys that share
// their first bytes ("default/svc1..."), then a rebalancing. Only listings need key order (the
// API's, a dump), and they are rare next to inserts and lookups, so they sort on demand
// (sorted()). An entry is a heap node holding the key and the object, a std::pair as a
// std::map's value_type, so the store's indexes (label postings, pods by address) and its undo
// log keep pointing at entries and keys exactly as they did into map nodes. The table finds an
// entry by open addressing as config/flat_hash_map.h does (config/linear_probing.h: at most 3/4
// full, backward-shift erase; the full hash per slot), but its slot is 16 bytes, the hash and the node
// pointer: the key is read from the node when the hashes agree. A FlatHashMap slot would also
// hold a view of the key (32 bytes): 8 MiB instead of 4 for 100k pods, and a bulk apply's
// insert is a cache miss at its home slot either way.
//
// Each entry also carries a `Meta` the table's owner keeps beside the object (the store: where
// the object came from). It lives in the entry's node, not in a table of its own: a bulk apply
// stamped 110k origins into a second hash table keyed by copies of the keys, 25 ms of the
// store's 150.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/linear_probing.h"

namespace vipgate::config {

template <typename Value, typename Meta = std::monostate>
class KeyedTable {
public:
    using Entry = std::pair<const std::string, Value>;

    KeyedTable() = default;
    KeyedTable(const KeyedTable&) = delete;
    KeyedTable& operator=(const KeyedTable&) = delete;
    KeyedTable(KeyedTable&& other) noexcept
        : slots_(std::move(other.slots_)),
          size_(std::exchange(other.size_, 0)),
          shift_(std::exchange(other.shift_, 64u)) {
        other.slots_.clear();
    }
    KeyedTable& operator=(KeyedTable&& other) noexcept {
        if (this == &other) return *this;
        clear();
        slots_ = std::move(other.slots_);
        size_ = std::exchange(other.size_, 0);
        shift_ = std::exchange(other.shift_, 64u);
        other.slots_.clear();
        return *this;
    }
    ~KeyedTable() { clear(); }

    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    size_t count(std::string_view key) const noexcept { return find(key) != nullptr ? 1 : 0; }
    // Room for `count` entries without growing the index.
    void reserve(size_t count) {
        const size_t capacity = linear_probing::capacity_for(count, slots_.size(), 8);
        if (capacity != slots_.size()) rehash(capacity);
    }

    const Entry* find(std::string_view key) const noexcept {
        const size_t at = position(key);
        return at == kMissing ? nullptr : slots_[at].node;
    }
    Entry* find(std::string_view key) noexcept {
        const size_t at = position(key);
        return at == kMissing ? nullptr : slots_[at].node;
    }
    // The Meta of an entry of this table (a fresh entry's is value-initialised).
    static Meta& meta(Entry& entry) noexcept { return static_cast<Node&>(entry).meta; }
    static const Meta& meta(const Entry& entry) noexcept { return static_cast<const Node&>(entry).meta; }
    // As std::map::at: throws std::out_of_range when `key` is absent.
    const Value& at(std::string_view key) const {
        const Entry* found = find(key);
        if (found == nullptr) throw std::out_of_range("KeyedTable::at: no entry " + std::string(key));
        return found->second;
    }

    // A new entry; `key` must be absent (the store erases before it inserts). The entry stays
    // at its address until it is erased.
    template <typename Object>
    Entry& insert(std::string key, Object&& value) {
        if (4 * (size_ + 1) > 3 * slots_.size()) reserve(size_ + 1);
        const uint64_t tag = tag_of(key);
        size_t at = home(tag);
        for (; slots_[at].node != nullptr; at = next(at)) {
            if (slots_[at].tag == tag && slots_[at].node->first == key) {
                throw std::logic_error("KeyedTable::insert: duplicate key " + key);
            }
        }
        slots_[at] = {tag, new Node(std::move(key), std::forward<Object>(value))};
        ++size_;
        return *slots_[at].node;
    }
    // False when `key` was not there. `key` may be the entry's own key: the entry is freed last.
    bool erase(std::string_view key) {
        size_t hole = position(key);
        if (hole == kMissing) return false;
        Node* doomed = slots_[hole].node;
        hole = linear_probing::close_gap(
            slots_, hole, [](const Slot& slot) { return slot.node != nullptr; },
            [this](const Slot& slot) { return home(slot.tag); });
        slots_[hole] = Slot{};
        --size_;
        delete doomed;
        return true;
    }

    // Every entry, in key order: for listings (the API, dumps).
    std::vector<const Entry*> sorted() const {
        std::vector<const Entry*> entries;
        entries.reserve(size());
        for_each([&](const Entry& entry) { entries.push_back(&entry); });
        std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) { return a->first < b->first; });
        return entries;
    }
    // Calls `visit(const Entry&)` for every entry, in no particular order.
    template <typename Visit>
    void for_each(Visit&& visit) const {
        for (const Slot& slot : slots_) {
            if (slot.node != nullptr) visit(static_cast<const Entry&>(*slot.node));
        }
    }

private:
    // Entries are Nodes: meta() reaches a Node from its Entry by a downcast.
    struct Node : Entry {
        template <typename Object>
        Node(std::string key, Object&& value) : Entry(std::move(key), std::forward<Object>(value)) {}
        Meta meta{};
    };
    struct Slot {
        uint64_t tag = 0;      // the mixed hash of the node's key
        Node* node = nullptr;  // owned; null: empty
    };
    static constexpr size_t kMissing = SIZE_MAX;

    static uint64_t tag_of(std::string_view key) noexcept {
        // Fibonacci hashing, as FlatHashMap: the product's high bits are the home slot.
        return static_cast<uint64_t>(std::hash<std::string_view>{}(key)) * 0x9E3779B97F4A7C15ull;
    }
    size_t home(uint64_t tag) const noexcept { return static_cast<size_t>(tag >> shift_); }
    size_t next(size_t at) const noexcept { return linear_probing::next(at, slots_.size()); }
    size_t position(std::string_view key) const noexcept {
        if (size_ == 0) return kMissing;
        const uint64_t tag = tag_of(key);
        for (size_t at = home(tag); slots_[at].node != nullptr; at = next(at)) {
            if (slots_[at].tag == tag && slots_[at].node->first == key) return at;
        }
        return kMissing;
    }
    void rehash(size_t capacity) {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(capacity, Slot{});
        shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
        for (const Slot& slot : old) {
            if (slot.node == nullptr) continue;
            size_t at = home(slot.tag);
            while (slots_[at].node != nullptr) at = next(at);
            slots_[at] = slot;
        }
    }
    void clear() noexcept {
        for (Slot& slot : slots_) delete slot.node;
        slots_.clear();
        size_ = 0;
        shift_ = 64;
    }

    std::vector<Slot> slots_;  // a power of two long
    size_t size_ = 0;
    unsigned shift_ = 64;
};

}  // namespace vipgate::config
