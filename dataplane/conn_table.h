// Per-worker connection tracking table.
//
// Design note. One ConnTable per worker lcore, touched only by that worker: no atomics, no
// locks (Maglev, Katran, DPVS and VPP all shard conntrack per core; consistent hashing covers
// flows that land on a core without an entry). Everything is allocated in create(); after
// that no call allocates, throws or takes time proportional to the table size.
//
// Layout. Entries are a fixed array of one-cache-line Connections holding both directions'
// keys; free entries form a LIFO free list (a freed, cache-hot entry is reused first). The
// index is a separate array of 64-byte buckets, each with 10 slots of {16-bit signature,
// 32-bit entry reference = entry index << 1 | direction}, so every connection puts two keys
// in the index: its original and its reply tuple. Two CRC32 passes and a 64-bit finaliser
// give the bucket and a signature independent of it, so a signature match is a false
// positive with probability about 2^-16 per occupied slot. Signature 0 marks an empty slot.
// The index is sized for a load of 0.6 at full capacity (2 keys per connection, 6 of 10
// slots per bucket): 21.3 bytes of index plus the 64-byte entry, about 86 bytes per
// connection (bytes_per_connection() reports the allocated figure).
//
// Why linear bucket probing rather than cuckoo hashing. A key lives in its home bucket or,
// if that is full, in the first following bucket with a free slot. Each bucket counts the
// keys that probed past it (`overflow`, as in Folly's F14), so a lookup stops at the first
// bucket whose count is zero: a hit and almost every miss cost one bucket line plus one
// entry line. Cuckoo hashing fetches two unrelated buckets on every miss (the first packet of
// every new connection) and moves keys on insert; its advantage, loads above 0.9, buys little
// here because the 64-byte entries, not the index, dominate memory. Linear probing's weakness
// is clustering, which the load factor keeps in check. Simulated with 10-slot buckets and 4M
// buckets: at load 0.75, 19 % of buckets overflow (a miss there reads a second line) and runs
// reach 24 buckets; at 0.6, 4.9 % overflow, 1.3 % of keys live outside their home bucket
// and runs stay under 10 buckets, for 4 more bytes per connection. The next bucket is the
// adjacent cache line, which the spatial prefetcher often brings in. Probing is bounded by
// kMaxProbeBuckets (far beyond any run at this load, and it keeps overflow counts below 640)
// so inserts stay bounded even against crafted keys; a key whose probe window has no free
// slot is handled like a full table.
//
// Eviction. Entries nobody has answered yet (TCP/SCTP SynSent or SynReceived, a UDP/ICMP flow
// without a reply: "unanswered", tcp_state.h says why) also sit in a FIFO threaded through the
// entries, in the order they became unanswered. When no entry is free, insert() reclaims an
// expired entry among the next kExpiredScanEntries at the ageing cursor, else takes the FIFO's
// head, the oldest unanswered entry (half_open_admission.h says why oldest-first is what lets
// real handshakes win against a spoofed flood): a few sequential lines, not a search. The head
// is protected while it has been idle for less than ConnTimeouts::half_open_min_idle_ms:
// insert() then returns HalfOpenProtected without evicting anything. Only when the FIFO is
// empty does insert() look at the next kEvictionScanEntries entries from the ageing cursor
// (advancing it, like a clock hand) and at the entries referenced by the two keys' home
// buckets, for an expired entry or a Closing or Closed one; when a key's probe window has no
// free slot, at the entries in its home bucket (an unanswered entry there is evictable too).
// It never evicts an unexpired Established (or None) TCP/SCTP entry nor an unexpired UDP/ICMP
// entry that has seen a reply, so a SYN flood or a flood of unanswered datagrams (spoofed
// sources) can only displace entries nobody has answered, never a connection both sides are
// using. `seen_reply` is kept by the table itself (update() sets it for a Reply-direction
// packet), so no caller can forget it. If nothing qualifies it returns Full and the caller
// falls back to stateless consistent hashing. The work is bounded: kExpiredScanEntries + 1
// entries when the FIFO is not empty, otherwise kEvictionScanEntries sequential lines plus two
// buckets' entries per attempt.
//
// Time. All times are caller-supplied wrapping 32-bit milliseconds; an entry is expired when
// (int32_t)(now_ms - deadline_ms) >= 0, so timeouts must be below 2^31 ms. Lookups ignore
// time: an expired entry that expire() has not reached yet is still found (the caller can
// check Connection::is_expired). insert() treats an expired entry holding one of its keys as
// gone and replaces it.
//
// Unanswered SYNs. An entry that expires or is evicted while still SynSent, with no
// Reply-direction packet at all, is a SYN (SCTP INIT) its endpoint never answered; when the
// caller gives set_unanswered_counters(), the table counts it against the entry's endpoint slot.
//
// Pointer validity. A Connection* stays valid until that connection is removed, expired by
// expire() or evicted by insert(). A caller holding pointers from an earlier lookup (for
// example the rest of a burst) across an insert() must re-check them: compare the packet's
// key with the entry's `original` or `reply`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/flow_key.h"
#include "dataplane/tcp_state.h"

