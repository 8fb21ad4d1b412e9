#include "dataplane/snapshot.h"

#include <rte_hash.h>
#include <rte_lpm.h>

namespace vipgate {

RouteTable::~RouteTable() { rte_lpm_free(lpm); }

Snapshot::~Snapshot() {
    rte_hash_free(vip_table);
    rte_hash_free(address_table);
    rte_hash_free(endpoint_table);
}

int32_t Snapshot::service_port_of_endpoint(const EndpointKey& key) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(endpoint_table, &key, &data) < 0) return -1;
    uint32_t index = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
    return index == kAmbiguousServicePort ? -1 : static_cast<int32_t>(index);
}

int32_t Snapshot::find_service_port(const VipKey& key) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(vip_table, &key, &data) < 0) return -1;
    return static_cast<int32_t>(reinterpret_cast<uintptr_t>(data));
}

AddressKind Snapshot::address_kind(uint32_t address) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(address_table, &address, &data) < 0) return AddressKind::None;
    return static_cast<AddressKind>(reinterpret_cast<uintptr_t>(data));
}

const NextHop* Snapshot::route(uint32_t destination) const noexcept {
    uint32_t next_hop_index = 0;
    if (rte_lpm_lookup(routes->lpm, rte_be_to_cpu_32(destination), &next_hop_index) != 0) return nullptr;
    return &routes->next_hops[next_hop_index];
}

}  // namespace vipgate
