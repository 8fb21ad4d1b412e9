// Per-worker session affinity table (sessionAffinity: ClientIP).
//
// Design note. Kubernetes' ClientIP affinity sends every new connection from one client address
// to one service port to the same endpoint while the affinity is fresh: it expires `timeout`
// after the client's last new connection. Two mechanisms give that here:
//
// - The *choice* is deterministic per client: an affinity service port picks its endpoint by a
//   Maglev lookup of affinity_hash(client address, seed), not of the 5-tuple. Workers are
//   independent and a client's connections are spread over them by connection_owner(client
//   address, client port), so every worker must reach the same answer on its own; with a stable
//   endpoint set the hash alone is ClientIP affinity, on every worker and every gateway.
// - This table remembers the choice, so that a fresh affinity survives a change of the endpoint
//   set: an endpoint added to the service moves part of the Maglev table, and without memory a
//   client with fresh affinity would move with it. The pipeline re-picks (and overwrites the
//   entry) only when the remembered endpoint may no longer take new connections.
//
// Key: (client address, service port id). The service port's incarnation is not part of the
// key: the entry names its endpoint by (slot, generation), which is unique over the gateway's
// life, and the pipeline accepts it only while that endpoint is alive and owned by the same
// service port id, so an entry left by a removed service can never steer a new one. Keying by
// incarnation as well would also drop every affinity whenever a builder issues new incarnations
// for unchanged service ports.
//
// Layout: 64-byte buckets of kWays (3) entries, allocated once in create() (no allocation
// afterwards). A key may live in either of two buckets picked by independent hash bits, and an
// insert takes the one holding fewer fresh entries ("power of two choices"). One bucket per key
// refuses inserts early: in a simulation 5.8 % of inserts found their bucket full at half load
// and 2.4 % at a third; with two choices 0.04 % at half load and 0.8 % at two thirds. A lookup
// reads the two lines, which the pipeline prefetches for the whole burst. An entry stores its
// deadline rather than its last use so that any entry's freshness can be judged without reading
// its service port (needed when choosing a way to replace); a changed timeout therefore applies
// from each client's next new connection.
//
// Replacement: an insert takes the way already holding the key, else an empty or expired way.
// It never evicts a fresh entry: when every way of both buckets is fresh the insert fails (the
// caller counts affinity_table_full) and the client is still served by the deterministic hash,
// which keeps it on one endpoint as long as the endpoint set does not change. Evicting the
// oldest fresh entry instead would let a burst of new clients break the affinity of existing
// ones.
//
// Families: one mechanism for both, over the client address type. IPv4 entries are 20 bytes,
// three ways per 64-byte bucket; IPv6 entries (the 16-byte address) are 32 bytes, two ways per
// bucket, so an IPv6 key has four candidate ways instead of six. The IPv6 table is created with
// the worker's IPv6 connection table, only when a port has an IPv6 address.
//
// Time: caller-supplied wrapping 32-bit milliseconds, as in ConnTable; timeouts must be below
// 2^31 ms (the Kubernetes maximum, 86,400 s, is 8.64e7 ms). expire() clears expired entries
// incrementally from the poll loop, so no entry lives long enough to look fresh again after the
// clock wraps.
//
// Limits (per-worker state, no shared writes): each worker refreshes only the entries of the
// connections it owns, so after an endpoint-set change two workers may disagree for a client
// whose entry expired on one of them but not the other, and a worker that never saw a client
// picks by hash (the new endpoint set) while another still remembers the old choice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_hash_crc.h>

#include "dataplane/snapshot.h"

namespace vipgate {

// MurmurHash3's fmix32 finaliser. CRC32 is linear, so the addresses of one subnet give
// structured values; this spreads them over the high bits that Maglev's multiply-shift reads.
inline uint32_t fmix32(uint32_t hash) noexcept {
    hash ^= hash >> 16;
    hash *= 0x85ebca6bu;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35u;
    hash ^= hash >> 16;
    return hash;
}

// The hash an affinity service port's Maglev lookup uses: the client address only.
inline uint32_t affinity_hash(uint32_t client_address, uint32_t seed) noexcept {
    return fmix32(rte_hash_crc_4byte(client_address, seed));
}
inline uint32_t affinity_hash6(const uint8_t (&client_address)[16], uint32_t seed) noexcept {
    return fmix32(rte_hash_crc(client_address, 16, seed));
}

// An IPv6 client address as the entry keeps it (network order, as on the wire).
struct AffinityClient6 {
    uint8_t bytes[16];

    bool operator==(const AffinityClient6&) const = default;
};

inline AffinityClient6 affinity_client6(const uint8_t (&address)[16]) noexcept {
    AffinityClient6 client;
    std::memcpy(client.bytes, address, sizeof(client.bytes));
    return client;
}

// The 32 bits of a client that pick its buckets (mixed with the service port there).
inline uint32_t affinity_client_word(uint32_t client) noexcept {
    return client;
}
inline uint32_t affinity_client_word(const AffinityClient6& client) noexcept {
    return rte_hash_crc(client.bytes, sizeof(client.bytes), 0);
}

template <class Client>
struct BasicAffinityEntry {
    Client client{};            // network order
    uint32_t service_port = 0;  // service port id
    uint32_t endpoint_slot = 0;
    uint32_t endpoint_generation = 0;  // 0: the way is empty (generations start at 1)
    uint32_t deadline_ms = 0;          // fresh while (int32_t)(now_ms - deadline_ms) < 0

