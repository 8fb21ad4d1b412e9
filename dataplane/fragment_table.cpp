// Fragment table. See fragment_table.h for why fragments are tracked, not reassembled.
#include "dataplane/fragment_table.h"

#include <rte_hash_crc.h>
#include <rte_mbuf.h>

namespace vipgate {
namespace {

// The clock wraps every 49 days: compare by difference.
template <class Entry>
bool expired(const Entry& entry, uint32_t now_ms) {
    return static_cast<int32_t>(now_ms - entry.expires_ms) >= 0;
}

template <class Key>
uint32_t hash_key(const Key& key, uint32_t seed) {
    return rte_hash_crc(&key, sizeof(key), seed);
}

}  // namespace

RangeResult FragmentProgress::add_range(uint16_t offset, uint16_t length, bool more) noexcept {
    const uint32_t begin = offset;
    const uint32_t end = begin + length;
    // A datagram has one end: a second last fragment, a fragment past it, or a last fragment
    // before data already seen all contradict the datagram as seen so far.
    if (last_seen && (!more || end > datagram_end)) return RangeResult::Overlap;
    if (!more && range_count > 0 && ranges[range_count - 1].end > end) return RangeResult::Overlap;
    uint32_t position = 0;
    while (position < range_count && ranges[position].end <= begin) ++position;
    // ranges[position] is the first that ends after `begin`: it must also start at or after `end`.
    if (position < range_count && ranges[position].begin < end) return RangeResult::Overlap;
    const bool joins_previous = position > 0 && ranges[position - 1].end == begin;
    const bool joins_next = position < range_count && ranges[position].begin == end;
    if (!joins_previous && !joins_next && range_count == kMaxRanges) return RangeResult::TooManyRanges;

    if (joins_previous && joins_next) {
        ranges[position - 1].end = ranges[position].end;
        for (uint32_t i = position; i + 1 < range_count; ++i) ranges[i] = ranges[i + 1];
        --range_count;
    } else if (joins_previous) {
        ranges[position - 1].end = static_cast<uint16_t>(end);
    } else if (joins_next) {
        ranges[position].begin = static_cast<uint16_t>(begin);
    } else {
        for (uint32_t i = range_count; i > position; --i) ranges[i] = ranges[i - 1];
        ranges[position] = {static_cast<uint16_t>(begin), static_cast<uint16_t>(end)};
        ++range_count;
    }
    if (!more) {
        last_seen = true;
        datagram_end = static_cast<uint16_t>(end);
    }
    return RangeResult::Added;
}

template <class Entry>
Entry* BasicFragmentTable<Entry>::find_or_create(const Key& key, uint32_t seed, uint32_t now_ms,
                                                 WorkerCounters& counters) noexcept {
    Entry* ways = &entries_[(hash_key(key, seed) % kSets) * kWays];
    Entry* free = nullptr;
    Entry* stale = nullptr;
    for (uint32_t way = 0; way < kWays; ++way) {
        Entry& entry = ways[way];
        if (!entry.in_use) {
            if (free == nullptr) free = &entry;
        } else if (entry.key == key) {
            if (!expired(entry, now_ms)) return &entry;
            // Gone, though the sweep has not reached it yet: the datagram starts again. (Never
            // handed out expired: the set's next datagram could reclaim it within the burst.)
            expire_entry(entry, counters);
            free = &entry;
            break;
        } else if (stale == nullptr && expired(entry, now_ms)) {
            stale = &entry;
        }
    }
    if (free == nullptr && stale != nullptr) {
        expire_entry(*stale, counters);
        free = stale;
    }
    if (free == nullptr) return nullptr;
    *free = Entry{};
    free->key = key;
    free->expires_ms = now_ms + kTimeoutMs;
    free->in_use = true;
    ++size_;
    return free;
}

template <class Entry>
void BasicFragmentTable<Entry>::release(Entry& entry) noexcept {
    entry.in_use = false;
    --size_;
}

template <class Entry>
void BasicFragmentTable<Entry>::expire_entry(Entry& entry, WorkerCounters& counters) noexcept {
    for (uint32_t i = 0; i < entry.held_count; ++i) {
        counters.drop(DropReason::FragmentTimeout);
        rte_pktmbuf_free(entry.held[i]);
    }
    entry.held_count = 0;
    if (entry.action == FragmentAction::AwaitFirst || entry.action == FragmentAction::Translate) {
        ++counters.fragment_datagrams_expired;
    }
    release(entry);
}

template <class Entry>
uint32_t BasicFragmentTable<Entry>::expire(uint32_t now_ms, uint32_t budget, WorkerCounters& counters) noexcept {
    if (size_ == 0) return 0;
    uint32_t cleared = 0;
    for (uint32_t visited = 0; visited < budget && visited < kCapacity; ++visited) {
        Entry& entry = entries_[expire_cursor_];
        expire_cursor_ = expire_cursor_ + 1 == kCapacity ? 0 : expire_cursor_ + 1;
        if (entry.in_use && expired(entry, now_ms)) {
            expire_entry(entry, counters);
            ++cleared;
        }
    }
    return cleared;
}

template class BasicFragmentTable<FragmentEntry>;
template class BasicFragmentTable<FragmentEntry6>;

uint16_t fragment_home(const FragmentKey& key, uint32_t seed, uint16_t worker_count) noexcept {
    return static_cast<uint16_t>(hash_key(key, seed ^ 0x9e3779b9u) % worker_count);
}

uint16_t fragment_home6(const FragmentKey6& key, uint32_t seed, uint16_t worker_count) noexcept {
    return static_cast<uint16_t>(hash_key(key, seed ^ 0x9e3779b9u) % worker_count);
}

}  // namespace vipgate
