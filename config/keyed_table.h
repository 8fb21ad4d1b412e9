// KeyedTable: the store's objects by "namespace/name" key, in a hash table whose entries never
// move, put in key order only when listed.
//
// Design note: the pod map held 100k "ns/name" keys in an ordered map, and a bulk apply paid a
// tree walk per pod: about 17 scattered nodes, each a string comparison of keys that share
// their first bytes ("default/svc1..."), then a rebalancing. Only listings need key order (the
// API's, a dump), and they are rare next to inserts and lookups, so they sort on demand
// (sorted()). An entry is a heap node holding the key and the object, a std::pair as a
// std::map's value_type, so the store's indexes (label postings, pods by address) and its undo
// log keep pointing at entries and keys exactly as they did into map nodes; the table finds an
// entry through a FlatHashMap keyed by a view of the entry's own key (one hash and a probe of
// neighbouring slots, config/flat_hash_map.h).
//
// Each entry also carries a `Meta` the table's owner keeps beside the object (the store: where
// the object came from). It lives in the entry's node, not in a table of its own: a bulk apply
// stamped 110k origins into a second hash table keyed by copies of the keys, 25 ms of the
// store's 150.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/flat_hash_map.h"

namespace vipgate::config {

template <typename Value, typename Meta = std::monostate>
class KeyedTable {
public:
    using Entry = std::pair<const std::string, Value>;

    KeyedTable() = default;
    KeyedTable(const KeyedTable&) = delete;
    KeyedTable& operator=(const KeyedTable&) = delete;
    KeyedTable(KeyedTable&&) noexcept = default;
    KeyedTable& operator=(KeyedTable&&) noexcept = default;

    size_t size() const noexcept { return index_.size(); }
    bool empty() const noexcept { return index_.empty(); }
    size_t count(std::string_view key) const noexcept { return find(key) != nullptr ? 1 : 0; }
    // Room for `count` entries without growing the index.
    void reserve(size_t count) { index_.reserve(count); }

    const Entry* find(std::string_view key) const noexcept {
        const std::unique_ptr<Node>* found = index_.find(key);
        return found == nullptr ? nullptr : found->get();
    }
    Entry* find(std::string_view key) noexcept {
        std::unique_ptr<Node>* found = index_.find(key);
        return found == nullptr ? nullptr : found->get();
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
    Entry& insert(std::string key, Value value) {
        auto entry = std::make_unique<Node>(std::move(key), std::move(value));
        auto [slot, fresh] = index_.try_emplace(std::string_view(entry->first));
        if (!fresh) throw std::logic_error("KeyedTable::insert: duplicate key " + entry->first);
        *slot = std::move(entry);
        return **slot;
    }
    // False when `key` was not there. `key` may be the entry's own key: the entry outlives
    // its removal from the index.
    bool erase(std::string_view key) {
        std::unique_ptr<Node>* found = index_.find(key);
        if (found == nullptr) return false;
        const std::unique_ptr<Node> doomed = std::move(*found);
        index_.erase(std::string_view(doomed->first));
        return true;
    }

    // Every entry, in key order: for listings (the API, dumps).
    std::vector<const Entry*> sorted() const {
        std::vector<const Entry*> entries;
        entries.reserve(size());
        index_.for_each([&](std::string_view, const std::unique_ptr<Node>& entry) { entries.push_back(entry.get()); });
        std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) { return a->first < b->first; });
        return entries;
    }
    // Calls `visit(const Entry&)` for every entry, in no particular order.
    template <typename Visit>
    void for_each(Visit&& visit) const {
        index_.for_each([&](std::string_view, const std::unique_ptr<Node>& entry) { visit(*entry); });
    }

private:
    // Entries are Nodes: meta() reaches a Node from its Entry by a downcast.
    struct Node : Entry {
        Node(std::string key, Value value) : Entry(std::move(key), std::move(value)) {}
        Meta meta{};
    };
    FlatHashMap<std::string_view, std::unique_ptr<Node>> index_;  // keys: views of the entries' keys
};

}  // namespace vipgate::config
