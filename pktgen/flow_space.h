// Which client talks to which VIP: the reproducible mapping from a flow id to its 5-tuple.
//
// Design note: vipgen never stores per-flow tuples (100 million flows would need gigabytes).
// A flow is a 32-bit id carried in every packet it sends; the tuple is a pure function of the
// id and the seed, so the sender, both checkers and a test can all recompute it. The id is
// scattered over the client space (addresses x source ports) by an affine bijection
// x = (id * multiplier + offset) mod size, so consecutive ids spread over many addresses and
// ports (RSS and the gateway's hash tables see realistic entropy) yet two ids below `size`
// never share a tuple. The target (VIP, port, protocol) is id mod targets.
#pragma once

#include <cstdint>

namespace vipgen {

struct ClientSpace {
    uint32_t first_address = 0;  // host order
    uint32_t address_count = 0;
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
    // Throws std::invalid_argument when the space is empty or target_count is 0.
    FlowSpace(const ClientSpace& clients, uint32_t target_count, uint64_t seed);

    // Distinct tuples: ids below size() never collide.
    uint64_t size() const noexcept { return size_; }

    FlowTuple tuple(uint32_t flow_id) const noexcept {
        const uint64_t x = (static_cast<uint64_t>(flow_id) * multiplier_ + offset_) % size_;
        const uint64_t address_index = x / port_count_;
        return FlowTuple{clients_.first_address + static_cast<uint32_t>(address_index),
                         static_cast<uint16_t>(clients_.first_port + (x - address_index * port_count_)),
                         flow_id % target_count_};
    }

    bool is_client_address(uint32_t host_order_address) const noexcept {
        return host_order_address - clients_.first_address < clients_.address_count;
    }

    const ClientSpace& clients() const noexcept { return clients_; }
    uint32_t target_count() const noexcept { return target_count_; }

private:
    ClientSpace clients_;
    uint32_t target_count_;
    uint64_t port_count_;
    uint64_t size_;
    uint64_t multiplier_;
    uint64_t offset_;
};

}  // namespace vipgen
