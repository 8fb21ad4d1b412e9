// SCTP checksum and chunk semantics. See sctp.h for the design.
//
// Polynomial arithmetic is in the bit-reflected form of the CRC register (and of the crc32
// instruction): bit i of a 32-bit value is the coefficient of x^(31 - i).
#include "dataplane/sctp.h"

#include <array>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>

#if defined(RTE_ARCH_X86_64)
#include <nmmintrin.h>
#include <wmmintrin.h>
#endif

#include "dataplane/tcp_state.h"

namespace vipgate {
namespace {

constexpr uint32_t kCastagnoliReflected = 0x82F63B78;
constexpr uint32_t kOne = 0x80000000;         // the polynomial 1
constexpr uint32_t kInverseOfX = 0x05EC76F1;  // x^-1 mod P: multiplying it by x gives kOne
constexpr uint32_t kChecksumOffset = 8;
constexpr uint32_t kTableSize = 256;

constexpr uint32_t times_x(uint32_t a) {
    return (a & 1) ? (a >> 1) ^ kCastagnoliReflected : a >> 1;
}
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

// x^(8n) * difference mod P as the two table multiplications described above, each followed
// by a crc32 reduction (a * b * x^33).
uint32_t shift_portable(uint32_t difference, uint32_t length) {
    const auto multiply_reduce = [](uint32_t a, uint32_t b) {
        uint64_t product = 0;
        for (uint32_t i = 0; i < 32; ++i) product ^= (uint64_t{a} << i) & (0 - uint64_t{(b >> i) & 1});
        return rte_hash_crc_8byte(product, 0);
    };
    return multiply_reduce(multiply_reduce(difference, kHigh[length >> 8]), kLow[length & 0xFF]);
}

// The same with PCLMULQDQ: about 20 times faster than the loop above. libdpdk's pkg-config
// flags pin the ISA to DPDK's baseline (-march=corei7, after the project's -march=native),
// which predates PCLMULQDQ, so this function is compiled for it explicitly and chosen at start-up.
#if defined(RTE_ARCH_X86_64)
__attribute__((target("pclmul,sse4.2"))) uint32_t shift_pclmul(uint32_t difference, uint32_t length) {
    const auto multiply_reduce = [](uint32_t a, uint32_t b) __attribute__((target("pclmul,sse4.2"))) {
        const __m128i product =
            _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)), _mm_cvtsi32_si128(static_cast<int>(b)), 0);
        return static_cast<uint32_t>(_mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(product))));
    };
    return multiply_reduce(multiply_reduce(difference, kHigh[length >> 8]), kLow[length & 0xFF]);
}

// Runs as a static initialiser, before constructors that could need the CPU model are ordered.
const bool kHavePclmul = (__builtin_cpu_init(), __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.2"));
#endif

uint32_t shift(uint32_t difference, uint32_t length) {
#if defined(RTE_ARCH_X86_64)
    if (kHavePclmul) return shift_pclmul(difference, length);
#endif
    return shift_portable(difference, length);
}

}  // namespace

uint8_t sctp_tcp_flags(uint8_t chunk_type) noexcept {
    switch (chunk_type) {
    case kSctpInit:
        return kTcpFlagSyn;
    case kSctpInitAck:
        return kTcpFlagSyn | kTcpFlagAck;
    case kSctpAbort:
    case kSctpShutdownComplete:
        return kTcpFlagRst;
    case kSctpShutdown:
    case kSctpShutdownAck:
        return kTcpFlagFin | kTcpFlagAck;
    default:
        return kTcpFlagAck;
    }
}

namespace {

// CRC32c over bytes at any alignment (rte_hash_crc loads uint64_t from possibly misaligned
// packet data, which is undefined behaviour; memcpy compiles to the same unaligned load).
uint32_t crc32c_bytes(const uint8_t* data, uint32_t length, uint32_t crc) noexcept {
    uint64_t wide = crc;
    for (; length >= 8; data += 8, length -= 8) {
        uint64_t word;
        std::memcpy(&word, data, sizeof(word));
        wide = _mm_crc32_u64(wide, word);
    }
    crc = static_cast<uint32_t>(wide);
    for (; length > 0; ++data, --length) crc = _mm_crc32_u8(crc, *data);
    return crc;
}

}  // namespace

uint32_t sctp_checksum(const uint8_t* packet, uint32_t length) noexcept {
    static constexpr uint8_t kZeroChecksum[4] = {0, 0, 0, 0};
    uint32_t crc = crc32c_bytes(packet, kChecksumOffset, 0xFFFFFFFF);
    crc = crc32c_bytes(kZeroChecksum, sizeof(kZeroChecksum), crc);
    crc = crc32c_bytes(packet + kSctpCommonHeaderLength, length - kSctpCommonHeaderLength, crc);
    return rte_cpu_to_le_32(~crc);
}

uint32_t sctp_checksum_update_ports(uint32_t checksum, uint32_t old_ports, uint32_t new_ports,
                                    uint32_t length) noexcept {
    // The register consumes bytes in memory order, least significant byte first.
    const uint32_t difference = rte_le_to_cpu_32(old_ports ^ new_ports);
    return checksum ^ rte_cpu_to_le_32(shift(difference, length & 0xFFFF));
}

}  // namespace vipgate
