#include "dataplane/tcp_state.h"

namespace vipgate {

TcpState next_tcp_state(TcpState current, FlowDirection direction, uint8_t tcp_flags) noexcept {
    if (current == TcpState::None) return TcpState::None;
    if (tcp_flags & kTcpFlagRst) return TcpState::Closed;

    const bool syn = tcp_flags & kTcpFlagSyn;
    const bool ack = tcp_flags & kTcpFlagAck;
    const bool original = direction == FlowDirection::Original;

    if (syn && !ack && original) {
        const bool reusing_port = current == TcpState::Closing || current == TcpState::Closed;
        return reusing_port ? TcpState::SynSent : current;
    }
    if (tcp_flags & kTcpFlagFin) return current == TcpState::Closed ? TcpState::Closed : TcpState::Closing;
    if (syn && ack && !original && current == TcpState::SynSent) return TcpState::SynReceived;
    if (!syn && ack && original && current == TcpState::SynReceived) return TcpState::Established;
    return current;
}

uint32_t state_timeout_ms(TcpState state, uint8_t protocol, bool seen_reply, const ConnTimeouts& timeouts) noexcept {
    switch (protocol) {
    case kProtoTcp:
    case kProtoSctp:
        break;
    case kProtoIcmp:
        return timeouts.icmp_ms;
    default:
        return seen_reply ? timeouts.udp_ms : timeouts.udp_unreplied_ms;
    }
    switch (state) {
    case TcpState::SynSent:
    case TcpState::SynReceived:
        return timeouts.tcp_syn_ms;
    case TcpState::Closing:
        return timeouts.tcp_closing_ms;
    case TcpState::Closed:
        return timeouts.tcp_closed_ms;
    case TcpState::None:
    case TcpState::Established:
        break;
    }
    return timeouts.tcp_established_ms;
}

}  // namespace vipgate
