// A small EAL for the fuzz targets that need DPDK (mempools, rings, rte_hash, rte_rcu_qsbr):
// no hugepages, no PCI, nothing shared on disk (--in-memory), so libFuzzer's -jobs/-fork
// processes and other DPDK programs on the machine never meet.
#pragma once

namespace vipgate::fuzz {

// Initialises the EAL once; aborts the process with a message when it cannot (a fuzz target
// without its EAL would only report bogus crashes).
void init_eal(const char* program);

}  // namespace vipgate::fuzz
