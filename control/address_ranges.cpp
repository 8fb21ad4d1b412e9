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

namespace {

Ipv6Number number_of(const config::Ipv6Address& address) {
    Ipv6Number number;
    for (size_t i = 0; i < 8; ++i) number.high = number.high << 8 | address[i];
    for (size_t i = 8; i < 16; ++i) number.low = number.low << 8 | address[i];
    return number;
}

// The address after `number`; false when it is the last address (no successor).
bool successor(Ipv6Number number, Ipv6Number& next) {
    if (number.high == UINT64_MAX && number.low == UINT64_MAX) return false;
    next = number.low == UINT64_MAX ? Ipv6Number{number.high + 1, 0} : Ipv6Number{number.high, number.low + 1};
    return true;
}

}  // namespace

std::vector<AddressRange6> merge_client_ranges6(const std::vector<config::Ipv6Prefix>& prefixes) {
    std::vector<AddressRange6> ranges;
    ranges.reserve(prefixes.size());
    for (const config::Ipv6Prefix& prefix : prefixes) {
        const Ipv6Number address = number_of(prefix.address);
        const unsigned length = std::min<unsigned>(prefix.length, 128);
        // Host masks of each half: all ones below the prefix length.
        const uint64_t high_mask = length >= 64 ? 0 : UINT64_MAX >> length;
        const uint64_t low_mask = length <= 64 ? UINT64_MAX : length >= 128 ? 0 : UINT64_MAX >> (length - 64);
        ranges.push_back(
            {{address.high & ~high_mask, address.low & ~low_mask}, {address.high | high_mask, address.low | low_mask}});
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const AddressRange6& a, const AddressRange6& b) { return a.first < b.first; });
    std::vector<AddressRange6> merged;
    for (const AddressRange6& range : ranges) {
        Ipv6Number after_last{};
        const bool touches =
            !merged.empty() && (!successor(merged.back().last, after_last) || range.first <= after_last);
        if (touches) {
            merged.back().last = std::max(merged.back().last, range.last);
        } else {
            merged.push_back(range);
        }
    }
    return merged;
}

}  // namespace vipgate
