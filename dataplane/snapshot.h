// Snapshot: everything a worker needs to forward packets, built by the control thread,
// published with one atomic store and never modified afterwards.
//
// Design note: workers read the snapshot without locks. The control thread derives the next
// snapshot from the current one for every change and publishes it (Publisher); the old one is
// freed only after every worker has reported a quiescent state. An update costs what changed:
// service ports and endpoint slots live in chunked copy-on-write tables (ChunkedTable), Maglev
// and route tables are shared through shared_ptr, and the three lookup hashes (VIP, address,
// endpoint) are single lock-free rte_hash tables shared by every snapshot, which the control
// thread edits in place (one writer, lock-free readers).
//
// Stable ids: each service port and each endpoint keeps its index while it exists, so a flow of
// an unchanged service never moves. A freed index that is reused gets a new incarnation
// (service ports) or generation (endpoint slots). Hash values carry (index, incarnation), and a
// worker accepts a hit only when its own snapshot holds that incarnation at that index: a
// worker still on an older snapshot can never act on an entry meant for a newer one.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rte_ether.h>
#include <rte_hash_crc.h>

#include "dataplane/chunked_table.h"
#include "dataplane/dns_zone.h"
#include "dataplane/flow_key.h"
#include "dataplane/idle_backoff.h"
#include "dataplane/maglev.h"
#include "dataplane/snat_ports.h"
#include "dataplane/tcp_state.h"
#include "dataplane/token_bucket.h"

struct rte_hash;
struct rte_lpm;
struct rte_lpm6;

namespace vipgate {

enum class NatMode : uint8_t { FullNat, DnatOnly };

struct EndpointSlot {
    uint32_t address = 0;  // network order
    uint16_t port = 0;     // network order (the target port)
    bool ready = false;
    bool terminating = false;
    uint32_t generation = 0;  // 0: slot empty in this snapshot
    uint32_t weight = 0;
    uint32_t service_port = 0;  // id of the owning service port (for statistics)
    bool ipv6 = false;          // an endpoint of an IPv6 service port: address6 is its address
    uint8_t address6[16] = {};  // network order
};

struct ServicePort {
    uint32_t incarnation = 0;  // 0: this id is free in this snapshot
    uint32_t vip = 0;          // network order
    uint16_t port = 0;         // network order
    uint8_t protocol = 0;
    uint32_t affinity_timeout_ms = 0;           // sessionAffinity ClientIP; 0: none
    std::shared_ptr<const MaglevTable> maglev;  // empty table: no usable endpoint, refuse
    std::vector<uint32_t> endpoint_slots;       // every endpoint of this port (any state)
    std::string service_name;                   // "namespace/name:port-name", for statistics
    // The IPv6 family of a service port is a service port of its own (its own id, VIP key,
    // Maglev table and endpoint slots): vip6 is its VIP, `vip` stays 0.
    bool ipv6 = false;
    uint8_t vip6[16] = {};
};

// An endpoint as its replies show it: (address, target port, protocol), network order.
struct alignas(8) EndpointKey {
    uint32_t address = 0;
    uint16_t port = 0;
    uint8_t protocol = 0;
    uint8_t reserved = 0;
};
static_assert(sizeof(EndpointKey) == 8);

// Hash value naming a service port: (incarnation << 32) | id.
inline void* service_port_reference(uint32_t id, uint32_t incarnation) noexcept {
    return reinterpret_cast<void*>((uintptr_t(incarnation) << 32) | id);
}

// endpoint_table value when two service ports share an endpoint: its replies are ambiguous.
inline void* const kAmbiguousServicePort = reinterpret_cast<void*>(~uintptr_t(0));

// An inclusive range of client addresses, host order.
struct AddressRange {
    uint32_t first = 0;
    uint32_t last = 0;
};

// An IPv6 address as a number (host order halves) for range searches.
struct Ipv6Number {
    uint64_t high = 0;
    uint64_t low = 0;
    auto operator<=>(const Ipv6Number&) const = default;
};

struct AddressRange6 {
    Ipv6Number first;
    Ipv6Number last;
};

// What an address that the gateway answers for is.
enum class AddressKind : uint8_t { None = 0, Local = 1, Vip = 2, Snat = 3, Dns = 4 };

struct NextHop {
    uint16_t port_index = 0;
    uint32_t gateway = 0;  // network order; 0: destination is on the connected subnet
};

// An IPv6 egress: a port's on-link prefix, or an IPv6 [[routes]] entry (docs/ipv6.md, step 5).
struct Ipv6OnLink {
    uint8_t prefix[16] = {};
    uint8_t length = 0;
    uint16_t port_index = 0;
    bool via_gateway = false;  // a [[routes]] entry: the next hop is `gateway`, not the destination
    uint8_t gateway[16] = {};
    const uint8_t* next_hop(const uint8_t destination[16]) const noexcept {
        return via_gateway ? gateway : destination;
    }
};

// Destination -> next hop. DPDK 22.11's rte_lpm has a fixed 64 MiB first level, so a route
// table is shared by every snapshot built from the same ports and routes, not rebuilt per update.
struct RouteTable {
    RouteTable() = default;
    RouteTable(const RouteTable&) = delete;
    RouteTable& operator=(const RouteTable&) = delete;
    ~RouteTable();

