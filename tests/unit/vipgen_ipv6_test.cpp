// vipgen over IPv6 and dual stack: the targets it learns from a dual-stack config (cluster_ips,
// pods' pod_ips, SNAT6), the IPv6 packets it builds, and the checker catching each kind of
// wrong IPv6 packet in both NAT modes. Checksums are fixed and verified with DPDK's IPv6
// helpers, not vipgen's own arithmetic, so a shared mistake cannot pass unnoticed.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <cstring>
#include <set>
#include <utility>

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "config/config.h"
#include "dataplane/tcp_state.h"
#include "pktgen/backend_responder.h"
#include "pktgen/checker.h"
#include "pktgen/packet_factory.h"

namespace vipgen {
namespace {

namespace cfg = vipgate::config;

Address6 v6(const char* text) {
    const auto address = cfg::parse_ipv6(text);
    EXPECT_TRUE(address.has_value()) << text;
    return address.value_or(Address6{});
}

const Address6 kVip6 = v6("2001:db8:100::1");
const Address6 kSnat6 = v6("2001:db8::2");
const Address6 kEndpointA = v6("2001:db8::a");
const Address6 kEndpointB = v6("2001:db8::b");
const Address6 kDrained = v6("2001:db8::d");  // weight 0: existing flows only
const Address6 kNotSelected = v6("2001:db8::9");
constexpr uint16_t kTcpTarget = 8080;
constexpr uint16_t kUdpTarget = 5353;
constexpr uint32_t kIp = RTE_ETHER_HDR_LEN;
constexpr uint32_t kL4 = kIp + 40;

cfg::Config dual_stack_config(cfg::NatMode mode) {
    const std::string text = std::string(R"(
[dataplane]
worker_lcores = [1]
nat_mode = ")") + (mode == cfg::NatMode::FullNat ? "fullnat" : "dnat") +
                             R"("
[snat]
addresses = ["198.18.0.1", "2001:db8::2"]
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/17", "2001:db8::1/64", "2001:db8::2/64"]
[[routes]]
prefix = "198.19.0.0/16"
via = "198.18.0.254"
[[neighbors]]
address = "2001:db8::a"
mac = "02:00:00:00:00:10"
[[services]]
name = "web"
cluster_ips = ["198.18.128.1", "2001:db8:100::1"]
ip_family_policy = "PreferDualStack"
selector = { app = "web" }
[[services.ports]]
name = "http"
port = 80
target_port = 8080
[[services.ports]]
name = "dns"
protocol = "UDP"
port = 53
target_port = 5353
[[pods]]
name = "web-a"
pod_ips = ["198.18.1.1", "2001:db8::a"]
labels = { app = "web" }
[[pods]]
name = "web-b"
pod_ips = ["198.18.1.2", "2001:db8::b"]
labels = { app = "web" }
[[pods]]
name = "web-drained"
pod_ips = ["198.18.1.3", "2001:db8::d"]
labels = { app = "web" }
weight = 0
[[pods]]
name = "other"
pod_ips = ["198.18.1.9", "2001:db8::9"]
labels = { app = "other" }
)";
    auto loaded = cfg::load_config_string(text, "dual.toml");
    EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    return *loaded.config;
}

TEST(VipgenTargets6, DualStackServicePortIsOneTargetPerFamilyWithItsPods) {
    const Targets dual = make_targets({dual_stack_config(cfg::NatMode::FullNat)}, Protocols::Any, Families::Dual);
    ASSERT_EQ(dual.targets.size(), 4u);  // web:80 IPv4, IPv6, then web:53 IPv4, IPv6
    EXPECT_FALSE(dual.targets[0].ipv6);
    EXPECT_EQ(dual.targets[0].vip, 0xC6128001u);
    EXPECT_TRUE(dual.targets[1].ipv6);
    EXPECT_EQ(dual.targets[1].vip6, kVip6);
    EXPECT_EQ(dual.targets[1].name, "default/web:80/IPv6");
    EXPECT_EQ(dual.targets[3].protocol, IPPROTO_UDP);
    EXPECT_TRUE(dual.targets[3].ipv6);
    const Target& web6 = dual.targets[1];
    ASSERT_EQ(web6.endpoints.size(), 3u) << "the pod the selector does not pick is no endpoint";
    EXPECT_NE(web6.find6(kEndpointA.data(), kTcpTarget), nullptr);
    EXPECT_EQ(web6.find6(kNotSelected.data(), kTcpTarget), nullptr);
    EXPECT_EQ(web6.find6(kEndpointA.data(), kUdpTarget), nullptr);
    ASSERT_NE(web6.find6(kDrained.data(), kTcpTarget), nullptr);
    EXPECT_FALSE(web6.find6(kDrained.data(), kTcpTarget)->accepts_new_flows);
    EXPECT_NE(dual.targets[0].find(0xC6120101u, kTcpTarget), nullptr) << "pods' IPv4 addresses too";
    EXPECT_EQ(dual.snat_addresses6, std::vector<Address6>{kSnat6});
    EXPECT_TRUE(dual.is_snat_address6(kSnat6.data()));
    EXPECT_FALSE(dual.is_snat_address6(kEndpointA.data()));
    EXPECT_EQ(dual.neighbors6, std::vector<Address6>{kEndpointA});
    EXPECT_EQ(dual.endpoints.size(), 12u);  // 3 pods x 2 ports x 2 families

    const Targets ipv6 = make_targets({dual_stack_config(cfg::NatMode::FullNat)}, Protocols::Tcp, Families::Ipv6);
    ASSERT_EQ(ipv6.targets.size(), 1u);
    EXPECT_TRUE(ipv6.targets[0].ipv6);
    const Targets ipv4 = make_targets({dual_stack_config(cfg::NatMode::FullNat)}, Protocols::Tcp, Families::Ipv4);
    ASSERT_EQ(ipv4.targets.size(), 1u);
    EXPECT_FALSE(ipv4.targets[0].ipv6);
}

TEST(VipgenTargets6, SnatAddressDefaultsToThePortsFirstIpv6Address) {
    cfg::Config config = dual_stack_config(cfg::NatMode::FullNat);
    config.snat.addresses6.clear();
    const Targets targets = make_targets({config}, Protocols::Any, Families::Dual);
    EXPECT_EQ(targets.snat_addresses6, std::vector<Address6>{v6("2001:db8::1")});
}

class Ipv6CheckerTest : public ::testing::TestWithParam<cfg::NatMode> {
protected:
    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create("checker6_test", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
        targets_ = make_targets({dual_stack_config(GetParam())}, Protocols::Any, Families::Dual);
        const auto count = static_cast<uint32_t>(targets_.targets.size());
        flows_ = std::make_unique<FlowSpace>(ClientSpace{0xC6130000u, 1u << 16, 1024, 65535}, count, 7);
        flows6_ = std::make_unique<FlowSpace6>(ClientSpace6{v6("2001:db8::c:0"), 256, 1024, 65535}, count, 7);
        factory_ =
            std::make_unique<PacketFactory>(targets_, *flows_, *flows6_, FrameSizes::fixed(64), our_mac_, gateway_mac_);
        checker_ = std::make_unique<Checker>(CheckMode::Gateway, targets_, *flows_, *flows6_, memory_);
    }
    void TearDown() override {
        for (rte_mbuf* m : mbufs_) rte_pktmbuf_free(m);
        rte_mempool_free(pool_);
    }

