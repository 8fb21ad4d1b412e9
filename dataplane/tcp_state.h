// TCP connection states and per-state timeouts for the connection tracking table.
//
// Design note: a load balancer sees both directions of a flow but is not an endpoint, so it
// only needs enough of the TCP state machine to pick a timeout (short for handshakes and
// teardowns, long for established flows) and to tell which entries may be evicted under
// pressure (half-open and closing ones, never established ones). This is the simplified
// model of IPVS and nf_conntrack: no sequence tracking, no window checks. The flags are read
// in a fixed priority order so that odd combinations (SYN|RST, SYN|FIN) have one answer.
//
// Transitions of next_tcp_state(current, direction, flags), first matching row wins:
//
//   flags            direction  current                    -> next
//   ---------------  ---------  -------------------------     -----------
//   any              any        None (not TCP)             -> None
//   RST              any        any                        -> Closed
//   SYN without ACK  Original   Closing, Closed            -> SynSent     (port reuse)
//   SYN without ACK  Original   other                      -> unchanged   (retransmission)
//   FIN              any        Closed                     -> Closed
//   FIN              any        other                      -> Closing
//   SYN+ACK          Reply      SynSent                    -> SynReceived
//   ACK              Original   SynReceived                -> Established (handshake done)
//   anything else    any        any                        -> unchanged
//
// A flow picked up mid-stream (its first packet is not a SYN, e.g. after a gateway restart)
// is inserted by the caller directly in state Established.
//
// SCTP associations run the same machine on the TCP flags their first chunk stands for
// (INIT = SYN, ABORT = RST, ...; the table is in sctp.h) and use the TCP timeouts.
//
// UDP (and any protocol without a state machine) has one fact that plays the role of the TCP
// handshake: whether the endpoint has ever answered (Connection::seen_reply). A flood of
// datagrams from spoofed sources creates only flows nobody answers; held for the normal
// udp_timeout (120 s) and never evicted, they kept the table full, and every new connection
// dropped under full-NAT, for two minutes after the flood stopped. So an unreplied flow is
// treated like a half-open TCP one: the shorter udp_unreplied_ms, and evictable under
// pressure. The first Reply-direction packet promotes it for good to udp_ms and makes it as
// unevictable as an established TCP connection. Forgetting an unreplied flow costs little: at
// worst an answer arriving after its eviction is lost, and a one-way stream (syslog, metrics)
// lives on the shorter idle timeout. This is Linux conntrack's split (nf_conntrack_udp_timeout
// 30 s unreplied, udp_timeout_stream 120 s; early drop takes only unassured entries). ICMP keeps
// its single short timeout either way (echo to a VIP is answered by the gateway, not tracked).
#pragma once

#include <cstdint>

#include "dataplane/flow_key.h"

namespace vipgate {

enum class TcpState : uint8_t {
    None = 0,  // neither TCP nor SCTP (UDP, ICMP, ...): Connection::seen_reply stands in for a state
    SynSent,
    SynReceived,
    Established,
    Closing,
    Closed,
};

enum class FlowDirection : uint8_t {
    Original = 0,  // client -> VIP
    Reply = 1,     // endpoint -> client
};

// Idle timeouts in milliseconds. Each must stay below 2^31 ms (about 24.8 days) because
// deadlines are compared as wrapping 32-bit millisecond counters.
struct ConnTimeouts {
    uint32_t tcp_syn_ms;          // SynSent, SynReceived
    uint32_t tcp_established_ms;  // Established
    uint32_t tcp_closing_ms;      // Closing (FIN seen)
    uint32_t tcp_closed_ms;       // Closed (RST seen)
    uint32_t udp_ms;              // UDP and any other protocol without its own timeout
    uint32_t icmp_ms;             // ICMP echo
    uint32_t udp_unreplied_ms;    // udp_ms's protocols before their first Reply-direction packet
    // Not a timeout: an unanswered entry idle for less than this is not evicted to admit a new
    // connection (half_open_admission.h). 0: the oldest is always evictable.
    uint32_t half_open_min_idle_ms = 0;
};

// TCP flag bits as in byte 13 of the TCP header.
inline constexpr uint8_t kTcpFlagFin = 0x01;
inline constexpr uint8_t kTcpFlagSyn = 0x02;
inline constexpr uint8_t kTcpFlagRst = 0x04;
inline constexpr uint8_t kTcpFlagPsh = 0x08;
inline constexpr uint8_t kTcpFlagAck = 0x10;

TcpState next_tcp_state(TcpState current, FlowDirection direction, uint8_t tcp_flags) noexcept;

// TCP and SCTP: the protocols whose entries follow this state machine.
constexpr bool uses_tcp_state(uint8_t protocol) {
    return protocol == kProtoTcp || protocol == kProtoSctp;
}

// Idle timeout for a connection of `protocol` in `state` that has (`seen_reply`) or has not yet
// seen a reply-direction packet. For TCP and SCTP the state picks the timeout (None, which such
// an entry should never have, is treated as Established) and `seen_reply` is ignored; for UDP
// and other protocols without a state machine `seen_reply` picks it; ICMP has one timeout.
uint32_t state_timeout_ms(TcpState state, uint8_t protocol, bool seen_reply, const ConnTimeouts& timeouts) noexcept;

constexpr bool is_half_open(TcpState s) {
    return s == TcpState::SynSent || s == TcpState::SynReceived;
}

}  // namespace vipgate
