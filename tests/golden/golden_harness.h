// Golden-packet harness: the real pipeline (process_burst) on a real snapshot, without ports.
//
// Design note (after Katran's katran/lib/testing): a golden case is (description, input frame,
// expected verdict, expected output frame), and the harness checks everything a packet can
// touch, not only the frame: which TX buffer, hand-off array or ring it ended in, every worker
// counter that moved (a case lists the counters it expects to change; any other change fails),
// and that every mbuf came back to the pool (a leaked or doubly freed packet fails the case).
//
// The snapshot comes from a TOML configuration through SnapshotBuilder, exactly as the daemon
// builds it, so the cases also cover the builder's VIP table, routes and Maglev tables. Nothing
// about Maglev or SNAT port allocation is hard-coded: tests ask the snapshot which endpoint
// Maglev picks and the connection table which SNAT port a flow got, then build the expected
// frame from that with packet_builder (so byte-for-byte equality also proves the checksums).
//
// Topology (all addresses in 198.18.0.0/15, all MACs locally administered):
//
//   clients 198.18.0.0/24 --- router 198.18.200.254 --- port 0 "clients"  198.18.200.1/24
//   clients 198.18.1.0/24 --- router 198.18.200.253 (no ARP entry: its MAC is unresolved)
//   endpoints 198.19.0.20-.30 ------------------------- port 1 "endpoints" 198.19.0.1/24,
//                                                       VLAN 100           198.19.0.2/24 (SNAT)
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rte_ether.h>

#include "config/config.h"
#include "control/snapshot_builder.h"
#include "dataplane/affinity_table.h"
#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/counters.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"
#include "tests/support/packet_builder.h"

struct rte_ring;

