// A small EAL for the fuzz targets that need DPDK (mempools, rings, rte_hash, rte_rcu_qsbr):
// no hugepages, no PCI, no shared config files (--no-shconf; --in-memory refuses --no-huge), so
// libFuzzer's -jobs/-fork processes and other DPDK programs on the machine never meet. 1 GiB
// of EAL memory: every snapshot builder's route table (rte_lpm) alone takes 64 MiB.
#pragma once

namespace vipgate::fuzz {

// Initialises the EAL once; aborts the process with a message when it cannot (a fuzz target
// without its EAL would only report bogus crashes).
void init_eal(const char* program);

}  // namespace vipgate::fuzz
