#include <gtest/gtest.h>

#include <random>

#include "control/flow_steering.h"

namespace vipgate {
namespace {

// Every port in [first, last] is matched by exactly one block, and no port outside.
void expect_exact_cover(uint16_t first, uint16_t last) {
    std::vector<PortBlock> blocks = port_range_blocks(first, last);
    for (uint32_t port = 0; port <= 0xffff; ++port) {
        int matches = 0;
        for (const PortBlock& block : blocks) {
            matches += (port & block.mask) == block.value ? 1 : 0;
            ASSERT_EQ(block.value & ~block.mask & 0xffff, 0) << "block value not aligned to its mask";
        }
        ASSERT_EQ(matches, (port >= first && port <= last) ? 1 : 0)
            << "port " << port << " in [" << first << ", " << last << "]";
    }
}

TEST(PortRangeBlocks, CoversWorkerSlicesExactly) {
    expect_exact_cover(1024, 65535);
    expect_exact_cover(1024, 33279);   // first of two workers' slices
    expect_exact_cover(33280, 65535);  // second
    expect_exact_cover(0, 65535);
    expect_exact_cover(7, 7);
}

TEST(PortRangeBlocks, RandomRangesAreCoveredWithFewBlocks) {
    std::mt19937 random(7);
    for (int i = 0; i < 20; ++i) {
        uint16_t a = static_cast<uint16_t>(random());
        uint16_t b = static_cast<uint16_t>(random());
        uint16_t first = std::min(a, b);
        uint16_t last = std::max(a, b);
        expect_exact_cover(first, last);
        EXPECT_LE(port_range_blocks(first, last).size(), 32u);
    }
}

}  // namespace
}  // namespace vipgate
