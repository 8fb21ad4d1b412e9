#include "dataplane/conn_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>

#include <rte_common.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dataplane/half_open_admission.h"

namespace vipgate {

namespace {

constexpr uint32_t kNoEntry = UINT32_MAX;
constexpr uint32_t kNoCandidate = UINT32_MAX;

// Index sizing: 2 keys per connection at a load factor of kLoadNumerator / kLoadDenominator
// when the table is full (see the design note in conn_table.h for the choice of 0.6).
constexpr uint64_t kKeysPerConnection = 2;
constexpr uint64_t kLoadNumerator = 3;
constexpr uint64_t kLoadDenominator = 5;

uint32_t make_ref(uint32_t index, FlowDirection direction) {
    return index << 1 | static_cast<uint32_t>(direction);
}
uint32_t ref_index(uint32_t ref) {
    return ref >> 1;
}
FlowDirection ref_direction(uint32_t ref) {
    return static_cast<FlowDirection>(ref & 1);
}

const FlowKey4& key_of(const Connection& connection, FlowDirection direction) {
    return direction == FlowDirection::Original ? connection.original : connection.reply;
}

// Bit i set when slot i of `signatures` holds `signature`.
template <size_t kSlots>
uint32_t match_mask(const uint16_t (&signatures)[kSlots], uint16_t signature) {
    uint32_t mask = 0;
    for (uint32_t slot = 0; slot < kSlots; ++slot) mask |= uint32_t{signatures[slot] == signature} << slot;
    return mask;
}

bool is_evictable(const Connection& connection) {
    const TcpState state = connection.tcp_state;
    return is_unanswered(connection) || state == TcpState::Closing || state == TcpState::Closed;
}

}  // namespace

ConnTable::ConnTable(Connection* entries, Bucket* buckets, uint32_t capacity, uint32_t bucket_count,
                     uint32_t hash_seed) noexcept
    : entries_(entries),
      buckets_(buckets),
      capacity_(capacity),
      bucket_count_(bucket_count),
      hash_seed_(hash_seed),
      unanswered_head_(kNoEntry),
      unanswered_tail_(kNoEntry) {
    for (uint32_t i = 0; i < capacity_; ++i) {
        new (&entries_[i]) Connection{};
        entries_[i].next = i + 1 < capacity_ ? i + 1 : kNoEntry;
    }
    for (uint32_t i = 0; i < bucket_count_; ++i) new (&buckets_[i]) Bucket{};
}

ConnTable* ConnTable::create(uint32_t capacity, uint32_t hash_seed, int socket_id) noexcept {
    if (capacity == 0 || capacity > kMaxCapacity) return nullptr;
    const uint64_t keys = kKeysPerConnection * capacity;
    const uint64_t slots_needed = (keys * kLoadDenominator + kLoadNumerator - 1) / kLoadNumerator;
    const uint64_t bucket_count =
        std::max<uint64_t>((slots_needed + kSlotsPerBucket - 1) / kSlotsPerBucket, kMaxProbeBuckets);

    void* table_memory = rte_zmalloc_socket("vipgate_conn_table", sizeof(ConnTable), RTE_CACHE_LINE_SIZE, socket_id);
    void* entry_memory = rte_zmalloc_socket("vipgate_conn_entries", uint64_t{capacity} * sizeof(Connection),
                                            RTE_CACHE_LINE_SIZE, socket_id);
    void* bucket_memory =
        rte_zmalloc_socket("vipgate_conn_index", bucket_count * sizeof(Bucket), RTE_CACHE_LINE_SIZE, socket_id);
    if (table_memory == nullptr || entry_memory == nullptr || bucket_memory == nullptr) {
        rte_free(bucket_memory);
        rte_free(entry_memory);
        rte_free(table_memory);
        return nullptr;
    }
    return new (table_memory) ConnTable(static_cast<Connection*>(entry_memory), static_cast<Bucket*>(bucket_memory),
                                        capacity, static_cast<uint32_t>(bucket_count), hash_seed);
}

void ConnTable::destroy(ConnTable* table) noexcept {
    if (table == nullptr) return;
    rte_free(table->buckets_);
    rte_free(table->entries_);
    table->~ConnTable();
    rte_free(table);
}

// Two CRC32 passes over the key (words in opposite orders) give 64 bits; CRC is linear, so
// keys that differ in a few bits (one client's sequential ports) produce structured values.
// A 64-bit finaliser (MurmurHash3 fmix64) breaks that structure before the high half picks
// the bucket by multiply-shift and the low half becomes the signature.
ConnTable::KeyHash ConnTable::hash_key(const FlowKey4& key) const noexcept {
    uint64_t words[2];
    std::memcpy(words, &key, sizeof(words));
    const uint32_t forward = hash_flow_key(key, hash_seed_);
    const uint32_t backward = rte_hash_crc_8byte(words[0], rte_hash_crc_8byte(words[1], hash_seed_));
    uint64_t mixed = uint64_t{forward} << 32 | backward;
    mixed ^= mixed >> 33;
    mixed *= 0xff51afd7ed558ccdULL;
    mixed ^= mixed >> 33;
    mixed *= 0xc4ceb9fe1a85ec53ULL;
    mixed ^= mixed >> 33;
    const auto signature = static_cast<uint16_t>(mixed);
    return KeyHash{
        .bucket = static_cast<uint32_t>(((mixed >> 32) * bucket_count_) >> 32),
        .signature = signature == kEmptySignature ? static_cast<uint16_t>(1) : signature,
    };
}

ConnLookupResult ConnTable::find(const FlowKey4& key, const KeyHash& hash) noexcept {
    uint32_t bucket_index = hash.bucket;
    for (uint32_t probe = 0; probe < kMaxProbeBuckets; ++probe) {
        const Bucket& bucket = buckets_[bucket_index];
        for (uint32_t matches = match_mask(bucket.signatures, hash.signature); matches != 0; matches &= matches - 1) {
            const uint32_t ref = bucket.refs[std::countr_zero(matches)];
            Connection& connection = entries_[ref_index(ref)];
            if (key_of(connection, ref_direction(ref)) == key) return {&connection, ref_direction(ref)};
        }
        if (bucket.overflow == 0) break;
        bucket_index = next_bucket(bucket_index);
    }
    return {nullptr, FlowDirection::Original};
}

ConnLookupResult ConnTable::lookup(const FlowKey4& key) noexcept {
    return find(key, hash_key(key));
}

void ConnTable::lookup_bulk(const FlowKey4* keys, uint32_t count, ConnLookupResult* results) noexcept {
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
void ConnTable::lookup_batch(const FlowKey4* keys, uint32_t count, ConnLookupResult* results) noexcept {
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
            rte_prefetch0(&entries_[ref_index(candidates[k])]);
        }
    }
    // Stage 3: compare keys. A wrong candidate or an overflowed home bucket takes the scalar path.
    for (uint32_t k = 0; k < count; ++k) {
        if (candidates[k] != kNoCandidate) {
            Connection& connection = entries_[ref_index(candidates[k])];
            const FlowDirection direction = ref_direction(candidates[k]);
            if (key_of(connection, direction) == keys[k]) {
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
void ConnTable::adjust_overflow(uint32_t home, uint32_t distance, int delta) noexcept {
    uint32_t bucket_index = home;
    for (uint32_t passed = 0; passed < distance; ++passed) {
        buckets_[bucket_index].overflow = static_cast<uint16_t>(buckets_[bucket_index].overflow + delta);
        bucket_index = next_bucket(bucket_index);
    }
}

bool ConnTable::link(uint32_t ref, const KeyHash& hash) noexcept {
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

void ConnTable::unlink(uint32_t ref, const KeyHash& hash) noexcept {
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

Connection& ConnTable::next_aged_entry() noexcept {
    Connection& entry = entries_[age_cursor_];
    age_cursor_ = age_cursor_ + 1 == capacity_ ? 0 : age_cursor_ + 1;
    return entry;
}

// The unanswered FIFO: appended at the tail (youngest), evicted from the head (oldest), and an
// entry leaves from anywhere when it is answered or removed.
void ConnTable::enqueue_unanswered(uint32_t index) noexcept {
    Connection& connection = entries_[index];
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

void ConnTable::dequeue_unanswered(uint32_t index) noexcept {
    Connection& connection = entries_[index];
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

void ConnTable::release(uint32_t index) noexcept {
    Connection& connection = entries_[index];
    if (connection.unanswered) dequeue_unanswered(index);
    connection.live = false;
    connection.next = free_head_;
    free_head_ = index;
    --size_;
}

void ConnTable::remove(Connection* connection) noexcept {
    const auto index = static_cast<uint32_t>(connection - entries_);
    unlink(make_ref(index, FlowDirection::Original), hash_key(connection->original));
    unlink(make_ref(index, FlowDirection::Reply), hash_key(connection->reply));
    release(index);
}

// Records `candidate` in `choice` if it beats what is there; true when the search can stop
// (an expired entry is the best possible victim).
bool ConnTable::consider_victim(Connection& candidate, uint32_t now_ms, VictimChoice& choice) noexcept {
    if (candidate.is_expired(now_ms)) {
        choice = {&candidate, true};
        return true;
    }
    if (choice.victim == nullptr && is_evictable(candidate)) choice = {&candidate, false};
    return false;
}

// The head of the (non-empty) FIFO, unless it is still protected (half_open_admission.h).
ConnTable::VictimChoice ConnTable::oldest_unanswered(uint32_t now_ms, const ConnTimeouts& timeouts) noexcept {
    Connection& oldest = entries_[unanswered_head_];
    if (oldest.is_expired(now_ms)) return {&oldest, true};
    if (!may_evict_unanswered(oldest, now_ms, timeouts)) return {};
    return {&oldest, false};
}

// An expired entry among the next kExpiredScanEntries at the ageing cursor (advancing it): a
// dead entry is taken before a live half-open one, at the cost of a few sequential lines.
Connection* ConnTable::expired_near_cursor(uint32_t now_ms) noexcept {
    const uint32_t scan = std::min(kExpiredScanEntries, capacity_);
    for (uint32_t examined = 0; examined < scan; ++examined) {
        Connection& candidate = next_aged_entry();
        if (candidate.live && candidate.is_expired(now_ms)) return &candidate;
    }
    return nullptr;
}

bool ConnTable::consider_bucket_victims(uint32_t bucket_index, uint32_t exclude_index, uint32_t now_ms,
                                        VictimChoice& choice) noexcept {
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
ConnTable::VictimChoice ConnTable::choose_victim(uint32_t now_ms, const KeyHash& original,
                                                 const KeyHash& reply) noexcept {
    VictimChoice choice;
    const uint32_t scan = std::min(kEvictionScanEntries, capacity_);
    for (uint32_t examined = 0; examined < scan; ++examined) {
        Connection& candidate = next_aged_entry();
        if (candidate.live && consider_victim(candidate, now_ms, choice)) return choice;
    }
    if (consider_bucket_victims(original.bucket, kNoEntry, now_ms, choice)) return choice;
    consider_bucket_victims(reply.bucket, kNoEntry, now_ms, choice);
    return choice;
}

// No free slot in the key's probe window: a victim from its home bucket (the first bucket of
// the window) frees a slot the key can take.
bool ConnTable::link_or_evict(uint32_t ref, const KeyHash& hash, uint32_t now_ms, bool& evicted) noexcept {
    if (link(ref, hash)) return true;
    VictimChoice choice;
    consider_bucket_victims(hash.bucket, ref_index(ref), now_ms, choice);
    if (choice.victim == nullptr) return false;
    evicted |= !choice.expired;
    retire(choice.victim);
    return link(ref, hash);
}

InsertResult ConnTable::insert(const FlowKey4& original, const FlowKey4& reply, TcpState state, uint32_t now_ms,
                               const ConnTimeouts& timeouts) noexcept {
    const KeyHash original_hash = hash_key(original);
    const KeyHash reply_hash = hash_key(reply);

    for (const auto& [key, hash] : {std::pair{&original, &original_hash}, std::pair{&reply, &reply_hash}}) {
        const ConnLookupResult existing = find(*key, *hash);
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
                if (Connection* expired = expired_near_cursor(now_ms)) choice = {expired, true};
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
    Connection& connection = entries_[index];
    free_head_ = connection.next;
    // The next insert takes the new head: start fetching it now (reading its free-list link is
    // otherwise a cache miss on the critical path of every new connection).
    if (free_head_ != kNoEntry) rte_prefetch0(&entries_[free_head_]);
    ++size_;
    connection.original = original;
    connection.reply = reply;
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

void ConnTable::update(Connection* connection, FlowDirection direction, uint8_t tcp_flags, uint32_t now_ms,
                       const ConnTimeouts& timeouts) noexcept {
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

void ConnTable::retire(Connection* connection) noexcept {
    if (connection->tcp_state == TcpState::SynSent && !connection->seen_reply && unanswered_counters_ != nullptr &&
        connection->endpoint_slot < unanswered_slots_) {
        ++unanswered_counters_[connection->endpoint_slot].syn_unanswered;
    }
    remove(connection);
}

uint32_t ConnTable::expire(uint32_t now_ms, uint32_t budget) noexcept {
    uint32_t removed = 0;
    const uint32_t examine = std::min(budget, capacity_);
    for (uint32_t examined = 0; examined < examine; ++examined) {
        Connection& connection = next_aged_entry();
        if (connection.live && connection.is_expired(now_ms)) {
            retire(&connection);
            ++removed;
        }
    }
    return removed;
}

size_t ConnTable::memory_bytes() const noexcept {
    return sizeof(ConnTable) + size_t{capacity_} * sizeof(Connection) + size_t{bucket_count_} * sizeof(Bucket);
}

size_t ConnTable::bytes_per_connection() const noexcept {
    return (memory_bytes() + capacity_ - 1) / capacity_;
}

}  // namespace vipgate
