// Primality for Maglev table sizes (M must be prime so every backend's permutation visits
// every slot). Header-only and constexpr: the config validator checks a configured size with
// the same function the table builder asserts with.
#pragma once

#include <cstdint>

namespace vipgate {

constexpr bool is_prime(uint32_t n) noexcept {
    if (n < 2) return false;
    if (n < 4) return true;
    if (n % 2 == 0 || n % 3 == 0) return false;
    for (uint64_t divisor = 5; divisor * divisor <= n; divisor += 6) {
        if (n % divisor == 0 || n % (divisor + 2) == 0) return false;
    }
    return true;
}

}  // namespace vipgate