namespace vipgate {

class ConnTable;

struct alignas(64) Connection {
    FlowKey4 original;                 // as received from the client: client -> VIP
    FlowKey4 reply;                    // as the endpoint sends it back: endpoint -> client (DNAT)
                                       // or endpoint -> SNAT address (full-NAT)
    uint32_t endpoint_slot = 0;        // set by the caller after insert
    uint32_t endpoint_generation = 0;  // set by the caller after insert
    uint32_t deadline_ms = 0;          // expired when (int32_t)(now_ms - deadline_ms) >= 0
    TcpState tcp_state = TcpState::None;
    bool seen_reply = false;  // a Reply-direction packet has been seen (set by the table)
    uint32_t syn_us = 0;      // caller's wrapping microsecond clock when it forwarded the
                              // SYN that put the entry in SynSent (connect latency)

    bool is_expired(uint32_t now_ms) const noexcept { return static_cast<int32_t>(now_ms - deadline_ms) >= 0; }

private:
    friend class ConnTable;
    bool live = false;        // false while on the free list
    bool unanswered = false;  // in the unanswered FIFO
    uint32_t next = 0;        // !live: free-list link; unanswered: the next (younger) FIFO entry
    uint32_t previous = 0;    // unanswered: the previous (older) FIFO entry
};
static_assert(sizeof(Connection) == 64);

struct ConnLookupResult {
    Connection* connection;  // nullptr on miss
    FlowDirection direction;
};

enum class InsertStatus : uint8_t {
    Inserted,               // a free entry was used (possibly one reclaimed because it had expired)
    InsertedAfterEviction,  // an unexpired half-open, closing or unreplied entry was evicted to make room
    Exists,                 // a live connection already holds the original or the reply key
    Full,                   // no room and nothing evictable
    HalfOpenProtected,      // no room: the oldest unanswered entry is younger than half_open_min_idle_ms
};

struct InsertResult {
    // Exists: the connection already holding one of the keys (compare its `original` with the
    // new one to tell a duplicate from a reply-tuple clash). Full: nullptr.
    Connection* connection;
    InsertStatus status;
};

class ConnTable {
public:
    static constexpr uint32_t kMaxBulk = 64;
    static constexpr uint32_t kMaxCapacity = 1u << 30;  // entry index plus direction bit fit 32 bits

    // Allocates everything up front with rte_zmalloc_socket (hugepages when present). nullptr
    // on failure or when capacity is 0 or above kMaxCapacity.
    static ConnTable* create(uint32_t capacity, uint32_t hash_seed, int socket_id) noexcept;
    static void destroy(ConnTable* table) noexcept;

    ConnTable(const ConnTable&) = delete;
    ConnTable& operator=(const ConnTable&) = delete;

    // Batched lookup: hash all keys, prefetch their buckets, compare signatures, prefetch the
    // candidate entries, compare keys. A key may match an entry's original or reply key;
    // `direction` says which. Any count is accepted; it is processed kMaxBulk keys at a time.
    void lookup_bulk(const FlowKey4* keys, uint32_t count, ConnLookupResult* results) noexcept;
    ConnLookupResult lookup(const FlowKey4& key) noexcept;

