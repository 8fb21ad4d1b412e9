// Member definitions of ConnIndex (conn_index.h). Included only by the two family tables'
// .cpp files (conn_table.cpp, conn_table6.cpp), which instantiate the template once each, so
// the packet path gets the family's hash and key comparison inlined.
#pragma once

#include <algorithm>
#include <bit>
#include <new>
#include <utility>

#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dataplane/conn_index.h"
#include "dataplane/half_open_admission.h"

namespace vipgate {

namespace conn_index_detail {

constexpr uint32_t kNoEntry = UINT32_MAX;
constexpr uint32_t kNoCandidate = UINT32_MAX;

// Index sizing: 2 keys per connection at a load factor of kLoadNumerator / kLoadDenominator
// when the table is full (see the design note in conn_table.h for the choice of 0.6).
constexpr uint64_t kKeysPerConnection = 2;
constexpr uint64_t kLoadNumerator = 3;
constexpr uint64_t kLoadDenominator = 5;

inline uint32_t make_ref(uint32_t index, FlowDirection direction) {
    return index << 1 | static_cast<uint32_t>(direction);
}
inline uint32_t ref_index(uint32_t ref) {
    return ref >> 1;
}
inline FlowDirection ref_direction(uint32_t ref) {
    return static_cast<FlowDirection>(ref & 1);
}

// Bit i set when slot i of `signatures` holds `signature`.
template <size_t kSlots>
uint32_t match_mask(const uint16_t (&signatures)[kSlots], uint16_t signature) {
    uint32_t mask = 0;
    for (uint32_t slot = 0; slot < kSlots; ++slot) mask |= uint32_t{signatures[slot] == signature} << slot;
    return mask;
}

template <class Entry>
bool is_evictable(const Entry& connection) {
    const TcpState state = connection.tcp_state;
    return is_unanswered(connection) || state == TcpState::Closing || state == TcpState::Closed;
}

}  // namespace conn_index_detail

// Only the two family .cpp files include this header.
using namespace conn_index_detail;  // NOLINT(google-build-using-namespace)

template <class Table, class Entry, class Key>
ConnIndex<Table, Entry, Key>::ConnIndex(Entry* entries, Bucket* buckets, uint32_t capacity, uint32_t bucket_count,
                                        uint32_t hash_seed) noexcept
    : hash_seed_(hash_seed),
      entries_(entries),
      buckets_(buckets),
      capacity_(capacity),
      bucket_count_(bucket_count),
      unanswered_head_(kNoEntry),
      unanswered_tail_(kNoEntry) {
    for (uint32_t i = 0; i < capacity_; ++i) {
        new (&entries_[i]) Entry{};
        entries_[i].next = i + 1 < capacity_ ? i + 1 : kNoEntry;
    }
    for (uint32_t i = 0; i < bucket_count_; ++i) new (&buckets_[i]) Bucket{};
}

template <class Table, class Entry, class Key>
Table* ConnIndex<Table, Entry, Key>::create(uint32_t capacity, uint32_t hash_seed, int socket_id) noexcept {
    if (capacity == 0 || capacity > kMaxCapacity) return nullptr;
    const uint64_t keys = kKeysPerConnection * capacity;
    const uint64_t slots_needed = (keys * kLoadDenominator + kLoadNumerator - 1) / kLoadNumerator;
    const uint64_t bucket_count =
        std::max<uint64_t>((slots_needed + kSlotsPerBucket - 1) / kSlotsPerBucket, kMaxProbeBuckets);

    void* table_memory = rte_zmalloc_socket("vipgate_conn_table", sizeof(Table), RTE_CACHE_LINE_SIZE, socket_id);
    void* entry_memory =
        rte_zmalloc_socket("vipgate_conn_entries", uint64_t{capacity} * sizeof(Entry), RTE_CACHE_LINE_SIZE, socket_id);
    void* bucket_memory =
        rte_zmalloc_socket("vipgate_conn_index", bucket_count * sizeof(Bucket), RTE_CACHE_LINE_SIZE, socket_id);
    if (table_memory == nullptr || entry_memory == nullptr || bucket_memory == nullptr) {
        rte_free(bucket_memory);
        rte_free(entry_memory);
        rte_free(table_memory);
        return nullptr;
    }
    return new (table_memory) Table(static_cast<Entry*>(entry_memory), static_cast<Bucket*>(bucket_memory), capacity,
                                    static_cast<uint32_t>(bucket_count), hash_seed);
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::destroy(Table* table) noexcept {
    if (table == nullptr) return;
    rte_free(table->buckets_);
    rte_free(table->entries_);
    table->~Table();
    rte_free(table);
}

// The family's 64 mixed bits: the high half picks the bucket by multiply-shift, the low half
// becomes the signature (0 is reserved for empty slots).
template <class Table, class Entry, class Key>
typename ConnIndex<Table, Entry, Key>::KeyHash ConnIndex<Table, Entry, Key>::hash_key(const Key& key) const noexcept {
    const uint64_t mixed = table().mix_key(key);
    const auto signature = static_cast<uint16_t>(mixed);
    return KeyHash{
        .bucket = static_cast<uint32_t>(((mixed >> 32) * bucket_count_) >> 32),
        .signature = signature == kEmptySignature ? static_cast<uint16_t>(1) : signature,
    };
}

template <class Table, class Entry, class Key>
typename ConnIndex<Table, Entry, Key>::LookupResult ConnIndex<Table, Entry, Key>::find(const Key& key,
                                                                                       const KeyHash& hash) noexcept {
    uint32_t bucket_index = hash.bucket;
    for (uint32_t probe = 0; probe < kMaxProbeBuckets; ++probe) {
        const Bucket& bucket = buckets_[bucket_index];
        for (uint32_t matches = match_mask(bucket.signatures, hash.signature); matches != 0; matches &= matches - 1) {
            const uint32_t ref = bucket.refs[std::countr_zero(matches)];
            Entry& connection = entries_[ref_index(ref)];
            if (table().key_matches(connection, ref_direction(ref), key)) return {&connection, ref_direction(ref)};
        }
        if (bucket.overflow == 0) break;
        bucket_index = next_bucket(bucket_index);
    }
    return {nullptr, FlowDirection::Original};
}

template <class Table, class Entry, class Key>
typename ConnIndex<Table, Entry, Key>::LookupResult ConnIndex<Table, Entry, Key>::lookup(const Key& key) noexcept {
    return find(key, hash_key(key));
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::lookup_bulk(const Key* keys, uint32_t count, LookupResult* results) noexcept {
    for (uint32_t done = 0; done < count; done += kMaxBulk) {
        lookup_batch(keys + done, std::min(count - done, kMaxBulk), results + done);
    }
}

// Three stages, each over the whole batch (group prefetching): hash and prefetch the buckets;
// compare signatures in the home buckets and prefetch the first candidate entries; compare the
// keys. Every miss of a stage is in flight at once, where a software pipeline with a fixed
// distance (8 keys, measured with vipgate_bench) left part of the bucket latency exposed. A
// candidate that turns out wrong, or a key whose home bucket overflowed, takes the scalar path
// (its home bucket is already in cache).
template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::lookup_batch(const Key* keys, uint32_t count, LookupResult* results) noexcept {
    KeyHash hashes[kMaxBulk];
    uint32_t candidates[kMaxBulk];

    // Stage 1: hash every key and prefetch its bucket, so all the batch's bucket misses are in
    // flight together.
    for (uint32_t k = 0; k < count; ++k) {
        hashes[k] = hash_key(keys[k]);
        rte_prefetch0(&buckets_[hashes[k].bucket]);
    }
    // Stage 2: compare signatures in the home bucket, prefetch the candidate entries.
    for (uint32_t k = 0; k < count; ++k) {
        const Bucket& bucket = buckets_[hashes[k].bucket];
        const uint32_t matches = match_mask(bucket.signatures, hashes[k].signature);
        candidates[k] = kNoCandidate;
        if (matches != 0) {
            candidates[k] = bucket.refs[std::countr_zero(matches)];
            const auto* entry = reinterpret_cast<const char*>(&entries_[ref_index(candidates[k])]);
            rte_prefetch0(entry);
            // An entry wider than a line (IPv6) spans two, whatever its alignment: fetch both.
            if constexpr (sizeof(Entry) > RTE_CACHE_LINE_SIZE) rte_prefetch0(entry + sizeof(Entry) - 1);
        }
    }
    // Stage 3: compare keys. A wrong candidate or an overflowed home bucket takes the scalar path.
    for (uint32_t k = 0; k < count; ++k) {
        if (candidates[k] != kNoCandidate) {
            Entry& connection = entries_[ref_index(candidates[k])];
            const FlowDirection direction = ref_direction(candidates[k]);
            if (table().key_matches(connection, direction, keys[k])) {
                results[k] = {&connection, direction};
                continue;
            }
        } else if (buckets_[hashes[k].bucket].overflow == 0) {
            results[k] = {nullptr, FlowDirection::Original};
            continue;
        }
        results[k] = find(keys[k], hashes[k]);
    }
}

// A key stored `distance` buckets after its home bucket has probed past the `distance`
// buckets starting at home: their overflow counts record it.
template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::adjust_overflow(uint32_t home, uint32_t distance, int delta) noexcept {
    uint32_t bucket_index = home;
    for (uint32_t passed = 0; passed < distance; ++passed) {
        buckets_[bucket_index].overflow = static_cast<uint16_t>(buckets_[bucket_index].overflow + delta);
        bucket_index = next_bucket(bucket_index);
    }
}

template <class Table, class Entry, class Key>
bool ConnIndex<Table, Entry, Key>::link(uint32_t ref, const KeyHash& hash) noexcept {
    uint32_t bucket_index = hash.bucket;
    for (uint32_t probe = 0; probe < kMaxProbeBuckets; ++probe) {
        Bucket& bucket = buckets_[bucket_index];
        const uint32_t free_slots = match_mask(bucket.signatures, kEmptySignature);
        if (free_slots != 0) {
            const int slot = std::countr_zero(free_slots);
            bucket.signatures[slot] = hash.signature;
            bucket.refs[slot] = ref;
            adjust_overflow(hash.bucket, probe, +1);
            return true;
        }
        bucket_index = next_bucket(bucket_index);
    }
    return false;
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::unlink(uint32_t ref, const KeyHash& hash) noexcept {
    uint32_t bucket_index = hash.bucket;
    for (uint32_t probe = 0; probe < kMaxProbeBuckets; ++probe) {
        Bucket& bucket = buckets_[bucket_index];
        for (uint32_t matches = match_mask(bucket.signatures, hash.signature); matches != 0; matches &= matches - 1) {
            const int slot = std::countr_zero(matches);
            if (bucket.refs[slot] != ref) continue;
            bucket.signatures[slot] = kEmptySignature;
            adjust_overflow(hash.bucket, probe, -1);
            return;
        }
        bucket_index = next_bucket(bucket_index);
    }
}

template <class Table, class Entry, class Key>
Entry& ConnIndex<Table, Entry, Key>::next_aged_entry() noexcept {
    Entry& entry = entries_[age_cursor_];
    age_cursor_ = age_cursor_ + 1 == capacity_ ? 0 : age_cursor_ + 1;
    return entry;
}

// The unanswered FIFO: appended at the tail (youngest), evicted from the head (oldest), and an
// entry leaves from anywhere when it is answered or removed.
template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::enqueue_unanswered(uint32_t index) noexcept {
    Entry& connection = entries_[index];
    connection.unanswered = true;
    connection.next = kNoEntry;
    connection.previous = unanswered_tail_;
    if (unanswered_tail_ == kNoEntry) {
        unanswered_head_ = index;
    } else {
        entries_[unanswered_tail_].next = index;
    }
    unanswered_tail_ = index;
    ++unanswered_count_;
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::dequeue_unanswered(uint32_t index) noexcept {
    Entry& connection = entries_[index];
    if (connection.previous == kNoEntry) {
        unanswered_head_ = connection.next;
    } else {
        entries_[connection.previous].next = connection.next;
    }
    if (connection.next == kNoEntry) {
        unanswered_tail_ = connection.previous;
    } else {
        entries_[connection.next].previous = connection.previous;
    }
    connection.unanswered = false;
    --unanswered_count_;
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::release(uint32_t index) noexcept {
    Entry& connection = entries_[index];
    if (connection.unanswered) dequeue_unanswered(index);
    connection.live = false;
    connection.next = free_head_;
    free_head_ = index;
    --size_;
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::remove(Entry* connection) noexcept {
    const auto index = static_cast<uint32_t>(connection - entries_);
    unlink(make_ref(index, FlowDirection::Original), hash_key(connection->original));
    unlink(make_ref(index, FlowDirection::Reply), hash_key(table().reply_key(*connection)));
    release(index);
}

// Records `candidate` in `choice` if it beats what is there; true when the search can stop
// (an expired entry is the best possible victim).
template <class Table, class Entry, class Key>
bool ConnIndex<Table, Entry, Key>::consider_victim(Entry& candidate, uint32_t now_ms, VictimChoice& choice) noexcept {
    if (candidate.is_expired(now_ms)) {
        choice = {&candidate, true};
        return true;
    }
    if (choice.victim == nullptr && is_evictable(candidate)) choice = {&candidate, false};
    return false;
}

// The head of the (non-empty) FIFO, unless it is still protected (half_open_admission.h).
template <class Table, class Entry, class Key>
typename ConnIndex<Table, Entry, Key>::VictimChoice ConnIndex<Table, Entry, Key>::oldest_unanswered(
    uint32_t now_ms, const ConnTimeouts& timeouts) noexcept {
    Entry& oldest = entries_[unanswered_head_];
    if (oldest.is_expired(now_ms)) return {&oldest, true};
    if (!may_evict_unanswered(oldest, now_ms, timeouts)) return {};
    return {&oldest, false};
}

// An expired entry among the next kExpiredScanEntries at the ageing cursor (advancing it): a
// dead entry is taken before a live half-open one, at the cost of a few sequential lines.
template <class Table, class Entry, class Key>
Entry* ConnIndex<Table, Entry, Key>::expired_near_cursor(uint32_t now_ms) noexcept {
    const uint32_t scan = std::min(kExpiredScanEntries, capacity_);
    for (uint32_t examined = 0; examined < scan; ++examined) {
        Entry& candidate = next_aged_entry();
        if (candidate.live && candidate.is_expired(now_ms)) return &candidate;
    }
    return nullptr;
}

template <class Table, class Entry, class Key>
bool ConnIndex<Table, Entry, Key>::consider_bucket_victims(uint32_t bucket_index, uint32_t exclude_index,
                                                           uint32_t now_ms, VictimChoice& choice) noexcept {
    const Bucket& bucket = buckets_[bucket_index];
    const uint32_t used = ~match_mask(bucket.signatures, kEmptySignature) & ((1u << kSlotsPerBucket) - 1);
    for (uint32_t slots = used; slots != 0; slots &= slots - 1) {
        const uint32_t index = ref_index(bucket.refs[std::countr_zero(slots)]);
        if (index != exclude_index && consider_victim(entries_[index], now_ms, choice)) return true;
    }
    return false;
}

// No free entry and no unanswered one: scan forward from the ageing cursor (advancing it, so
// repeated pressure sweeps the table like a clock hand), then the two keys' home buckets.
template <class Table, class Entry, class Key>
typename ConnIndex<Table, Entry, Key>::VictimChoice ConnIndex<Table, Entry, Key>::choose_victim(
    uint32_t now_ms, const KeyHash& original, const KeyHash& reply) noexcept {
    VictimChoice choice;
    const uint32_t scan = std::min(kEvictionScanEntries, capacity_);
    for (uint32_t examined = 0; examined < scan; ++examined) {
        Entry& candidate = next_aged_entry();
        if (candidate.live && consider_victim(candidate, now_ms, choice)) return choice;
    }
    if (consider_bucket_victims(original.bucket, kNoEntry, now_ms, choice)) return choice;
    consider_bucket_victims(reply.bucket, kNoEntry, now_ms, choice);
    return choice;
}

// No free slot in the key's probe window: a victim from its home bucket (the first bucket of
// the window) frees a slot the key can take.
template <class Table, class Entry, class Key>
bool ConnIndex<Table, Entry, Key>::link_or_evict(uint32_t ref, const KeyHash& hash, uint32_t now_ms,
                                                 bool& evicted) noexcept {
    if (link(ref, hash)) return true;
    VictimChoice choice;
    consider_bucket_victims(hash.bucket, ref_index(ref), now_ms, choice);
    if (choice.victim == nullptr) return false;
    evicted |= !choice.expired;
    retire(choice.victim);
    return link(ref, hash);
}

template <class Table, class Entry, class Key>
template <class Fill>
typename ConnIndex<Table, Entry, Key>::InsertResult ConnIndex<Table, Entry, Key>::insert_entry(
    const Key& original, const Key& reply, TcpState state, uint32_t now_ms, const ConnTimeouts& timeouts,
    Fill&& fill) noexcept {
    const KeyHash original_hash = hash_key(original);
    const KeyHash reply_hash = hash_key(reply);

    for (const auto& [key, hash] : {std::pair{&original, &original_hash}, std::pair{&reply, &reply_hash}}) {
        const LookupResult existing = find(*key, *hash);
        if (existing.connection == nullptr) continue;
        if (!existing.connection->is_expired(now_ms)) return {existing.connection, InsertStatus::Exists};
        retire(existing.connection);
    }

    bool evicted = false;
    if (free_head_ == kNoEntry) {
        VictimChoice choice;
        if (unanswered_head_ != kNoEntry) {
            choice = oldest_unanswered(now_ms, timeouts);
            if (!choice.expired) {
                if (Entry* expired = expired_near_cursor(now_ms)) choice = {expired, true};
            }
            if (choice.victim == nullptr) return {nullptr, InsertStatus::HalfOpenProtected};
        } else {
            choice = choose_victim(now_ms, original_hash, reply_hash);
            if (choice.victim == nullptr) return {nullptr, InsertStatus::Full};
        }
        evicted = !choice.expired;
        retire(choice.victim);
    }

    const uint32_t index = free_head_;
    Entry& connection = entries_[index];
    free_head_ = connection.next;
    // The next insert takes the new head: start fetching it now (reading its free-list link is
    // otherwise a cache miss on the critical path of every new connection).
    if (free_head_ != kNoEntry) rte_prefetch0(&entries_[free_head_]);
    ++size_;
    fill(connection);
    connection.endpoint_slot = 0;
    connection.endpoint_generation = 0;
    connection.tcp_state = state;
    connection.seen_reply = false;
    connection.syn_us = 0;
    connection.deadline_ms = now_ms + state_timeout_ms(state, original.protocol, false, timeouts);
    connection.live = true;

    const uint32_t original_ref = make_ref(index, FlowDirection::Original);
    if (!link_or_evict(original_ref, original_hash, now_ms, evicted)) {
        release(index);
        return {nullptr, InsertStatus::Full};
    }
    if (!link_or_evict(make_ref(index, FlowDirection::Reply), reply_hash, now_ms, evicted)) {
        unlink(original_ref, original_hash);
        release(index);
        return {nullptr, InsertStatus::Full};
    }
    if (is_unanswered(connection)) enqueue_unanswered(index);
    return {&connection, evicted ? InsertStatus::InsertedAfterEviction : InsertStatus::Inserted};
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::update(Entry* connection, FlowDirection direction, uint8_t tcp_flags,
                                          uint32_t now_ms, const ConnTimeouts& timeouts) noexcept {
    const uint8_t protocol = connection->original.protocol;
    if (uses_tcp_state(protocol)) connection->tcp_state = next_tcp_state(connection->tcp_state, direction, tcp_flags);
    connection->seen_reply |= direction == FlowDirection::Reply;
    // Answered (SYN-ACK's ACK, a UDP reply), or unanswered again (a SYN reusing a closed port).
    if (connection->unanswered != is_unanswered(*connection)) {
        const auto index = static_cast<uint32_t>(connection - entries_);
        if (connection->unanswered) {
            dequeue_unanswered(index);
        } else {
            enqueue_unanswered(index);
        }
    }
    connection->deadline_ms =
        now_ms + state_timeout_ms(connection->tcp_state, protocol, connection->seen_reply, timeouts);
}

template <class Table, class Entry, class Key>
void ConnIndex<Table, Entry, Key>::retire(Entry* connection) noexcept {
    if (connection->tcp_state == TcpState::SynSent && !connection->seen_reply && unanswered_counters_ != nullptr &&
        connection->endpoint_slot < unanswered_slots_) {
        ++unanswered_counters_[connection->endpoint_slot].syn_unanswered;
    }
    remove(connection);
}

template <class Table, class Entry, class Key>
uint32_t ConnIndex<Table, Entry, Key>::expire(uint32_t now_ms, uint32_t budget) noexcept {
    uint32_t removed = 0;
    const uint32_t examine = std::min(budget, capacity_);
    for (uint32_t examined = 0; examined < examine; ++examined) {
        Entry& connection = next_aged_entry();
        if (connection.live && connection.is_expired(now_ms)) {
            retire(&connection);
            ++removed;
        }
    }
    return removed;
}

template <class Table, class Entry, class Key>
size_t ConnIndex<Table, Entry, Key>::memory_bytes() const noexcept {
    return sizeof(Table) + size_t{capacity_} * sizeof(Entry) + size_t{bucket_count_} * sizeof(Bucket);
}

template <class Table, class Entry, class Key>
size_t ConnIndex<Table, Entry, Key>::bytes_per_connection() const noexcept {
    return (memory_bytes() + capacity_ - 1) / capacity_;
}

}  // namespace vipgate