    bool is_fresh(uint32_t now_ms) const noexcept { return static_cast<int32_t>(now_ms - deadline_ms) < 0; }
};
using AffinityEntry = BasicAffinityEntry<uint32_t>;
using AffinityEntry6 = BasicAffinityEntry<AffinityClient6>;
static_assert(sizeof(AffinityEntry) == 20);
static_assert(sizeof(AffinityEntry6) == 32);

// Whether the endpoint an entry remembers may take the client's next new connection: it still
// exists (same slot generation) in `service_port`, serves (ready) and is not drained (weight 0).
// A terminating endpoint qualifies only while the service has no ready one; the Maglev table
// then holds only terminating endpoints (KEP-1669), so the client's hashed choice
// (`hashed_slot`) tells which case applies.
template <class Client>
bool remembered_endpoint_usable(const Snapshot& snapshot, const BasicAffinityEntry<Client>& entry,
                                uint32_t service_port, uint32_t hashed_slot) noexcept {
    if (!snapshot.endpoint_alive(entry.endpoint_slot, entry.endpoint_generation)) return false;
    const EndpointSlot& endpoint = snapshot.endpoints[entry.endpoint_slot];
    return endpoint.service_port == service_port && endpoint.ready && endpoint.weight > 0 &&
           (!endpoint.terminating || snapshot.endpoints[hashed_slot].terminating);
}

template <class Client>
class BasicAffinityTable {
public:
    using Entry = BasicAffinityEntry<Client>;
    static constexpr uint32_t kWays = 64 / sizeof(Entry);
    // Entries per worker in the daemon. Every worker sees every client (connections are spread
    // by client port), so this bounds the (client, affinity service port) pairs with fresh
    // affinity on the whole gateway (IPv4: about 87k below 1 % refusals): 131,072 entries cost
    // 2.8 MiB per worker for IPv4, 4 MiB for IPv6.
    static constexpr uint32_t kDefaultCapacity = 1u << 17;

    // Allocates everything with rte_zmalloc_socket; capacity is rounded up to whole buckets.
    // nullptr on failure or when capacity is 0.
    static BasicAffinityTable* create(uint32_t capacity, uint32_t hash_seed, int socket_id) noexcept;
    static void destroy(BasicAffinityTable* table) noexcept;

    BasicAffinityTable(const BasicAffinityTable&) = delete;
    BasicAffinityTable& operator=(const BasicAffinityTable&) = delete;

    // The fresh entry of (client, service_port), or nullptr. The pointer stays valid until the
    // next insert() or expire().
    Entry* find(const Client& client, uint32_t service_port, uint32_t now_ms) noexcept;

    // Remembers (or replaces) the endpoint of (client, service_port) until now + timeout.
    // false when every way of the set holds another fresh entry (nothing is changed then).
    bool insert(const Client& client, uint32_t service_port, uint32_t endpoint_slot, uint32_t endpoint_generation,
                uint32_t now_ms, uint32_t timeout_ms) noexcept;

    static void refresh(Entry& entry, uint32_t now_ms, uint32_t timeout_ms) noexcept {
        entry.deadline_ms = now_ms + timeout_ms;
    }

    // Starts loading the two buckets of (client, service_port).
    void prefetch(const Client& client, uint32_t service_port) const noexcept;

    // Clears the expired entries of up to `bucket_budget` buckets from a rotating cursor and
    // returns how many it cleared. Called once per poll loop.
    uint32_t expire(uint32_t now_ms, uint32_t bucket_budget) noexcept;

    uint32_t capacity() const noexcept { return bucket_count_ * kWays; }
    // Ways holding an entry, fresh or expired but not yet cleared by expire(): the table's fill.
    uint32_t size() const noexcept { return size_; }
    size_t memory_bytes() const noexcept;

private:
    struct alignas(64) Bucket {
        Entry ways[kWays];
    };
    static_assert(sizeof(Bucket) == 64);

    BasicAffinityTable(Bucket* buckets, uint32_t bucket_count, uint32_t hash_seed) noexcept
        : buckets_(buckets), bucket_count_(bucket_count), hash_seed_(hash_seed) {}

    struct Candidates {
        Bucket* first;
        Bucket* second;  // may be the same bucket in a tiny table
    };
    Candidates buckets_of(const Client& client, uint32_t service_port) const noexcept;

    Bucket* buckets_;
    uint32_t bucket_count_;
    uint32_t hash_seed_;
    uint32_t expire_cursor_ = 0;
    uint32_t size_ = 0;
};

using AffinityTable = BasicAffinityTable<uint32_t>;
using AffinityTable6 = BasicAffinityTable<AffinityClient6>;
extern template class BasicAffinityTable<uint32_t>;
extern template class BasicAffinityTable<AffinityClient6>;

}  // namespace vipgate
