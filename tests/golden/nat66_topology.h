// The NAT66 golden topology and frame helpers, shared by golden_nat66_test.cpp and
// golden_icmp6_test.cpp. Expected frames come from the independent IPv6 builder
// (tests/support/ipv6_builder.h, checksums summed from scratch).
//
// Topology, beside the IPv4 one of golden_harness.h:
//   client 2001:db8::10 (on-link, via the router's MAC) --- port 0 "clients"   2001:db8::1/64
//   endpoints 2001:db8:e::20-22 (pods) ------------------- port 1 "endpoints" 2001:db8:e::1/64,
//                                                          VLAN 100           2001:db8:e::2/64 (SNAT6)
//   web6 2001:db8:100::1: TCP 80 -> 8080, UDP 53 -> 5353; empty6 2001:db8:100::2: TCP 80, no pods.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>

#include <rte_byteorder.h>

#include "dataplane/pipeline.h"
#include "tests/golden/golden_harness.h"
#include "tests/support/ipv6_builder.h"

namespace vipgate::golden::nat66 {

using test::ipv6;
using test::ipv6_frame;
using test::Ipv6Address;
using test::Ipv6Spec;

using Counters = std::map<std::string, uint64_t>;

inline const Ipv6Address kClient = test::kClient6;  // 2001:db8::10
inline const Ipv6Address kVip = test::kVip6;        // 2001:db8:100::1
inline const Ipv6Address kEmptyVip = ipv6("2001:db8:100::2");
inline const Ipv6Address kUnknownVip = ipv6("2001:db8:100::99");
inline const Ipv6Address kSnat = ipv6("2001:db8:e::2");
inline const char* const kEndpoints[] = {"2001:db8:e::20", "2001:db8:e::21", "2001:db8:e::22"};

inline rte_ether_addr endpoint_mac(const Ipv6Address& address) {
    return {{0x02, 0x00, 0x00, 0x00, 0x06, address[15]}};
}

inline std::string ipv6_config() {
    std::string text;
    text += "[[neighbors]]\naddress = \"2001:db8::10\"\nmac = \"02:00:00:00:00:01\"\n\n";
    for (const char* endpoint : kEndpoints) {
        const rte_ether_addr mac = endpoint_mac(ipv6(endpoint));
        char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
        rte_ether_format_addr(mac_text, sizeof(mac_text), &mac);
        text.append("[[neighbors]]\naddress = \"").append(endpoint).append("\"\nmac = \"").append(mac_text);
        text.append("\"\n\n");
    }
    text +=
        "[[services]]\nname = \"web6\"\ncluster_ip = \"2001:db8:100::1\"\nselector = { app = \"web6\" }\n"
        "[[services.ports]]\nname = \"http\"\nprotocol = \"TCP\"\nport = 80\ntarget_port = 8080\n"
        "[[services.ports]]\nname = \"dns\"\nprotocol = \"UDP\"\nport = 53\ntarget_port = 5353\n\n"
        "[[services]]\nname = \"empty6\"\ncluster_ip = \"2001:db8:100::2\"\nselector = { app = \"none\" }\n"
        "[[services.ports]]\nname = \"http\"\nprotocol = \"TCP\"\nport = 80\n\n";
    int index = 1;
    for (const char* endpoint : kEndpoints) {
        text.append("[[pods]]\nname = \"web6-").append(std::to_string(index++)).append("\"\npod_ips = [\"");
        text.append(endpoint).append("\"]\nlabels = { app = \"web6\" }\n\n");
    }
    return text;
}

inline TopologySpec ipv6_topology(NatMode mode, uint16_t workers = 1) {
    TopologySpec spec;
    spec.nat_mode = mode;
    spec.workers = workers;
    spec.client_port_addresses6 = {"2001:db8::1/64"};
    spec.endpoint_port_addresses6 = {"2001:db8:e::1/64", "2001:db8:e::2/64"};
    spec.snat_addresses6 = {"2001:db8:e::2"};
    spec.extra_toml = ipv6_config();
    return spec;
}

// A client's IPv6 flow to a service port. Ports in host order.
struct Flow6 {
    uint8_t protocol = kProtoTcp;
    uint16_t client_port = 40000;
    Ipv6Address vip = kVip;
    uint16_t vip_port = 80;

