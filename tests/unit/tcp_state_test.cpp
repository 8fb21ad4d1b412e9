#include <gtest/gtest.h>

#include "dataplane/flow_key.h"
#include "dataplane/tcp_state.h"

namespace vipgate {
namespace {

constexpr auto kOriginal = FlowDirection::Original;
constexpr auto kReply = FlowDirection::Reply;
constexpr uint8_t kSyn = kTcpFlagSyn;
constexpr uint8_t kSynAck = kTcpFlagSyn | kTcpFlagAck;
constexpr uint8_t kAck = kTcpFlagAck;
constexpr uint8_t kPshAck = kTcpFlagPsh | kTcpFlagAck;
constexpr uint8_t kFinAck = kTcpFlagFin | kTcpFlagAck;
constexpr uint8_t kRst = kTcpFlagRst;
constexpr uint8_t kRstAck = kTcpFlagRst | kTcpFlagAck;

struct Transition {
    const char* description;
    TcpState current;
    FlowDirection direction;
    uint8_t flags;
    TcpState expected;
};

const Transition kTransitions[] = {
    {"client SYN opens", TcpState::SynSent, kOriginal, kSyn, TcpState::SynSent},
    {"SYN+ACK from endpoint", TcpState::SynSent, kReply, kSynAck, TcpState::SynReceived},
    {"SYN+ACK from client is not a handshake step", TcpState::SynSent, kOriginal, kSynAck, TcpState::SynSent},
    {"ACK before SYN+ACK does not establish", TcpState::SynSent, kOriginal, kAck, TcpState::SynSent},
    {"retransmitted SYN keeps SynReceived", TcpState::SynReceived, kOriginal, kSyn, TcpState::SynReceived},
    {"client ACK completes handshake", TcpState::SynReceived, kOriginal, kAck, TcpState::Established},
    {"client data+ACK completes handshake", TcpState::SynReceived, kOriginal, kPshAck, TcpState::Established},
    {"endpoint ACK does not complete handshake", TcpState::SynReceived, kReply, kAck, TcpState::SynReceived},
    {"client data stays established", TcpState::Established, kOriginal, kPshAck, TcpState::Established},
    {"endpoint data stays established", TcpState::Established, kReply, kPshAck, TcpState::Established},
    {"bare ACK stays established", TcpState::Established, kReply, kAck, TcpState::Established},
    {"SYN on established flow is ignored", TcpState::Established, kOriginal, kSyn, TcpState::Established},
    {"client FIN closes", TcpState::Established, kOriginal, kFinAck, TcpState::Closing},
    {"endpoint FIN closes", TcpState::Established, kReply, kFinAck, TcpState::Closing},
    {"FIN during handshake closes", TcpState::SynReceived, kOriginal, kFinAck, TcpState::Closing},
    {"last ACK stays closing", TcpState::Closing, kOriginal, kAck, TcpState::Closing},
    {"second FIN stays closing", TcpState::Closing, kReply, kFinAck, TcpState::Closing},
    {"FIN after RST stays closed", TcpState::Closed, kOriginal, kFinAck, TcpState::Closed},
    {"client RST on established", TcpState::Established, kOriginal, kRst, TcpState::Closed},
    {"endpoint RST+ACK on established", TcpState::Established, kReply, kRstAck, TcpState::Closed},
    {"endpoint RST refuses SYN", TcpState::SynSent, kReply, kRstAck, TcpState::Closed},
    {"RST while closing", TcpState::Closing, kOriginal, kRst, TcpState::Closed},
    {"RST wins over SYN", TcpState::Established, kOriginal, kSyn | kRst, TcpState::Closed},
    {"port reuse after close", TcpState::Closed, kOriginal, kSyn, TcpState::SynSent},
    {"port reuse while closing", TcpState::Closing, kOriginal, kSyn, TcpState::SynSent},
    {"endpoint SYN does not reuse", TcpState::Closed, kReply, kSyn, TcpState::Closed},
    {"data on closed flow stays closed", TcpState::Closed, kOriginal, kPshAck, TcpState::Closed},
    {"non-TCP ignores flags", TcpState::None, kOriginal, kSyn, TcpState::None},
    {"non-TCP ignores RST", TcpState::None, kReply, kRst, TcpState::None},
};

TEST(TcpState, TransitionTable) {
    for (const Transition& t : kTransitions) {
        EXPECT_EQ(next_tcp_state(t.current, t.direction, t.flags), t.expected) << t.description;
    }
}

TEST(TcpState, FullHandshakeAndTeardown) {
    TcpState state = TcpState::SynSent;
    state = next_tcp_state(state, kReply, kSynAck);
    state = next_tcp_state(state, kOriginal, kAck);
    ASSERT_EQ(state, TcpState::Established);
    state = next_tcp_state(state, kOriginal, kPshAck);
    state = next_tcp_state(state, kReply, kPshAck);
    ASSERT_EQ(state, TcpState::Established);
    state = next_tcp_state(state, kOriginal, kFinAck);
    state = next_tcp_state(state, kReply, kFinAck);
    state = next_tcp_state(state, kOriginal, kAck);
    ASSERT_EQ(state, TcpState::Closing);
    state = next_tcp_state(state, kOriginal, kSyn);
    EXPECT_EQ(state, TcpState::SynSent);
}

TEST(TcpState, HalfOpen) {
    EXPECT_TRUE(is_half_open(TcpState::SynSent));
    EXPECT_TRUE(is_half_open(TcpState::SynReceived));
    EXPECT_FALSE(is_half_open(TcpState::None));
    EXPECT_FALSE(is_half_open(TcpState::Established));
    EXPECT_FALSE(is_half_open(TcpState::Closing));
    EXPECT_FALSE(is_half_open(TcpState::Closed));
}

TEST(TcpState, TimeoutsPerStateAndProtocol) {
    const ConnTimeouts timeouts{.tcp_syn_ms = 1,
                                .tcp_established_ms = 2,
                                .tcp_closing_ms = 3,
                                .tcp_closed_ms = 4,
                                .udp_ms = 5,
                                .icmp_ms = 6,
                                .udp_unreplied_ms = 7};
    constexpr bool kReplied = true;
    constexpr bool kUnreplied = false;
    EXPECT_EQ(state_timeout_ms(TcpState::SynSent, kProtoTcp, kUnreplied, timeouts), 1u);
    EXPECT_EQ(state_timeout_ms(TcpState::SynReceived, kProtoTcp, kReplied, timeouts), 1u);
    EXPECT_EQ(state_timeout_ms(TcpState::Established, kProtoTcp, kReplied, timeouts), 2u);
    EXPECT_EQ(state_timeout_ms(TcpState::Established, kProtoTcp, kUnreplied, timeouts), 2u)
        << "the state, not the reply, decides for TCP";
    EXPECT_EQ(state_timeout_ms(TcpState::Closing, kProtoTcp, kReplied, timeouts), 3u);
    EXPECT_EQ(state_timeout_ms(TcpState::Closed, kProtoTcp, kReplied, timeouts), 4u);
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoTcp, kReplied, timeouts), 2u);
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoUdp, kReplied, timeouts), 5u);
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoUdp, kUnreplied, timeouts), 7u);
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoIcmp, kReplied, timeouts), 6u);
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoIcmp, kUnreplied, timeouts), 6u) << "ICMP has one timeout";
    EXPECT_EQ(state_timeout_ms(TcpState::Closed, kProtoSctp, kReplied, timeouts), 4u) << "SCTP runs the TCP states";
    EXPECT_EQ(state_timeout_ms(TcpState::None, kProtoSctp, kReplied, timeouts), 2u);
    EXPECT_EQ(state_timeout_ms(TcpState::Established, kProtoUdp, kReplied, timeouts), 5u) << "state ignored for UDP";
}

}  // namespace
}  // namespace vipgate
