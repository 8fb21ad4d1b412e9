// Per-worker IPv6 connection tracking table: the IPv4 table's mechanism (conn_table.h: index,
// probing, eviction FIFO, ageing, state machine; one implementation in conn_index.h) over a
// 96-byte entry keyed by FlowKey6.
//
// Design note (docs/ipv6.md). Storing both 40-byte keys would make a 108-byte entry, padded
// to 128: 149 bytes per connection with the index. The entry keeps the original key whole and
// only what differs in the reply key: the endpoint's address and port (its source), the
// reply's destination port, and the destination address as a one-byte SNAT slot (the
// table's copy of the SNAT6 address list) or kDnatOnly, meaning the client's own address (the
// original source). A Reply-direction index hit compares the packet's key with the reply key
// rebuilt from those fields, so no lookup ever reads a key that is not there. 96 bytes,
// alignas(32): every entry spans exactly two cache lines, as a 128-byte one would, for a
// quarter less memory; about 118 bytes per connection with the index (bytes_per_connection()).
//
// Hash. FlowKey4 takes two CRC passes (4 steps) for 64 bits; for a 40-byte key that would be
// 10 steps. Here one pass of 5 CRC32 steps over the five key words runs as two independent
// lanes (words 0, 2, 4 and words 1, 3, differently seeded), which gives 64 bits with the
// latency of 3 steps rather than 5, and the finaliser (mix64) spreads them over bucket and
// signature. Measured (structures_bench, cache-resident lookups): a single 5-step chain with
// an XOR fold of the words as the low half cost 0.3 to 1.4 ns more per lookup; the CRC chain
// alone would give 32 bits for both bucket and signature (a signature false positive about
// 2^-11 at a million buckets rather than 2^-16).
//
// SNAT slots. The reply key of a full-NAT entry depends on the address in its slot: a slot
// must not change while entries use it (docs/ipv6.md, step 6: slots are appended and retired
// like endpoint slots), or remove() would look for the old reply key and leave its index slot
// behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/conn_index.h"
#include "dataplane/flow_key.h"
#include "dataplane/tcp_state.h"

namespace vipgate {

struct alignas(32) Connection6 {
    static constexpr uint8_t kDnatOnly = 0xFF;  // snat_slot: the reply goes to the client's address

    FlowKey6 original;               // as received from the client: client -> VIP
    uint8_t endpoint_addr[16] = {};  // reply source
    uint16_t endpoint_port = 0;      // reply source port (network order)
    uint16_t reply_dst_port = 0;     // SNAT port (full-NAT) or the client's port (DNAT-only)
    uint8_t snat_slot = kDnatOnly;   // reply destination: ConnTable6's SNAT slot, or the client
    TcpState tcp_state = TcpState::None;
    bool seen_reply = false;  // a Reply-direction packet has been seen (set by the table)
    // live, unanswered, next and previous belong to the table: callers only read them (they are
    // public so that Connection6 stays standard-layout and offsetof below is valid).
    bool live = false;                 // false while on the free list
    bool unanswered = false;           // in the unanswered FIFO
    uint32_t endpoint_slot = 0;        // set by the caller after insert
    uint32_t endpoint_generation = 0;  // set by the caller after insert
    uint32_t deadline_ms = 0;          // expired when (int32_t)(now_ms - deadline_ms) >= 0
    uint32_t syn_us = 0;               // as Connection::syn_us
    uint32_t next = 0;                 // !live: free-list link; unanswered: the next (younger) FIFO entry
    uint32_t previous = 0;             // unanswered: the previous (older) FIFO entry

