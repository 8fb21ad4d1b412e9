// WorkerContext: everything one worker lcore owns. Passed explicitly to the packet logic; no
// globals are touched per packet. Only the owning worker writes it, except `counters` and
// `endpoint_counters`, which the control thread reads (see counters.h).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include <rte_ether.h>

#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/counters.h"
#include "dataplane/dns_rate_limiter.h"
#include "dataplane/fragment_table.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/neighbor_table6.h"
#include "dataplane/siphash.h"
#include "dataplane/token_bucket.h"

struct rte_mbuf;
struct rte_ring;

namespace vipgate {

constexpr uint16_t kMaxPorts = 8;
constexpr uint16_t kMaxWorkers = 32;
constexpr uint16_t kBurstSize = 32;
constexpr uint16_t kTxBufferSize = 2 * kBurstSize;
// The port of a frame the control thread passes to worker 0 only to be counted as
// kernel_frame_refused (no DPDK port has this id: RTE_MAX_ETHPORTS is far below it).
constexpr uint16_t kRefusedFromKernel = UINT16_MAX;

struct alignas(64) TxBuffer {
    uint16_t count = 0;
    rte_mbuf* packets[kTxBufferSize];
};

struct alignas(64) WorkerContext {
    uint16_t worker_index = 0;
    uint16_t worker_count = 1;
    uint16_t port_count = 0;
    std::array<uint16_t, kMaxPorts> port_ids{};  // port index -> DPDK port id
    std::array<uint16_t, kMaxPorts> tx_queue{};  // this worker's TX queue on each port

    uint32_t now_ms = 0;        // set by the poll loop (or a test)
    uint32_t now_us = 0;        // the same clock in wrapping microseconds
    uint32_t snat_cursor = 0;   // next SNAT port offset to try
    TokenBucket answer_bucket;  // ICMP errors, RSTs, ABORTs this worker sends
    TokenBucket punt_bucket;    // packets this worker passes to the control thread
    TokenBucket kernel_bucket;  // packets this worker passes to the kernel exception path

    ConnTable* connections = nullptr;
    ConnTable6* connections6 = nullptr;   // null: no port has an IPv6 address, IPv6 is not served
    uint32_t snat6_slots_known = 0;       // SNAT6 slots of the snapshot copied into connections6
    AffinityTable* affinity = nullptr;    // sessionAffinity: ClientIP choices
    AffinityTable6* affinity6 = nullptr;  // the same for IPv6 clients; null with connections6
    const NeighborTable* neighbors = nullptr;
    const NeighborTable6* neighbors6 = nullptr;          // learnt by Neighbor Discovery (statics: the snapshot)
    DnsRateLimiter* dns_rate_limiter = nullptr;          // null: DNS responses are not rate-limited
    SipHashKey dns_tcp_key;                              // the DNS TCP responder's ISN key, the same on every worker
    std::array<rte_ring*, kMaxWorkers> handoff_rings{};  // indexed by owning worker
    rte_ring* punt_ring = nullptr;                       // to the control thread (ARP, neighbor misses)
    rte_ring* control_tx_ring = nullptr;                 // from the control thread; worker 0 transmits it
    rte_ring* kernel_ring = nullptr;     // to the control thread, for the kernel (null: no kernel interface)
    rte_ring* kernel_tx_ring = nullptr;  // the kernel's frames from the control thread; worker 0 transmits it

    std::array<TxBuffer, kMaxPorts> tx;  // per port index
    std::array<uint16_t, kMaxWorkers> handoff_count{};
    std::array<std::array<rte_mbuf*, kBurstSize>, kMaxWorkers> handoff;  // per destination worker

    WorkerCounters counters;
    EndpointCounters* endpoint_counters = nullptr;      // kMaxEndpointSlots entries
    EndpointHandshakes* endpoint_handshakes = nullptr;  // as many: connect latencies
    uint32_t endpoint_counter_slots = 0;
    uint64_t* service_port_refusals = nullptr;  // new connections refused (no usable endpoint),
    uint32_t service_port_slots = 0;            // per service port id
    FragmentTable fragments;                    // IPv4 datagrams in fragments (128 KiB)
    FragmentTable6 fragments6;                  // IPv6 datagrams in fragments (192 KiB)
};

// Index of a DPDK port id in the context's port list (0 if absent; every port the worker polls
// or transmits on is listed). At most kMaxPorts entries: a scan beats any map.
inline uint16_t port_index_of(const WorkerContext& context, uint16_t port_id) noexcept {
    for (uint16_t i = 0; i < context.port_count; ++i) {
        if (context.port_ids[i] == port_id) return i;
    }
    return 0;
}

}  // namespace vipgate
