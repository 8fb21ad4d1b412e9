// Per-worker tables of IPv4 and IPv6 datagrams in fragments, without reassembly.
//
// Design note (after Maglev and Katran): only the first fragment carries the ports, so only it
// can be looked up in the connection table. Its fate (translated to these addresses, handed to
// that worker, or dropped) is remembered here under (source, destination, protocol, IP id), and
// every later fragment follows it: the same addresses (the L4 checksum, in the first fragment,
// already covers the new pseudo header), the same worker, or the same drop. Fragments that come
// before their first wait in the entry (at most kMaxHeld) until it arrives or the entry expires.
//
// Why not reassemble (DPDK's rte_ip_frag): a reassembling gateway must copy or chain up to 64 KiB
// per datagram, hold every fragment until the last, and then refragment on the way out (two more
// mempools and allocations per fragment, pipeline.cpp's MTU note); this table holds nothing in
// order, forwards each fragment as it comes, and costs 128 bytes per datagram in flight.
//
// Bounds: kCapacity entries (4-way sets) per worker, 128 KiB; an entry lives kTimeoutMs from its
// first fragment (Linux's ipfrag_time is 30 s; a datagram's fragments leave the sender
// back-to-back, so seconds are generous), or until every byte of the datagram was seen. The
// ranges seen are kept merged (at most kMaxRanges holes and islands): overlapping fragments
// (teardrop), a second "last" fragment that disagrees, or a datagram with too many islands are
// refused, and after an overlap the rest of the datagram is dropped too.
//
// IPv6 (RFC 8200) uses the same table with its own key, (source, destination, 32-bit
// identification), and 192-byte entries (the 16-byte addresses): 192 KiB per worker.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/counters.h"

struct rte_mbuf;

namespace vipgate {

// Network order, as in the IPv4 header. Padded: the whole key is hashed and compared.
struct FragmentKey {
    uint32_t src_addr = 0;
    uint32_t dst_addr = 0;
    uint16_t ip_id = 0;
    uint8_t protocol = 0;
    uint8_t padding = 0;

    bool operator==(const FragmentKey&) const = default;
};
static_assert(sizeof(FragmentKey) == 12);

// IPv6 (RFC 8200 4.5): a datagram is (source, destination, identification); the protocol is
// not part of it. Network order.
struct FragmentKey6 {
    std::array<uint8_t, 16> src_addr{};
    std::array<uint8_t, 16> dst_addr{};
    uint32_t id = 0;

    bool operator==(const FragmentKey6&) const = default;
};
static_assert(sizeof(FragmentKey6) == 36);

// What the first fragment's handling decided for the datagram.
enum class FragmentAction : uint8_t {
    AwaitFirst,  // the first fragment has not been handled: later ones wait
    Translate,   // rewrite addresses to new_src_addr/new_dst_addr and forward
    HandOff,     // hand to worker `owner`, which tracks the connection
    Discard,     // the first fragment was dropped (or the datagram overlapped): drop the rest
    Kernel,      // the first fragment went to its port's kernel interface: so do the rest
};

enum class RangeResult : uint8_t { Added, Overlap, TooManyRanges };

// The family-independent part of an entry: the bytes seen, the fragments held, the decision.
// Laid out first so that an IPv4 entry stays two cache lines.
struct FragmentProgress {
    static constexpr uint32_t kMaxRanges = 8;
    static constexpr uint32_t kMaxHeld = 8;
    struct Range {
        uint16_t begin, end;  // bytes of the datagram's payload, [begin, end)
    };

    std::array<rte_mbuf*, kMaxHeld> held{};  // later fragments waiting for the first, in arrival order
    std::array<Range, kMaxRanges> ranges{};  // sorted, merged, disjoint
    uint16_t datagram_end = 0;               // payload length of the datagram, once its last fragment was seen
    uint8_t owner = 0;                       // HandOff (kMaxWorkers is 32)
    FragmentAction action = FragmentAction::AwaitFirst;
    bool in_use = false;
    bool last_seen = false;
    uint8_t range_count = 0;
    uint8_t held_count = 0;

