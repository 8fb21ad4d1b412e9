// The connection-table mechanism shared by the IPv4 and IPv6 tables: entries, index, probing,
// eviction, ageing and the state machine. conn_table.h explains the design (it applies to both
// families unchanged); this header is the one implementation, templated on the family.
//
// Design note. The two families differ only in their entry (IPv4: both keys stored, 64 bytes;
// IPv6: the original key plus what the reply key is rebuilt from, 96 bytes, conn_table6.h) and
// in how a key is hashed and compared. ConnIndex<Table, Entry, Key> holds everything else and
// asks the family table (CRTP, no virtual calls on the packet path) for three things:
//
//     uint64_t mix_key(const Key&) const                         64 well-mixed bits of a key
//     bool key_matches(const Entry&, FlowDirection, const Key&) const
//     Key reply_key(const Entry&) const                          (remove() unlinks it)
//
// Entries have the same field names in both families (original, tcp_state, seen_reply,
// deadline_ms, endpoint_slot, live, unanswered, next, previous, ...), which is all the generic
// code reads. The member definitions are in conn_index_impl.h, instantiated once per family in
// conn_table.cpp and conn_table6.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/flow_key.h"
#include "dataplane/tcp_state.h"

namespace vipgate {

template <class Entry>
struct BasicLookupResult {
    Entry* connection;  // nullptr on miss
    FlowDirection direction;
};

enum class InsertStatus : uint8_t {
    Inserted,               // a free entry was used (possibly one reclaimed because it had expired)
    InsertedAfterEviction,  // an unexpired half-open, closing or unreplied entry was evicted to make room
    Exists,                 // a live connection already holds the original or the reply key
    Full,                   // no room and nothing evictable
    HalfOpenProtected,      // no room: the oldest unanswered entry is younger than half_open_min_idle_ms
};

template <class Entry>
struct BasicInsertResult {
    // Exists: the connection already holding one of the keys (compare its `original` with the
    // new one to tell a duplicate from a reply-tuple clash). Full: nullptr.
    Entry* connection;
    InsertStatus status;
};

template <class Table, class Entry, class Key>
class ConnIndex {
public:
    using LookupResult = BasicLookupResult<Entry>;
    using InsertResult = BasicInsertResult<Entry>;

    static constexpr uint32_t kMaxBulk = 64;
    static constexpr uint32_t kMaxCapacity = 1u << 30;  // entry index plus direction bit fit 32 bits

    // Allocates everything up front with rte_zmalloc_socket (hugepages when present). nullptr
    // on failure or when capacity is 0 or above kMaxCapacity.
    static Table* create(uint32_t capacity, uint32_t hash_seed, int socket_id) noexcept;
    static void destroy(Table* table) noexcept;

    ConnIndex(const ConnIndex&) = delete;
    ConnIndex& operator=(const ConnIndex&) = delete;

    // Batched lookup: hash all keys, prefetch their buckets, compare signatures, prefetch the
    // candidate entries, compare keys. A key may match an entry's original or reply key;
    // `direction` says which. Any count is accepted; it is processed kMaxBulk keys at a time.
    void lookup_bulk(const Key* keys, uint32_t count, LookupResult* results) noexcept;
    LookupResult lookup(const Key& key) noexcept;

    // Advances the TCP state for a packet seen in `direction` with `tcp_flags` (for SCTP, those
    // its first chunk stands for; ignored for other protocols), records a Reply-direction packet
    // in seen_reply and sets the deadline to now + the (new) state's timeout.
    void update(Entry* connection, FlowDirection direction, uint8_t tcp_flags, uint32_t now_ms,
                const ConnTimeouts& timeouts) noexcept;

    void remove(Entry* connection) noexcept;

    // Where to count unanswered SYNs: an entry that leaves the table through expiry (expire(),
    // or an expired entry insert() reclaims) or eviction while still SynSent and without any
    // Reply-direction packet adds one to counters[endpoint_slot].syn_unanswered (slots below
    // `slots` only). remove() does not count: the caller removes entries for its own reasons.
    // nullptr (the default) counts nothing.
    void set_unanswered_counters(EndpointCounters* counters, uint32_t slots) noexcept {
        unanswered_counters_ = counters;
        unanswered_slots_ = slots;
    }

    // Incremental ageing: examines up to `budget` entries from a rotating cursor, removes the
    // expired ones and returns how many it removed. Called once per poll loop.
    uint32_t expire(uint32_t now_ms, uint32_t budget) noexcept;

    uint32_t size() const noexcept { return size_; }
    uint32_t unanswered() const noexcept { return unanswered_count_; }  // entries in the FIFO
    uint32_t capacity() const noexcept { return capacity_; }

    // Memory actually allocated (entries, index and the table object) and that divided by the
    // capacity, rounded up: the honest cost of one tracked connection.
    size_t memory_bytes() const noexcept;
    size_t bytes_per_connection() const noexcept;

