// rte_pcapng is an experimental API in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "control/in_process_capture.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pcapng.h>
#include <rte_ring.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>

#include "dataplane/worker_context.h"

namespace vipgate {
namespace {

struct Shared {
    rte_mempool* pool = nullptr;
    rte_ring* ring = nullptr;
    std::atomic<int64_t> remaining{0};
    std::atomic<uint64_t> missed{0};
    uint32_t snap_length = 0;
};

void copy_burst(Shared& shared, uint16_t port, uint16_t queue, rte_mbuf** packets, uint16_t count,
                rte_pcapng_direction direction) {
    if (shared.remaining.load(std::memory_order_relaxed) <= 0) return;
    const uint64_t now = rte_get_tsc_cycles();
    for (uint16_t i = 0; i < count; ++i) {
        if (shared.remaining.fetch_sub(1, std::memory_order_relaxed) <= 0) return;
        rte_mbuf* copy = rte_pcapng_copy(port, queue, packets[i], shared.pool, shared.snap_length, now, direction);
        if (copy == nullptr || rte_ring_mp_enqueue(shared.ring, copy) != 0) {
            rte_pktmbuf_free(copy);
            shared.missed.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

uint16_t on_rx(uint16_t port, uint16_t queue, rte_mbuf** packets, uint16_t count, uint16_t, void* shared) {
    copy_burst(*static_cast<Shared*>(shared), port, queue, packets, count, RTE_PCAPNG_DIRECTION_IN);
    return count;
}

uint16_t on_tx(uint16_t port, uint16_t queue, rte_mbuf** packets, uint16_t count, void* shared) {
    copy_burst(*static_cast<Shared*>(shared), port, queue, packets, count, RTE_PCAPNG_DIRECTION_OUT);
    return count;
}

// Every worker has been through its poll loop twice: none is still inside a removed callback.
void wait_for_workers(const std::vector<WorkerContext*>& workers) {
    std::vector<uint64_t> started;
    for (const WorkerContext* worker : workers)
        started.push_back(__atomic_load_n(&worker->counters.loops, __ATOMIC_RELAXED));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (size_t index = 0; index < workers.size();) {
        if (__atomic_load_n(&workers[index]->counters.loops, __ATOMIC_RELAXED) >= started[index] + 2 ||
            std::chrono::steady_clock::now() > deadline) {
            ++index;
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    }
}

// Owns what one capture allocated; releases it in the right order whatever happens.
class Session {
public:
    Session(const CaptureRequest& request, const std::vector<WorkerContext*>& workers)
        : request_(request), workers_(workers) {}

    // Not in the constructor: if it throws half-way, the destructor must still detach what it
    // attached (a callback left behind would point at freed memory).
    void start() {
        static std::atomic<uint32_t> serial{0};
        const CaptureRequest& request = request_;
        const std::string suffix = std::to_string(serial.fetch_add(1));
        const uint32_t capacity = request.count;  // `remaining` lets no more copies than that be made
        shared_.snap_length = request.snap_length;
        shared_.remaining.store(request.count);
        shared_.pool =
            rte_pktmbuf_pool_create(("vg_capture_" + suffix).c_str(), capacity, 0, 0,
                                    static_cast<uint16_t>(rte_pcapng_mbuf_size(request.snap_length)), SOCKET_ID_ANY);
        if (shared_.pool == nullptr) {
            throw std::runtime_error("cannot allocate " + std::to_string(capacity) +
                                     " capture buffers (fewer packets, or more EAL memory with -m)");
        }
        shared_.ring = rte_ring_create(("vg_capture_" + suffix).c_str(), rte_align32pow2(capacity + 1), SOCKET_ID_ANY,
                                       RING_F_SC_DEQ);
        if (shared_.ring == nullptr) throw std::runtime_error("cannot create the capture ring");
        for (uint16_t queue = 0; queue < request.queues; ++queue) {
            const rte_eth_rxtx_callback* rx = rte_eth_add_rx_callback(request.port_id, queue, on_rx, &shared_);
            const rte_eth_rxtx_callback* tx = rte_eth_add_tx_callback(request.port_id, queue, on_tx, &shared_);
            if (rx != nullptr) rx_.push_back({queue, rx});
            if (tx != nullptr) tx_.push_back({queue, tx});
            if (rx == nullptr || tx == nullptr) {
                throw std::runtime_error(
                    "this port takes no RX/TX callbacks (DPDK built without "
                    "RTE_ETHDEV_RXTX_CALLBACKS?)");
            }
        }
    }

    ~Session() {
        detach();
        rte_mbuf* packet = nullptr;
        while (shared_.ring != nullptr && rte_ring_sc_dequeue(shared_.ring, reinterpret_cast<void**>(&packet)) == 0) {
            rte_pktmbuf_free(packet);
        }
        for (rte_mbuf* copy : collected_) rte_pktmbuf_free(copy);
        rte_ring_free(shared_.ring);
        rte_mempool_free(shared_.pool);
    }

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void collect() {
        const auto deadline = std::chrono::steady_clock::now() + request_.timeout;
        rte_mbuf* burst[64];
        while (collected_.size() < request_.count && std::chrono::steady_clock::now() < deadline &&
               !(request_.cancel != nullptr && request_.cancel->load(std::memory_order_relaxed))) {
            const unsigned got = rte_ring_sc_dequeue_burst(shared_.ring, reinterpret_cast<void**>(burst), 64, nullptr);
            collected_.insert(collected_.end(), burst, burst + got);
            if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        detach();
        unsigned got;
        while ((got = rte_ring_sc_dequeue_burst(shared_.ring, reinterpret_cast<void**>(burst), 64, nullptr)) > 0) {
            collected_.insert(collected_.end(), burst, burst + got);
        }
    }

    CaptureResult write() {
        const int fd = memfd_create("vipgate-capture", MFD_CLOEXEC);
        if (fd < 0) throw std::runtime_error("cannot create the capture file in memory");
        const int reader = dup(fd);
        rte_pcapng_t* file = rte_pcapng_fdopen(fd, nullptr, nullptr, "vipgate", nullptr);
        if (file == nullptr) {
            close(fd);
            close(reader);
            throw std::runtime_error("cannot start the pcapng file");
        }
        for (size_t at = 0; at < collected_.size(); at += 256) {
            const auto chunk = static_cast<uint16_t>(std::min<size_t>(256, collected_.size() - at));
            if (rte_pcapng_write_packets(file, collected_.data() + at, chunk) < 0) {
                rte_pcapng_close(file);
                close(reader);
                throw std::runtime_error("cannot write the pcapng file");
            }
        }
        rte_pcapng_close(file);  // closes fd
        CaptureResult result;
        result.packets = static_cast<uint32_t>(collected_.size());
        result.missed = shared_.missed.load();
        off_t size = lseek(reader, 0, SEEK_END);
        result.pcapng.resize(static_cast<size_t>(size > 0 ? size : 0));
        if (pread(reader, result.pcapng.data(), result.pcapng.size(), 0) !=
            static_cast<ssize_t>(result.pcapng.size())) {
            close(reader);
            throw std::runtime_error("cannot read the capture file back");
        }
        close(reader);
        return result;
    }

private:
    void detach() {
        if (rx_.empty() && tx_.empty()) return;
        for (const auto& [queue, callback] : rx_) rte_eth_remove_rx_callback(request_.port_id, queue, callback);
        for (const auto& [queue, callback] : tx_) rte_eth_remove_tx_callback(request_.port_id, queue, callback);
        rx_.clear();
        tx_.clear();
        wait_for_workers(workers_);
    }

    CaptureRequest request_;
    const std::vector<WorkerContext*>& workers_;
    Shared shared_;
    std::vector<std::pair<uint16_t, const rte_eth_rxtx_callback*>> rx_;
    std::vector<std::pair<uint16_t, const rte_eth_rxtx_callback*>> tx_;
    std::vector<rte_mbuf*> collected_;
};

}  // namespace

CaptureResult capture_in_process(const CaptureRequest& request, const std::vector<WorkerContext*>& workers) {
    Session session(request, workers);
    session.start();
    session.collect();
    return session.write();
}

}  // namespace vipgate
