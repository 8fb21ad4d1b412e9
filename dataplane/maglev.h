// Maglev consistent hashing (Eisenbud et al., NSDI 2016): maps a flow hash to one backend of a
// service so that every gateway agrees without talking to the others.
//
// Design note.
// - Why Maglev: a lookup is one multiply-shift and one load from a flat array, so the packet
//   path costs the same for 2 backends or 2000. Connection tracking pins a flow once it is
//   seen, but a conntrack miss (a gateway restart, an ECMP change that moves the flow to
//   another gateway, a table-full fallback) must still pick the same backend. Maglev gives
//   near-perfect balance (equal-weight backends differ by at most one slot) and, when one of
//   N backends goes away, moves its 1/N of the slots plus a little churn among the survivors
//   (measured at M ~ 100 N: 1.03x its share at N = 3, 1.24x at N = 10, 2.6x at N = 100; a
//   larger M per backend lowers it, 1.56x at N = 100 and M = 65537). Consistent hashing
//   rings move exactly 1/N but balance worse and look up slower.
// - Why a per-service table size: 65537 slots x 4 bytes x 10k services is 2.6 GB; sizing M
//   from the backend count (maglev_table_size) keeps a 3-backend service at 401 slots. M must
//   be prime so that every (offset, skip) permutation visits every slot. Changing M remaps
//   almost every flow, so only the same M gives the minimal-disruption property.
// - Why seeded hashes of a backend identity: the permutation of a backend derives from its
//   stable identity (address and port), never from its position in a list, so the table does
//   not depend on the order in which endpoints arrive and a backend keeps its preferences when
//   others come and go. The seed is configuration, identical on every gateway of a cluster
//   (DPVS hard-codes its secrets).
// - Weights use the weighted round of Katran's Maglev v2: every round each backend adds its
//   weight to a credit and takes a turn when the credit reaches the largest weight, so slot
//   counts are proportional to weight and equal weights reduce to plain Maglev.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vipgate {

struct MaglevBackend {
    uint64_t identity;  // stable identity of the backend (e.g. address<<16 | port); the permutation derives from it,
                        // never from list position
    uint32_t value;     // what lookup() returns for this backend (the caller passes an endpoint slot id)
    uint32_t weight;    // relative weight; 0 = no slots (draining)
};

// An immutable Maglev lookup table. Built on the control thread, read by workers.
class MaglevTable {
public:
    MaglevTable() = default;  // empty table

    // Builds the table for `backends` with `table_size` slots (precondition: table_size is
    // prime, e.g. from maglev_table_size) and the cluster-wide `seed`. The result does not
    // depend on the order of `backends`. Identities should be unique: duplicates are placed
    // deterministically but share one permutation, so they lose the minimal-disruption
    // property. Backends with weight 0 get no slots; if none has weight > 0 the table is empty.
    static MaglevTable build(std::span<const MaglevBackend> backends, uint32_t table_size, uint64_t seed);

    bool empty() const noexcept { return slots_.empty(); }

    // Number of slots; 0 for an empty table.
    uint32_t size() const noexcept { return static_cast<uint32_t>(slots_.size()); }

    // The per-packet path. Precondition: !empty(). Multiply-shift maps the hash onto the slots
    // without a division; it uses the high bits of flow_hash, so the hash must be uniform in
    // its high bits (CRC32 of the flow key is).
    uint32_t lookup(uint32_t flow_hash) const noexcept {
        return slots_[(static_cast<uint64_t>(flow_hash) * slots_.size()) >> 32];
    }

    // The value of every slot, in slot order.
    std::span<const uint32_t> slots() const noexcept { return slots_; }

private:
    std::vector<uint32_t> slots_;
};

// Smallest prime >= 100 x (backend_count rounded up to a power of two), at least 101, capped
// at max_table_size (which callers guarantee prime; if the prime exceeds the cap, the cap is
// returned). Rounding to a power of two keeps M unchanged while a service grows or shrinks
// within the same power of two: a change of M remaps almost every flow, so it must be rare.
uint32_t maglev_table_size(size_t backend_count, uint32_t max_table_size) noexcept;

}  // namespace vipgate