    // Flows 4k+1 go to web:80 over IPv6, 4k+3 to web:53 over IPv6 (flow i: target i mod 4).
    static constexpr uint32_t tcp6_flow(uint32_t k) { return 4 * k + 1; }
    static constexpr uint32_t udp6_flow(uint32_t k) { return 4 * k + 3; }

    rte_mbuf* client_packet(uint32_t flow, PacketKind kind = PacketKind::Data) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        mbufs_.push_back(m);
        EXPECT_EQ(factory_->build(m, flow, kind, 0, 1000, 0), rte_pktmbuf_data_len(m));
        return m;
    }
    uint8_t* at(rte_mbuf* m, uint32_t offset) { return rte_pktmbuf_mtod_offset(m, uint8_t*, offset); }
    uint8_t protocol(rte_mbuf* m) { return *at(m, kIp + 6); }

    void fix_checksum(rte_mbuf* m) {
        const auto* header = reinterpret_cast<const rte_ipv6_hdr*>(at(m, kIp));
        uint8_t* l4 = at(m, kL4);
        const uint32_t offset = protocol(m) == IPPROTO_TCP ? 16 : 6;
        std::memset(l4 + offset, 0, 2);
        uint16_t checksum = rte_ipv6_udptcp_cksum(header, l4);
        std::memcpy(l4 + offset, &checksum, 2);
    }
    // Whether the L4 checksum is what DPDK computes from scratch.
    bool checksum_verifies(rte_mbuf* m) {
        const auto* header = reinterpret_cast<const rte_ipv6_hdr*>(at(m, kIp));
        uint8_t* l4 = at(m, kL4);
        const uint32_t offset = protocol(m) == IPPROTO_TCP ? 16 : 6;
        uint16_t sent;
        std::memcpy(&sent, l4 + offset, 2);
        std::memset(l4 + offset, 0, 2);
        const uint16_t fresh = rte_ipv6_udptcp_cksum(header, l4);
        std::memcpy(l4 + offset, &sent, 2);
        return sent == fresh;
    }
    void set_address(rte_mbuf* m, uint32_t offset, const Address6& address) {
        std::memcpy(at(m, kIp + offset), address.data(), 16);
    }
    void set_port(rte_mbuf* m, uint32_t offset, uint16_t port) {
        const uint16_t value = rte_cpu_to_be_16(port);
        std::memcpy(at(m, kL4 + offset), &value, 2);
    }

