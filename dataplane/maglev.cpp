#include "dataplane/maglev.h"
#include "dataplane/primes.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <iterator>
#include <tuple>
#include <utility>

namespace vipgate {

namespace {

constexpr uint64_t kSlotsPerBackend = 100;
constexpr uint32_t kUnfilled = UINT32_MAX;

// Domain separators so the offset and skip hashes of one identity are independent.
constexpr uint64_t kOffsetDomain = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr uint64_t kSkipDomain = 0x6d61676c65762d73ULL;    // "maglev-s"

// splitmix64's finalizer: a bijection with full avalanche, so neighbouring identities (ports
// of one pod) get unrelated permutations.
uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t keyed_hash(uint64_t identity, uint64_t seed, uint64_t domain) {
    return mix64(identity ^ mix64(seed ^ domain));
}

// One backend's walk through its permutation (offset + j * skip) mod M, computed lazily: a
// full N x M permutation matrix would be 256 MB for 1000 backends at M = 65537.
struct Cursor {
    uint32_t next;  // the next slot this backend prefers
    uint32_t skip;  // in [1, M-1]; coprime with M because M is prime
    uint32_t weight;
    uint64_t credit;  // weight accumulated since the last turn; below max weight between turns
};

}  // namespace

MaglevTable MaglevTable::build(std::span<const MaglevBackend> backends, uint32_t table_size, uint64_t seed) {
    assert(is_prime(table_size));

    std::vector<MaglevBackend> active;
    active.reserve(backends.size());
    std::copy_if(backends.begin(), backends.end(), std::back_inserter(active),
                 [](const MaglevBackend& backend) { return backend.weight > 0; });
    if (active.empty()) return {};

    // Sorting on every field (not only identity) keeps even duplicate identities independent
    // of the input order.
    std::sort(active.begin(), active.end(), [](const MaglevBackend& a, const MaglevBackend& b) {
        return std::tie(a.identity, a.value, a.weight) < std::tie(b.identity, b.value, b.weight);
    });

    uint32_t max_weight = 0;
    std::vector<Cursor> cursors;
    cursors.reserve(active.size());
    for (const MaglevBackend& backend : active) {
        max_weight = std::max(max_weight, backend.weight);
        uint32_t offset = static_cast<uint32_t>(keyed_hash(backend.identity, seed, kOffsetDomain) % table_size);
        uint32_t skip = static_cast<uint32_t>(keyed_hash(backend.identity, seed, kSkipDomain) % (table_size - 1)) + 1;
        cursors.push_back(Cursor{offset, skip, backend.weight, 0});
    }

    // owner[slot] is an index into `active` while filling, then rewritten in place to the value.
    std::vector<uint32_t> owner(table_size, kUnfilled);
    uint32_t filled = 0;
    while (filled < table_size) {
        for (uint32_t index = 0; index < cursors.size() && filled < table_size; ++index) {
            Cursor& cursor = cursors[index];
            cursor.credit += cursor.weight;
            if (cursor.credit < max_weight) continue;
            cursor.credit -= max_weight;

            uint32_t slot = cursor.next;
            while (owner[slot] != kUnfilled) {
                slot += cursor.skip;
                if (slot >= table_size) slot -= table_size;
            }
            owner[slot] = index;
            ++filled;
            cursor.next = slot + cursor.skip;
            if (cursor.next >= table_size) cursor.next -= table_size;
        }
    }

    for (uint32_t& slot : owner) slot = active[slot].value;
    MaglevTable table;
    table.slots_ = std::move(owner);
    return table;
}

uint32_t maglev_table_size(size_t backend_count, uint32_t max_table_size) noexcept {
    // Clamping the count first keeps the product far from overflow: any count above the cap
    // already asks for more than the cap. A count of 0 sizes like 1 (smallest prime >= 100: 101).
    uint64_t count = std::max<uint64_t>(std::min<uint64_t>(backend_count, max_table_size), 1);
    uint64_t rounded_count = uint64_t(1) << (64 - __builtin_clzll(count) - (std::has_single_bit(count) ? 1 : 0));
    uint64_t wanted = rounded_count * kSlotsPerBackend;
    for (uint64_t candidate = wanted; candidate <= max_table_size; ++candidate) {
        if (is_prime(static_cast<uint32_t>(candidate))) return static_cast<uint32_t>(candidate);
    }
    return max_table_size;
}

}  // namespace vipgate
