#include "tests/golden/golden_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "config/config.h"
#include "dataplane/pipeline.h"

namespace vipgate::golden {
namespace {

constexpr uint32_t kConntrackCapacity = 1024;
constexpr uint32_t kConntrackSeed = 0x600d5eed;
constexpr uint32_t kAffinityCapacity = 1024;
constexpr uint32_t kEndpointCounterSlots = 64;
constexpr uint32_t kServicePortSlots = 64;
constexpr uint32_t kPuntRingSize = 256;
constexpr uint32_t kStartTimeMs = 1'000'000;

std::string ipv4_text(uint32_t address) {
    return test::ipv4_to_string(address);
}

std::vector<PortIdentity> port_identities() {
    PortIdentity clients;
    clients.port_id = kClientPortId;
    clients.mac = kClientPortMac;
    PortIdentity endpoints;
    endpoints.port_id = kEndpointPortId;
    endpoints.mac = kEndpointPortMac;
    return {clients, endpoints};
}

config::Config parse(const std::string& text) {
    config::LoadResult loaded = config::load_config_string(text, "golden");
    if (!loaded.errors.empty()) {
        std::string message = "golden configuration rejected:";
        for (const auto& error : loaded.errors) message += "\n  " + error.to_string();
        throw std::runtime_error(message + "\n" + text);
    }
    return *loaded.config;
}

bool is_counter_name(const std::string& name) {
    for (const auto& field : kCounterFields) {
        if (name == field.name) return true;
    }
    for (size_t reason = 0; reason < kDropReasonCount; ++reason) {
        if (name == drop_counter(static_cast<DropReason>(reason))) return true;
    }
    return false;
}

std::map<std::string, uint64_t> counter_changes(const WorkerCounters& before, const WorkerCounters& after) {
    std::map<std::string, uint64_t> changes;
    for (const auto& field : kCounterFields) {
        if (after.*field.member != before.*field.member) {
            changes[std::string(field.name)] = after.*field.member - before.*field.member;
        }
    }
    for (size_t reason = 0; reason < kDropReasonCount; ++reason) {
        if (after.drops[reason] != before.drops[reason]) {
            changes[drop_counter(static_cast<DropReason>(reason))] = after.drops[reason] - before.drops[reason];
        }
    }
    return changes;
}

test::MbufPtr mbuf_for(const Bytes& frame, uint16_t port_id) {
    test::MbufPtr packet = test::to_mbuf(frame);
    packet->port = port_id;
    return packet;
}

std::string describe_difference(const Bytes& actual, const Bytes& expected) {
    size_t first = 0;
    while (first < actual.size() && first < expected.size() && actual[first] == expected[first]) ++first;
    std::ostringstream text;
    text << "frames differ at byte " << first << " (actual " << actual.size() << " bytes, expected " << expected.size()
         << ")\n  actual:   " << test::hex(actual) << "\n  expected: " << test::hex(expected);
    return text.str();
}

const char* verdict_name(Verdict verdict) {
    switch (verdict) {
    case Verdict::Forwarded:
        return "forwarded";
    case Verdict::Answered:
        return "answered";
    case Verdict::HandedOff:
        return "handed off";
    case Verdict::Punted:
        return "punted";
    case Verdict::Dropped:
        return "dropped";
    }
    return "?";
}

void expect_frame(const Bytes& actual, const Bytes& expected) {
    EXPECT_TRUE(actual == expected) << describe_difference(actual, expected);
    if (actual.size() >= 14 && test::layout_of(actual).ether_type == RTE_ETHER_TYPE_IPV4) {
        EXPECT_TRUE(test::all_checksums_ok(actual)) << "bad checksum in " << test::hex(actual);
    }
}

template <class L4Spec>
Bytes l4_frame(const L4Spec& l4, const test::Ipv4Spec& ip, const test::EthernetSpec& ethernet);

template <>
Bytes l4_frame(const test::TcpSpec& tcp, const test::Ipv4Spec& ip, const test::EthernetSpec& ethernet) {
    return test::tcp_frame(tcp, ip, ethernet);
}

template <>
Bytes l4_frame(const test::UdpSpec& udp, const test::Ipv4Spec& ip, const test::EthernetSpec& ethernet) {
    return test::udp_frame(udp, ip, ethernet);
}

template <>
Bytes l4_frame(const test::SctpSpec& sctp, const test::Ipv4Spec& ip, const test::EthernetSpec& ethernet) {
    return test::sctp_frame(sctp, ip, ethernet);
}

}  // namespace

std::string drop_counter(DropReason reason) {
    return "drop:" + std::string(drop_reason_name(reason));
}

rte_ether_addr neighbor_mac(uint32_t address) {
    if (address == kRouterAddr) return kRouterMac;
    rte_ether_addr result{};
    result.addr_bytes[0] = 0x02;
    result.addr_bytes[1] = 0x01;
    std::memcpy(&result.addr_bytes[2], &address, sizeof(address));
    return result;
}

// ---------------------------------------------------------------------------------------------
// Configuration

std::vector<ServiceSpec> TopologySpec::default_services() {
    const std::vector<ServicePortSpec> web_ports = {{"http", "TCP", 80, 8080}, {"dns", "UDP", 53, 5353}};
    const std::vector<ServicePortSpec> plain_ports = {{"http", "TCP", 80, 0}, {"dns", "UDP", 53, 0}};
    return {
        {"web",
         ipv4_text(kWebVip),
         web_ports,
         {{ipv4_text(kWebEndpoint1)}, {ipv4_text(kWebEndpoint2)}, {ipv4_text(kWebEndpoint3)}}},
        {"empty", ipv4_text(kEmptyVip), plain_ports, {}},
        {"drained",
         ipv4_text(kDrainedVip),
         plain_ports,
         {{"198.19.0.24", 0, true, false}, {"198.19.0.25", 1, false, false}}},
        {"other", ipv4_text(kOtherVip), {{"http", "TCP", 80, 8080}}, {{ipv4_text(kOtherEndpoint)}}},
        {"unresolved", ipv4_text(kUnresolvedVip), {{"http", "TCP", 80, 8080}}, {{ipv4_text(kUnresolvedEndpoint)}}},
        {"unroutable", ipv4_text(kUnroutableVip), {{"http", "TCP", 80, 8080}}, {{ipv4_text(kUnroutableAddr)}}},
        {"alias", ipv4_text(kAliasVip), {{"http", "TCP", 80, 8080}}, {{ipv4_text(kWebEndpoint1)}}},
    };
}

ServiceSpec& TopologySpec::service(const std::string& name) {
    for (auto& service : services) {
        if (service.name == name) return service;
    }
    throw std::invalid_argument("no service named " + name);
}

// ", \"a\", \"b\"": more entries for a TOML array that already has one.
static std::string quoted_list(const std::vector<std::string>& values) {
    std::string text;
    for (const std::string& value : values) text.append(", \"").append(value).append("\"");
    return text;
}

std::string config_text(const TopologySpec& spec) {
    std::ostringstream text;
    text << "[dataplane]\nworker_lcores = [";
    for (uint16_t worker = 0; worker < spec.workers; ++worker) text << (worker == 0 ? "" : ", ") << worker + 1;
    text << "]\nnat_mode = \"" << (spec.nat_mode == NatMode::FullNat ? "fullnat" : "dnat") << "\"\n"
         << "hash_seed = 0x5eed5eed\n\n"
         << "[conntrack]\ncapacity = " << kConntrackCapacity << "\nudp_timeout = 120\nudp_unreplied_timeout = 30\n\n"
         << "[snat]\naddresses = [\"" << ipv4_text(kSnatAddr) << "\"" << quoted_list(spec.snat_addresses6) << "]\n"
         << "port_range = [" << spec.snat_port_min << ", " << spec.snat_port_max << "]\n\n"
         << "[limits]\nanswer_rate = " << spec.limits.answers.rate_per_s
         << "\nanswer_burst = " << spec.limits.answers.burst << "\npunt_rate = " << spec.limits.punts.rate_per_s
         << "\npunt_burst = " << spec.limits.punts.burst << "\n\n"
         << "[[ports]]\nname = \"clients\"\ndevice = \"net_null0\"\n"
         << "addresses = [\"" << ipv4_text(kGatewayAddr) << "/24\"" << quoted_list(spec.client_port_addresses6)
         << "]\n";
    if (spec.client_port_mtu != 0) text << "mtu = " << spec.client_port_mtu << "\n";
    if (!spec.client_kernel_interface.empty())
        text << "kernel_interface = \"" << spec.client_kernel_interface << "\"\n";
    if (spec.client_accepts_router_advertisements) text << "accept_router_advertisements = true\n";
    text << "\n[[ports]]\nname = \"endpoints\"\ndevice = \"net_null1\"\n"
         << "addresses = [\"" << ipv4_text(kEndpointSideAddr) << "/24\", \"" << ipv4_text(kSnatAddr) << "/24\""
         << quoted_list(spec.endpoint_port_addresses6) << "]\n"
         << "vlan = " << kEndpointVlan << "\n";
    if (spec.endpoint_port_mtu != 0) text << "mtu = " << spec.endpoint_port_mtu << "\n";
    text << "\n"
         << "[[routes]]\nprefix = \"198.18.0.0/24\"\nvia = \"" << ipv4_text(kRouterAddr) << "\"\n\n"
         << "[[routes]]\nprefix = \"198.18.1.0/24\"\nvia = \"" << ipv4_text(kUnresolvedRouterAddr) << "\"\n\n";
    // Every neighbor except the unresolved ones has a static entry.
    std::vector<uint32_t> neighbors = {kRouterAddr};
    for (const auto& service : spec.services) {
        for (const auto& endpoint : service.endpoints) {
            uint32_t address = ipv4(endpoint.address);
            if (address != kUnresolvedEndpoint && address != kUnroutableAddr) neighbors.push_back(address);
        }
    }
    std::sort(neighbors.begin(), neighbors.end());
    neighbors.erase(std::unique(neighbors.begin(), neighbors.end()), neighbors.end());
    for (uint32_t address : neighbors) {
        const rte_ether_addr neighbor = neighbor_mac(address);
        char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
        rte_ether_format_addr(mac_text, sizeof(mac_text), &neighbor);
        text << "[[neighbors]]\naddress = \"" << ipv4_text(address) << "\"\nmac = \"" << mac_text << "\"\n\n";
    }
    for (const auto& service : spec.services) {
        text << "[[services]]\nname = \"" << service.name << "\"\ncluster_ip = \"" << service.cluster_ip << "\"\n";
        for (const auto& port : service.ports) {
            text << "[[services.ports]]\nname = \"" << port.name << "\"\nprotocol = \"" << port.protocol
                 << "\"\nport = " << port.port << "\n";
            if (port.target_port != 0) text << "target_port = " << port.target_port << "\n";
        }
        for (const auto& endpoint : service.endpoints) {
            text << "[[services.endpoints]]\naddress = \"" << endpoint.address << "\"\nweight = " << endpoint.weight
                 << "\nready = " << (endpoint.ready ? "true" : "false")
                 << "\nterminating = " << (endpoint.terminating ? "true" : "false") << "\n";
        }
        text << "\n";
    }
    text << spec.extra_toml;
    return text.str();
}

config::Config load_config(const TopologySpec& spec) {
    config::Config config = parse(config_text(spec));
    for (const std::string& text : spec.client_ranges) {
        if (text.find(':') != std::string::npos) {
            const std::optional<config::Ipv6Prefix> prefix = config::parse_ipv6_prefix(text);
            if (!prefix) throw std::invalid_argument("bad client range " + text);
            config.cluster.client_ranges6.push_back(*prefix);
            continue;
        }
        const std::optional<config::Ipv4Prefix> prefix = config::parse_ipv4_prefix(text);
        if (!prefix) throw std::invalid_argument("bad client range " + text);
        config.cluster.client_ranges.push_back(*prefix);
    }
    for (const ServiceSpec& service_spec : spec.services) {
        for (config::ServiceConfig& service : config.services) {
            if (service.name != service_spec.name) continue;
            service.session_affinity =
                service_spec.client_ip_affinity ? config::SessionAffinity::ClientIp : config::SessionAffinity::None;
            service.affinity_timeout_s = service_spec.affinity_timeout_s;
        }
    }
    return config;
}

// ---------------------------------------------------------------------------------------------
// Flows and frames

FlowKey4 Flow::key() const {
    FlowKey4 key;
    key.src_addr = client;
    key.dst_addr = vip;
    key.src_port = rte_cpu_to_be_16(client_port);
    key.dst_port = rte_cpu_to_be_16(vip_port);
    key.protocol = protocol;
    return key;
}

test::EthernetSpec from_router() {
    return {.src = kRouterMac, .dst = kClientPortMac};
}
test::EthernetSpec to_router() {
    return {.src = kClientPortMac, .dst = kRouterMac};
}
test::EthernetSpec from_neighbor(uint32_t address) {
    return {.src = neighbor_mac(address), .dst = kEndpointPortMac, .vlan = kEndpointVlan};
}
test::EthernetSpec to_neighbor(uint32_t address) {
    return {.src = kEndpointPortMac, .dst = neighbor_mac(address), .vlan = kEndpointVlan};
}

test::Ipv4Spec answer_ip(uint32_t source, uint32_t destination, uint8_t tos) {
    return {.src = source, .dst = destination, .ttl = 64, .tos = tos, .id = 0, .flags_fragment = 0};
}

template <class L4Spec>
Bytes client_to_vip(const Flow& flow, L4Spec l4, test::Ipv4Spec ip) {
    l4.src_port = flow.client_port;
    l4.dst_port = flow.vip_port;
    ip.src = flow.client;
    ip.dst = flow.vip;
    return l4_frame(l4, ip, from_router());
}

template <class L4Spec>
Bytes gateway_to_endpoint(const Translation& translation, L4Spec l4, test::Ipv4Spec ip) {
    l4.src_port = translation.source_port;
    l4.dst_port = translation.endpoint_port;
    ip.src = translation.source;
    ip.dst = translation.endpoint;
    --ip.ttl;
    return l4_frame(l4, ip, to_neighbor(translation.endpoint));
}

template <class L4Spec>
Bytes endpoint_to_gateway(const Translation& translation, L4Spec l4, test::Ipv4Spec ip) {
    l4.src_port = translation.endpoint_port;
    l4.dst_port = translation.source_port;
    ip.src = translation.endpoint;
    ip.dst = translation.source;
    return l4_frame(l4, ip, from_neighbor(translation.endpoint));
}

template <class L4Spec>
Bytes gateway_to_client(const Flow& flow, L4Spec l4, test::Ipv4Spec ip) {
    l4.src_port = flow.vip_port;
    l4.dst_port = flow.client_port;
    ip.src = flow.vip;
    ip.dst = flow.client;
    --ip.ttl;
    return l4_frame(l4, ip, to_router());
}

template Bytes client_to_vip(const Flow&, test::TcpSpec, test::Ipv4Spec);
template Bytes client_to_vip(const Flow&, test::UdpSpec, test::Ipv4Spec);
template Bytes client_to_vip(const Flow&, test::SctpSpec, test::Ipv4Spec);
template Bytes gateway_to_endpoint(const Translation&, test::TcpSpec, test::Ipv4Spec);
template Bytes gateway_to_endpoint(const Translation&, test::UdpSpec, test::Ipv4Spec);
template Bytes gateway_to_endpoint(const Translation&, test::SctpSpec, test::Ipv4Spec);
template Bytes endpoint_to_gateway(const Translation&, test::TcpSpec, test::Ipv4Spec);
template Bytes endpoint_to_gateway(const Translation&, test::UdpSpec, test::Ipv4Spec);
template Bytes endpoint_to_gateway(const Translation&, test::SctpSpec, test::Ipv4Spec);
template Bytes gateway_to_client(const Flow&, test::TcpSpec, test::Ipv4Spec);
template Bytes gateway_to_client(const Flow&, test::UdpSpec, test::Ipv4Spec);
template Bytes gateway_to_client(const Flow&, test::SctpSpec, test::Ipv4Spec);

// ---------------------------------------------------------------------------------------------
// Harness

GoldenHarness::GoldenHarness(const TopologySpec& spec) : spec_(spec), builder_(spec.workers, port_identities()) {
    const config::Config config = load_config(spec);
    snapshot_ = builder_.build(config);
    for (const auto& neighbor : config.neighbors) {
        if (!config::is_zero(neighbor.address6)) continue;  // IPv6 ones live in the snapshot
        rte_ether_addr address{};
        std::memcpy(address.addr_bytes, neighbor.mac.data(), RTE_ETHER_ADDR_LEN);
        if (neighbors_.learn(rte_cpu_to_be_32(neighbor.address), address, true) != NeighborTable::LearnResult::Added) {
            throw std::runtime_error("cannot add static neighbor " + config::format_ipv4(neighbor.address));
        }
    }
    static unsigned instance = 0;
    const std::string ring_name = "golden_punt_" + std::to_string(instance++);
    punt_ring_ = rte_ring_create(ring_name.c_str(), kPuntRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (punt_ring_ == nullptr) throw std::runtime_error("cannot create the punt ring");

    for (uint16_t index = 0; index < spec.workers; ++index) {
        ConnTable* table = ConnTable::create(kConntrackCapacity, kConntrackSeed, SOCKET_ID_ANY);
        if (table == nullptr) throw std::runtime_error("cannot create a connection table");
        worker_tables_.push_back(table);
        AffinityTable* affinity = AffinityTable::create(kAffinityCapacity, kConntrackSeed, SOCKET_ID_ANY);
        if (affinity == nullptr) throw std::runtime_error("cannot create an affinity table");
        affinity_tables_.push_back(affinity);
        endpoint_counters_.emplace_back(kEndpointCounterSlots);
        endpoint_handshakes_.emplace_back(kEndpointCounterSlots);
        service_port_refusals_.emplace_back(kServicePortSlots);
        auto context = std::make_unique<WorkerContext>();
        context->worker_index = index;
        context->worker_count = spec.workers;
        context->port_count = 2;
        context->port_ids[0] = kClientPortId;
        context->port_ids[1] = kEndpointPortId;
        context->tx_queue[0] = index;
        context->tx_queue[1] = index;
        context->now_ms = kStartTimeMs;
        context->connections = table;
        if (!spec.client_port_addresses6.empty() || !spec.endpoint_port_addresses6.empty()) {
            ConnTable6* table6 = ConnTable6::create(kConntrackCapacity, kConntrackSeed, SOCKET_ID_ANY);
            if (table6 == nullptr) throw std::runtime_error("cannot create an IPv6 connection table");
            worker_tables6_.push_back(table6);
            context->connections6 = table6;
            AffinityTable6* affinity6 = AffinityTable6::create(kAffinityCapacity, kConntrackSeed, SOCKET_ID_ANY);
            if (affinity6 == nullptr) throw std::runtime_error("cannot create an IPv6 affinity table");
            affinity_tables6_.push_back(affinity6);
            context->affinity6 = affinity6;
        }
        context->affinity = affinity;
        DnsRateLimiter* rate_limiter = DnsRateLimiter::create(SOCKET_ID_ANY);
        if (rate_limiter == nullptr) throw std::runtime_error("cannot create a DNS rate limiter");
        dns_rate_limiters_.push_back(rate_limiter);
        context->dns_rate_limiter = rate_limiter;
        context->dns_tcp_key = SipHashKey{0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL};
        context->neighbors = &neighbors_;
        context->punt_ring = punt_ring_;
        context->endpoint_counters = endpoint_counters_.back().data();
        context->endpoint_handshakes = endpoint_handshakes_.back().data();
        context->service_port_refusals = service_port_refusals_.back().data();
        context->service_port_slots = kServicePortSlots;
        context->endpoint_counter_slots = kEndpointCounterSlots;
        table->set_unanswered_counters(context->endpoint_counters, kEndpointCounterSlots);
        workers_.push_back(std::move(context));
    }
}

GoldenHarness::~GoldenHarness() {
    for (ConnTable* table : worker_tables_) ConnTable::destroy(table);
    for (ConnTable6* table : worker_tables6_) ConnTable6::destroy(table);
    for (AffinityTable* table : affinity_tables_) AffinityTable::destroy(table);
    for (AffinityTable6* table : affinity_tables6_) AffinityTable6::destroy(table);
    for (DnsRateLimiter* limiter : dns_rate_limiters_) DnsRateLimiter::destroy(limiter);
    rte_ring_free(punt_ring_);
}

void GoldenHarness::reload(const TopologySpec& spec) {
    if (spec.workers != spec_.workers) throw std::invalid_argument("the worker count cannot change on reload");
    std::unique_ptr<Snapshot> next = builder_.build(load_config(spec));
    snapshot_ = std::move(next);
    spec_ = spec;
}

const EndpointCounters& GoldenHarness::endpoint_counters(uint16_t worker, uint32_t slot) const {
    return endpoint_counters_.at(worker).at(slot);
}

const EndpointHandshakes& GoldenHarness::endpoint_handshakes(uint16_t worker, uint32_t slot) const {
    return endpoint_handshakes_.at(worker).at(slot);
}

uint64_t GoldenHarness::service_port_refusals(uint16_t worker, uint32_t service_port) const {
    return service_port_refusals_.at(worker).at(service_port);
}

void GoldenHarness::collect(RunResult& result) {
    for (auto& context : workers_) {
        for (uint16_t port = 0; port < context->port_count; ++port) {
            TxBuffer& buffer = context->tx[port];
            for (uint16_t i = 0; i < buffer.count; ++i) {
                test::MbufPtr packet(buffer.packets[i]);
                result.transmitted.push_back({port, test::to_bytes(packet.get())});
            }
            buffer.count = 0;
        }
        for (uint16_t owner = 0; owner < kMaxWorkers; ++owner) {
            for (uint16_t i = 0; i < context->handoff_count[owner]; ++i) {
                result.handed_off[owner].emplace_back(context->handoff[owner][i]);
            }
            context->handoff_count[owner] = 0;
        }
    }
    void* packet = nullptr;
    while (rte_ring_sc_dequeue(punt_ring_, &packet) == 0) {
        test::MbufPtr punted(static_cast<rte_mbuf*>(packet));
        result.punted.push_back({test::to_bytes(punted.get()), punted->hash.usr, punted->port});
    }
}

RunResult GoldenHarness::run(uint16_t worker, const std::vector<std::pair<Bytes, uint16_t>>& frames) {
    WorkerContext& context = this->worker(worker);
    const WorkerCounters before = context.counters;
    std::vector<rte_mbuf*> packets;
    for (const auto& [frame, port_id] : frames) packets.push_back(mbuf_for(frame, port_id).release());
    process_burst(context, *snapshot_, packets.data(), static_cast<uint16_t>(packets.size()), false);
    RunResult result;
    collect(result);
    result.counter_changes = counter_changes(before, context.counters);
    return result;
}

RunResult GoldenHarness::run_handed_off(uint16_t worker, std::vector<test::MbufPtr> packets) {
    WorkerContext& context = this->worker(worker);
    const WorkerCounters before = context.counters;
    std::vector<rte_mbuf*> raw;
    for (auto& packet : packets) raw.push_back(packet.release());
    process_burst(context, *snapshot_, raw.data(), static_cast<uint16_t>(raw.size()), true);
    RunResult result;
    collect(result);
    result.counter_changes = counter_changes(before, context.counters);
    return result;
}

void GoldenHarness::check(const GoldenCase& golden, uint16_t worker) {
    SCOPED_TRACE(golden.description);
    const unsigned available_before = rte_mempool_avail_count(test::test_mempool());
    {
        RunResult result = run(worker, golden.input, golden.in_port);
        check_result(result, golden.expect, 1, golden.input.size(), false);
    }
    EXPECT_EQ(rte_mempool_avail_count(test::test_mempool()), available_before)
        << "the packet was leaked or freed twice";
}

uint32_t GoldenHarness::maglev_slot(const Flow& flow) const {
    const int32_t index =
        snapshot_->find_service_port(VipKey::ipv4(flow.vip, rte_cpu_to_be_16(flow.vip_port), flow.protocol));
    if (index < 0) throw std::invalid_argument("maglev_slot: not a service port");
    const ServicePort& service_port = snapshot_->service_ports[static_cast<uint32_t>(index)];
    if (service_port.maglev->empty()) throw std::invalid_argument("maglev_slot: no endpoint");
    return service_port.maglev->lookup(hash_flow_key(flow.key(), snapshot_->hash_seed));
}

uint32_t GoldenHarness::affinity_slot(const Flow& flow) const {
    const int32_t index =
        snapshot_->find_service_port(VipKey::ipv4(flow.vip, rte_cpu_to_be_16(flow.vip_port), flow.protocol));
    if (index < 0) throw std::invalid_argument("affinity_slot: not a service port");
    const ServicePort& service_port = snapshot_->service_ports[static_cast<uint32_t>(index)];
    if (service_port.maglev->empty()) throw std::invalid_argument("affinity_slot: no endpoint");
    return service_port.maglev->lookup(affinity_hash(flow.client, snapshot_->hash_seed));
}

const EndpointSlot& GoldenHarness::maglev_choice(const Flow& flow) const {
    return snapshot_->endpoints[maglev_slot(flow)];
}

std::optional<Translation> GoldenHarness::translation(const Flow& flow, uint16_t worker) {
    ConnLookupResult hit = connections(worker).lookup(flow.key());
    if (hit.connection == nullptr || hit.direction != FlowDirection::Original) return std::nullopt;
    const FlowKey4& reply = hit.connection->reply;
    return Translation{reply.src_addr, rte_be_to_cpu_16(reply.src_port), reply.dst_addr,
                       rte_be_to_cpu_16(reply.dst_port)};
}

std::pair<uint16_t, uint16_t> GoldenHarness::snat_range(uint16_t worker) const {
    return {snapshot_->snat_ports.slice_first(worker), snapshot_->snat_ports.slice_last(worker)};
}

void check_result(RunResult& result, const Expectation& expect, uint64_t packets, uint64_t bytes, bool from_handoff) {
    SCOPED_TRACE(std::string("expected verdict: ") + verdict_name(expect.verdict));
    std::map<std::string, uint64_t> expected_counters = expect.counters;
    for (const auto& [name, increase] : expected_counters) {
        EXPECT_TRUE(is_counter_name(name)) << "unknown counter '" << name << "' in the expectation";
    }
    if (from_handoff) {
        expected_counters["handoffs_in"] += packets;
    } else {
        expected_counters["rx_packets"] += packets;
        expected_counters["rx_bytes"] += bytes;
    }
    if (expect.reason) expected_counters[drop_counter(*expect.reason)] += 1;
    EXPECT_EQ(result.counter_changes, expected_counters);

    const size_t handed_off = [&] {
        size_t total = 0;
        for (const auto& packets_for_worker : result.handed_off) total += packets_for_worker.size();
        return total;
    }();
    switch (expect.verdict) {
    case Verdict::Forwarded:
    case Verdict::Answered:
        ASSERT_EQ(result.transmitted.size(), 1u);
        EXPECT_EQ(result.transmitted[0].port_index, expect.target);
        if (expect.frame) expect_frame(result.transmitted[0].frame, *expect.frame);
        EXPECT_EQ(handed_off, 0u);
        EXPECT_TRUE(result.punted.empty());
        break;
    case Verdict::HandedOff:
        EXPECT_TRUE(result.transmitted.empty());
        ASSERT_EQ(handed_off, 1u);
        ASSERT_EQ(result.handed_off[expect.target].size(), 1u) << "handed off to the wrong worker";
        if (expect.frame) expect_frame(test::to_bytes(result.handed_off[expect.target][0].get()), *expect.frame);
        EXPECT_TRUE(result.punted.empty());
        break;
    case Verdict::Punted:
        EXPECT_TRUE(result.transmitted.empty());
        EXPECT_EQ(handed_off, 0u);
        ASSERT_EQ(result.punted.size(), 1u);
        if (expect.frame) expect_frame(result.punted[0].frame, *expect.frame);
        if (expect.punted_next_hop) {
            EXPECT_EQ(test::ipv4_to_string(result.punted[0].next_hop), test::ipv4_to_string(*expect.punted_next_hop));
        }
        break;
    case Verdict::Dropped:
        EXPECT_TRUE(result.transmitted.empty()) << "a dropped packet was transmitted";
        EXPECT_EQ(handed_off, 0u) << "a dropped packet was handed off";
        EXPECT_TRUE(result.punted.empty()) << "a dropped packet was punted";
        break;
    }
}

}  // namespace vipgate::golden
