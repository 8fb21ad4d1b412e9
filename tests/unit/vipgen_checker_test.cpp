// vipgen's checker is itself tested: known-good packets pass, and each kind of bad packet is
// counted as what it is (wrong endpoint, bad checksum, wrong source, a flow that changed
// endpoint, a reply from the wrong address, ...).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <cstring>

#include <rte_arp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "config/config.h"
#include "dataplane/packet_responses.h"
#include "dataplane/tcp_state.h"
#include "pktgen/backend_responder.h"
#include "pktgen/checker.h"
#include "pktgen/packet_factory.h"

namespace vipgen {
namespace {

namespace cfg = vipgate::config;

constexpr uint32_t kVip = 0xC6128001;        // 198.18.128.1
constexpr uint32_t kSnat = 0xC6120001;       // 198.18.0.1
constexpr uint32_t kEndpointA = 0xC6120101;  // 198.18.1.1
constexpr uint32_t kEndpointB = 0xC6120102;
constexpr uint32_t kDrained = 0xC6120103;  // weight 0: existing flows only
constexpr uint16_t kTargetPort = 8080;

cfg::Config gateway_config(cfg::NatMode mode) {
    const std::string text = std::string(R"(
[dataplane]
worker_lcores = [1]
nat_mode = ")") + (mode == cfg::NatMode::FullNat ? "fullnat" : "dnat") +
                             R"("
[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/17"]
[[routes]]
prefix = "198.19.0.0/16"
via = "198.18.0.254"
[[services]]
name = "web"
cluster_ip = "198.18.128.1"
ports = [{ port = 80, target_port = 8080 }]
endpoints = [{ address = "198.18.1.1" }, { address = "198.18.1.2" }, { address = "198.18.1.3", weight = 0 }]
)";
    auto loaded = cfg::load_config_string(text, "test.toml");
    EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    return *loaded.config;
}

class CheckerTest : public ::testing::TestWithParam<cfg::NatMode> {
protected:
    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create("checker_test", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
        targets_ = make_targets({gateway_config(GetParam())}, Protocols::Tcp);
        flows_ = std::make_unique<FlowSpace>(ClientSpace{0xC6130000u, 1u << 16, 1024, 65535}, 1, 7);
        flows6_ = std::make_unique<FlowSpace6>(ClientSpace6{{0x20, 0x01, 0x0d, 0xb8}, 256, 1024, 65535}, 1, 7);
        factory_ =
            std::make_unique<PacketFactory>(targets_, *flows_, *flows6_, FrameSizes::fixed(64), our_mac_, gateway_mac_);
        checker_ = std::make_unique<Checker>(CheckMode::Gateway, targets_, *flows_, *flows6_, memory_);
    }
    void TearDown() override {
        for (rte_mbuf* m : mbufs_) rte_pktmbuf_free(m);
        rte_mempool_free(pool_);
    }

    rte_mbuf* client_packet(uint32_t flow, PacketKind kind = PacketKind::Data) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        mbufs_.push_back(m);
        factory_->build(m, flow, kind, 0, 1000, 0);
        return m;
    }
    uint8_t* ip(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, RTE_ETHER_HDR_LEN); }