    // Inserts both keys of a new connection with the given state, not yet replied; deadline =
    // now + timeout. endpoint_slot and endpoint_generation start at 0 for the caller to fill in.
    InsertResult insert(const FlowKey4& original, const FlowKey4& reply, TcpState state, uint32_t now_ms,
                        const ConnTimeouts& timeouts) noexcept;

    // Advances the TCP state for a packet seen in `direction` with `tcp_flags` (for SCTP, those
    // its first chunk stands for; ignored for other protocols), records a Reply-direction packet
    // in seen_reply and sets the deadline to now + the (new) state's timeout.
    void update(Connection* connection, FlowDirection direction, uint8_t tcp_flags, uint32_t now_ms,
                const ConnTimeouts& timeouts) noexcept;

    void remove(Connection* connection) noexcept;

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
    uint32_t home_bucket(const FlowKey4& key) const noexcept { return hash_key(key).bucket; }

    // Visits every live connection as `const Connection&` (listing, tests). O(capacity).
    template <class Visitor>
    void for_each(Visitor&& visit) const {
        for (uint32_t i = 0; i < capacity_; ++i) {
            if (entries_[i].live) visit(static_cast<const Connection&>(entries_[i]));
        }
    }

private:
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

    struct KeyHash {
        uint32_t bucket;
        uint16_t signature;
    };

    struct VictimChoice {
        Connection* victim = nullptr;
        bool expired = false;
    };

    ConnTable(Connection* entries, Bucket* buckets, uint32_t capacity, uint32_t bucket_count,
              uint32_t hash_seed) noexcept;

    KeyHash hash_key(const FlowKey4& key) const noexcept;
    uint32_t next_bucket(uint32_t bucket) const noexcept { return bucket + 1 == bucket_count_ ? 0 : bucket + 1; }
    ConnLookupResult find(const FlowKey4& key, const KeyHash& hash) noexcept;
    void lookup_batch(const FlowKey4* keys, uint32_t count, ConnLookupResult* results) noexcept;

    void adjust_overflow(uint32_t home, uint32_t distance, int delta) noexcept;
    bool link(uint32_t ref, const KeyHash& hash) noexcept;
    bool link_or_evict(uint32_t ref, const KeyHash& hash, uint32_t now_ms, bool& evicted) noexcept;
    void unlink(uint32_t ref, const KeyHash& hash) noexcept;
    void release(uint32_t index) noexcept;
    void enqueue_unanswered(uint32_t index) noexcept;
    void dequeue_unanswered(uint32_t index) noexcept;
    void retire(Connection* connection) noexcept;  // remove(), counting an unanswered SYN
    Connection& next_aged_entry() noexcept;        // entry at the ageing cursor; advances the cursor

    static bool consider_victim(Connection& candidate, uint32_t now_ms, VictimChoice& choice) noexcept;
    bool consider_bucket_victims(uint32_t bucket, uint32_t exclude_index, uint32_t now_ms,
                                 VictimChoice& choice) noexcept;
    VictimChoice choose_victim(uint32_t now_ms, const KeyHash& original, const KeyHash& reply) noexcept;
    VictimChoice oldest_unanswered(uint32_t now_ms, const ConnTimeouts& timeouts) noexcept;
    Connection* expired_near_cursor(uint32_t now_ms) noexcept;

    Connection* entries_;
    Bucket* buckets_;
    uint32_t capacity_;
    uint32_t bucket_count_;
    uint32_t hash_seed_;
    uint32_t size_ = 0;
    uint32_t free_head_ = 0;
    uint32_t age_cursor_ = 0;
    uint32_t unanswered_head_;  // oldest, or kNoEntry
    uint32_t unanswered_tail_;  // youngest, or kNoEntry
    uint32_t unanswered_count_ = 0;
    EndpointCounters* unanswered_counters_ = nullptr;
    uint32_t unanswered_slots_ = 0;
};

}  // namespace vipgate
