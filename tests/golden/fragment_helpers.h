// What the IPv4 and IPv6 fragment golden tests (golden_fragment_test.cpp,
// golden_fragment6_test.cpp) share: where a datagram is cut, how a run's output and counters are
// checked, and the cases whose steps are the same in both families (a teardrop, datagrams that
// never complete, fragments meeting at their home worker, fragments to the gateway's kernel). Each test file keeps what
// differs: its family's fragment format, topology and flows.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "tests/golden/golden_harness.h"

namespace vipgate::golden {

// The bounds of the fragments of a payload of `payload_length` bytes cut at `cuts` (offsets,
// each a multiple of 8): fragment i is [bounds[i], bounds[i + 1]).
inline std::vector<size_t> fragment_bounds(const std::vector<uint16_t>& cuts, size_t payload_length) {
    std::vector<size_t> bounds{0};
    bounds.insert(bounds.end(), cuts.begin(), cuts.end());
    bounds.push_back(payload_length);
    return bounds;
}

inline std::vector<std::pair<Bytes, uint16_t>> on_port(const std::vector<Bytes>& frames, uint16_t port) {
    std::vector<std::pair<Bytes, uint16_t>> result;
    for (const Bytes& frame : frames) result.emplace_back(frame, port);
    return result;
}

inline uint64_t bytes_of(const std::vector<Bytes>& frames) {
    uint64_t total = 0;
    for (const Bytes& frame : frames) total += frame.size();
    return total;
}

inline unsigned pool_available() {
    return rte_mempool_avail_count(test::test_mempool());
}

inline void expect_transmitted(const RunResult& result, uint16_t port, const std::vector<Bytes>& expected) {
    ASSERT_EQ(result.transmitted.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        SCOPED_TRACE("fragment " + std::to_string(i));
        EXPECT_EQ(result.transmitted[i].port_index, port);
        EXPECT_TRUE(test::frames_equal(result.transmitted[i].frame, expected[i]));
    }
}

// Exactly these counters moved (drops as drop_counter(reason)).
inline void expect_counters(const RunResult& result, std::map<std::string, uint64_t> expected) {
    for (auto it = expected.begin(); it != expected.end();) it = it->second == 0 ? expected.erase(it) : std::next(it);
    EXPECT_EQ(result.counter_changes, expected);
}

// Teardrop: after the first of `fragments` (three, cut at 48 and 96) has gone through, a fragment
// `overlapping` it is dropped, and so is the rest of its datagram (fragments[2]).
inline void expect_overlap_drops_the_rest(GoldenHarness& harness, const std::vector<Bytes>& fragments,
                                          const Bytes& overlapping) {
    RunResult first = harness.run(0, fragments[0]);
    ASSERT_EQ(first.transmitted.size(), 1u);
    RunResult overlap = harness.run(0, overlapping);
    EXPECT_TRUE(overlap.transmitted.empty());
    expect_counters(
        overlap, {{"rx_packets", 1}, {"rx_bytes", overlapping.size()}, {drop_counter(DropReason::FragmentOverlap), 1}});
    RunResult rest = harness.run(0, fragments[2]);
    EXPECT_TRUE(rest.transmitted.empty());
    expect_counters(
        rest, {{"rx_packets", 1}, {"rx_bytes", fragments[2].size()}, {drop_counter(DropReason::FragmentOrphan), 1}});
}

// Two datagrams of three fragments each that never complete: `waiting` sends only its last (held
// for a first that never comes), `gapped` its first and last (forwarded, the middle never sent).
// Both entries of worker 0's `table` (FragmentTable or FragmentTable6) expire kTimeoutMs after
// they were made on the injected clock, not before: the held fragment is dropped as
// fragment_timeout, and each datagram is counted as expired.
template <class Table>
void expect_incomplete_datagrams_expire(GoldenHarness& harness, Table& table, const std::vector<Bytes>& waiting,
                                        const std::vector<Bytes>& gapped) {
    WorkerContext& worker = harness.worker(0);
    const uint32_t start = worker.now_ms;
    RunResult held = harness.run(0, waiting[2]);
    expect_counters(held, {{"rx_packets", 1}, {"rx_bytes", waiting[2].size()}, {"fragments_held", 1}});
    RunResult forwarded = harness.run(0, {{gapped[0], kClientPortId}, {gapped[2], kClientPortId}});
    EXPECT_EQ(forwarded.transmitted.size(), 2u) << "first and last of the second datagram, the middle never sent";
    EXPECT_EQ(table.size(), 2u);

    const WorkerCounters before = worker.counters;
    EXPECT_EQ(table.expire(start + Table::kTimeoutMs - 1, Table::kCapacity, worker.counters), 0u) << "expired early";
    EXPECT_EQ(table.expire(start + Table::kTimeoutMs, Table::kCapacity, worker.counters), 2u);
    EXPECT_EQ(worker.counters.drops[static_cast<size_t>(DropReason::FragmentTimeout)] -
                  before.drops[static_cast<size_t>(DropReason::FragmentTimeout)],
              1u)
        << "the fragment that waited";
    EXPECT_EQ(worker.counters.fragment_datagrams_expired - before.fragment_datagrams_expired, 2u);
    EXPECT_EQ(table.size(), 0u);
}

// Two workers: the three fragments of `input` arrive on worker 1 (last, first, middle) and go to
// their home, worker 0, which hands them to the connection's owner, worker 1, the first one first.
// Returns the owner's run of them; the caller checks what it sent.
inline RunResult through_home_to_owner(GoldenHarness& harness, const std::vector<Bytes>& input) {
    RunResult arrival = harness.run(1, on_port({input[2], input[0], input[1]}, kClientPortId));
    EXPECT_TRUE(arrival.transmitted.empty());
    EXPECT_EQ(arrival.handed_off[0].size(), 3u) << "to their home";
    expect_counters(arrival, {{"rx_packets", 3}, {"rx_bytes", bytes_of(input)}, {"handoffs_out", 3}});

    RunResult home = harness.run_handed_off(0, std::move(arrival.handed_off[0]));
    EXPECT_TRUE(home.transmitted.empty());
    EXPECT_EQ(home.handed_off[1].size(), 3u) << "to the connection's owner, the first one first";
    expect_counters(home, {{"handoffs_in", 3}, {"handoffs_out", 3}, {"fragments_held", 2}});

    return harness.run_handed_off(1, std::move(home.handed_off[1]));
}

// The three fragments of `input`, a datagram to the gateway's own address on the client port
// (which has a kernel interface), arrive last, first, middle: the first goes to the kernel as any
// unserved packet does, and the later ones, held until it came, follow it there unchanged, for
// the kernel to reassemble.
inline void expect_fragments_follow_the_first_to_the_kernel(GoldenHarness& harness, const std::vector<Bytes>& input) {
    rte_ring* ring = rte_ring_create("golden_fragment_kernel", 64, SOCKET_ID_ANY, RING_F_SC_DEQ);
    ASSERT_NE(ring, nullptr);
    harness.worker(0).kernel_ring = ring;
    RunResult result = harness.run(0, on_port({input[2], input[0], input[1]}, kClientPortId));
    EXPECT_TRUE(result.transmitted.empty());
    expect_counters(result,
                    {{"rx_packets", 3}, {"rx_bytes", bytes_of(input)}, {"fragments_held", 2}, {"to_kernel", 3}});
    std::vector<Bytes> passed;
    void* packet = nullptr;
    while (rte_ring_sc_dequeue(ring, &packet) == 0) {
        test::MbufPtr mbuf(static_cast<rte_mbuf*>(packet));
        passed.push_back(test::to_bytes(mbuf.get()));
    }
    harness.worker(0).kernel_ring = nullptr;
    rte_ring_free(ring);
    EXPECT_EQ(passed, (std::vector<Bytes>{input[0], input[2], input[1]})) << "unchanged, the first one first";
}

}  // namespace vipgate::golden