    FlowKey6 key() const {
        FlowKey6 key;
        std::memcpy(key.src_addr, kClient.data(), 16);
        std::memcpy(key.dst_addr, vip.data(), 16);
        key.src_port = rte_cpu_to_be_16(client_port);
        key.dst_port = rte_cpu_to_be_16(vip_port);
        key.protocol = protocol;
        return key;
    }
};

// What the endpoint sees: its address and port, and the source (SNAT6 or the client).
struct Translation6 {
    Ipv6Address endpoint{};
    uint16_t endpoint_port = 0;
    Ipv6Address source{};
    uint16_t source_port = 0;
};

inline std::optional<Translation6> translation(GoldenHarness& harness, const Flow6& flow, uint16_t worker = 0) {
    ConnTable6& table = harness.connections6(worker);
    const ConnLookupResult6 hit = table.lookup(flow.key());
    if (hit.connection == nullptr) return std::nullopt;
    const FlowKey6 reply = table.reply_key(*hit.connection);
    Translation6 out;
    std::memcpy(out.endpoint.data(), reply.src_addr, 16);
    out.endpoint_port = rte_be_to_cpu_16(reply.src_port);
    std::memcpy(out.source.data(), reply.dst_addr, 16);
    out.source_port = rte_be_to_cpu_16(reply.dst_port);
    return out;
}

// Frames of each leg for an upper-layer header made by `l4(ip spec)` (checksums over that leg's
// pseudo-header). The gateway's outputs carry hop limit - 1.
template <class L4>
inline Bytes client_to_vip(const Flow6& flow, uint8_t protocol, L4 l4, uint8_t hop_limit = 64) {
    const Ipv6Spec ip{.src = kClient, .dst = flow.vip, .hop_limit = hop_limit};
    return ipv6_frame({}, protocol, l4(ip, flow.client_port, flow.vip_port), ip, from_router());
}
template <class L4>
inline Bytes gateway_to_endpoint(const Translation6& translation, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = translation.source, .dst = translation.endpoint, .hop_limit = 63};
    return ipv6_frame({}, protocol, l4(ip, translation.source_port, translation.endpoint_port), ip,
                      {.src = kEndpointPortMac, .dst = endpoint_mac(translation.endpoint), .vlan = kEndpointVlan});
}
template <class L4>
inline Bytes endpoint_to_gateway(const Translation6& translation, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = translation.endpoint, .dst = translation.source, .hop_limit = 64};
    return ipv6_frame({}, protocol, l4(ip, translation.endpoint_port, translation.source_port), ip,
                      {.src = endpoint_mac(translation.endpoint), .dst = kEndpointPortMac, .vlan = kEndpointVlan});
}
template <class L4>
inline Bytes gateway_to_client(const Flow6& flow, uint8_t protocol, L4 l4) {
    const Ipv6Spec ip{.src = flow.vip, .dst = kClient, .hop_limit = 63};
    return ipv6_frame({}, protocol, l4(ip, flow.vip_port, flow.client_port), ip, to_router());
}

inline auto tcp(uint8_t flags) {
    return [flags](const Ipv6Spec& ip, uint16_t source, uint16_t destination) {
        return test::tcp6(source, destination, flags, ip);
    };
}
inline auto udp(std::vector<uint8_t> payload) {
    return [payload](const Ipv6Spec& ip, uint16_t source, uint16_t destination) {
        return test::udp6(source, destination, payload, ip);
    };
}

inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kFin = 0x01;

inline Expectation forwarded(uint16_t port, Bytes frame, Counters counters) {
    return {.verdict = Verdict::Forwarded, .target = port, .frame = std::move(frame), .counters = std::move(counters)};
}
inline Expectation dropped(DropReason reason, Counters counters = {}) {
    return {.verdict = Verdict::Dropped, .reason = reason, .counters = std::move(counters)};
}

inline std::string text(const Ipv6Address& address) {
    char buffer[64];
    inet_ntop(AF_INET6, address.data(), buffer, sizeof(buffer));
    return buffer;
}

class GoldenNat66 : public testing::TestWithParam<NatMode> {
protected:
    bool fullnat() const { return GetParam() == NatMode::FullNat; }

    // Sends a new flow's first packet and checks it reached a web6 pod with the source the mode
    // gives it; returns the translation its entry recorded.
    template <class L4>
    Translation6 start_flow(GoldenHarness& harness, const Flow6& flow, uint8_t protocol, L4 l4, uint16_t worker = 0) {
        const Bytes input = client_to_vip(flow, protocol, l4);
        RunResult result = harness.run(worker, input);
        const std::optional<Translation6> found = translation(harness, flow, worker);
        if (!found) {
            ADD_FAILURE() << "no IPv6 connection entry for the new flow";
            return {};
        }
        const std::string endpoint = text(found->endpoint);
        EXPECT_TRUE(endpoint == kEndpoints[0] || endpoint == kEndpoints[1] || endpoint == kEndpoints[2]) << endpoint;
        EXPECT_EQ(found->endpoint_port, protocol == kProtoTcp ? 8080 : 5353);
        if (fullnat()) {
            EXPECT_EQ(text(found->source), text(kSnat));
            const auto [first_port, last_port] = harness.snat_range(worker);
            EXPECT_GE(found->source_port, first_port);
            EXPECT_LE(found->source_port, last_port);
        } else {
            EXPECT_EQ(text(found->source), text(kClient));
            EXPECT_EQ(found->source_port, flow.client_port);
        }
        check_result(result,
                     forwarded(kEndpointPortId, gateway_to_endpoint(*found, protocol, l4),
                               {{"new_connections", 1}, {"forwarded_to_endpoint", 1}}),
                     1, input.size(), false);
        return *found;
    }
};

}  // namespace vipgate::golden::nat66
