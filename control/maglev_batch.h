// MaglevBatch: the Maglev tables of one update, built together, on several CPUs when the update
// is large enough to pay for it.
//
// Design note: a bulk update (10,000 services at once: a restart, a cluster relist) spends about
// a third of its build in MaglevTable::build (~28 us for a 1,601-slot table, M ln M probing that
// is inherent to the algorithm). The tables are independent of one another and of the rest of
// the build: the builder hands out each table as an empty placeholder, records its inputs here,
// and fills every placeholder in run(), before the snapshot that points at them is published.
// Workers never see a placeholder. Threads are pinned to the control CPUs (never a worker's
// CPU: a worker busy-polls, and a build thread there would steal its cycles and cost packets).
// Small updates (a pod moved) build their one table inline: starting threads would cost more
// than the table.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/maglev.h"

namespace vipgate {

class MaglevBatch {
public:
    // Fewer tables than this are built on the calling thread.
    static constexpr size_t kParallelThreshold = 64;

    // A placeholder for the table of `backends`, filled by run().
    std::shared_ptr<const MaglevTable> add(std::vector<MaglevBackend> backends, uint32_t table_size, uint64_t seed);
    // Builds every pending table, one thread per CPU of `cpus` (empty or one: the calling thread).
    void run(const std::vector<unsigned>& cpus);
    // Drops pending tables (an update abandoned before run()).
    void clear() noexcept { pending_.clear(); }
    size_t pending() const noexcept { return pending_.size(); }

private:
    struct Pending {
        std::shared_ptr<MaglevTable> table;
        std::vector<MaglevBackend> backends;
        uint32_t table_size = 0;
        uint64_t seed = 0;
    };
    std::vector<Pending> pending_;
};

}  // namespace vipgate
