// Which client talks to which VIP: the reproducible mapping from a flow id to its 5-tuple.
//
// Design note: vipgen never stores per-flow tuples (100 million flows would need gigabytes).
// A flow is a 32-bit id carried in every packet it sends; the tuple is a pure function of the
// id and the seed, so the sender, both checkers and a test can all recompute it. The tuple is
// computed per packet three times per round trip, so it must cost nanoseconds: the client
// space is used as a power of two (all addresses of the prefix, the largest power-of-two run of
// the port range), and the id is scattered over it by a bijection made of an odd multiply, a
// xor-shift and another odd multiply, all modulo 2^bits. Consecutive ids land on unrelated
// addresses and ports (realistic entropy for RSS and the gateway's hash tables), and two ids
// below size() never share a tuple. The target is id mod targets, by Lemire's multiply-based
// modulo (no division instruction).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>

namespace vipgen {

struct ClientSpace {
    uint32_t first_address = 0;  // host order
    uint32_t address_count = 0;  // a power of two (a prefix)
    uint16_t first_port = 1024;
    uint16_t last_port = 65535;
};

struct FlowTuple {
    uint32_t client_address;  // host order
    uint16_t client_port;     // host order
    uint32_t target_index;
};

class FlowSpace {
public:
    // Throws std::invalid_argument when the space is empty, the address count is not a power of
    // two, or target_count is 0.
    FlowSpace(const ClientSpace& clients, uint32_t target_count, uint64_t seed);

    // Distinct tuples: ids below size() never collide.
    uint64_t size() const noexcept { return mask_ + 1; }

    FlowTuple tuple(uint32_t flow_id) const noexcept {
        uint64_t x = (flow_id * multiplier_ + offset_) & mask_;
        x ^= x >> shift_;
        x = (x * second_multiplier_) & mask_;
        return FlowTuple{clients_.first_address + static_cast<uint32_t>(x >> port_bits_),
                         static_cast<uint16_t>(clients_.first_port + (x & port_mask_)),
                         static_cast<uint32_t>(
                             (static_cast<unsigned __int128>(target_reciprocal_ * flow_id) * target_count_) >> 64)};
    }

    bool is_client_address(uint32_t host_order_address) const noexcept {
        return host_order_address - clients_.first_address < clients_.address_count;
    }

    uint32_t ports_used() const noexcept { return static_cast<uint32_t>(port_mask_ + 1); }

private:
    ClientSpace clients_;
    uint32_t target_count_;
    uint64_t target_reciprocal_;  // 2^64 / target_count, rounded up
    uint32_t port_bits_;
    uint64_t port_mask_;
    uint64_t mask_;  // size - 1
    uint32_t shift_;
    uint64_t multiplier_;         // odd
    uint64_t second_multiplier_;  // odd
    uint64_t offset_;
};

// IPv6 clients: a prefix of /97 or longer, so an address is the prefix's first 96 bits and 32
// low bits that FlowSpace scatters exactly as it does IPv4 addresses. vipgate has no Neighbor
// Discovery yet, so every IPv6 client needs a static neighbor there: keep the prefix small.
struct ClientSpace6 {
    std::array<uint8_t, 16> first_address{};  // network order
    uint32_t address_count = 0;               // a power of two (a prefix of /97 or longer)
    uint16_t first_port = 1024;
    uint16_t last_port = 65535;
};

struct FlowTuple6 {
    std::array<uint8_t, 16> client_address;  // network order
    uint16_t client_port;                    // host order
    uint32_t target_index;
};

// The IPv6 twin of FlowSpace: the same seed and target count give the same target index for an
// id, so the target (and with it the family) of a flow does not depend on which space is asked.
class FlowSpace6 {
public:
    FlowSpace6(const ClientSpace6& clients, uint32_t target_count, uint64_t seed);

    uint64_t size() const noexcept { return space_.size(); }

    FlowTuple6 tuple(uint32_t flow_id) const noexcept {
        const FlowTuple low = space_.tuple(flow_id);
        FlowTuple6 result;
        std::memcpy(result.client_address.data(), high_.data(), high_.size());
        const uint32_t low_be = rte_cpu_to_be_32(low.client_address);
        std::memcpy(result.client_address.data() + 12, &low_be, sizeof(low_be));
        result.client_port = low.client_port;
        result.target_index = low.target_index;
        return result;
    }

    bool is_client_address(const uint8_t* address) const noexcept {
        uint32_t low_be;
        std::memcpy(&low_be, address + 12, sizeof(low_be));
        return std::memcmp(address, high_.data(), high_.size()) == 0 &&
               space_.is_client_address(rte_be_to_cpu_32(low_be));
    }

private:
    static ClientSpace low_space(const ClientSpace6& clients) noexcept;

    FlowSpace space_;
    std::array<uint8_t, 12> high_{};
};

}  // namespace vipgen
