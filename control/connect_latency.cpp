#include "control/connect_latency.h"

#include <algorithm>

#include "dataplane/worker_context.h"

namespace vipgate {

uint64_t ConnectLatency::count() const noexcept {
    uint64_t total = 0;
    for (uint64_t bucket : buckets) total += bucket;
    return total;
}

void ConnectLatency::add(const EndpointHandshakes& handshakes) noexcept {
    for (uint32_t i = 0; i < kConnectLatencyBuckets; ++i) buckets[i] += handshakes.latency[i];
    sum_us += handshakes.latency_sum_us;
}

void ConnectLatency::add(const ConnectLatency& other) noexcept {
    for (uint32_t i = 0; i < kConnectLatencyBuckets; ++i) buckets[i] += other.buckets[i];
    sum_us += other.sum_us;
}

ConnectLatency ConnectLatency::since(const ConnectLatency& baseline) const noexcept {
    ConnectLatency out;
    for (uint32_t i = 0; i < kConnectLatencyBuckets; ++i) out.buckets[i] = buckets[i] - baseline.buckets[i];
    out.sum_us = sum_us - baseline.sum_us;
    return out;
}

std::optional<double> ConnectLatency::quantile_us(double q) const noexcept {
    const uint64_t total = count();
    if (total == 0) return std::nullopt;
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    uint64_t below = 0;
    for (uint32_t i = 0; i < kConnectLatencyBuckets; ++i) {
        const double lower = i == 0 ? 0.0 : connect_latency_bound_us(i - 1);
        if (i + 1 == kConnectLatencyBuckets) return lower;  // the overflow bucket has no upper bound
        if (buckets[i] != 0 && static_cast<double>(below + buckets[i]) >= rank) {
            const double upper = connect_latency_bound_us(i);
            return lower + (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
        }
        below += buckets[i];
    }
    return std::nullopt;
}

std::vector<ConnectLatency> sum_connect_latencies(const std::vector<WorkerContext*>& workers, size_t slots) {
    std::vector<ConnectLatency> sums(slots);
    for (const WorkerContext* worker : workers) {
        if (worker->endpoint_handshakes == nullptr) continue;
        const size_t count = std::min<size_t>(slots, worker->endpoint_counter_slots);
        for (size_t slot = 0; slot < count; ++slot) sums[slot].add(worker->endpoint_handshakes[slot]);
    }
    return sums;
}

}  // namespace vipgate