    // Records [offset, offset + length) (`more`: MF set). Nothing changes unless Added.
    RangeResult add_range(uint16_t offset, uint16_t length, bool more) noexcept;
    // Every byte from 0 to the last fragment's end has been seen.
    bool complete() const noexcept {
        return last_seen && range_count == 1 && ranges[0].begin == 0 && ranges[0].end == datagram_end;
    }
    bool hold(rte_mbuf* packet) noexcept {
        if (held_count == kMaxHeld) return false;
        held[held_count++] = packet;
        return true;
    }
};
static_assert(sizeof(FragmentProgress) == 104);

// One datagram: its key, its deadline, and the addresses its first fragment was translated to.
template <class Key, class Address>
struct alignas(64) BasicFragmentEntry : FragmentProgress {
    using KeyType = Key;
    using AddressType = Address;
    Key key{};
    uint32_t expires_ms = 0;
    Address new_src_addr{};  // Translate, network order
    Address new_dst_addr{};
};
using FragmentEntry = BasicFragmentEntry<FragmentKey, uint32_t>;
using FragmentEntry6 = BasicFragmentEntry<FragmentKey6, std::array<uint8_t, 16>>;
static_assert(sizeof(FragmentEntry) == 128, "two cache lines per IPv4 datagram");
static_assert(sizeof(FragmentEntry6) == 192, "three cache lines per IPv6 datagram");

// The table, the same for both families (instantiated for FragmentEntry and FragmentEntry6 in
// fragment_table.cpp).
template <class Entry>
class BasicFragmentTable {
public:
    using Key = typename Entry::KeyType;
    static constexpr uint32_t kWays = 4;
    static constexpr uint32_t kSets = 256;
    static constexpr uint32_t kCapacity = kWays * kSets;
    static constexpr uint32_t kTimeoutMs = 2000;

    // The datagram's entry, or a new one (AwaitFirst, expiring kTimeoutMs from now); the
    // datagram's own entry, once expired, and otherwise an expired entry of the set are
    // reclaimed (expire_entry) rather than reused. Null when the set is full.
    Entry* find_or_create(const Key& key, uint32_t seed, uint32_t now_ms, WorkerCounters& counters) noexcept;
    // Frees an entry whose held fragments were released.
    void release(Entry& entry) noexcept;
    // Ages up to `budget` entries from where the last call stopped; returns the number expired.
    uint32_t expire(uint32_t now_ms, uint32_t budget, WorkerCounters& counters) noexcept;
    uint32_t size() const noexcept { return size_; }
    // Every fragment waiting in the table, for tests that account for every mbuf.
    template <class Visit>
    void for_each_held(Visit&& visit) const {
        for (const Entry& entry : entries_) {
            if (!entry.in_use) continue;
            for (uint32_t i = 0; i < entry.held_count; ++i) visit(entry.held[i]);
        }
    }

private:
    // Drops the entry's held fragments (fragment_timeout) and frees it. A datagram that was
    // translated or still waited for its first fragment counts as expired; one handed to
    // another worker is counted there, and a discarded one was counted when it was refused.
    void expire_entry(Entry& entry, WorkerCounters& counters) noexcept;

    std::array<Entry, kCapacity> entries_{};
    uint32_t size_ = 0;
    uint32_t expire_cursor_ = 0;
};
using FragmentTable = BasicFragmentTable<FragmentEntry>;    // 128 KiB per worker
using FragmentTable6 = BasicFragmentTable<FragmentEntry6>;  // 192 KiB per worker

// The worker all fragments of a datagram meet on first: the same for every fragment, whatever
// RSS did with them (most NICs hash fragments by addresses only, the first by its ports too).
uint16_t fragment_home(const FragmentKey& key, uint32_t seed, uint16_t worker_count) noexcept;
uint16_t fragment_home6(const FragmentKey6& key, uint32_t seed, uint16_t worker_count) noexcept;

}  // namespace vipgate
