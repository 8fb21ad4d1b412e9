// Per-worker connection tracking table (IPv4; the IPv6 table, conn_table6.h, shares the
// mechanism described here through conn_index.h).
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

#include "dataplane/conn_index.h"
#include "dataplane/counters.h"
#include "dataplane/flow_key.h"
#include "dataplane/tcp_state.h"

namespace vipgate {

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
    template <class, class, class>
    friend class ConnIndex;
    bool live = false;        // false while on the free list
    bool unanswered = false;  // in the unanswered FIFO
    uint32_t next = 0;        // !live: free-list link; unanswered: the next (younger) FIFO entry
    uint32_t previous = 0;    // unanswered: the previous (older) FIFO entry
};
static_assert(sizeof(Connection) == 64);

using ConnLookupResult = BasicLookupResult<Connection>;
using InsertResult = BasicInsertResult<Connection>;

class ConnTable final : public ConnIndex<ConnTable, Connection, FlowKey4> {
public:
    // Inserts both keys of a new connection with the given state, not yet replied; deadline =
    // now + timeout. endpoint_slot and endpoint_generation start at 0 for the caller to fill in.
    InsertResult insert(const FlowKey4& original, const FlowKey4& reply, TcpState state, uint32_t now_ms,
                        const ConnTimeouts& timeouts) noexcept;

private:
    friend class ConnIndex<ConnTable, Connection, FlowKey4>;
    using ConnIndex::ConnIndex;

    // Two CRC32 passes over the key (words in opposite orders) give 64 bits; CRC is linear, so
    // keys that differ in a few bits (one client's sequential ports) produce structured values,
    // which the finaliser (mix64) breaks.
    uint64_t mix_key(const FlowKey4& key) const noexcept {
        uint64_t words[2];
        std::memcpy(words, &key, sizeof(words));
        const uint32_t forward = hash_flow_key(key, hash_seed_);
        const uint32_t backward = rte_hash_crc_8byte(words[0], rte_hash_crc_8byte(words[1], hash_seed_));
        return mix64(uint64_t{forward} << 32 | backward);
    }
    static bool key_matches(const Connection& connection, FlowDirection direction, const FlowKey4& key) noexcept {
        return (direction == FlowDirection::Original ? connection.original : connection.reply) == key;
    }
    static const FlowKey4& reply_key(const Connection& connection) noexcept { return connection.reply; }
};

}  // namespace vipgate