    // Recomputes both checksums from scratch, as a correct gateway leaves them.
    void fix_checksums(rte_mbuf* m) {
        auto* header = reinterpret_cast<rte_ipv4_hdr*>(ip(m));
        header->hdr_checksum = 0;
        header->hdr_checksum = rte_ipv4_cksum(header);
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip(m) + 20);
        tcp->cksum = 0;
        tcp->cksum = rte_ipv4_udptcp_cksum(header, tcp);
    }
    void set_address(rte_mbuf* m, uint32_t offset, uint32_t address) {
        const uint32_t value = rte_cpu_to_be_32(address);
        std::memcpy(ip(m) + offset, &value, 4);
    }
    void set_port(rte_mbuf* m, uint32_t offset, uint16_t port) {
        const uint16_t value = rte_cpu_to_be_16(port);
        std::memcpy(ip(m) + 20 + offset, &value, 2);
    }

    // What a correct gateway sends to `endpoint` for the client packet of `flow`.
    rte_mbuf* forwarded(uint32_t flow, uint32_t endpoint, PacketKind kind = PacketKind::Data) {
        rte_mbuf* m = client_packet(flow, kind);
        if (GetParam() == cfg::NatMode::FullNat) {
            set_address(m, 12, kSnat);
            set_port(m, 0, 40000);
        }
        set_address(m, 16, endpoint);
        set_port(m, 2, kTargetPort);
        ip(m)[8] -= 1;
        fix_checksums(m);
        return m;
    }

    Verdict check_forwarded(rte_mbuf* m, uint32_t* endpoint_index = nullptr) {
        ReceivedPacket packet;
        Verdict verdict;
        EXPECT_EQ(parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict),
                  FrameType::Ipv4);
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
        Verdict verdict;
        parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict);
        make_backend_reply(m, packet, our_mac_);
        const FlowTuple tuple = flows_->tuple(flow);
        set_address(m, 12, kVip);
        set_port(m, 0, 80);
        set_address(m, 16, tuple.client_address);
        set_port(m, 2, tuple.client_port);
        ip(m)[8] -= 1;
        fix_checksums(m);
        return m;
    }

    Verdict check_returned(rte_mbuf* m) {
        ReceivedPacket packet;
        Verdict verdict;
        parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict);
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
    std::unique_ptr<FlowSpace6> flows6_;  // unused: IPv4 targets only (vipgen_ipv6_test.cpp)
    FlowMemory memory_{1024};
    std::unique_ptr<PacketFactory> factory_;
    std::unique_ptr<Checker> checker_;
};

TEST_P(CheckerTest, CorrectlyTranslatedPacketPassesAndNamesItsEndpoint) {
    uint32_t index = 99;
    EXPECT_EQ(check_forwarded(forwarded(1, kEndpointB), &index), Verdict::Ok);
    EXPECT_EQ(targets_.endpoints[index], (EndpointAddress{kEndpointB, kTargetPort}));
}

TEST_P(CheckerTest, AddressThatIsNoEndpointIsMisdirected) {
    EXPECT_EQ(check_forwarded(forwarded(1, 0xC6120163)), Verdict::Misdirected);
}

TEST_P(CheckerTest, WrongTargetPortIsMisdirected) {
    rte_mbuf* m = forwarded(1, kEndpointA);
    set_port(m, 2, 8081);
    fix_checksums(m);
    EXPECT_EQ(check_forwarded(m), Verdict::Misdirected);
}

TEST_P(CheckerTest, NewConnectionOnADrainedEndpointIsMisdirectedButItsDataIsNot) {
    EXPECT_EQ(check_forwarded(forwarded(1, kDrained, PacketKind::Open)), Verdict::Misdirected);
    EXPECT_EQ(check_forwarded(forwarded(2, kDrained, PacketKind::Data)), Verdict::Ok);
}

TEST_P(CheckerTest, BadChecksumsAndTruncationAreMalformed) {
    rte_mbuf* l4 = forwarded(1, kEndpointA);
    ip(l4)[20 + 16] ^= 0x01;  // TCP checksum
    EXPECT_EQ(check_forwarded(l4), Verdict::Malformed);
    rte_mbuf* l3 = forwarded(1, kEndpointA);
    ip(l3)[10] ^= 0x01;  // IPv4 header checksum
    EXPECT_EQ(check_forwarded(l3), Verdict::Malformed);
    rte_mbuf* short_frame = forwarded(1, kEndpointA);
    ReceivedPacket packet;
    Verdict verdict;
    parse_frame(rte_pktmbuf_mtod(short_frame, uint8_t*), 40, packet, verdict);
    EXPECT_EQ(verdict, Verdict::Malformed);
}

TEST_P(CheckerTest, TtlMustDropByExactlyOne) {
    rte_mbuf* m = forwarded(1, kEndpointA);
    ip(m)[8] += 1;
    fix_checksums(m);
    EXPECT_EQ(check_forwarded(m), Verdict::TtlError);
}

