// MaglevBatch: tables built on several CPUs are the tables MaglevTable::build makes.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "control/maglev_batch.h"

namespace vipgate {
namespace {

std::vector<MaglevBackend> random_backends(std::mt19937& random) {
    std::vector<MaglevBackend> backends(1 + random() % 40);
    for (uint32_t i = 0; i < backends.size(); ++i) {
        backends[i] = {(uint64_t(random()) << 16) | i, i,
                       static_cast<uint32_t>(random() % 4 == 0 ? 0 : 1 + random() % 3)};
    }
    return backends;
}

void expect_same_tables_as_built_alone(size_t tables, const std::vector<unsigned>& cpus) {
    std::mt19937 random(static_cast<uint32_t>(tables * 31 + cpus.size()));
    MaglevBatch batch;
    std::vector<std::vector<MaglevBackend>> inputs;
    std::vector<uint32_t> sizes;
    std::vector<std::shared_ptr<const MaglevTable>> placeholders;
    for (size_t i = 0; i < tables; ++i) {
        inputs.push_back(random_backends(random));
        sizes.push_back(maglev_table_size(inputs.back().size(), 65537));
        placeholders.push_back(batch.add(inputs.back(), sizes.back(), 0x1234 + i));
        EXPECT_TRUE(placeholders.back()->empty()) << "filled before run()";
    }
    EXPECT_EQ(batch.pending(), tables);
    batch.run(cpus);
    EXPECT_EQ(batch.pending(), 0u);
    for (size_t i = 0; i < tables; ++i) {
        const MaglevTable alone = MaglevTable::build(inputs[i], sizes[i], 0x1234 + i);
        ASSERT_EQ(placeholders[i]->size(), alone.size()) << "table " << i;
        EXPECT_TRUE(std::equal(alone.slots().begin(), alone.slots().end(), placeholders[i]->slots().begin()))
            << "table " << i;
    }
}

TEST(MaglevBatch, ParallelTablesEqualTablesBuiltAlone) {
    // Above the threshold, on two threads (CPU 1 may not exist: the thread then runs unpinned).
    expect_same_tables_as_built_alone(MaglevBatch::kParallelThreshold * 4, {0, 1});
    expect_same_tables_as_built_alone(MaglevBatch::kParallelThreshold * 4, {0, 1, 0, 1});
}

TEST(MaglevBatch, SmallBatchesAndOneCpuBuildInline) {
    expect_same_tables_as_built_alone(3, {0, 1});
    expect_same_tables_as_built_alone(MaglevBatch::kParallelThreshold * 2, {0});
    expect_same_tables_as_built_alone(MaglevBatch::kParallelThreshold * 2, {});
}

TEST(MaglevBatch, ClearDropsPendingTables) {
    MaglevBatch batch;
    std::shared_ptr<const MaglevTable> table = batch.add({{1, 0, 1}}, 101, 7);
    batch.clear();
    batch.run({0});
    EXPECT_TRUE(table->empty());
}

}  // namespace
}  // namespace vipgate
