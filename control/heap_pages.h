// The control plane's heap on transparent huge pages.
//
// Design note: a bulk apply (10,000 services x 10 endpoints: a restart, a cluster relist, a
// file reload) allocates a few hundred MiB of small objects: the store's objects and indexes,
// the builder's bookkeeping. On a virtual machine every first touch of a 4 KiB page is a trap
// to the hypervisor: perf put 20-27 % of the apply in page faults, and the store transaction ran
// 1.5-2.4x faster with its heap on 2 MiB pages (measured with the same objects, same run). glibc
// 2.35+ does this itself (madvise(MADV_HUGEPAGE) on the heap it grows) when started with
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1, and reads tunables only at start-up: so vipgate
// re-executes itself once with the tunable set. It does not when the operator set
// GLIBC_TUNABLES (any value, even empty: the way to opt out), when the kernel's THP mode is
// "never", under a sanitizer or valgrind (their own allocators), or when the re-execution
// fails (it carries on as it is). The packet path never
// allocates and does not care: its memory is DPDK's.
#pragma once

namespace vipgate {

// Call first thing in main(); returns only if vipgate goes on without re-executing.
void put_heap_on_huge_pages(char** argv);

}  // namespace vipgate
