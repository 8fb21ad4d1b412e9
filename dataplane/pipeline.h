// The per-packet logic of a worker, free of port I/O so it can be driven by tests and
// benchmarks with pre-built mbufs. The poll loop (worker.cpp) feeds it bursts and flushes the
// buffers it fills.
//
// Every packet handed to process_burst ends in exactly one place: a TX buffer in the context,
// a hand-off array (owned by another worker), the punt ring (control thread), or freed with
// its drop reason counted.
#pragma once

#include <cstdint>
#include <cstring>

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

// IPv6 (docs/ipv6.md): the same rule over the client's 16-byte address and port, three CRC steps.
inline uint16_t connection_owner6(const uint8_t client_address[16], uint16_t client_port,
                                  uint16_t worker_count) noexcept {
    uint64_t words[2];
    std::memcpy(words, client_address, sizeof(words));
    uint32_t hash = rte_hash_crc_4byte(client_port, 0);
    hash = rte_hash_crc_8byte(words[0], hash);
    hash = rte_hash_crc_8byte(words[1], hash);
    return static_cast<uint16_t>(hash % worker_count);
}

}  // namespace vipgate
