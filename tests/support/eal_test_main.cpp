// GoogleTest main for every unit-test executable: initialises a small EAL without hugepages,
// PCI or shared files so tests can use mbufs, mempools, rte_hash and rte_rcu_qsbr, and so
// test executables can run in parallel.
#include <gtest/gtest.h>

#include <rte_eal.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    std::vector<std::string> eal_args = {argv[0],          "--no-huge",         "-m", "256", "--no-pci", "--no-shconf",
                                         "--no-telemetry", "--log-level=error", "-l", "0"};
    std::vector<char*> eal_argv;
    for (auto& arg : eal_args) eal_argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed: the unit tests need a working DPDK EAL\n");
        return 1;
    }
    int result = RUN_ALL_TESTS();
    rte_eal_cleanup();
    return result;
}