    // What a correct gateway sends to `endpoint` for the client packet of `flow`.
    rte_mbuf* forwarded(uint32_t flow, const Address6& endpoint, PacketKind kind = PacketKind::Data) {
        rte_mbuf* m = client_packet(flow, kind);
        if (GetParam() == cfg::NatMode::FullNat) {
            set_address(m, 8, kSnat6);
            set_port(m, 0, 40000);
        }
        set_address(m, 24, endpoint);
        set_port(m, 2, protocol(m) == IPPROTO_TCP ? kTcpTarget : kUdpTarget);
        *at(m, kIp + 7) -= 1;
        fix_checksum(m);
        return m;
    }

    Verdict parse(rte_mbuf* m, ReceivedPacket& packet) {
        Verdict verdict;
        EXPECT_EQ(parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict),
                  FrameType::Ipv6);
        return verdict;
    }

    Verdict check_forwarded(rte_mbuf* m, uint32_t* endpoint_index = nullptr) {
        ReceivedPacket packet;
        Verdict verdict = parse(m, packet);
        if (verdict != Verdict::Ok) return verdict;
        EXPECT_FALSE(checker_->is_client_bound(packet));
        Signature signature;
        uint32_t index = 0;
        verdict = checker_->check_forwarded(packet, signature, index);
        if (endpoint_index) *endpoint_index = index;
        return verdict;
    }

    // The backend's reply after the gateway translated it back to the client.
    rte_mbuf* reply_to_client(uint32_t flow) {
        rte_mbuf* m = forwarded(flow, kEndpointA);
        ReceivedPacket packet;
        parse(m, packet);
        make_backend_reply(m, packet, our_mac_);
        const FlowTuple6 tuple = flows6_->tuple(flow);
        set_address(m, 8, kVip6);
        set_port(m, 0, protocol(m) == IPPROTO_TCP ? 80 : 53);
        set_address(m, 24, tuple.client_address);
        set_port(m, 2, tuple.client_port);
        *at(m, kIp + 7) -= 1;
        fix_checksum(m);
        return m;
    }

    Verdict check_returned(rte_mbuf* m) {
        ReceivedPacket packet;
        const Verdict verdict = parse(m, packet);
        if (verdict != Verdict::Ok) return verdict;
        EXPECT_TRUE(checker_->is_client_bound(packet));
        Signature signature;
        return checker_->check_returned(packet, signature);
    }

    rte_mempool* pool_ = nullptr;
    std::vector<rte_mbuf*> mbufs_;
    rte_ether_addr our_mac_{{0x02, 0, 0, 0, 0, 0x10}};
    rte_ether_addr gateway_mac_{{0x02, 0, 0, 0, 0, 0x01}};
    Targets targets_;
    std::unique_ptr<FlowSpace> flows_;
    std::unique_ptr<FlowSpace6> flows6_;
    FlowMemory memory_{1024};
    std::unique_ptr<PacketFactory> factory_;
    std::unique_ptr<Checker> checker_;
};

