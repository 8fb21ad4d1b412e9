// What both pipelines (pipeline.cpp, pipeline6.cpp) do with a connection entry, over the
// family's entry (Connection, Connection6) and table (ConnTable, ConnTable6). Templates and
// inline functions, so each pipeline compiles to the code it had when it kept its own copy.
#pragma once

#include <cstdint>

#include <rte_byteorder.h>

#include "dataplane/conn_index.h"
#include "dataplane/snapshot.h"
#include "dataplane/tcp_state.h"
#include "dataplane/worker_context.h"

namespace vipgate {

// SNAT ports a new full-NAT flow tries before it is dropped as snat_ports_exhausted.
constexpr uint32_t kSnatPortAttempts = 16;

// A TCP (SCTP) state change on a tracked flow: a SYN that reopens a closed entry restarts the
// connect clock; the endpoint's SYN-ACK (SynSent -> SynReceived, only a Reply-direction packet
// does that) ends it, and the time since the SYN was forwarded goes into the endpoint's
// connect-latency histogram. A client's retransmitted SYN does not change the state, so the
// latency runs from the first SYN the gateway forwarded, as the client experiences it.
template <class Connection>
inline void note_handshake(WorkerContext& context, Connection& connection, TcpState before) noexcept {
    if (connection.tcp_state == TcpState::SynSent) {
        connection.syn_us = context.now_us;
    } else if (before == TcpState::SynSent && connection.tcp_state == TcpState::SynReceived &&
               connection.endpoint_slot < context.endpoint_counter_slots && context.endpoint_handshakes != nullptr) {
        context.endpoint_handshakes[connection.endpoint_slot].record(context.now_us - connection.syn_us);
    }
}

// A new flow's entry pins its endpoint (slot and generation: what says it is still alive) and
// starts the connect clock.
template <class Connection>
inline void pin_new_connection(WorkerContext& context, Connection& connection, InsertStatus status, uint32_t slot,
                               uint32_t generation) noexcept {
    if (status == InsertStatus::InsertedAfterEviction) ++context.counters.conntrack_evictions;
    connection.endpoint_slot = slot;
    connection.endpoint_generation = generation;
    connection.syn_us = context.now_us;
    ++context.counters.new_connections;
}

// A packet forwarded to the endpoint in `slot`, counted for it; `opened`: the first packet of
// its connection.
inline void count_to_endpoint(WorkerContext& context, uint32_t slot, uint32_t bytes, bool opened) noexcept {
    ++context.counters.forwarded_to_endpoint;
    if (slot < context.endpoint_counter_slots) {
        EndpointCounters& counters = context.endpoint_counters[slot];
        counters.connections += opened;
        ++counters.packets;
        counters.bytes += bytes;
    }
}

// The SNAT port of a new full-NAT flow (its reply key's dst_port), from this worker's slice
// (snat_ports.h says how it is chosen): the first candidate no connection's reply uses. The
// counter moves once per new connection, whatever the number of attempts, so warm_new_flows can
// predict it.
template <class Table, class Key>
inline bool allocate_snat_port(WorkerContext& context, const Snapshot& snapshot, Table& table, Key& reply_key,
                               uint32_t flow_hash) noexcept {
    const uint32_t counter = context.snat_cursor++;
    for (uint32_t attempt = 0; attempt < kSnatPortAttempts; ++attempt) {
        const uint16_t port = snapshot.snat_ports.candidate(context.worker_index, flow_hash, counter, attempt);
        reply_key.dst_port = rte_cpu_to_be_16(port);
        if (table.lookup(reply_key).connection == nullptr) return true;
    }
    return false;
}

}  // namespace vipgate
