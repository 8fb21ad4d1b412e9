// SCTP checksum: the dataplane's CRC32c (crc32 instruction) and its port-change update against
// the bitwise reference in packet_builder, published vectors and a packet scapy built; the
// chunk -> TCP flags mapping connection tracking relies on.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string_view>

#include "dataplane/sctp.h"
#include "dataplane/tcp_state.h"
#include "tests/support/packet_builder.h"

namespace vipgate {
namespace {

using test::Bytes;

uint32_t stored_checksum(const Bytes& packet) {
    uint32_t value;
    std::memcpy(&value, packet.data() + 8, sizeof(value));
    return value;
}

void store_checksum(Bytes& packet, uint32_t value) {
    std::memcpy(packet.data() + 8, &value, sizeof(value));
}

uint32_t ports_of(const Bytes& packet) {
    uint32_t value;
    std::memcpy(&value, packet.data(), sizeof(value));
    return value;
}

TEST(Crc32cReference, MatchesPublishedVectors) {
    // The CRC catalogue's check value, and RFC 3720 B.4's 32 bytes of zeros and of 0xFF.
    const std::string_view check = "123456789";
    EXPECT_EQ(test::crc32c_reference({reinterpret_cast<const uint8_t*>(check.data()), check.size()}), 0xE3069283u);
    EXPECT_EQ(test::crc32c_reference(Bytes(32, 0x00)), 0x8A9136AAu);
    EXPECT_EQ(test::crc32c_reference(Bytes(32, 0xFF)), 0x62A8AB43u);
}

// An INIT that scapy 2.5 built: SCTP(sport=40000, dport=80, tag=0) / SCTPChunkInit(init_tag=0x11223344,
// a_rwnd=65536, n_out_streams=10, n_in_streams=10, init_tsn=0x55667788); its checksum bytes are 0c 99 a5 3d.
const Bytes kScapyInit = {0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x99, 0xa5,
                          0x3d, 0x01, 0x00, 0x00, 0x14, 0x11, 0x22, 0x33, 0x44, 0x00, 0x01,
                          0x00, 0x00, 0x00, 0x0a, 0x00, 0x0a, 0x55, 0x66, 0x77, 0x88};

TEST(SctpChecksum, MatchesScapy) {
    EXPECT_EQ(sctp_checksum(kScapyInit.data(), static_cast<uint32_t>(kScapyInit.size())), stored_checksum(kScapyInit));
    EXPECT_EQ(test::sctp_checksum_reference(kScapyInit), stored_checksum(kScapyInit));
}

TEST(SctpChecksum, IgnoresTheChecksumFieldAndMatchesTheReference) {
    std::mt19937 random(132);
    for (int round = 0; round < 2000; ++round) {
        Bytes packet(12 + 4 * std::uniform_int_distribution<size_t>(1, 400)(random));
        for (auto& byte : packet) byte = static_cast<uint8_t>(random());
        const uint32_t expected = test::sctp_checksum_reference(packet);
        ASSERT_EQ(sctp_checksum(packet.data(), static_cast<uint32_t>(packet.size())), expected) << test::hex(packet);
    }
}

// The update after a port change equals a full recomputation, for random packets of every size
// class (including the table boundaries at multiples of 256 bytes and the IPv4 maximum), random
// ports, translated there and back.
TEST(SctpChecksum, PortUpdateEqualsFullRecomputation) {
    std::mt19937 random(9260);
    std::vector<size_t> lengths = {12, 16, 20, 255, 256, 257, 511, 512, 1480, 65515};
    for (int i = 0; i < 3000; ++i) lengths.push_back(std::uniform_int_distribution<size_t>(12, 9000)(random));
    for (const size_t length : lengths) {
        Bytes packet(length);
        for (auto& byte : packet) byte = static_cast<uint8_t>(random());
        store_checksum(packet, test::sctp_checksum_reference(packet));
        const Bytes original = packet;

        const auto new_ports = static_cast<uint32_t>(random());
        const uint32_t old_ports = ports_of(packet);
        const uint32_t updated =
            sctp_checksum_update_ports(stored_checksum(packet), old_ports, new_ports, static_cast<uint32_t>(length));
        std::memcpy(packet.data(), &new_ports, sizeof(new_ports));
        ASSERT_EQ(updated, test::sctp_checksum_reference(packet)) << "length " << length;
        store_checksum(packet, updated);

        // And back (the reply direction): the original checksum returns.
        const uint32_t restored =
            sctp_checksum_update_ports(updated, new_ports, old_ports, static_cast<uint32_t>(length));
        ASSERT_EQ(restored, stored_checksum(original)) << "length " << length;
    }
}

// A corrupted packet stays corrupted: the update carries the error instead of laundering it.
TEST(SctpChecksum, PortUpdateKeepsABadChecksumBad) {
    Bytes packet = kScapyInit;
    const uint32_t bad = stored_checksum(packet) ^ 0x00400000;
    const uint32_t new_ports = 0x90001f00;
    const uint32_t updated =
        sctp_checksum_update_ports(bad, ports_of(packet), new_ports, static_cast<uint32_t>(packet.size()));
    std::memcpy(packet.data(), &new_ports, sizeof(new_ports));
    EXPECT_NE(updated, test::sctp_checksum_reference(packet));
    EXPECT_EQ(updated ^ test::sctp_checksum_reference(packet), 0x00400000u);
}

TEST(SctpChunks, MapOntoTcpFlags) {
    EXPECT_EQ(sctp_tcp_flags(kSctpInit), kTcpFlagSyn);
    EXPECT_EQ(sctp_tcp_flags(kSctpInitAck), kTcpFlagSyn | kTcpFlagAck);
    EXPECT_EQ(sctp_tcp_flags(kSctpAbort), kTcpFlagRst);
    EXPECT_EQ(sctp_tcp_flags(kSctpShutdownComplete), kTcpFlagRst);
    EXPECT_EQ(sctp_tcp_flags(kSctpShutdown), kTcpFlagFin | kTcpFlagAck);
    EXPECT_EQ(sctp_tcp_flags(kSctpShutdownAck), kTcpFlagFin | kTcpFlagAck);
    for (uint8_t type : {kSctpData, kSctpSack, kSctpHeartbeat, kSctpCookieEcho, kSctpCookieAck, kSctpError}) {
        EXPECT_EQ(sctp_tcp_flags(type), kTcpFlagAck) << int(type);
    }
}

// An association through the TcpState machine: INIT, INIT ACK, COOKIE ECHO, then ABORT; and a
// graceful SHUTDOWN ... SHUTDOWN COMPLETE.
TEST(SctpChunks, AssociationLifecycle) {
    using enum FlowDirection;
    TcpState state = TcpState::SynSent;  // inserted on the INIT
    state = next_tcp_state(state, Reply, sctp_tcp_flags(kSctpInitAck));
    EXPECT_EQ(state, TcpState::SynReceived);
    state = next_tcp_state(state, Original, sctp_tcp_flags(kSctpCookieEcho));
    EXPECT_EQ(state, TcpState::Established);
    EXPECT_EQ(next_tcp_state(state, Reply, sctp_tcp_flags(kSctpCookieAck)), TcpState::Established);
    EXPECT_EQ(next_tcp_state(state, Original, sctp_tcp_flags(kSctpData)), TcpState::Established);
    EXPECT_EQ(next_tcp_state(state, Reply, sctp_tcp_flags(kSctpAbort)), TcpState::Closed);

    state = next_tcp_state(state, Original, sctp_tcp_flags(kSctpShutdown));
    EXPECT_EQ(state, TcpState::Closing);
    state = next_tcp_state(state, Reply, sctp_tcp_flags(kSctpShutdownAck));
    EXPECT_EQ(state, TcpState::Closing);
    state = next_tcp_state(state, Original, sctp_tcp_flags(kSctpShutdownComplete));
    EXPECT_EQ(state, TcpState::Closed);
    // A new INIT on the same ports starts a new association.
    EXPECT_EQ(next_tcp_state(state, Original, sctp_tcp_flags(kSctpInit)), TcpState::SynSent);

    const ConnTimeouts timeouts{1, 2, 3, 4, 5, 6, 7};
    EXPECT_EQ(state_timeout_ms(TcpState::Established, kProtoSctp, true, timeouts), 2u);
    EXPECT_EQ(state_timeout_ms(TcpState::Closed, kProtoSctp, true, timeouts), 4u);
    EXPECT_EQ(state_timeout_ms(TcpState::SynSent, kProtoSctp, false, timeouts), 1u);
}

}  // namespace
}  // namespace vipgate
