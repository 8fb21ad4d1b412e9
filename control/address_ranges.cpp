#include "control/address_ranges.h"

#include <algorithm>
#include <cstdint>

namespace vipgate {

std::vector<AddressRange> merge_client_ranges(const std::vector<config::Ipv4Prefix>& prefixes) {
    std::vector<AddressRange> ranges;
    ranges.reserve(prefixes.size());
    for (const config::Ipv4Prefix& prefix : prefixes) {
        const uint32_t host_mask = prefix.length >= 32 ? 0 : UINT32_MAX >> prefix.length;
        ranges.push_back({prefix.address & ~host_mask, prefix.address | host_mask});
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const AddressRange& a, const AddressRange& b) { return a.first < b.first; });
    std::vector<AddressRange> merged;
    for (const AddressRange& range : ranges) {
        // 64-bit: a range ending at 255.255.255.255 has no successor address.
        if (!merged.empty() && uint64_t{range.first} <= uint64_t{merged.back().last} + 1) {
            merged.back().last = std::max(merged.back().last, range.last);
        } else {
            merged.push_back(range);
        }
    }
    return merged;
}

}  // namespace vipgate
