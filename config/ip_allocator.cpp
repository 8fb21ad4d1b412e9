#include "config/ip_allocator.h"

namespace vipgate::config {

ClusterIpAllocator::ClusterIpAllocator(Ipv4Prefix cidr) : range_(cidr) {
    const uint64_t size = uint64_t(1) << (32 - cidr.length);
    const uint32_t network = cidr.length == 0 ? 0 : cidr.address & ~uint32_t((uint64_t(1) << (32 - cidr.length)) - 1);
    if (size <= 2) {  // /31 and /32: every address is usable
        first_ = network;
        count_ = static_cast<uint32_t>(size);
    } else {
        first_ = network + 1;
        count_ = static_cast<uint32_t>(size - 2);
    }
    bits_.assign((uint64_t(count_) + 63) / 64, 0);
}

uint32_t ClusterIpAllocator::capacity() const noexcept {
    return count_;
}

bool ClusterIpAllocator::in_range(uint32_t address) const noexcept {
    return range_ && address - first_ < count_;
}

bool ClusterIpAllocator::in_use(uint32_t address) const noexcept {
    if (!in_range(address)) return false;
    const uint32_t index = index_of(address);
    return (bits_[index / 64] >> (index % 64)) & 1;
}

bool ClusterIpAllocator::claim(uint32_t address) {
    if (!in_range(address) || in_use(address)) return false;
    const uint32_t index = index_of(address);
    bits_[index / 64] |= uint64_t(1) << (index % 64);
    ++used_;
    return true;
}

std::optional<uint32_t> ClusterIpAllocator::allocate() {
    if (!range_ || used_ >= count_) return std::nullopt;
    for (uint32_t step = 0; step < count_; ++step) {
        const uint32_t index = (cursor_ + step) % count_;
        if (bits_[index / 64] == ~uint64_t(0)) {  // skip a full word at once
            step += 63 - index % 64;
            continue;
        }
        if (((bits_[index / 64] >> (index % 64)) & 1) == 0) {
            cursor_ = (index + 1) % count_;
            claim(first_ + index);
            return first_ + index;
        }
    }
    return std::nullopt;
}

void ClusterIpAllocator::release(uint32_t address) {
    if (!in_use(address)) return;
    const uint32_t index = index_of(address);
    bits_[index / 64] &= ~(uint64_t(1) << (index % 64));
    --used_;
}

}  // namespace vipgate::config