TEST_P(Ipv6CheckerTest, ClientPacketsAreValidIpv6FromTheClientSpaceToTheVip) {
    for (uint32_t flow = 0; flow < 16; ++flow) {
        for (PacketKind kind : {PacketKind::Open, PacketKind::Data, PacketKind::Close}) {
            rte_mbuf* m = client_packet(flow, kind);
            const bool ipv6 = flow % 2 == 1;  // targets alternate IPv4, IPv6
            const uint16_t ether_type = rte_be_to_cpu_16(rte_pktmbuf_mtod(m, rte_ether_hdr*)->ether_type);
            ASSERT_EQ(ether_type, ipv6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4) << "flow " << flow;
            if (!ipv6) continue;
            EXPECT_EQ(rte_pktmbuf_data_len(m), 60u + kIpv6ExtraBytes) << "the IPv4 frame's segment, 20 bytes more";
            EXPECT_TRUE(checksum_verifies(m)) << "flow " << flow;
            EXPECT_EQ(*at(m, kIp) >> 4, 6);
            EXPECT_EQ(*at(m, kIp + 7), kClientTtl);
            EXPECT_EQ(rte_be_to_cpu_16(reinterpret_cast<const rte_ipv6_hdr*>(at(m, kIp))->payload_len),
                      rte_pktmbuf_data_len(m) - kL4);
            const FlowTuple6 tuple = flows6_->tuple(flow);
            EXPECT_EQ(std::memcmp(at(m, kIp + 8), tuple.client_address.data(), 16), 0);
            EXPECT_EQ(std::memcmp(at(m, kIp + 24), kVip6.data(), 16), 0);
            EXPECT_TRUE(flows6_->is_client_address(tuple.client_address.data()));
            ReceivedPacket packet;
            ASSERT_EQ(parse(m, packet), Verdict::Ok);
            EXPECT_EQ(packet.source_port, tuple.client_port);
            EXPECT_EQ(packet.destination_port, packet.protocol == IPPROTO_TCP ? 80 : 53);
            Signature signature;
            ASSERT_TRUE(read_signature(packet.l4, packet.l4_length, packet.protocol, signature));
            EXPECT_EQ(signature.flow_id, flow);
            EXPECT_EQ(signature.kind, kind);
        }
    }
}

TEST_P(Ipv6CheckerTest, LargestFrameStaysWithin1518Bytes) {
    const PacketFactory large(targets_, *flows_, *flows6_, FrameSizes::fixed(1518), our_mac_, gateway_mac_);
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    mbufs_.push_back(m);
    EXPECT_EQ(large.build(m, tcp6_flow(0), PacketKind::Data, 0, 1, 0), kMaxFrameSize);
    EXPECT_TRUE(checksum_verifies(m));
}