    bool is_expired(uint32_t now_ms) const noexcept { return static_cast<int32_t>(now_ms - deadline_ms) >= 0; }
};
static_assert(sizeof(Connection6) == 96 && alignof(Connection6) == 32);
static_assert(offsetof(Connection6, original) == 0 && offsetof(Connection6, endpoint_addr) == 40);
static_assert(offsetof(Connection6, endpoint_port) == 56 && offsetof(Connection6, reply_dst_port) == 58);
static_assert(offsetof(Connection6, snat_slot) == 60 && offsetof(Connection6, tcp_state) == 61);
static_assert(offsetof(Connection6, seen_reply) == 62 && offsetof(Connection6, live) == 63);
static_assert(offsetof(Connection6, unanswered) == 64 && offsetof(Connection6, endpoint_slot) == 68);
static_assert(offsetof(Connection6, deadline_ms) == 76 && offsetof(Connection6, syn_us) == 80);
static_assert(offsetof(Connection6, previous) == 88);  // spare: 65..67, 92..95

// The reply side of a new IPv6 connection: what its reply key is rebuilt from.
struct ReplySide6 {
    uint8_t endpoint_addr[16] = {};
    uint16_t endpoint_port = 0;                  // network order
    uint16_t dst_port = 0;                       // SNAT port, or the client's port (DNAT-only)
    uint8_t snat_slot = Connection6::kDnatOnly;  // the reply's destination address
};

using ConnLookupResult6 = BasicLookupResult<Connection6>;
using InsertResult6 = BasicInsertResult<Connection6>;

class ConnTable6 final : public ConnIndex<ConnTable6, Connection6, FlowKey6> {
public:
    static constexpr uint32_t kSnatSlots = Connection6::kDnatOnly;  // slots 0..254

    // Sets the address of SNAT slot `slot` (false if slot >= kSnatSlots). Not while entries
    // use the slot (see the design note).
    bool set_snat_address(uint8_t slot, const uint8_t (&address)[16]) noexcept {
        if (slot >= kSnatSlots) return false;
        std::memcpy(snat_addresses_[slot], address, sizeof(address));
        return true;
    }

    // Inserts a new connection: its original key and, built from `reply` (and the client's
    // address for kDnatOnly), its reply key; otherwise as ConnTable::insert.
    InsertResult6 insert(const FlowKey6& original, const ReplySide6& reply, TcpState state, uint32_t now_ms,
                         const ConnTimeouts& timeouts) noexcept;

    // The key an endpoint's packets carry back: endpoint -> SNAT address or client.
    FlowKey6 reply_key(const Connection6& connection) const noexcept;

    // Whether `key` is the connection's reply key: what a Reply-direction index hit checks, the
    // rebuilt key compared field by field (no 40-byte copy on the lookup path).
    bool reply_matches(const Connection6& connection, const FlowKey6& key) const noexcept {
        const uint8_t* destination = connection.snat_slot == Connection6::kDnatOnly
                                         ? connection.original.src_addr
                                         : snat_addresses_[connection.snat_slot];
        return key.src_port == connection.endpoint_port && key.dst_port == connection.reply_dst_port &&
               key.protocol == connection.original.protocol &&
               (key.padding[0] | key.padding[1] | key.padding[2]) == 0 &&
               std::memcmp(key.src_addr, connection.endpoint_addr, sizeof(key.src_addr)) == 0 &&
               std::memcmp(key.dst_addr, destination, sizeof(key.dst_addr)) == 0;
    }

private:
    friend class ConnIndex<ConnTable6, Connection6, FlowKey6>;
    using ConnIndex::ConnIndex;

    FlowKey6 make_reply_key(const FlowKey6& original, const ReplySide6& reply) const noexcept;

    uint64_t mix_key(const FlowKey6& key) const noexcept {
        uint64_t words[5];
        static_assert(sizeof(words) == sizeof(FlowKey6));
        std::memcpy(words, &key, sizeof(words));
        uint32_t even = rte_hash_crc_8byte(words[0], hash_seed_);
        uint32_t odd = rte_hash_crc_8byte(words[1], ~hash_seed_);
        even = rte_hash_crc_8byte(words[2], even);
        odd = rte_hash_crc_8byte(words[3], odd);
        even = rte_hash_crc_8byte(words[4], even);
        return mix64(uint64_t{even} << 32 | odd);
    }

    bool key_matches(const Connection6& connection, FlowDirection direction, const FlowKey6& key) const noexcept {
        if (direction == FlowDirection::Original) return connection.original == key;
        return reply_matches(connection, key);
    }

    uint8_t snat_addresses_[kSnatSlots][16] = {};
};

}  // namespace vipgate