namespace vipgate::golden {

using test::Bytes;
using test::ipv4;
using test::mac;

// ---------------------------------------------------------------------------------------------
// Topology

inline constexpr uint16_t kClientPortId = 0;                         // DPDK port id and port index of "clients"
inline constexpr uint16_t kEndpointPortId = 1;                       // DPDK port id and port index of "endpoints"
inline constexpr rte_ether_addr kClientPortMac = test::kGatewayMac;  // 02:00:00:00:00:02
inline constexpr rte_ether_addr kEndpointPortMac = mac("02:00:00:00:00:03");
inline constexpr uint16_t kEndpointVlan = 100;

inline constexpr uint32_t kGatewayAddr = test::kGatewayAddr;       // 198.18.200.1, primary of port 0
inline constexpr uint32_t kEndpointSideAddr = ipv4("198.19.0.1");  // primary of port 1
inline constexpr uint32_t kSnatAddr = ipv4("198.19.0.2");
inline constexpr uint32_t kRouterAddr = ipv4("198.18.200.254");
inline constexpr rte_ether_addr kRouterMac = test::kClientMac;  // client frames come from the router
inline constexpr uint32_t kUnresolvedRouterAddr = ipv4("198.18.200.253");

inline constexpr uint32_t kClientAddr = test::kClientAddr;              // 198.18.0.10, via the router
inline constexpr uint32_t kUnresolvedClientAddr = ipv4("198.18.1.10");  // via the unresolved router
inline constexpr uint32_t kUnroutableAddr = ipv4("203.0.113.9");        // TEST-NET-3: no route

// Services of the default topology.
inline constexpr uint32_t kWebVip = test::kVipAddr;               // 198.18.100.1: TCP 80->8080, UDP 53->5353
inline constexpr uint32_t kEmptyVip = ipv4("198.18.100.2");       // TCP 80, UDP 53, no endpoints
inline constexpr uint32_t kDrainedVip = ipv4("198.18.100.3");     // TCP 80, UDP 53: weight 0 + not ready
inline constexpr uint32_t kOtherVip = ipv4("198.18.100.5");       // TCP 80 -> 198.19.0.23:8080
inline constexpr uint32_t kUnresolvedVip = ipv4("198.18.100.6");  // TCP 80 -> 198.19.0.30 (no ARP entry)
inline constexpr uint32_t kUnroutableVip = ipv4("198.18.100.7");  // TCP 80 -> 203.0.113.9 (no route)
inline constexpr uint32_t kAliasVip = ipv4("198.18.100.8");       // TCP 80 -> 198.19.0.20:8080, as "web"

inline constexpr uint32_t kWebEndpoint1 = ipv4("198.19.0.20");
inline constexpr uint32_t kWebEndpoint2 = ipv4("198.19.0.21");
inline constexpr uint32_t kWebEndpoint3 = ipv4("198.19.0.22");
inline constexpr uint32_t kOtherEndpoint = ipv4("198.19.0.23");
inline constexpr uint32_t kUnresolvedEndpoint = ipv4("198.19.0.30");

// The MAC every neighbor of the topology has (the unresolved ones are simply not learned).
rte_ether_addr neighbor_mac(uint32_t address);

// ---------------------------------------------------------------------------------------------
// Configuration

struct EndpointSpec {
    std::string address;
    uint32_t weight = 1;
    bool ready = true;
    bool terminating = false;
};

struct ServicePortSpec {
    std::string name;
    std::string protocol;  // "TCP", "UDP" or "SCTP"
    uint16_t port = 0;
    uint16_t target_port = 0;
};

struct ServiceSpec {
    std::string name;
    std::string cluster_ip;
    std::vector<ServicePortSpec> ports;
    std::vector<EndpointSpec> endpoints;
    bool client_ip_affinity = false;  // sessionAffinity: ClientIP
    uint32_t affinity_timeout_s = 10800;
};

struct TopologySpec {
    NatMode nat_mode = NatMode::FullNat;
    uint16_t workers = 1;
    uint16_t snat_port_min = 1024;
    uint16_t snat_port_max = 65535;
    std::vector<ServiceSpec> services = default_services();
    std::vector<std::string> client_ranges;  // [cluster] client_ranges; empty: anyone
    uint16_t client_port_mtu = 0;            // [[ports]] mtu of port 0; 0: not configured (1500)
    uint16_t endpoint_port_mtu = 0;          // the same for port 1
    std::string client_kernel_interface;     // [[ports]] kernel_interface of port 0; empty: none
    // [[ports]] accept_router_advertisements of port 0
    bool client_accepts_router_advertisements = false;
    // IPv6 (golden_nat66_test.cpp): entries added to the ports' and [snat] addresses, and TOML
    // appended to the configuration (IPv6 services, pods, neighbors). With IPv6 port addresses
    // every worker gets an IPv6 connection table, as the daemon does.
    std::vector<std::string> client_port_addresses6;
    std::vector<std::string> endpoint_port_addresses6;
    std::vector<std::string> snat_addresses6;
    std::string extra_toml;
    // [limits]: off unless a test sets them, since a table of cases runs at one clock instant.
    RateLimits limits{.answers = {0, 1}, .punts = {0, 1}};

    static std::vector<ServiceSpec> default_services();
    ServiceSpec& service(const std::string& name);  // throws when absent
};

// The TOML text of the configuration (parsed by config::load_config_string).
std::string config_text(const TopologySpec& spec);
// The configuration of `spec`: config_text parsed, then the fields the TOML decoder does not read
// yet (client ranges, session affinity) set on the structs.
config::Config load_config(const TopologySpec& spec);

// ---------------------------------------------------------------------------------------------
// Flows and their translation

// A client's flow to a service port, as the client sends it. Ports in host order.
struct Flow {
    uint8_t protocol = kProtoTcp;
    uint32_t client = kClientAddr;
    uint16_t client_port = 40000;
    uint32_t vip = kWebVip;
    uint16_t vip_port = 80;

