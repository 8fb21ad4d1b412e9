// Publisher: one atomic store to publish a snapshot, QSBR to know when the old one is unused.
//
// Design note: workers load the current snapshot once per poll loop and report a quiescent
// state (rte_rcu_qsbr_quiescent) at the top of the next loop, when they hold no reference.
// After a publish, the control thread records a QSBR token for the old snapshot and frees it
// only when rte_rcu_qsbr_check says every worker has passed a quiescent state since. Reclaim
// is polled from the control loop (never blocking traffic); shutdown waits synchronously.
// Offline workers (stopped) do not hold up reclamation.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "dataplane/snapshot.h"

struct rte_rcu_qsbr;

namespace vipgate {

class Publisher {
public:
    explicit Publisher(uint32_t reader_count);
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    rte_rcu_qsbr* qsbr() const noexcept { return qsbr_; }
    const std::atomic<const Snapshot*>& current_pointer() const noexcept { return current_; }
    const Snapshot* current() const noexcept {
        // Acquire pairs with the release store in publish(): the snapshot's contents are visible.
        return current_.load(std::memory_order_acquire);
    }

    // Publish `next`; the previous snapshot is retired and freed once no worker can see it.
    void publish(std::unique_ptr<Snapshot> next);
    // Free retired snapshots that every worker has moved past. Returns how many were freed.
    size_t reclaim();
    // Block until every retired snapshot can be freed, then free them.
    void synchronize();
    size_t retired_count() const noexcept { return retired_.size(); }

private:
    struct Retired {
        std::unique_ptr<const Snapshot> snapshot;
        uint64_t token;
    };

    rte_rcu_qsbr* qsbr_ = nullptr;
    std::atomic<const Snapshot*> current_{nullptr};
    std::unique_ptr<const Snapshot> owned_current_;
    std::deque<Retired> retired_;
};

}  // namespace vipgate