    // Index geometry, for diagnostics and tests that need to crowd one bucket.
    uint32_t bucket_count() const noexcept { return bucket_count_; }
    uint32_t home_bucket(const Key& key) const noexcept { return hash_key(key).bucket; }

    // Visits every live connection as `const Entry&` (listing, tests). O(capacity).
    template <class Visitor>
    void for_each(Visitor&& visit) const {
        for (uint32_t i = 0; i < capacity_; ++i) {
            if (entries_[i].live) visit(static_cast<const Entry&>(entries_[i]));
        }
    }

protected:
    static constexpr uint32_t kSlotsPerBucket = 10;
    static constexpr uint32_t kMaxProbeBuckets = 64;      // probe window, home bucket included
    static constexpr uint32_t kEvictionScanEntries = 32;  // entries examined near the ageing cursor
    static constexpr uint32_t kExpiredScanEntries = 4;    // the same, for an expired one, ahead of the FIFO's head
    static constexpr uint16_t kEmptySignature = 0;

    struct alignas(64) Bucket {
        uint16_t signatures[kSlotsPerBucket];  // kEmptySignature marks a free slot
        uint16_t overflow;                     // keys homed at or before this bucket stored after it
        uint32_t refs[kSlotsPerBucket];        // entry index << 1 | FlowDirection
    };
    static_assert(sizeof(Bucket) == 64);

    ConnIndex(Entry* entries, Bucket* buckets, uint32_t capacity, uint32_t bucket_count, uint32_t hash_seed) noexcept;
    ~ConnIndex() = default;

    // Inserts a new connection whose keys are `original` and `reply` (the reply key must be the
    // one Table::reply_key gives for the entry once `fill` has run) with the given state, not
    // yet replied; deadline = now + timeout. `fill(Entry&)` writes the family's key fields;
    // endpoint_slot and endpoint_generation start at 0 for the caller to fill in.
    template <class Fill>
    InsertResult insert_entry(const Key& original, const Key& reply, TcpState state, uint32_t now_ms,
                              const ConnTimeouts& timeouts, Fill&& fill) noexcept;

    uint32_t hash_seed_;

private:
    struct KeyHash {
        uint32_t bucket;
        uint16_t signature;
    };

    struct VictimChoice {
        Entry* victim = nullptr;
        bool expired = false;
    };

    const Table& table() const noexcept { return static_cast<const Table&>(*this); }

    KeyHash hash_key(const Key& key) const noexcept;
    uint32_t next_bucket(uint32_t bucket) const noexcept { return bucket + 1 == bucket_count_ ? 0 : bucket + 1; }
    LookupResult find(const Key& key, const KeyHash& hash) noexcept;
    void lookup_batch(const Key* keys, uint32_t count, LookupResult* results) noexcept;

    void adjust_overflow(uint32_t home, uint32_t distance, int delta) noexcept;
    bool link(uint32_t ref, const KeyHash& hash) noexcept;
    bool link_or_evict(uint32_t ref, const KeyHash& hash, uint32_t now_ms, bool& evicted) noexcept;
    void unlink(uint32_t ref, const KeyHash& hash) noexcept;
    void release(uint32_t index) noexcept;
    void enqueue_unanswered(uint32_t index) noexcept;
    void dequeue_unanswered(uint32_t index) noexcept;
    void retire(Entry* connection) noexcept;  // remove(), counting an unanswered SYN
    Entry& next_aged_entry() noexcept;        // entry at the ageing cursor; advances the cursor

    static bool consider_victim(Entry& candidate, uint32_t now_ms, VictimChoice& choice) noexcept;
    bool consider_bucket_victims(uint32_t bucket, uint32_t exclude_index, uint32_t now_ms,
                                 VictimChoice& choice) noexcept;
    VictimChoice choose_victim(uint32_t now_ms, const KeyHash& original, const KeyHash& reply) noexcept;
    VictimChoice oldest_unanswered(uint32_t now_ms, const ConnTimeouts& timeouts) noexcept;
    Entry* expired_near_cursor(uint32_t now_ms) noexcept;

    Entry* entries_;
    Bucket* buckets_;
    uint32_t capacity_;
    uint32_t bucket_count_;
    uint32_t size_ = 0;
    uint32_t free_head_ = 0;
    uint32_t age_cursor_ = 0;
    uint32_t unanswered_head_;  // oldest, or kNoEntry
    uint32_t unanswered_tail_;  // youngest, or kNoEntry
    uint32_t unanswered_count_ = 0;
    EndpointCounters* unanswered_counters_ = nullptr;
    uint32_t unanswered_slots_ = 0;
};

// MurmurHash3's fmix64: the finaliser both families apply to their CRC bits before the high half
// picks the bucket (multiply-shift) and the low half becomes the signature.
constexpr uint64_t mix64(uint64_t value) {
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

}  // namespace vipgate
