// SCTP (RFC 9260) as far as a load balancer needs it: chunk types, the CRC32c checksum, its
// update after a port change, and what a first chunk means to connection tracking.
//
// Design note: checksum. SCTP's checksum is CRC32c (Castagnoli) over the SCTP packet alone, with
// the checksum field read as zero: no pseudo header, so rewriting addresses leaves it alone and
// rewriting ports changes it. Rather than summing the whole packet again, the NAT updates it the
// way RFC 1624 updates TCP's: CRC is linear over GF(2), so for two packets of n bytes that differ
// only in their first four bytes (the ports) by D, crc(new) = crc(old) xor (D * x^(8n) mod P).
// That product costs two carry-less multiplications by constants from two 256-entry tables
// (x^(8n) split as x^(2048 * (n / 256)) * x^(8 * (n % 256))), each reduced by one crc32
// instruction, whatever the packet length. Three reasons over a full recompute: the cost does
// not grow with the payload (measured on the development VM: 3-8 ns at any size, against 8 ns
// for a full pass over 32 bytes, ~110 ns over 512, ~450 ns over 1,480 and ~3.5 us over 8,980),
// the payload is never read, so a packet chained over several mbuf segments needs nothing special;
// and a packet that arrived corrupted stays corrupted: recomputing would launder a bad checksum
// into a good one and defeat the end-to-end check, exactly as RFC 1624's update preserves a bad
// TCP checksum.
//
// Byte order: RFC 9260 appendix A transmits the CRC's least significant byte first. Every
// function here takes and returns the field as stored in the packet (a memcpy of the 4 bytes),
// as checksum.h does for Internet checksums.
//
// Design note: connection tracking. An association has the shape of a TCP connection (a
// handshake the client starts, a graceful shutdown, an abort), so SCTP entries run the TcpState
// machine of tcp_state.h on the TCP flags their first chunk stands for, as nf_conntrack's SCTP
// states map onto TCP-like timeouts:
//
//   first chunk                          TCP flags   effect in tcp_state.h
//   INIT                                 SYN         new association (SynSent), reuse after close
//   INIT ACK                             SYN|ACK     SynSent -> SynReceived
//   ABORT, SHUTDOWN COMPLETE             RST         Closed (short timeout): the association is gone
//   SHUTDOWN, SHUTDOWN ACK               FIN|ACK     Closing
//   anything else (DATA, SACK,           ACK         COOKIE ECHO from the client completes the
//     COOKIE ECHO/ACK, HEARTBEAT...)                 handshake (SynReceived -> Established)
//
// Only the first chunk is read: INIT, INIT ACK and SHUTDOWN COMPLETE must travel alone (RFC 9260
// 6.10) and an ABORT is normally alone; an ABORT bundled behind other chunks leaves the entry to
// its established timeout, which is all it costs.
#pragma once

#include <cstdint>

namespace vipgate {

inline constexpr uint32_t kSctpCommonHeaderLength = 12;
inline constexpr uint32_t kSctpChunkHeaderLength = 4;
inline constexpr uint32_t kSctpInitChunkMinimumLength = 20;  // header, initiate tag, a_rwnd, streams, TSN

enum SctpChunkType : uint8_t {
    kSctpData = 0,
    kSctpInit = 1,
    kSctpInitAck = 2,
    kSctpSack = 3,
    kSctpHeartbeat = 4,
    kSctpHeartbeatAck = 5,
    kSctpAbort = 6,
    kSctpShutdown = 7,
    kSctpShutdownAck = 8,
    kSctpError = 9,
    kSctpCookieEcho = 10,
    kSctpCookieAck = 11,
    kSctpShutdownComplete = 14,
};

// ABORT and SHUTDOWN COMPLETE: the verification tag is the receiver's own, reflected.
inline constexpr uint8_t kSctpChunkFlagT = 0x01;

// The TCP flags (tcp_state.h) a packet whose first chunk is `chunk_type` stands for.
uint8_t sctp_tcp_flags(uint8_t chunk_type) noexcept;

// CRC32c of the `length`-byte SCTP packet at `packet`, its checksum field read as zero; returned
// as stored in the field. The packet must be contiguous (answers the gateway builds).
uint32_t sctp_checksum(const uint8_t* packet, uint32_t length) noexcept;

// The checksum of a `length`-byte SCTP packet whose first four bytes (both ports) change from
// `old_ports` to `new_ports`. All three values as stored in the packet.
uint32_t sctp_checksum_update_ports(uint32_t checksum, uint32_t old_ports, uint32_t new_ports,
                                    uint32_t length) noexcept;

}  // namespace vipgate
