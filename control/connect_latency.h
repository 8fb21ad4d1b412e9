// Endpoint health as the dataplane sees it: connect latencies (SYN forwarded -> the endpoint's
// SYN-ACK) and SYNs never answered, summed over the workers per endpoint slot, merged per
// service port, and read as quantiles.
//
// Design note: the workers keep log2 buckets (dataplane/counters.h, EndpointHandshakes), so a
// quantile is an estimate: it is interpolated linearly inside the bucket the rank falls in, as
// Prometheus' histogram_quantile does, and is at worst a factor of two off. A rank in the
// overflow bucket reports that bucket's lower bound (262 ms), again as Prometheus does.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/counters.h"

namespace vipgate {

struct WorkerContext;

struct ConnectLatency {
    std::array<uint64_t, kConnectLatencyBuckets> buckets{};  // per bucket, not cumulative
    uint64_t sum_us = 0;

    uint64_t count() const noexcept;
    void add(const EndpointHandshakes& handshakes) noexcept;
    void add(const ConnectLatency& other) noexcept;
    // What was recorded since `baseline` (an earlier reading of the same counters).
    ConnectLatency since(const ConnectLatency& baseline) const noexcept;
    // The q-quantile (0 < q <= 1) in microseconds; nullopt when nothing was recorded.
    std::optional<double> quantile_us(double q) const noexcept;
};

// Per endpoint slot, summed over the workers.
std::vector<ConnectLatency> sum_connect_latencies(const std::vector<WorkerContext*>& workers, size_t slots);

}  // namespace vipgate
