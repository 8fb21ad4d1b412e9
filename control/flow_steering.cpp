#include "control/flow_steering.h"

#include <rte_byteorder.h>
#include <rte_flow.h>

namespace vipgate {

std::vector<PortBlock> port_range_blocks(uint16_t first, uint16_t last) {
    std::vector<PortBlock> blocks;
    uint32_t start = first;
    const uint32_t end = uint32_t(last) + 1;
    while (start < end) {
        // Largest power-of-two block aligned at `start` that fits before `end`.
        uint32_t size = start == 0 ? 0x10000 : (start & (~start + 1));
        while (start + size > end) size >>= 1;
        blocks.push_back({static_cast<uint16_t>(start), static_cast<uint16_t>(~(size - 1))});
        start += size;
    }
    return blocks;
}

bool FlowSteering::install(uint16_t port_id, const std::vector<uint32_t>& snat_addresses,
                           const SnatPortSlices& slices) {
    remove();
    port_id_ = port_id;
    failure_.clear();
    for (uint16_t worker = 0; worker < slices.workers; ++worker) {
        for (const PortBlock& block : port_range_blocks(slices.slice_first(worker), slices.slice_last(worker))) {
            for (uint32_t address : snat_addresses) {
                for (uint8_t protocol : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_UDP)}) {
                    rte_flow_attr attributes{};
                    attributes.ingress = 1;
                    attributes.priority = kSnatReplySteering;
                    rte_flow_item_ipv4 ipv4_spec{};
                    rte_flow_item_ipv4 ipv4_mask{};
                    ipv4_spec.hdr.dst_addr = rte_cpu_to_be_32(address);
                    ipv4_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
                    rte_flow_item_tcp tcp_spec{};
                    rte_flow_item_tcp tcp_mask{};
                    rte_flow_item_udp udp_spec{};
                    rte_flow_item_udp udp_mask{};
                    tcp_spec.hdr.dst_port = udp_spec.hdr.dst_port = rte_cpu_to_be_16(block.value);
                    tcp_mask.hdr.dst_port = udp_mask.hdr.dst_port = rte_cpu_to_be_16(block.mask);
                    const bool tcp = protocol == IPPROTO_TCP;
                    rte_flow_item pattern[] = {
                        {RTE_FLOW_ITEM_TYPE_ETH, nullptr, nullptr, nullptr},
                        {RTE_FLOW_ITEM_TYPE_IPV4, &ipv4_spec, nullptr, &ipv4_mask},
                        {tcp ? RTE_FLOW_ITEM_TYPE_TCP : RTE_FLOW_ITEM_TYPE_UDP,
                         tcp ? static_cast<const void*>(&tcp_spec) : &udp_spec, nullptr,
                         tcp ? static_cast<const void*>(&tcp_mask) : &udp_mask},
                        {RTE_FLOW_ITEM_TYPE_END, nullptr, nullptr, nullptr},
                    };
                    rte_flow_action_queue queue{};
                    queue.index = worker;
                    rte_flow_action actions[] = {
                        {RTE_FLOW_ACTION_TYPE_QUEUE, &queue},
                        {RTE_FLOW_ACTION_TYPE_END, nullptr},
                    };
                    rte_flow_error error{};
                    rte_flow* rule = nullptr;
                    if (rte_flow_validate(port_id, &attributes, pattern, actions, &error) == 0) {
                        rule = rte_flow_create(port_id, &attributes, pattern, actions, &error);
                    }
                    if (rule == nullptr) {
                        failure_ = error.message != nullptr ? error.message : "rte_flow rule refused";
                        remove();
                        return false;
                    }
                    rules_.push_back(rule);
                }
            }
        }
    }
    return true;
}

void FlowSteering::remove() {
    for (rte_flow* rule : rules_) {
        rte_flow_error error{};
        rte_flow_destroy(port_id_, rule, &error);
    }
    rules_.clear();
}

}  // namespace vipgate