TEST_P(Ipv6CheckerTest, CorrectlyTranslatedPacketsPassAndNameTheirEndpoint) {
    uint32_t index = 99;
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(0), kEndpointB), &index), Verdict::Ok);
    EXPECT_EQ(targets_.endpoints[index], (EndpointAddress{0, kTcpTarget, kEndpointB}));
    EXPECT_EQ(check_forwarded(forwarded(udp6_flow(0), kEndpointA, PacketKind::Open), &index), Verdict::Ok);
    EXPECT_EQ(targets_.endpoints[index], (EndpointAddress{0, kUdpTarget, kEndpointA}));
}

TEST_P(Ipv6CheckerTest, WrongEndpointPortOrFamilyIsMisdirected) {
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(0), kNotSelected)), Verdict::Misdirected);
    rte_mbuf* port = forwarded(tcp6_flow(0), kEndpointA);
    set_port(port, 2, kUdpTarget);
    fix_checksum(port);
    EXPECT_EQ(check_forwarded(port), Verdict::Misdirected);
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(1), kDrained, PacketKind::Open)), Verdict::Misdirected);
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(2), kDrained, PacketKind::Data)), Verdict::Ok);
    // An IPv6 packet carrying an IPv4 flow's signature: the gateway crossed families.
    rte_mbuf* crossed = forwarded(tcp6_flow(3), kEndpointA);
    const uint32_t ipv4_flow = rte_cpu_to_be_32(4);
    std::memcpy(at(crossed, kL4 + 4), &ipv4_flow, 4);
    fix_checksum(crossed);
    EXPECT_EQ(check_forwarded(crossed), Verdict::Misdirected);
}

TEST_P(Ipv6CheckerTest, BadChecksumsLengthsAndZeroUdpChecksumsAreMalformed) {
    rte_mbuf* tcp = forwarded(tcp6_flow(0), kEndpointA);
    *at(tcp, kL4 + 16) ^= 0x01;
    EXPECT_EQ(check_forwarded(tcp), Verdict::Malformed);
    rte_mbuf* address = forwarded(tcp6_flow(0), kEndpointA);
    *at(address, kIp + 39) ^= 0x01;  // the pseudo-header covers the addresses
    EXPECT_EQ(check_forwarded(address), Verdict::Malformed);
    rte_mbuf* udp = forwarded(udp6_flow(0), kEndpointA);
    std::memset(at(udp, kL4 + 6), 0, 2);  // "no checksum": not allowed over IPv6
    EXPECT_EQ(check_forwarded(udp), Verdict::Malformed);
    rte_mbuf* length = forwarded(tcp6_flow(0), kEndpointA);
    const uint16_t too_long = rte_cpu_to_be_16(static_cast<uint16_t>(rte_pktmbuf_data_len(length) - kL4 + 1));
    std::memcpy(at(length, kIp + 4), &too_long, 2);
    EXPECT_EQ(check_forwarded(length), Verdict::Malformed);
    rte_mbuf* version = forwarded(tcp6_flow(0), kEndpointA);
    *at(version, kIp) = 0x40;
    EXPECT_EQ(check_forwarded(version), Verdict::Malformed);
    ReceivedPacket packet;
    Verdict verdict;
    parse_frame(rte_pktmbuf_mtod(tcp, uint8_t*), kIp + 39, packet, verdict);
    EXPECT_EQ(verdict, Verdict::Malformed) << "shorter than the fixed header";
}

TEST_P(Ipv6CheckerTest, HopLimitMustDropByExactlyOne) {
    rte_mbuf* m = forwarded(tcp6_flow(0), kEndpointA);
    *at(m, kIp + 7) += 1;
    EXPECT_EQ(check_forwarded(m), Verdict::TtlError);
}

