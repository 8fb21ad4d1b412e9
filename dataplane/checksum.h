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

}  // namespace vipgate
