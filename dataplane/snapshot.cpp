#include "dataplane/snapshot.h"

#include <algorithm>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

namespace vipgate {

RouteTable::~RouteTable() {
    rte_lpm_free(lpm);
    rte_lpm6_free(lpm6);
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

namespace {

// The first range whose last address is >= `address`, or ranges.size().
template <class Range, class Number>
size_t first_range_ending_at_or_after(const std::vector<Range>& ranges, const Number& address) noexcept {
    size_t low = 0;
    size_t high = ranges.size();
    while (low < high) {
        const size_t middle = (low + high) / 2;
        if (ranges[middle].last < address) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

}  // namespace

bool Snapshot::client_allowed6(const uint8_t* source_address) const noexcept {
    if (!restricts_clients()) return true;
    uint64_t high;
    uint64_t low;
    std::memcpy(&high, source_address, 8);
    std::memcpy(&low, source_address + 8, 8);
    const Ipv6Number address{rte_be_to_cpu_64(high), rte_be_to_cpu_64(low)};
    const size_t index = first_range_ending_at_or_after(client_ranges6, address);
    return index < client_ranges6.size() && client_ranges6[index].first <= address;
}

bool Snapshot::client_allowed(uint32_t source_address) const noexcept {
    if (!restricts_clients()) return true;
    const uint32_t address = rte_be_to_cpu_32(source_address);
    const size_t index = first_range_ending_at_or_after(client_ranges, address);
    return index < client_ranges.size() && client_ranges[index].first <= address;
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

namespace {

bool prefix_matches(const uint8_t address[16], const uint8_t prefix[16], uint8_t length) noexcept {
    const uint8_t whole = length / 8;
    if (std::memcmp(address, prefix, whole) != 0) return false;
    const uint8_t rest = length % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return ((address[whole] ^ prefix[whole]) & mask) == 0;
}

}  // namespace

const Ipv6OnLink* Snapshot::route6(const uint8_t destination[16]) const noexcept {
    if (routes && routes->lpm6 != nullptr) {
        uint32_t index = 0;
        if (rte_lpm6_lookup(routes->lpm6, destination, &index) == 0) return &routes->routes6[index];
    } else {
        for (const Ipv6OnLink& link : ipv6.on_link) {
            if (prefix_matches(destination, link.prefix, link.length)) return &link;
        }
    }
    return ipv6.has_default_router ? &ipv6.default_router : nullptr;
}

const rte_ether_addr* Snapshot::neighbor6(const uint8_t address[16], uint16_t port_index) const noexcept {
    const auto& index = ipv6.neighbor_index;
    if (index.empty()) return nullptr;
    const uint32_t mask = static_cast<uint32_t>(index.size() - 1);
    for (uint32_t position = ipv6_neighbor_hash(address, port_index) & mask;; position = (position + 1) & mask) {
        const uint32_t entry = index[position];
        if (entry == 0) return nullptr;
        const Ipv6Neighbor& neighbor = ipv6.neighbors[entry - 1];
        if (neighbor.port_index == port_index && std::memcmp(neighbor.address, address, 16) == 0) return &neighbor.mac;
    }
}

int32_t Snapshot::snat6_slot_of(const uint8_t address[16]) const noexcept {
    for (size_t slot = 0; slot < ipv6.snat_slots.size(); ++slot) {
        if (std::memcmp(ipv6.snat_slots[slot].data(), address, 16) == 0) return static_cast<int32_t>(slot);
    }
    return -1;
}

bool Snapshot::is_local6(const uint8_t address[16]) const noexcept {
    for (const auto& own : ipv6.local) {
        if (std::memcmp(own.data(), address, 16) == 0) return true;
    }
    return false;
}

bool Snapshot::is_vip6(const uint8_t address[16]) const noexcept {
    const auto found = std::lower_bound(
        ipv6.vips.begin(), ipv6.vips.end(), address,
        [](const std::array<uint8_t, 16>& vip, const uint8_t* key) { return std::memcmp(vip.data(), key, 16) < 0; });
    return found != ipv6.vips.end() && std::memcmp(found->data(), address, 16) == 0;
}

}  // namespace vipgate
