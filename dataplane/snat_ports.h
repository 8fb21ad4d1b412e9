// Full-NAT source ports: the configured range [port_min, port_max] is split into one contiguous
// slice per worker, so the worker that owns a reply is read off the reply's destination port
// (README, "Return traffic with several workers"). Every piece of code that turns a port into a
// worker or a worker into ports (the pipeline, rte_flow steering, tests) asks this type.
//
// Which port of its slice a worker gives a new connection follows RFC 6056's "simple hash-based"
// algorithm (section 3.3.3): the flow's seeded hash plus a per-worker counter, so ports are not
// predictable from outside (the hash seed is the secret) while consecutive connections of one
// client still move through the slice instead of reusing a port the endpoint may hold in
// TIME_WAIT.
#pragma once

#include <cstdint>

namespace vipgate {

struct SnatPortSlices {
    uint16_t first = 0;       // host order: the range's first port, start of worker 0's slice
    uint16_t per_worker = 0;  // ports in each slice (the range divided evenly; a remainder is unused)
    uint16_t workers = 1;

    static constexpr SnatPortSlices split(uint16_t port_min, uint16_t port_max, uint16_t workers) noexcept {
        const uint32_t count = uint32_t(port_max) - port_min + 1;
        return {port_min, static_cast<uint16_t>(count / workers), workers};
    }

    constexpr uint16_t slice_first(uint16_t worker) const noexcept {
        return static_cast<uint16_t>(first + uint32_t(per_worker) * worker);
    }
    constexpr uint16_t slice_last(uint16_t worker) const noexcept {
        return static_cast<uint16_t>(slice_first(worker) + per_worker - 1);
    }
    // True when `port` (host order) lies in some worker's slice.
    constexpr bool contains(uint16_t port) const noexcept {
        return port >= first && uint32_t(port) < uint32_t(first) + uint32_t(per_worker) * workers;
    }
    // The worker whose slice holds `port` (host order); >= workers when no slice does.
    constexpr uint16_t owner(uint16_t port) const noexcept {
        return port < first ? workers : static_cast<uint16_t>((port - first) / per_worker);
    }
    // Candidate `attempt` (0, 1, ...) for a new connection of `worker` whose flow hashes to
    // `flow_hash`, with the worker's counter at `counter` (host order).
    constexpr uint16_t candidate(uint16_t worker, uint32_t flow_hash, uint32_t counter,
                                 uint32_t attempt) const noexcept {
        return static_cast<uint16_t>(slice_first(worker) + (flow_hash + counter + attempt) % per_worker);
    }
};

}  // namespace vipgate