TEST_P(Ipv6CheckerTest, SourceMustBeRewrittenAsTheNatModeSays) {
    rte_mbuf* m = forwarded(tcp6_flow(0), kEndpointA);
    // Full-NAT must not leak the client address; DNAT must keep it.
    set_address(m, 8, GetParam() == cfg::NatMode::FullNat ? flows6_->tuple(tcp6_flow(0)).client_address : kSnat6);
    fix_checksum(m);
    EXPECT_EQ(check_forwarded(m), Verdict::WrongSource);
    if (GetParam() == cfg::NatMode::DnatOnly) {
        rte_mbuf* port = forwarded(tcp6_flow(0), kEndpointA);
        set_port(port, 0, 40000);
        fix_checksum(port);
        EXPECT_EQ(check_forwarded(port), Verdict::WrongSource);
    }
}

TEST_P(Ipv6CheckerTest, FlowThatChangesEndpointIsMoved) {
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(5), kEndpointA)), Verdict::Ok);
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(5), kEndpointB)), Verdict::Moved);
    EXPECT_EQ(check_forwarded(forwarded(tcp6_flow(6), kEndpointB)), Verdict::Ok);
}

TEST_P(Ipv6CheckerTest, ResetsIcmpv6ExtensionHeadersAndForeignPacketsAreCountedApart) {
    rte_mbuf* reset = forwarded(tcp6_flow(0), kEndpointA);
    *at(reset, kL4 + 13) = vipgate::kTcpFlagRst | vipgate::kTcpFlagAck;
    fix_checksum(reset);
    EXPECT_EQ(check_forwarded(reset), Verdict::Reset);
    rte_mbuf* foreign = forwarded(tcp6_flow(0), kEndpointA);
    *at(foreign, kL4 + 20) ^= 0xff;  // the magic word
    fix_checksum(foreign);
    EXPECT_EQ(check_forwarded(foreign), Verdict::Unexpected);
    rte_mbuf* icmp = forwarded(tcp6_flow(0), kEndpointA);
    *at(icmp, kIp + 6) = IPPROTO_ICMPV6;
    EXPECT_EQ(check_forwarded(icmp), Verdict::IcmpError);
    rte_mbuf* extension = forwarded(tcp6_flow(0), kEndpointA);
    *at(extension, kIp + 6) = IPPROTO_HOPOPTS;
    EXPECT_EQ(check_forwarded(extension), Verdict::Unexpected);
}

TEST_P(Ipv6CheckerTest, BackendReplyIsAValidTurnedAroundSegment) {
    for (const uint32_t flow : {tcp6_flow(3), udp6_flow(3)}) {
        for (PacketKind kind : {PacketKind::Open, PacketKind::Data, PacketKind::Close}) {
            rte_mbuf* m = forwarded(flow, kEndpointA, kind);
            ReceivedPacket packet;
            ASSERT_EQ(parse(m, packet), Verdict::Ok);
            const Address6 sent_source = [&] {
                Address6 a;
                std::memcpy(a.data(), packet.source6, 16);
                return a;
            }();
            const uint8_t sent_flags = packet.tcp_flags;
            make_backend_reply(m, packet, our_mac_);
            ReceivedPacket reply;
            ASSERT_EQ(parse(m, reply), Verdict::Ok) << "checksum of the reply to kind " << static_cast<int>(kind);
            EXPECT_TRUE(checksum_verifies(m));
            EXPECT_EQ(std::memcmp(reply.source6, kEndpointA.data(), 16), 0);
            EXPECT_EQ(std::memcmp(reply.destination6, sent_source.data(), 16), 0);
            EXPECT_EQ(reply.source_port, packet.protocol == IPPROTO_TCP ? kTcpTarget : kUdpTarget);
            EXPECT_EQ(reply.ttl, kClientTtl);
            if (packet.protocol == IPPROTO_TCP) {
                EXPECT_TRUE(reply.tcp_flags & vipgate::kTcpFlagAck);
                EXPECT_EQ((reply.tcp_flags & vipgate::kTcpFlagSyn) != 0, (sent_flags & vipgate::kTcpFlagSyn) != 0);
                EXPECT_EQ((reply.tcp_flags & vipgate::kTcpFlagFin) != 0, (sent_flags & vipgate::kTcpFlagFin) != 0);
            }
        }
    }
}

