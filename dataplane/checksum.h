// Incremental Internet checksum updates (RFC 1624).
//
// Design note: NAT changes a few 16- and 32-bit words of a packet whose checksums are already
// correct, so it adjusts each checksum by the difference instead of summing the packet again.
// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), is used rather than RFC 1141's HC' = HC + m - m'
// because the latter can produce 0x0000 where a full recomputation gives 0xFFFF (and vice
// versa); eqn. 3 always agrees with a full recomputation of non-zero data.
//
// One's-complement sums do not depend on byte order as long as every operand has the same
// order, so all values are taken exactly as stored in the packet (loaded with memcpy into a
// native integer). A 32-bit value counts as its two 16-bit halves; it must start at an even
// offset from the start of the checksummed data, which holds for every IPv4 address and port.
//
// Two forms of the same arithmetic: checksum_update16/32 for one field at a time, and a 64-bit
// accumulator (checksum_halves ... checksum_fold64) for the fast path, where every ~m and m'
// of a rewrite goes into one sum folded once at the end. One's-complement addition is
// associative and commutative (RFC 1071 section 2), so both agree; the accumulator skips the
// chain of dependent folds (measured: ~15 ns per packet on the established path).
//
// vipgen's checker (pktgen/checker.cpp) verifies every checksum vipgate sends from scratch
// (rte_raw_cksum over the whole segment), never with this code, on purpose: a mistake here
// must not be able to check itself. vipgen's frame builders (pktgen/wire_bytes.h) are apart
// for the same reason.
#pragma once

#include <cstdint>
#include <cstring>

namespace vipgate {

// Adds `addend` to a running one's-complement sum and folds carries back into 16 bits.
inline uint16_t ones_complement_add(uint16_t sum, uint32_t addend) noexcept {
    uint32_t total = static_cast<uint32_t>(sum) + addend;
    total = (total & 0xFFFF) + (total >> 16);
    total = (total & 0xFFFF) + (total >> 16);
    return static_cast<uint16_t>(total);
}

// RFC 1624 eqn. 3 incremental update: HC' = ~(~HC + ~m + m'). Values exactly as stored in the packet.
inline uint16_t checksum_update16(uint16_t checksum, uint16_t old_value, uint16_t new_value) noexcept {
    uint16_t sum = static_cast<uint16_t>(~checksum);
    sum = ones_complement_add(sum, static_cast<uint16_t>(~old_value));
    sum = ones_complement_add(sum, new_value);
    return static_cast<uint16_t>(~sum);
}

inline uint16_t checksum_update32(uint16_t checksum, uint32_t old_value, uint32_t new_value) noexcept {
    uint16_t sum = static_cast<uint16_t>(~checksum);
    sum = ones_complement_add(sum, static_cast<uint16_t>(~old_value));
    sum = ones_complement_add(sum, static_cast<uint16_t>(~old_value >> 16));
    sum = ones_complement_add(sum, static_cast<uint16_t>(new_value));
    sum = ones_complement_add(sum, static_cast<uint16_t>(new_value >> 16));
    return static_cast<uint16_t>(~sum);
}

// A 32-bit value as the sum of its two 16-bit halves, for the 64-bit accumulator.
inline uint64_t checksum_halves(uint32_t value) noexcept {
    return uint64_t{value & 0xFFFF} + (value >> 16);
}

// Folds a 64-bit accumulator of 16-bit terms into a 16-bit one's-complement sum.
inline uint16_t checksum_fold64(uint64_t sum) noexcept {
    sum = (sum & 0xFFFFFFFF) + (sum >> 32);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

// NAT66: a 16-byte IPv6 address changes inside the pseudo-header of TCP, UDP and ICMPv6 (IPv6
// has no header checksum). The change as accumulator terms, ~m + m' for each of its eight 16-bit
// words, taken as four 32-bit words: a 32-bit word is congruent to the sum of its halves modulo
// 0xFFFF, so the fold gives the same sum (the address starts at an even offset, as RFC 1071
// requires). Add it to ~HC and any other terms, fold once, complement.
inline uint64_t checksum_address6_delta(const uint8_t old_address[16], const uint8_t new_address[16]) noexcept {
    uint32_t old_words[4];
    uint32_t new_words[4];
    std::memcpy(old_words, old_address, sizeof(old_words));
    std::memcpy(new_words, new_address, sizeof(new_words));
    uint64_t sum = 0;
    for (int i = 0; i < 4; ++i) sum += uint64_t{~old_words[i]} + new_words[i];
    return sum;
}

// The one-field form: HC' after one IPv6 address of the pseudo-header changed. UDP over IPv6
// must never send 0 (it means "no checksum", which IPv6 forbids, RFC 8200 8.1): pass the result
// through udp6_checksum_for_wire. The parser drops a received 0, so HC is never that.
inline uint16_t checksum_update_address6(uint16_t checksum, const uint8_t old_address[16],
                                         const uint8_t new_address[16]) noexcept {
    const uint64_t sum = uint64_t{static_cast<uint16_t>(~checksum)} + checksum_address6_delta(old_address, new_address);
    return static_cast<uint16_t>(~checksum_fold64(sum));
}

// RFC 768 / RFC 8200 8.1: a UDP checksum that computes to 0x0000 is sent as 0xFFFF.
inline uint16_t udp6_checksum_for_wire(uint16_t checksum) noexcept {
    return checksum == 0 ? 0xFFFF : checksum;
}

}  // namespace vipgate
