// Per-source DNS response rate limiting (RRL, as Knot and BIND do it), per worker.
//
// Design note: a DNS server answers spoofed sources, so it can be used to flood them; limiting
// the responses per source address bounds that. A fixed direct-mapped table (no allocation, no
// eviction policy: a colliding address takes the entry over with a full bucket) of token
// buckets refilled from the worker's millisecond clock. A bucket holds one second of responses;
// tokens count thousandths of a response so any rate refills exactly. Over the limit, every
// `slip`-th response goes out truncated (TC, no records: no larger than the query) so a real
// client behind a spoofed flood still gets through, over TCP; the rest are dropped.
#pragma once

#include <cstdint>
#include <new>

#include <rte_common.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace vipgate {

struct DnsRateEntry {
    uint32_t address = 0;  // network order
    uint32_t last_ms = 0;
    uint32_t tokens = 0;   // thousandths of a response
    uint32_t limited = 0;  // responses over the limit since the entry was taken
};

enum class DnsRateDecision : uint8_t { Send, Slip, Drop };

class DnsRateLimiter {
public:
    static constexpr uint32_t kEntries = 16384;
    static constexpr uint32_t kMaxRate = 1'000'000;  // tokens must fit in 32 bits
    static constexpr uint32_t kTokensPerResponse = 1000;

    // At worker setup, on the worker's socket; null when the memory is short.
    static DnsRateLimiter* create(int socket) noexcept {
        void* memory = rte_malloc_socket("dns_rate_limiter", sizeof(DnsRateLimiter), RTE_CACHE_LINE_SIZE, socket);
        return memory == nullptr ? nullptr : new (memory) DnsRateLimiter;
    }
    static void destroy(DnsRateLimiter* limiter) noexcept { rte_free(limiter); }

    // `rate`: responses per second (> 0); `slip`: every slip-th limited response is sent truncated (0: none).
    DnsRateDecision check(uint32_t address, uint32_t now_ms, uint32_t rate, uint32_t slip) noexcept {
        if (rate > kMaxRate) rate = kMaxRate;
        const uint32_t capacity = rate * kTokensPerResponse;
        DnsRateEntry& entry = entries_[rte_hash_crc_4byte(address, kSeed) & (kEntries - 1)];
        if (entry.address != address) {
            entry = DnsRateEntry{address, now_ms, capacity, 0};
        } else {
            const uint64_t refill = uint64_t(now_ms - entry.last_ms) * rate;
            entry.tokens = static_cast<uint32_t>(refill >= capacity - entry.tokens ? capacity : entry.tokens + refill);
            entry.last_ms = now_ms;
        }
        if (entry.tokens >= kTokensPerResponse) {
            entry.tokens -= kTokensPerResponse;
            return DnsRateDecision::Send;
        }
        ++entry.limited;
        return slip != 0 && entry.limited % slip == 0 ? DnsRateDecision::Slip : DnsRateDecision::Drop;
    }

private:
    static constexpr uint32_t kSeed = 0x5bd1e995;
    DnsRateEntry entries_[kEntries];
};

}  // namespace vipgate
