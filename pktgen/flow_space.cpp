#include "pktgen/flow_space.h"

#include <numeric>
#include <stdexcept>

namespace vipgen {
namespace {

// splitmix64: turns the seed into well-mixed constants.
uint64_t mix(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace

FlowSpace::FlowSpace(const ClientSpace& clients, uint32_t target_count, uint64_t seed)
    : clients_(clients), target_count_(target_count) {
    if (clients.address_count == 0) throw std::invalid_argument("the client address range is empty");
    if (clients.first_port == 0 || clients.first_port > clients.last_port) {
        throw std::invalid_argument("the client port range must be within 1..65535 with first <= last");
    }
    if (target_count == 0) throw std::invalid_argument("there is no VIP port to send to");
    port_count_ = static_cast<uint64_t>(clients.last_port) - clients.first_port + 1;
    size_ = static_cast<uint64_t>(clients.address_count) * port_count_;
    // The products id * multiplier must not overflow 64 bits: ids are 32-bit, so keep the
    // multiplier below 2^31 (x = id * m + offset < 2^63 + 2^63).
    uint64_t state = seed;
    multiplier_ = (mix(state) % (1ULL << 31)) | 1;
    while (std::gcd(multiplier_, size_) != 1) multiplier_ += 2;
    offset_ = mix(state) % size_;
}

}  // namespace vipgen
