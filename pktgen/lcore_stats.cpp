#include "pktgen/lcore_stats.h"

#include <algorithm>

namespace vipgen {

void LcoreCounters::add(const LcoreCounters& other) noexcept {
    tx_packets += read_counter(other.tx_packets);
    tx_bytes += read_counter(other.tx_bytes);
    alloc_failures += read_counter(other.alloc_failures);
    returned_packets += read_counter(other.returned_packets);
    returned_bytes += read_counter(other.returned_bytes);
    forwarded_packets += read_counter(other.forwarded_packets);
    replies_sent += read_counter(other.replies_sent);
    replies_dropped += read_counter(other.replies_dropped);
    arp_answers += read_counter(other.arp_answers);
    established_sent += read_counter(other.established_sent);
    established_returned += read_counter(other.established_returned);
    spoofed_sent += read_counter(other.spoofed_sent);
    spoofed_answered += read_counter(other.spoofed_answered);
    legit_sent += read_counter(other.legit_sent);
    legit_answered += read_counter(other.legit_answered);
    legit_completed += read_counter(other.legit_completed);
    for (size_t i = 0; i < verdicts.size(); ++i) verdicts[i] += read_counter(other.verdicts[i]);
}

void LcoreStats::reset() noexcept {
    for (uint64_t* counter :
         {&counters.tx_packets, &counters.tx_bytes, &counters.alloc_failures, &counters.returned_packets,
          &counters.returned_bytes, &counters.forwarded_packets, &counters.replies_sent, &counters.replies_dropped,
          &counters.arp_answers, &counters.established_sent, &counters.established_returned, &counters.spoofed_sent,
          &counters.spoofed_answered, &counters.legit_sent, &counters.legit_answered, &counters.legit_completed}) {
        std::atomic_ref<uint64_t>(*counter).store(0, std::memory_order_relaxed);
    }
    for (uint64_t& counter : counters.verdicts) std::atomic_ref<uint64_t>(counter).store(0, std::memory_order_relaxed);
    latency.reset();
    std::fill(endpoint_packets.begin(), endpoint_packets.end(), 0);
}

}  // namespace vipgen
