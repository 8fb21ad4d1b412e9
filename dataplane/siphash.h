// SipHash-2-4 (Aumasson and Bernstein) of one or two 64-bit words: a keyed hash whose output an
// observer cannot extend to other inputs without the key. The DNS TCP responder's initial
// sequence numbers are its output (dns_path.cpp): a CRC, being linear, would let a client that
// sees one ISN compute the ISN of any spoofed connection.
#pragma once

#include <bit>
#include <cstdint>

namespace vipgate {

struct SipHashKey {
    uint64_t k0 = 0;
    uint64_t k1 = 0;
};

namespace siphash_detail {
struct State {
    uint64_t v0, v1, v2, v3;

    void round() noexcept {
        v0 += v1;
        v1 = std::rotl(v1, 13);
        v1 ^= v0;
        v0 = std::rotl(v0, 32);
        v2 += v3;
        v3 = std::rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = std::rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = std::rotl(v1, 17);
        v1 ^= v2;
        v2 = std::rotl(v2, 32);
    }
    void absorb(uint64_t word) noexcept {
        v3 ^= word;
        round();
        round();
        v0 ^= word;
    }
};
}  // namespace siphash_detail

// SipHash-2-4 of the 16-byte message (first, second) (little-endian words).
inline uint64_t siphash(const SipHashKey& key, uint64_t first, uint64_t second) noexcept {
    siphash_detail::State s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
                            key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
    s.absorb(first);
    s.absorb(second);
    s.absorb(uint64_t{16} << 56);  // the length byte; no tail
    s.v2 ^= 0xFF;
    s.round();
    s.round();
    s.round();
    s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace vipgate