TEST_P(CheckerTest, SourceMustBeRewrittenAsTheNatModeSays) {
    rte_mbuf* m = forwarded(1, kEndpointA);
    // Full-NAT must not leak the client address; DNAT must keep it.
    set_address(m, 12, GetParam() == cfg::NatMode::FullNat ? flows_->tuple(1).client_address : kSnat);
    fix_checksums(m);
    EXPECT_EQ(check_forwarded(m), Verdict::WrongSource);
}

TEST_P(CheckerTest, FlowThatChangesEndpointIsMoved) {
    EXPECT_EQ(check_forwarded(forwarded(5, kEndpointA)), Verdict::Ok);
    EXPECT_EQ(check_forwarded(forwarded(5, kEndpointA)), Verdict::Ok);
    EXPECT_EQ(check_forwarded(forwarded(5, kEndpointB)), Verdict::Moved);
    EXPECT_EQ(check_forwarded(forwarded(6, kEndpointB)), Verdict::Ok);  // another flow is unaffected
}

TEST_P(CheckerTest, ResetsIcmpAndForeignPacketsAreCountedApart) {
    rte_mbuf* reset = forwarded(1, kEndpointA);
    ip(reset)[20 + 13] = vipgate::kTcpFlagRst | vipgate::kTcpFlagAck;
    fix_checksums(reset);
    EXPECT_EQ(check_forwarded(reset), Verdict::Reset);
    rte_mbuf* foreign = forwarded(1, kEndpointA);
    ip(foreign)[40] ^= 0xff;  // the magic word
    fix_checksums(foreign);
    EXPECT_EQ(check_forwarded(foreign), Verdict::Unexpected);
}

TEST_P(CheckerTest, BackendReplyIsAValidTurnedAroundSegment) {
    for (PacketKind kind : {PacketKind::Open, PacketKind::Data, PacketKind::Close}) {
        rte_mbuf* m = forwarded(3, kEndpointA, kind);
        ReceivedPacket packet;
        Verdict verdict;
        parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict);
        const uint8_t sent_flags = packet.tcp_flags;
        make_backend_reply(m, packet, our_mac_);
        ReceivedPacket reply;
        ASSERT_EQ(parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), reply, verdict), FrameType::Ipv4);
        EXPECT_EQ(verdict, Verdict::Ok) << "checksums of the reply to kind " << static_cast<int>(kind);
        EXPECT_EQ(reply.source, kEndpointA);
        EXPECT_EQ(reply.destination, packet.source);
        EXPECT_EQ(reply.source_port, kTargetPort);
        EXPECT_EQ(reply.ttl, kClientTtl);
        EXPECT_TRUE(reply.tcp_flags & vipgate::kTcpFlagAck);
        EXPECT_EQ((reply.tcp_flags & vipgate::kTcpFlagSyn) != 0, (sent_flags & vipgate::kTcpFlagSyn) != 0);
        EXPECT_EQ((reply.tcp_flags & vipgate::kTcpFlagFin) != 0, (sent_flags & vipgate::kTcpFlagFin) != 0);
        const auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        EXPECT_TRUE(rte_is_same_ether_addr(&eth->src_addr, &our_mac_));
        EXPECT_TRUE(rte_is_same_ether_addr(&eth->dst_addr, &our_mac_)) << "back to the sender (the test's own MAC)";
    }
}

TEST_P(CheckerTest, ReplyFromTheVipToTheClientPassesAndMarksTheFlow) {
    EXPECT_FALSE(memory_.replied(9));
    EXPECT_EQ(check_returned(reply_to_client(9)), Verdict::Ok);
    EXPECT_TRUE(memory_.replied(9));
}

TEST_P(CheckerTest, ReplyFromTheEndpointAddressOrToAnotherPortIsWrong) {
    rte_mbuf* untranslated = reply_to_client(9);
    set_address(untranslated, 12, kEndpointA);
    fix_checksums(untranslated);
    EXPECT_EQ(check_returned(untranslated), Verdict::WrongReply);
    rte_mbuf* wrong_port = reply_to_client(9);
    set_port(wrong_port, 2, static_cast<uint16_t>(flows_->tuple(9).client_port + 1));
    fix_checksums(wrong_port);
    EXPECT_EQ(check_returned(wrong_port), Verdict::WrongReply);
}

