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
inline uint64_t checksum_halves(uint32_t value) noexcept { return uint64_t{value & 0xFFFF} + (value >> 16); }

// Folds a 64-bit accumulator of 16-bit terms into a 16-bit one's-complement sum.
inline uint16_t checksum_fold64(uint64_t sum) noexcept {
    sum = (sum & 0xFFFFFFFF) + (sum >> 32);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

}  // namespace vipgate