    FlowKey4 key() const;  // client -> VIP, network order
};

// How the gateway translated a flow, read from its connection entry. Ports in host order.
struct Translation {
    uint32_t endpoint = 0;
    uint16_t endpoint_port = 0;
    uint32_t source = 0;  // what the endpoint sees as the source: SNAT address or the client
    uint16_t source_port = 0;
};

// Frames of a flow, for TCP (TcpSpec), UDP (UdpSpec) or SCTP (SctpSpec): the spec's ports and the IP spec's
// addresses are filled in from the flow; everything else (flags, payload, TTL, id) is kept. The
// gateway's outputs carry the input's IP spec with TTL - 1 (pass the input's spec unchanged).
template <class L4Spec>
Bytes client_to_vip(const Flow& flow, L4Spec l4, test::Ipv4Spec ip = {});
template <class L4Spec>
Bytes gateway_to_endpoint(const Translation& translation, L4Spec l4, test::Ipv4Spec ip = {});
template <class L4Spec>
Bytes endpoint_to_gateway(const Translation& translation, L4Spec l4, test::Ipv4Spec ip = {});
template <class L4Spec>
Bytes gateway_to_client(const Flow& flow, L4Spec l4, test::Ipv4Spec ip = {});

// The Ethernet framing of each side.
test::EthernetSpec from_router();                    // router -> port 0
test::EthernetSpec to_router();                      // port 0 -> router
test::EthernetSpec from_neighbor(uint32_t address);  // endpoint-side neighbor -> port 1, VLAN 100
test::EthernetSpec to_neighbor(uint32_t address);    // port 1 -> neighbor, VLAN 100

// An answer the gateway writes itself (RST, ICMP error, echo reply): fresh IPv4 header with
// TTL 64, id 0 (echo: the request's id), DF clear.
test::Ipv4Spec answer_ip(uint32_t source, uint32_t destination, uint8_t tos = 0);

// ---------------------------------------------------------------------------------------------
// Running packets

struct Transmitted {
    uint16_t port_index;
    Bytes frame;
};

struct Punted {
    Bytes frame;
    uint32_t next_hop;  // packet->hash.usr
    uint16_t port_id;   // packet->port
};

struct RunResult {
    std::vector<Transmitted> transmitted;  // all TX buffers, port by port
    std::vector<test::MbufPtr> handed_off[kMaxWorkers];
    std::vector<Punted> punted;
    std::map<std::string, uint64_t> counter_changes;  // counters that moved: name -> increase
};

// Where a packet is expected to end up.
enum class Verdict { Forwarded, Answered, HandedOff, Punted, Dropped };

struct Expectation {
    Verdict verdict = Verdict::Dropped;
    uint16_t target = 0;                       // Forwarded/Answered: TX port index; HandedOff: worker
    std::optional<DropReason> reason;          // counted in drops (refusals and neighbor misses too)
    std::optional<Bytes> frame;                // Forwarded/Answered/Punted: the exact output frame
    std::map<std::string, uint64_t> counters;  // other counters expected to increase by one packet
    std::optional<uint32_t> punted_next_hop;   // Punted: packet->hash.usr
};

struct GoldenCase {
    std::string description;
    Bytes input;
    uint16_t in_port = kClientPortId;
    Expectation expect;
};

class GoldenHarness {
public:
    explicit GoldenHarness(const TopologySpec& spec);
    ~GoldenHarness();
    GoldenHarness(const GoldenHarness&) = delete;
    GoldenHarness& operator=(const GoldenHarness&) = delete;

    // Builds a snapshot from `spec` with the same builder (as a reload does) and makes it the
    // one the workers use; the previous snapshot is freed (no reader can hold it here).
    void reload(const TopologySpec& spec);