    rte_lpm* lpm = nullptr;  // destination (host order) -> index into next_hops
    std::vector<NextHop> next_hops;
    // IPv6, only with IPv6 [[routes]] (rte_lpm6 has a fixed 64 MiB first level too): the ports'
    // on-link prefixes and the routes, longest prefix first; without routes Snapshot::route6
    // scans the on-link prefixes.
    rte_lpm6* lpm6 = nullptr;  // destination -> index into routes6
    std::vector<Ipv6OnLink> routes6;
};

// The lock-free lookup hashes, shared by every snapshot and edited in place by the control
// thread (see the design note above).
struct LookupTables {
    LookupTables() = default;
    LookupTables(const LookupTables&) = delete;
    LookupTables& operator=(const LookupTables&) = delete;
    ~LookupTables();

    rte_hash* vip_table = nullptr;      // VipKey -> service_port_reference
    rte_hash* address_table = nullptr;  // uint32 address (network order) -> AddressKind
    // EndpointKey -> service_port_reference (or kAmbiguousServicePort). DNAT-only uses it to
    // translate replies of flows forwarded without a connection entry (a full table).
    rte_hash* endpoint_table = nullptr;
};

struct PortIdentity {
    uint16_t port_id = 0;  // DPDK port id
    uint16_t vlan = 0;
    rte_ether_addr mac{};
    uint32_t primary_address = 0;  // network order; source of ICMP errors and ARP requests
    // Largest IPv4 datagram (total length) the port sends: the configured `mtu`, else the
    // device's own. Packets routed out of it above this are refused (pipeline.cpp).
    uint16_t mtu = 1500;
    // The port's first IPv6 address (all zero: none): source of its ICMPv6 errors
    // (icmp6_responses.h) and Neighbor Solicitations (control/neighbor_discovery.cpp).
    std::array<uint8_t, 16> primary_address6{};
    bool kernel_interface = false;  // ports[].kernel_interface: unserved local traffic goes to the kernel
    // ports[].accept_router_advertisements: its RAs go to the control thread (nd_path.h).
    bool accept_router_advertisements = false;
};

// IPv6 forwarding state of the gateway's settings (docs/ipv6.md, step 3): a handful of on-link
// prefixes and addresses searched by a scan (rte_lpm6 once there are IPv6 routes: RouteTable),
// static neighbors in a small hash (one per pod: thousands). Learnt neighbors are in
// NeighborTable6 (Neighbor Discovery, step 5).
struct Ipv6Neighbor {
    uint8_t address[16] = {};
    uint16_t port_index = 0;
    rte_ether_addr mac{};
};
inline uint32_t ipv6_neighbor_hash(const uint8_t address[16], uint16_t port_index) noexcept {
    uint64_t words[2];
    std::memcpy(words, address, sizeof(words));
    return rte_hash_crc_8byte(words[1], rte_hash_crc_8byte(words[0], port_index));
}

struct Ipv6Settings {
    std::vector<Ipv6OnLink> on_link;             // the ports' IPv6 prefixes, longest first
    std::vector<std::array<uint8_t, 16>> local;  // the ports' own IPv6 addresses
    std::vector<Ipv6Neighbor> neighbors;         // static
    // Open addressing over `neighbors`: entry + 1 (0: empty), a power of two at least twice their
    // number, linear probing from ipv6_neighbor_hash.
    std::vector<uint32_t> neighbor_index;
    // SNAT6 slots (conn_table6.h): index = slot, stable for the process's life (a removed address
    // keeps its slot, retired; re-added it gets it back), so a worker's connection table may copy
    // them once. `snat_active` lists the slots new connections use.
    std::vector<std::array<uint8_t, 16>> snat_slots;
    std::vector<uint8_t> snat_active;
    // The IPv6 cluster IPs, sorted: what answers echo requests and refuses unserved ports.
    std::vector<std::array<uint8_t, 16>> vips;
    // A default router learnt from router advertisements (control/default_routers.h): the egress
    // of a destination that no prefix nor route covers. Below every static route: a static ::/0
    // always matches first.
    bool has_default_router = false;
    Ipv6OnLink default_router;
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
    RateLimits rate_limits{};  // [limits]: answers and punts per worker

