#include "control/maglev_batch.h"

#include <atomic>
#include <system_error>
#include <thread>

#include <pthread.h>
#include <sched.h>

namespace vipgate {

std::shared_ptr<const MaglevTable> MaglevBatch::add(std::vector<MaglevBackend> backends, uint32_t table_size,
                                                    uint64_t seed) {
    auto table = std::make_shared<MaglevTable>();
    pending_.push_back({table, std::move(backends), table_size, seed});
    return table;
}

void MaglevBatch::run(const std::vector<unsigned>& cpus) {
    auto build = [](Pending& job) { *job.table = MaglevTable::build(job.backends, job.table_size, job.seed); };
    if (cpus.size() <= 1 || pending_.size() < kParallelThreshold) {
        for (Pending& job : pending_) build(job);
        pending_.clear();
        return;
    }
    // Tables differ in size (backend counts), so threads take the next table as they finish
    // rather than a fixed share each.
    std::atomic<size_t> next{0};
    auto drain = [&] {
        for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < pending_.size();
             i = next.fetch_add(1, std::memory_order_relaxed)) {
            build(pending_[i]);
        }
    };
    // The tables are filled after the builder's commit point, so a thread that cannot be
    // created (a resource limit) must not fail the update: the threads that did start take
    // every table, and if none started the calling thread builds them all. It does not join in
    // otherwise: its CPU may be a worker's.
    std::vector<std::thread> threads;
    threads.reserve(cpus.size());
    for (unsigned cpu : cpus) {
        try {
            threads.emplace_back([&drain, cpu] {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
                drain();
            });
        } catch (const std::system_error&) {
            break;
        }
    }
    if (threads.empty()) drain();
    for (std::thread& thread : threads) thread.join();
    pending_.clear();
}

}  // namespace vipgate
