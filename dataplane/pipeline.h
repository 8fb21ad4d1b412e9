// The per-packet logic of a worker, free of port I/O so it can be driven by tests and
// benchmarks with pre-built mbufs. The poll loop (worker.cpp) feeds it bursts and flushes the
// buffers it fills.
//
// Every packet handed to process_burst ends in exactly one place: a TX buffer in the context,
// a hand-off array (owned by another worker), the punt ring (control thread), or freed with
// its drop reason counted.
#pragma once

#include <cstdint>

#include <rte_hash_crc.h>

#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_mbuf;

namespace vipgate {

// `from_handoff`: the packets came from this worker's hand-off ring, so this worker owns them.
void process_burst(WorkerContext& context, const Snapshot& snapshot, rte_mbuf** packets, uint16_t count,
                   bool from_handoff) noexcept;

// The worker that owns a connection, from fields visible in both directions: the client's
// address and port (network order). Replies to SNAT ports are owned by the port's range.
inline uint16_t connection_owner(uint32_t client_address, uint16_t client_port, uint16_t worker_count) noexcept {
    return static_cast<uint16_t>(rte_hash_crc_4byte(client_address, client_port) % worker_count);
}

}  // namespace vipgate
