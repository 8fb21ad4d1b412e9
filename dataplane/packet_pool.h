// The mbuf pool of a port (vipgate's ports and vipgen's): set-up code, not the packet path.
//
// DPDK lays pool objects out so that none crosses a page boundary, for devices that DMA by
// physical address. Without hugepages the pages are 4 KiB, so a 2.4 KiB mbuf takes a whole
// page: 16,383 mbufs span 67 MB instead of 39. net_af_xdp registers the pool as its UMEM
// assuming the packed size (objects x object size) from the first object, so the 42 % of mbufs
// past that end were outside the UMEM: once the free list reached them (about 9,000 mbufs freed
// by the control thread, whose frees cycle the whole pool where a worker's cache reuses a few
// hundred), the kernel discarded every fill-ring entry and the port received nothing again.
// Where no device needs physically contiguous objects (virtual devices, or IOVA as VA, where a
// device sees the same contiguous virtual range the CPU does) the pool is packed.
#pragma once

#include <cstdint>

struct rte_mempool;

namespace vipgate {

// A pool of `count` mbufs with `data_room` bytes each for the port's device. Null with
// rte_errno set when it cannot be created.
rte_mempool* create_packet_pool(const char* name, uint16_t port_id, unsigned count, unsigned cache_size,
                                uint16_t data_room, int socket);

// Whether create_packet_pool packs the objects for this device (see above).
bool packed_pool_allowed(uint16_t port_id);

}  // namespace vipgate
