#include "tests/fuzz/fuzz_eal.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <rte_eal.h>

namespace vipgate::fuzz {

void init_eal(const char* program) {
    static bool initialised = false;
    if (initialised) return;
    std::vector<std::string> arguments = {
        program,          "--no-huge",         "-m", "1024", "--no-pci", "--no-shconf",
        "--no-telemetry", "--log-level=error", "-l", "0"};
    std::vector<char*> argv;
    for (std::string& argument : arguments) argv.push_back(argument.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "fuzz: rte_eal_init failed: the target needs a working DPDK EAL\n");
        std::abort();
    }
    initialised = true;
}

}  // namespace vipgate::fuzz
