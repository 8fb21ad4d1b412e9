// SCTP checksum and chunk semantics. See sctp.h for the design.
//
// Polynomial arithmetic is in the bit-reflected form of the CRC register (and of the crc32
// instruction): bit i of a 32-bit value is the coefficient of x^(31 - i).
#include "dataplane/sctp.h"

#include <array>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>

#if defined(__PCLMUL__)
#include <wmmintrin.h>
#endif

#include "dataplane/tcp_state.h"

namespace vipgate {
namespace {

constexpr uint32_t kCastagnoliReflected = 0x82F63B78;
constexpr uint32_t kOne = 0x80000000;           // the polynomial 1
constexpr uint32_t kInverseOfX = 0x05EC76F1;    // x^-1 mod P: multiplying it by x gives kOne
constexpr uint32_t kChecksumOffset = 8;
constexpr uint32_t kTableSize = 256;

constexpr uint32_t times_x(uint32_t a) { return (a & 1) ? (a >> 1) ^ kCastagnoliReflected : a >> 1; }
static_assert(times_x(kInverseOfX) == kOne);

// a * b mod P, bit by bit (compile time only).
constexpr uint32_t multiply_mod(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = kOne; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = times_x(b);
    }
    return product;
}

constexpr uint32_t power_mod(uint32_t base, uint32_t exponent) {
    uint32_t result = kOne;
    for (; exponent != 0; exponent >>= 1) {
        if (exponent & 1) result = multiply_mod(result, base);
        base = multiply_mod(base, base);
    }
    return result;
}

// reduce(a * b) below multiplies by an extra x^33 (x from the carry-less product of two
// reflected values, x^32 from the crc32 instruction), twice: the low table takes x^-66 out.
// kHigh[h] = x^(2048 h), kLow[l] = x^(8 l - 66), so kHigh[n / 256] * kLow[n % 256] * x^66 = x^(8n).
constexpr std::array<uint32_t, kTableSize> make_table(uint32_t first, uint32_t step) {
    std::array<uint32_t, kTableSize> table{};
    table[0] = first;
    for (uint32_t i = 1; i < kTableSize; ++i) table[i] = multiply_mod(table[i - 1], step);
    return table;
}
constexpr uint32_t kX8 = power_mod(times_x(kOne), 8);
constexpr std::array<uint32_t, kTableSize> kHigh = make_table(kOne, power_mod(kX8, kTableSize));
constexpr std::array<uint32_t, kTableSize> kLow = make_table(power_mod(kInverseOfX, 66), kX8);

uint64_t carryless_multiply(uint32_t a, uint32_t b) {
#if defined(__PCLMUL__)
    const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                                 _mm_cvtsi32_si128(static_cast<int>(b)), 0);
    return static_cast<uint64_t>(_mm_cvtsi128_si64(product));
#else
    uint64_t product = 0;
    for (uint32_t i = 0; i < 32; ++i) {
        if ((b >> i) & 1) product ^= uint64_t{a} << i;
    }
    return product;
#endif
}

// a * b * x^33 mod P.
uint32_t multiply_reduce(uint32_t a, uint32_t b) { return rte_hash_crc_8byte(carryless_multiply(a, b), 0); }

}  // namespace

uint8_t sctp_tcp_flags(uint8_t chunk_type) noexcept {
    switch (chunk_type) {
    case kSctpInit: return kTcpFlagSyn;
    case kSctpInitAck: return kTcpFlagSyn | kTcpFlagAck;
    case kSctpAbort:
    case kSctpShutdownComplete: return kTcpFlagRst;
    case kSctpShutdown:
    case kSctpShutdownAck: return kTcpFlagFin | kTcpFlagAck;
    default: return kTcpFlagAck;
    }
}

uint32_t sctp_checksum(const uint8_t* packet, uint32_t length) noexcept {
    uint32_t crc = rte_hash_crc(packet, kChecksumOffset, 0xFFFFFFFF);
    crc = rte_hash_crc_4byte(0, crc);
    crc = rte_hash_crc(packet + kSctpCommonHeaderLength, length - kSctpCommonHeaderLength, crc);
    return rte_cpu_to_le_32(~crc);
}

uint32_t sctp_checksum_update_ports(uint32_t checksum, uint32_t old_ports, uint32_t new_ports,
                                    uint32_t length) noexcept {
    // The register consumes bytes in memory order, least significant byte first.
    const uint32_t difference = rte_le_to_cpu_32(old_ports ^ new_ports);
    const uint32_t shifted = multiply_reduce(multiply_reduce(difference, kHigh[(length >> 8) & 0xFF]),
                                             kLow[length & 0xFF]);
    return checksum ^ rte_cpu_to_le_32(shifted);
}

}  // namespace vipgate
