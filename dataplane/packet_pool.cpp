#include "dataplane/packet_pool.h"

#include <cstring>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

namespace vipgate {

bool packed_pool_allowed(uint16_t port_id) {
    if (rte_eal_iova_mode() == RTE_IOVA_VA) return true;
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port_id, &info) != 0 || info.device == nullptr) return false;
    const rte_bus* bus = rte_dev_bus(info.device);
    return bus != nullptr && std::strcmp(rte_bus_name(bus), "vdev") == 0;
}

// rte_pktmbuf_pool_create, with RTE_MEMPOOL_F_NO_IOVA_CONTIG.
rte_mempool* create_packet_pool(const char* name, uint16_t port_id, unsigned count, unsigned cache_size,
                                uint16_t data_room, int socket) {
    if (!packed_pool_allowed(port_id)) {
        return rte_pktmbuf_pool_create(name, count, cache_size, 0, data_room, socket);
    }
    rte_pktmbuf_pool_private settings{};
    settings.mbuf_data_room_size = data_room;
    settings.mbuf_priv_size = 0;
    rte_mempool* pool = rte_mempool_create_empty(name, count, sizeof(rte_mbuf) + data_room, cache_size,
                                                 sizeof(settings), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    if (pool == nullptr) return nullptr;
    int result = rte_mempool_set_ops_byname(pool, rte_mbuf_best_mempool_ops(), nullptr);
    if (result == 0) {
        rte_pktmbuf_pool_init(pool, &settings);
        result = rte_mempool_populate_default(pool);
    }
    if (result < 0) {
        rte_mempool_free(pool);
        rte_errno = -result;
        return nullptr;
    }
    rte_mempool_obj_iter(pool, rte_pktmbuf_init, nullptr);
    return pool;
}

}  // namespace vipgate