INSTANTIATE_TEST_SUITE_P(NatModes, CheckerTest, ::testing::Values(cfg::NatMode::FullNat, cfg::NatMode::DnatOnly),
                         [](const auto& info) { return info.param == cfg::NatMode::FullNat ? "FullNat" : "Dnat"; });

TEST(ForwarderChecker, UnchangedPacketPassesAndAnAlteredOneDoesNot) {
    rte_mempool* pool = rte_pktmbuf_pool_create("forwarder_test", 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool, nullptr);
    const Targets targets = forwarder_targets(kVip, 80, Protocols::Any);
    const auto target_count = static_cast<uint32_t>(targets.targets.size());
    const FlowSpace flows(ClientSpace{0xC6130000u, 256, 1024, 65535}, target_count, 3);
    const FlowSpace6 flows6(ClientSpace6{{0x20, 0x01, 0x0d, 0xb8}, 256, 1024, 65535}, target_count, 3);
    FlowMemory memory(1024);
    const rte_ether_addr mac{{0x02, 0, 0, 0, 0, 0x10}};
    const PacketFactory factory(targets, flows, flows6, FrameSizes::imix(), mac, mac);
    const Checker checker(CheckMode::Forwarder, targets, flows, flows6, memory);
    const FrameSizes sizes = FrameSizes::imix();
    for (uint32_t slot = 0; slot < factory.size_sequence_length(); ++slot) {
        for (uint32_t flow = 0; flow < 12; ++flow) {  // even flows TCP, odd flows UDP; every kind
            rte_mbuf* m = rte_pktmbuf_alloc(pool);
            EXPECT_EQ(
                factory.build(m, flow, static_cast<PacketKind>(1 + flow % 3), static_cast<uint8_t>(flow), 7, slot),
                sizes.sequence[slot]);
            EXPECT_EQ(rte_pktmbuf_data_len(m), sizes.sequence[slot]);
            ReceivedPacket packet;
            Verdict verdict;
            parse_frame(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), packet, verdict);
            ASSERT_EQ(verdict, Verdict::Ok) << "size slot " << slot << " flow " << flow;
            Signature signature;
            EXPECT_EQ(checker.check_returned(packet, signature), Verdict::Ok);
            EXPECT_EQ(signature.flow_id, flow);
            EXPECT_EQ(signature.tx_tsc, 7u);
            packet.destination_port = 81;
            EXPECT_EQ(checker.check_returned(packet, signature), Verdict::WrongReply);
            rte_pktmbuf_free(m);
        }
    }
    rte_mempool_free(pool);
}

TEST(ArpAnswers, OnlyImpersonatedAddressesAreAnswered) {
    rte_mempool* pool = rte_pktmbuf_pool_create("arp_test", 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool, nullptr);
    const rte_ether_addr gateway{{0x02, 0, 0, 0, 0, 0x01}};
    const rte_ether_addr ours{{0x02, 0, 0, 0, 0, 0x10}};
    const std::vector<uint32_t> hosts = {kEndpointA, kEndpointB};
    rte_mbuf* request = rte_pktmbuf_alloc(pool);
    ASSERT_TRUE(vipgate::write_arp_request(request, gateway, rte_cpu_to_be_32(kSnat), rte_cpu_to_be_32(kEndpointB), 0));
    ASSERT_TRUE(make_arp_answer(request, hosts, ours));
    rte_ether_addr learned{};
    EXPECT_TRUE(read_arp_reply(request, kEndpointB, learned));
    EXPECT_TRUE(rte_is_same_ether_addr(&learned, &ours));
    rte_mbuf* other = rte_pktmbuf_alloc(pool);
    ASSERT_TRUE(vipgate::write_arp_request(other, gateway, rte_cpu_to_be_32(kSnat), rte_cpu_to_be_32(kDrained), 0));
    EXPECT_FALSE(make_arp_answer(other, hosts, ours));
    rte_pktmbuf_free(request);
    rte_pktmbuf_free(other);
    rte_mempool_free(pool);
}

}  // namespace
}  // namespace vipgen
