// FlowSteering: rte_flow rules that send full-NAT replies straight to the worker that owns them.
//
// Design note: each worker allocates SNAT ports from its own slice of the port range, so a reply
// addressed to SNAT-address:port belongs to the worker whose slice holds the port. Where the NIC
// supports rte_flow, one QUEUE rule per (SNAT address, protocol, aligned block of the slice)
// delivers those replies to the owner's RX queue (DPVS does the same). A slice is cut into
// power-of-two aligned blocks so each block is a single port/mask match. When the device refuses
// any rule, every rule already created is destroyed and the software hand-off ring (always
// present) does the job alone: the rules only save the ring hop, correctness never depends on them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/snat_ports.h"

struct rte_flow;

namespace vipgate {

struct PortBlock {
    uint16_t value;  // host order
    uint16_t mask;   // host order
};

// Aligned blocks covering [first, last] exactly.
std::vector<PortBlock> port_range_blocks(uint16_t first, uint16_t last);

class FlowSteering {
public:
    enum Priority : uint32_t { kSnatReplySteering = 1 };

    FlowSteering() = default;
    FlowSteering(const FlowSteering&) = delete;
    FlowSteering& operator=(const FlowSteering&) = delete;
    ~FlowSteering() { remove(); }

    // snat_addresses in host order. Returns true when every rule was installed; otherwise no rule
    // is left behind and `failure()` says why.
    bool install(uint16_t port_id, const std::vector<uint32_t>& snat_addresses, const SnatPortSlices& slices);
    void remove();
    size_t rule_count() const noexcept { return rules_.size(); }
    const std::string& failure() const noexcept { return failure_; }

private:
    uint16_t port_id_ = 0;
    std::vector<rte_flow*> rules_;
    std::string failure_;
};

}  // namespace vipgate
