// In-process packet capture for `vipctl capture`: what dpdk-dumpcap does, without a secondary
// process, so it works on gateways running --no-huge too (control/packet_capture.h).
//
// Design note: for the duration of one capture, RX and TX callbacks on every queue of the port
// (rte_eth_add_rx_callback / _tx_callback, run by the worker polling that queue) copy packets
// with rte_pcapng_copy into a mempool made for this capture and hand them over a
// multi-producer ring; the API thread collects them and writes the pcapng. Workers pay nothing
// when no capture runs (no callback is installed), and while one runs they pay one atomic
// decrement and one copy per captured packet, nothing once the count is reached. A callback is
// removed before its memory is freed only after every worker has been through its poll loop
// twice since, so none can still be inside it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vipgate {

struct WorkerContext;

struct CaptureRequest {
    uint16_t port_id = 0;
    uint16_t queues = 0;       // RX and TX queues of the port (one per worker)
    uint32_t count = 0;        // packets, both directions together
    uint32_t snap_length = 0;  // bytes of each packet kept
    std::chrono::milliseconds timeout{0};
    const std::atomic<bool>* cancel = nullptr;  // set: stop now with what was taken (daemon stopping)
};

struct CaptureResult {
    std::string pcapng;  // the file's bytes
    uint32_t packets = 0;
    uint64_t missed = 0;  // matched while the copy pool or ring was full
};

// Throws std::runtime_error when the capture cannot be set up (memory, callbacks).
CaptureResult capture_in_process(const CaptureRequest& request, const std::vector<WorkerContext*>& workers);

}  // namespace vipgate