    ChunkedTable<ServicePort> service_ports;  // indexed by service port id
    ChunkedTable<EndpointSlot> endpoints;     // indexed by slot
    // [cluster] client_ranges: sorted, disjoint. Both empty: every client may connect; once either
    // family has a range, a source of the other family needs one of its own.
    std::vector<AddressRange> client_ranges;
    std::vector<AddressRange6> client_ranges6;
    std::vector<PortIdentity> ports;  // indexed by port index

    std::vector<uint32_t> snat_addresses;  // network order
    Ipv6Settings ipv6;
    SnatPortSlices snat_ports;  // one slice of source ports per worker
    uint16_t worker_count = 1;
    IdlePolicy idle;  // how a worker waits while its queues are empty

    std::shared_ptr<const LookupTables> lookup;
    std::shared_ptr<const RouteTable> routes;
    std::shared_ptr<const DnsZone> dns;  // null: no [dns] addresses, the gateway serves no names

    // Worker-side queries. All take and return network-order values.
    int32_t find_service_port(const VipKey& key) const noexcept;  // -1 when absent
    // The id named by a vip_table/endpoint_table value, or -1 when this snapshot does not hold it.
    int32_t resolve_service_port(const void* reference) const noexcept {
        const uintptr_t value = reinterpret_cast<uintptr_t>(reference);
        const uint32_t id = static_cast<uint32_t>(value);
        const uint32_t incarnation = static_cast<uint32_t>(value >> 32);
        if (!service_ports.contains(id) || incarnation == 0 || service_ports[id].incarnation != incarnation) return -1;
        return static_cast<int32_t>(id);
    }
    bool restricts_clients() const noexcept { return !client_ranges.empty() || !client_ranges6.empty(); }
    bool client_allowed(uint32_t source_address) const noexcept;         // network order
    bool client_allowed6(const uint8_t* source_address) const noexcept;  // 16 bytes, network order
    AddressKind address_kind(uint32_t address) const noexcept;
    int32_t service_port_of_endpoint(const EndpointKey& key) const noexcept;  // -1: none or ambiguous
    const NextHop* route(uint32_t destination) const noexcept;                // nullptr: no route
    // IPv6: the egress of `destination` (nullptr: on no port's prefix), its static neighbor's MAC
    // (nullptr: none), and whether it is an SNAT6 slot's or a port's own address.
    const Ipv6OnLink* route6(const uint8_t destination[16]) const noexcept;
    const rte_ether_addr* neighbor6(const uint8_t address[16], uint16_t port_index) const noexcept;
    int32_t snat6_slot_of(const uint8_t address[16]) const noexcept;  // -1: not an SNAT6 address
    bool is_local6(const uint8_t address[16]) const noexcept;
    bool is_vip6(const uint8_t address[16]) const noexcept;
    bool endpoint_alive(uint32_t slot, uint32_t generation) const noexcept {
        return endpoints.contains(slot) && generation != 0 && endpoints[slot].generation == generation;
    }
};

}  // namespace vipgate
