#include "dataplane/snapshot.h"

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_lpm.h>

namespace vipgate {

RouteTable::~RouteTable() {
    rte_lpm_free(lpm);
}

LookupTables::~LookupTables() {
    rte_hash_free(vip_table);
    rte_hash_free(address_table);
    rte_hash_free(endpoint_table);
}

Snapshot::~Snapshot() = default;

int32_t Snapshot::service_port_of_endpoint(const EndpointKey& key) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(lookup->endpoint_table, &key, &data) < 0 || data == kAmbiguousServicePort) return -1;
    return resolve_service_port(data);
}

int32_t Snapshot::find_service_port(const VipKey& key) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(lookup->vip_table, &key, &data) < 0) return -1;
    return resolve_service_port(data);
}

bool Snapshot::client_allowed(uint32_t source_address) const noexcept {
    if (client_ranges.empty()) return true;
    const uint32_t address = rte_be_to_cpu_32(source_address);
    size_t low = 0;
    size_t high = client_ranges.size();
    while (low < high) {  // first range whose last >= address
        const size_t middle = (low + high) / 2;
        if (client_ranges[middle].last < address) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low < client_ranges.size() && client_ranges[low].first <= address;
}

AddressKind Snapshot::address_kind(uint32_t address) const noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_data(lookup->address_table, &address, &data) < 0) return AddressKind::None;
    return static_cast<AddressKind>(reinterpret_cast<uintptr_t>(data));
}

const NextHop* Snapshot::route(uint32_t destination) const noexcept {
    uint32_t next_hop_index = 0;
    if (rte_lpm_lookup(routes->lpm, rte_be_to_cpu_32(destination), &next_hop_index) != 0) return nullptr;
    return &routes->next_hops[next_hop_index];
}

}  // namespace vipgate