    const Snapshot& snapshot() const { return *snapshot_; }
    // Puts a DNS zone in the current snapshot (the control plane's zone building is not part of
    // SnapshotBuilder's input here); null removes it.
    void set_dns_zone(std::shared_ptr<const DnsZone> zone) { snapshot_->dns = std::move(zone); }
    const TopologySpec& spec() const { return spec_; }
    WorkerContext& worker(uint16_t index) { return *workers_.at(index); }
    ConnTable& connections(uint16_t worker) { return *worker_tables_.at(worker); }
    ConnTable6& connections6(uint16_t worker) { return *worker_tables6_.at(worker); }
    AffinityTable& affinity(uint16_t worker) { return *affinity_tables_.at(worker); }
    AffinityTable6& affinity6(uint16_t worker) { return *affinity_tables6_.at(worker); }
    const EndpointCounters& endpoint_counters(uint16_t worker, uint32_t slot) const;
    const EndpointHandshakes& endpoint_handshakes(uint16_t worker, uint32_t slot) const;
    uint64_t service_port_refusals(uint16_t worker, uint32_t service_port) const;
    const BuildStatistics& last_build() const { return builder_.last_statistics(); }

    // Runs frames (each arriving on its DPDK port id) through one process_burst call.
    RunResult run(uint16_t worker, const std::vector<std::pair<Bytes, uint16_t>>& frames);
    RunResult run(uint16_t worker, const Bytes& frame, uint16_t in_port = kClientPortId) {
        return run(worker, {{frame, in_port}});
    }
    // Runs mbufs another worker handed off (from_handoff = true).
    RunResult run_handed_off(uint16_t worker, std::vector<test::MbufPtr> packets);

    // Runs one golden case on `worker` and checks every expectation (gtest failures).
    void check(const GoldenCase& golden, uint16_t worker = 0);

    // What Maglev picks for a new flow in the current snapshot.
    const EndpointSlot& maglev_choice(const Flow& flow) const;
    uint32_t maglev_slot(const Flow& flow) const;
    // What an affinity service port's Maglev table gives the flow's client (its address only).
    uint32_t affinity_slot(const Flow& flow) const;
    // The translation recorded in `worker`'s connection table; nullopt when untracked.
    std::optional<Translation> translation(const Flow& flow, uint16_t worker = 0);
    // The [first, last] SNAT ports of a worker.
    std::pair<uint16_t, uint16_t> snat_range(uint16_t worker) const;
    // A client port >= `from` for which `predicate(port)` holds (throws after 10000 tries).
    template <class Predicate>
    uint16_t find_client_port(uint16_t from, Predicate&& predicate) const {
        for (uint32_t port = from; port < from + 10000u && port <= 65535; ++port) {
            if (predicate(static_cast<uint16_t>(port))) return static_cast<uint16_t>(port);
        }
        throw std::runtime_error("no client port satisfies the predicate");
    }

private:
    void collect(RunResult& result);

    TopologySpec spec_;
    SnapshotBuilder builder_;
    std::unique_ptr<Snapshot> snapshot_;
    NeighborTable neighbors_;
    rte_ring* punt_ring_ = nullptr;
    std::vector<ConnTable*> worker_tables_;
    std::vector<ConnTable6*> worker_tables6_;
    std::vector<AffinityTable*> affinity_tables_;
    std::vector<AffinityTable6*> affinity_tables6_;
    std::vector<DnsRateLimiter*> dns_rate_limiters_;
    std::vector<std::unique_ptr<WorkerContext>> workers_;
    std::vector<std::vector<EndpointCounters>> endpoint_counters_;
    std::vector<std::vector<EndpointHandshakes>> endpoint_handshakes_;
    std::vector<std::vector<uint64_t>> service_port_refusals_;
};

// Checks a RunResult against an expectation for a run of `packets` packets of `bytes` bytes
// (rx counters are added to the expected changes unless the packets were handed off).
void check_result(RunResult& result, const Expectation& expect, uint64_t packets, uint64_t bytes, bool from_handoff);

std::string drop_counter(DropReason reason);  // "drop:<name>", the key of a drop counter

// The name of a case run in each NAT mode (INSTANTIATE_TEST_SUITE_P's last argument).
inline std::string mode_name(const testing::TestParamInfo<NatMode>& info) {
    return info.param == NatMode::FullNat ? "FullNat" : "Dnat";
}

}  // namespace vipgate::golden
