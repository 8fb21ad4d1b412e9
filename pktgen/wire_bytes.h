// Byte-level helpers shared by vipgen's packet builders (packet_factory, dns_query_factory):
// unaligned loads and big-endian stores through memcpy, and the checksum arithmetic they use
// (RFC 1071: sum native-order words, fold once at the end).
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>

namespace vipgen {

inline uint32_t load32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
inline uint16_t load16(const uint8_t* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
inline void store16_be(uint8_t* p, uint16_t host) noexcept {
    const uint16_t v = rte_cpu_to_be_16(host);
    std::memcpy(p, &v, sizeof(v));
}
inline void store32_be(uint8_t* p, uint32_t host) noexcept {
    const uint32_t v = rte_cpu_to_be_32(host);
    std::memcpy(p, &v, sizeof(v));
}

// Checksum terms: fields as stored, widened to 64 bits so that a sum of several never wraps
// before the final fold (a lost carry is off by one in a word).
inline uint64_t term32(const uint8_t* p) noexcept {
    return load32(p);
}
inline uint64_t term16(const uint8_t* p) noexcept {
    return load16(p);
}

// One's-complement sum of native-order words (byte order does not matter, RFC 1071).
inline uint64_t sum_words(const uint8_t* p, uint32_t length) noexcept {
    uint64_t sum = 0;
    for (uint32_t i = 0; i + 1 < length; i += 2) sum += term16(p + i);
    if (length & 1) {
        const uint8_t last[2] = {p[length - 1], 0};
        sum += term16(last);
    }
    return sum;
}

// Folds a sum of native-order 16/32-bit loads into the final checksum (stored natively).
inline uint16_t finish_checksum(uint64_t sum) noexcept {
    sum = (sum & 0xffffffffULL) + (sum >> 32);
    sum = (sum & 0xffffffffULL) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// RFC 1624 (eqn. 3): the checksum after one 16-bit word (all three as stored) changed.
inline uint16_t update_checksum16(uint16_t checksum, uint16_t old_word, uint16_t new_word) noexcept {
    uint32_t sum =
        static_cast<uint32_t>(static_cast<uint16_t>(~checksum)) + static_cast<uint16_t>(~old_word) + new_word;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

}  // namespace vipgen
