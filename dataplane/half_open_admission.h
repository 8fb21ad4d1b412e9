// New-connection admission into a full connection table under a spoofed SYN or UDP flood.
//
// Design note. A spoofed SYN never completes: its entry stays half-open (SynSent, then
// SynReceived once the endpoint's SYN-ACK went to the spoofed address) until it expires. A real
// client's handshake completes within one round trip, after which its entry is Established and
// can never be evicted (conn_table.h). So the only question under a flood is which half-open
// entry a new connection replaces when the table is full, and the answer is the oldest: the
// table threads every unanswered entry (half-open TCP/SCTP, UDP/ICMP without a reply) on a FIFO
// and evicts its head in O(1). Every new entry then lives for
//
//     window W = H / R     H = entries not held by answered flows, R = new flows per second
//
// before it reaches the head, and a real client whose round trip is shorter than W always
// wins. Numbers: a 1M-entry worker table half full of established flows (H = 500k) against the
// 2.78 M new connections/s one worker sets up (README, benchmarks) gives W = 180 ms, longer
// than any handshake in a cluster; the 4,096-entry table of the flood benchmark with 1,000
// established flows against 240,000 SYNs/s gives W = 13 ms. The previous clock-hand scan (32
// entries from the ageing cursor, the first evictable one) approximated the same order only
// while half-open entries were dense: with 95 % of the table established, 19 % of the scans
// (0.95^32) found none among their 32 lines, fell back to the two home buckets' entries and,
// failing those, refused the connection, legitimate or not (conntrack_full under full-NAT).
//
// Why not SYN cookies or a SYN proxy (DPVS): they need no table entry at all for a flood, but
// the gateway must then terminate the handshake and shift sequence numbers on every packet of
// every proxied connection, DNAT-only mode could not use them (the endpoint must see the
// client's own SYN), and UDP has no equivalent. The FIFO covers TCP, SCTP and UDP in both NAT
// modes for 8 bytes per entry (kept inside the existing 64-byte line).
//
// When W is shorter than a real round trip, plain oldest-first evicts every entry before its
// answer arrives and no one gets in (success falls off a cliff). half_open_min_idle_ms
// protects the head until it has been idle that long: a new connection that finds the table
// full and the head protected is refused (counted as half_open_protected) instead of evicting
// it. The table then admits H connections per min_idle, so a real client succeeds with
// probability W / min_idle per attempt (its SYN retransmissions are new attempts) rather than
// never, and a refused flood SYN costs the gateway no forwarding and no SYN-ACK translation.
// 0 turns the protection off. Idle time, not age: a half-open entry's deadline is its last
// packet plus its state's timeout, so the time since its last packet comes from the deadline
// without another field (a retransmitted SYN or a SYN-ACK restarts it).
#pragma once

#include <cstdint>

#include "dataplane/tcp_state.h"

namespace vipgate {

// These take either family's entry (Connection, Connection6): the fields they read are the same.

// An entry nobody has answered yet: half-open TCP/SCTP, or a UDP/ICMP flow without a reply.
template <class Entry>
constexpr bool is_unanswered(const Entry& connection) {
    if (!uses_tcp_state(connection.original.protocol)) return !connection.seen_reply;
    return is_half_open(connection.tcp_state);
}

// Milliseconds since the entry's last packet, from its deadline (0 if the timeouts changed so
// that the deadline lies further ahead than the state's timeout).
template <class Entry>
uint32_t idle_ms(const Entry& connection, uint32_t now_ms, const ConnTimeouts& timeouts) {
    const uint32_t timeout =
        state_timeout_ms(connection.tcp_state, connection.original.protocol, connection.seen_reply, timeouts);
    const auto until_deadline = static_cast<int32_t>(connection.deadline_ms - now_ms);
    return until_deadline >= static_cast<int64_t>(timeout) ? 0 : timeout - static_cast<uint32_t>(until_deadline);
}

// Whether an unexpired unanswered entry may be evicted to admit a new connection.
template <class Entry>
bool may_evict_unanswered(const Entry& connection, uint32_t now_ms, const ConnTimeouts& timeouts) {
    return idle_ms(connection, now_ms, timeouts) >= timeouts.half_open_min_idle_ms;
}

}  // namespace vipgate
