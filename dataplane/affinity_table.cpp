#include "dataplane/affinity_table.h"

#include <new>

#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

namespace vipgate {

template <class Client>
BasicAffinityTable<Client>* BasicAffinityTable<Client>::create(uint32_t capacity, uint32_t hash_seed,
                                                               int socket_id) noexcept {
    if (capacity == 0) return nullptr;
    const uint32_t bucket_count = static_cast<uint32_t>((uint64_t{capacity} + kWays - 1) / kWays);
    void* table_memory =
        rte_zmalloc_socket("vipgate_affinity_table", sizeof(BasicAffinityTable), RTE_CACHE_LINE_SIZE, socket_id);
    void* bucket_memory = rte_zmalloc_socket("vipgate_affinity_buckets", uint64_t{bucket_count} * sizeof(Bucket),
                                             RTE_CACHE_LINE_SIZE, socket_id);
    if (table_memory == nullptr || bucket_memory == nullptr) {
        rte_free(bucket_memory);
        rte_free(table_memory);
        return nullptr;
    }
    auto* buckets = static_cast<Bucket*>(bucket_memory);
    for (uint32_t i = 0; i < bucket_count; ++i) new (&buckets[i]) Bucket{};
    return new (table_memory) BasicAffinityTable(buckets, bucket_count, hash_seed);
}

template <class Client>
void BasicAffinityTable<Client>::destroy(BasicAffinityTable* table) noexcept {
    if (table == nullptr) return;
    rte_free(table->buckets_);
    table->~BasicAffinityTable();
    rte_free(table);
}

template <class Client>
size_t BasicAffinityTable<Client>::memory_bytes() const noexcept {
    return sizeof(BasicAffinityTable) + size_t{bucket_count_} * sizeof(Bucket);
}

namespace {

template <class Entry, class Client, size_t Ways>
Entry* find_key(Entry (&ways)[Ways], const Client& client, uint32_t service_port) {
    for (Entry& entry : ways) {
        if (entry.client == client && entry.service_port == service_port && entry.endpoint_generation != 0) {
            return &entry;
        }
    }
    return nullptr;
}

// The first empty or expired way, and how many ways hold fresh entries.
template <class Entry, size_t Ways>
Entry* free_way(Entry (&ways)[Ways], uint32_t now_ms, uint32_t& fresh) {
    Entry* free = nullptr;
    fresh = 0;
    for (Entry& entry : ways) {
        if (entry.endpoint_generation != 0 && entry.is_fresh(now_ms)) {
            ++fresh;
        } else if (free == nullptr) {
            free = &entry;
        }
    }
    return free;
}

}  // namespace

// A 64-bit finaliser (MurmurHash3 fmix64) over the client's word and the service port;
// multiply-shift on each half picks one candidate bucket.
template <class Client>
typename BasicAffinityTable<Client>::Candidates BasicAffinityTable<Client>::buckets_of(
    const Client& client, uint32_t service_port) const noexcept {
    uint64_t mixed =
        (uint64_t{service_port} << 32 | affinity_client_word(client)) ^ (uint64_t{hash_seed_} * 0x9e3779b97f4a7c15ULL);
    mixed ^= mixed >> 33;
    mixed *= 0xff51afd7ed558ccdULL;
    mixed ^= mixed >> 33;
    mixed *= 0xc4ceb9fe1a85ec53ULL;
    mixed ^= mixed >> 33;
    return {&buckets_[((mixed >> 32) * bucket_count_) >> 32], &buckets_[((mixed & UINT32_MAX) * bucket_count_) >> 32]};
}

template <class Client>
void BasicAffinityTable<Client>::prefetch(const Client& client, uint32_t service_port) const noexcept {
    const Candidates candidates = buckets_of(client, service_port);
    rte_prefetch0(candidates.first);
    rte_prefetch0(candidates.second);
}

template <class Client>
typename BasicAffinityTable<Client>::Entry* BasicAffinityTable<Client>::find(const Client& client,
                                                                             uint32_t service_port,
                                                                             uint32_t now_ms) noexcept {
    const Candidates candidates = buckets_of(client, service_port);
    Entry* entry = find_key(candidates.first->ways, client, service_port);
    if (entry == nullptr) entry = find_key(candidates.second->ways, client, service_port);
    return entry != nullptr && entry->is_fresh(now_ms) ? entry : nullptr;
}

template <class Client>
bool BasicAffinityTable<Client>::insert(const Client& client, uint32_t service_port, uint32_t endpoint_slot,
                                        uint32_t endpoint_generation, uint32_t now_ms, uint32_t timeout_ms) noexcept {
    const Candidates candidates = buckets_of(client, service_port);
    // A key is held by at most one way of its two buckets.
    Entry* target = find_key(candidates.first->ways, client, service_port);
    if (target == nullptr) target = find_key(candidates.second->ways, client, service_port);
    if (target == nullptr) {
        uint32_t first_fresh = 0;
        uint32_t second_fresh = 0;
        Entry* first = free_way(candidates.first->ways, now_ms, first_fresh);
        Entry* second = free_way(candidates.second->ways, now_ms, second_fresh);
        target = first != nullptr && (second == nullptr || first_fresh <= second_fresh) ? first : second;
        if (target == nullptr) return false;
    }
    size_ += target->endpoint_generation == 0;  // an empty way gets an entry
    *target = Entry{client, service_port, endpoint_slot, endpoint_generation, now_ms + timeout_ms};
    return true;
}

template <class Client>
uint32_t BasicAffinityTable<Client>::expire(uint32_t now_ms, uint32_t bucket_budget) noexcept {
    uint32_t cleared = 0;
    for (uint32_t visited = 0; visited < bucket_budget && visited < bucket_count_; ++visited) {
        Bucket& bucket = buckets_[expire_cursor_];
        expire_cursor_ = expire_cursor_ + 1 == bucket_count_ ? 0 : expire_cursor_ + 1;
        for (Entry& entry : bucket.ways) {
            if (entry.endpoint_generation != 0 && !entry.is_fresh(now_ms)) {
                entry = Entry{};
                ++cleared;
            }
        }
    }
    size_ -= cleared;
    return cleared;
}

template class BasicAffinityTable<uint32_t>;
template class BasicAffinityTable<AffinityClient6>;

}  // namespace vipgate
