#include "control/publisher.h"

#include <stdexcept>
#include <string>

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

namespace vipgate {

Publisher::Publisher(uint32_t reader_count) {
    size_t size = rte_rcu_qsbr_get_memsize(reader_count);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("vipgate_qsbr", size, RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr) throw std::runtime_error("cannot allocate the QSBR variable");
    if (rte_rcu_qsbr_init(qsbr_, reader_count) != 0) {
        rte_free(qsbr_);
        throw std::runtime_error("rte_rcu_qsbr_init failed for " + std::to_string(reader_count) + " readers");
    }
}

Publisher::~Publisher() {
    synchronize();
    current_.store(nullptr, std::memory_order_relaxed);
    owned_current_.reset();
    rte_free(qsbr_);
}

void Publisher::publish(std::unique_ptr<Snapshot> next) {
    const Snapshot* next_raw = next.get();
    // Release: a worker that loads this pointer sees the fully built snapshot.
    current_.store(next_raw, std::memory_order_release);
    std::unique_ptr<const Snapshot> previous = std::move(owned_current_);
    owned_current_ = std::move(next);
    if (previous) {
        // The token is taken after the store: any worker that reports quiescent after this
        // point has dropped every reference it had to `previous`.
        retired_.push_back({std::move(previous), rte_rcu_qsbr_start(qsbr_)});
    }
}

size_t Publisher::reclaim() {
    size_t freed = 0;
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
        retired_.pop_front();
        ++freed;
    }
    return freed;
}

void Publisher::synchronize() {
    while (!retired_.empty()) {
        rte_rcu_qsbr_check(qsbr_, retired_.front().token, true);
        retired_.pop_front();
    }
}

}  // namespace vipgate