TEST_P(Ipv6CheckerTest, ReplyFromTheVipToTheClientPassesAndMarksTheFlow) {
    EXPECT_FALSE(memory_.replied(tcp6_flow(9)));
    EXPECT_EQ(check_returned(reply_to_client(tcp6_flow(9))), Verdict::Ok);
    EXPECT_TRUE(memory_.replied(tcp6_flow(9)));
    EXPECT_EQ(check_returned(reply_to_client(udp6_flow(9))), Verdict::Ok);
}

TEST_P(Ipv6CheckerTest, WrongRepliesAreCaught) {
    rte_mbuf* untranslated = reply_to_client(tcp6_flow(9));
    set_address(untranslated, 8, kEndpointA);
    fix_checksum(untranslated);
    EXPECT_EQ(check_returned(untranslated), Verdict::WrongReply);
    rte_mbuf* wrong_port = reply_to_client(tcp6_flow(9));
    set_port(wrong_port, 2, static_cast<uint16_t>(flows6_->tuple(tcp6_flow(9)).client_port + 1));
    fix_checksum(wrong_port);
    EXPECT_EQ(check_returned(wrong_port), Verdict::WrongReply);
    rte_mbuf* other_client = reply_to_client(tcp6_flow(9));
    set_address(other_client, 24, flows6_->tuple(tcp6_flow(10)).client_address);
    fix_checksum(other_client);
    EXPECT_EQ(check_returned(other_client), Verdict::WrongReply);
    rte_mbuf* hop_limit = reply_to_client(tcp6_flow(9));
    *at(hop_limit, kIp + 7) += 1;
    EXPECT_EQ(check_returned(hop_limit), Verdict::TtlError);
}

INSTANTIATE_TEST_SUITE_P(NatModes, Ipv6CheckerTest, ::testing::Values(cfg::NatMode::FullNat, cfg::NatMode::DnatOnly),
                         [](const auto& info) { return info.param == cfg::NatMode::FullNat ? "FullNat" : "Dnat"; });

TEST(FlowSpace6, TuplesAreDistinctInThePrefixAndShareTheTargetWithIpv4) {
    const ClientSpace6 clients{v6("2001:db8::c:0"), 16, 1024, 1024 + 63};
    const FlowSpace6 space6(clients, 3, 11);
    const FlowSpace space4(ClientSpace{0xC6130000u, 16, 1024, 1024 + 63}, 3, 11);
    std::set<std::pair<Address6, uint16_t>> seen;
    for (uint32_t id = 0; id < space6.size(); ++id) {
        const FlowTuple6 tuple = space6.tuple(id);
        EXPECT_TRUE(space6.is_client_address(tuple.client_address.data()));
        EXPECT_EQ(std::memcmp(tuple.client_address.data(), clients.first_address.data(), 15), 0);
        EXPECT_EQ(tuple.target_index, space4.tuple(id).target_index);
        seen.emplace(tuple.client_address, tuple.client_port);
    }
    EXPECT_EQ(seen.size(), space6.size());
    EXPECT_FALSE(space6.is_client_address(v6("2001:db8::c:10").data()));
    EXPECT_FALSE(space6.is_client_address(v6("2001:db9::c:0").data()));
    EXPECT_THROW(FlowSpace6(ClientSpace6{v6("2001:db8::ffff:fff0"), 32, 1024, 2047}, 1, 1), std::invalid_argument);
}

}  // namespace
}  // namespace vipgen
