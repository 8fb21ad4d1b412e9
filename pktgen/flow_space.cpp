#include "pktgen/flow_space.h"

#include <bit>
#include <cstring>
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
    if (clients.address_count == 0 || !std::has_single_bit(clients.address_count)) {
        throw std::invalid_argument("the client address range must be a prefix (a power of two addresses)");
    }
    if (clients.first_port == 0 || clients.first_port > clients.last_port) {
        throw std::invalid_argument("the client port range must be within 1..65535 with first <= last");
    }
    if (target_count == 0) throw std::invalid_argument("there is no VIP port to send to");
    const uint32_t port_count = std::bit_floor(static_cast<uint32_t>(clients.last_port - clients.first_port + 1));
    port_bits_ = static_cast<uint32_t>(std::countr_zero(port_count));
    port_mask_ = port_count - 1;
    const uint32_t bits = port_bits_ + static_cast<uint32_t>(std::countr_zero(clients.address_count));
    mask_ = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
    shift_ = (bits + 1) / 2;
    uint64_t state = seed;
    multiplier_ = mix(state) | 1;
    second_multiplier_ = mix(state) | 1;
    offset_ = mix(state);
    target_reciprocal_ = ~0ULL / target_count + 1;
}

ClientSpace FlowSpace6::low_space(const ClientSpace6& clients) noexcept {
    uint32_t low_be;
    std::memcpy(&low_be, clients.first_address.data() + 12, sizeof(low_be));
    return ClientSpace{rte_be_to_cpu_32(low_be), clients.address_count, clients.first_port, clients.last_port};
}

FlowSpace6::FlowSpace6(const ClientSpace6& clients, uint32_t target_count, uint64_t seed)
    : space_(low_space(clients), target_count, seed) {
    if (static_cast<uint64_t>(low_space(clients).first_address) + clients.address_count > (1ULL << 32)) {
        throw std::invalid_argument("the IPv6 client range must not cross a /96 boundary");
    }
    std::memcpy(high_.data(), clients.first_address.data(), high_.size());
}

}  // namespace vipgen
