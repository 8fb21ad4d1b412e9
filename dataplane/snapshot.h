// Snapshot: everything a worker needs to forward packets, built whole by the control thread,
// published with one atomic store and never modified afterwards.
//
// Design note: workers read the snapshot without locks. The control thread compiles a new one
// for every change (config reload), publishes it (Publisher), and frees the old one only after
// every worker has reported a quiescent state. Pieces that did not change are shared between
// consecutive snapshots (Maglev and route tables through shared_ptr, endpoint slots by stable
// index), so
// an update costs what changed, and flows of unchanged services never move.
//
// Endpoint slots: each (service port, endpoint address, target port) owns a slot index that
// stays the same while the endpoint exists. A slot that is freed and later reused gets a new
// generation, so a connection pinned to (slot, generation) can tell on every packet whether its
// endpoint still exists in the current snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_ether.h>

#include "dataplane/flow_key.h"
#include "dataplane/maglev.h"
#include "dataplane/tcp_state.h"

struct rte_hash;
struct rte_lpm;

namespace vipgate {

enum class NatMode : uint8_t { FullNat, DnatOnly };

struct EndpointSlot {
    uint32_t address = 0;      // network order
    uint16_t port = 0;         // network order (the target port)
    bool ready = false;
    bool terminating = false;
    uint32_t generation = 0;   // 0: slot empty in this snapshot
    uint32_t weight = 0;
    uint32_t service_port = 0; // index into Snapshot::service_ports (for statistics)
};

struct ServicePort {
    uint32_t vip = 0;          // network order
    uint16_t port = 0;         // network order
    uint8_t protocol = 0;
    std::shared_ptr<const MaglevTable> maglev;  // empty table: no usable endpoint, refuse
    std::vector<uint32_t> endpoint_slots;       // every endpoint of this port (any state)
    std::string service_name;                   // "namespace/name:port-name", for statistics
};

// An endpoint as its replies show it: (address, target port, protocol), network order.
struct alignas(8) EndpointKey {
    uint32_t address = 0;
    uint16_t port = 0;
    uint8_t protocol = 0;
    uint8_t reserved = 0;
};
static_assert(sizeof(EndpointKey) == 8);

// endpoint_table value when two service ports share an endpoint: its replies are ambiguous.
constexpr uint32_t kAmbiguousServicePort = UINT32_MAX;

// What an address that the gateway answers for is.
enum class AddressKind : uint8_t { None = 0, Local = 1, Vip = 2, Snat = 3 };

struct NextHop {
    uint16_t port_index = 0;
    uint32_t gateway = 0;      // network order; 0: destination is on the connected subnet
};

// Destination -> next hop. DPDK 22.11's rte_lpm has a fixed 64 MiB first level, so a route
// table is shared by every snapshot built from the same ports and routes, not rebuilt per update.
struct RouteTable {
    RouteTable() = default;
    RouteTable(const RouteTable&) = delete;
    RouteTable& operator=(const RouteTable&) = delete;
    ~RouteTable();

    rte_lpm* lpm = nullptr;            // destination (host order) -> index into next_hops
    std::vector<NextHop> next_hops;
};

struct PortIdentity {
    uint16_t port_id = 0;      // DPDK port id
    uint16_t vlan = 0;
    rte_ether_addr mac{};
    uint32_t primary_address = 0;  // network order; source of ICMP errors and ARP requests
};

class Snapshot {
public:
    Snapshot() = default;
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot();

    uint64_t generation = 0;
    NatMode nat_mode = NatMode::FullNat;
    uint32_t hash_seed = 0;
    ConnTimeouts timeouts{};

    std::vector<ServicePort> service_ports;
    std::vector<EndpointSlot> endpoints;       // indexed by slot
    std::vector<PortIdentity> ports;           // indexed by port index

    std::vector<uint32_t> snat_addresses;      // network order
    uint16_t snat_port_min = 0;                // host order
    uint16_t snat_ports_per_worker = 0;
    uint16_t worker_count = 1;

    rte_hash* vip_table = nullptr;             // VipKey -> service port index
    rte_hash* address_table = nullptr;         // uint32 address (network order) -> AddressKind
    // EndpointKey -> service port index (or kAmbiguousServicePort). DNAT-only uses it to
    // translate replies of flows forwarded without a connection entry (a full table).
    rte_hash* endpoint_table = nullptr;
    std::shared_ptr<const RouteTable> routes;

    // Worker-side queries. All take and return network-order values.
    int32_t find_service_port(const VipKey& key) const noexcept;  // -1 when absent
    AddressKind address_kind(uint32_t address) const noexcept;
    int32_t service_port_of_endpoint(const EndpointKey& key) const noexcept;  // -1: none or ambiguous
    const NextHop* route(uint32_t destination) const noexcept;    // nullptr: no route
    bool endpoint_alive(uint32_t slot, uint32_t generation) const noexcept {
        return slot < endpoints.size() && generation != 0 && endpoints[slot].generation == generation;
    }
    // Which worker owns replies sent to SNAT port `port_host_order`.
    uint16_t snat_port_owner(uint16_t port_host_order) const noexcept {
        return uint16_t((port_host_order - snat_port_min) / snat_ports_per_worker);
    }
};

}  // namespace vipgate
