#include "config/ip_allocator.h"

namespace vipgate::config {

ClusterIp6Allocator::ClusterIp6Allocator(const Ipv6Prefix& cidr)
    : range_(cidr), low_(Ipv4Prefix{low_bits(cidr.address), static_cast<uint8_t>(cidr.length - 96)}) {}

uint32_t ClusterIp6Allocator::low_bits(const Ipv6Address& address) noexcept {
    return uint32_t{address[12]} << 24 | uint32_t{address[13]} << 16 | uint32_t{address[14]} << 8 | address[15];
}

bool ClusterIp6Allocator::in_range(const Ipv6Address& address) const noexcept {
    return range_ && ipv6_prefix_contains(*range_, address) && low_.in_range(low_bits(address));
}

bool ClusterIp6Allocator::claim(const Ipv6Address& address) {
    return in_range(address) && low_.claim(low_bits(address));
}

std::optional<Ipv6Address> ClusterIp6Allocator::allocate() {
    if (!range_) return std::nullopt;
    std::optional<uint32_t> low = low_.allocate();
    if (!low) return std::nullopt;
    Ipv6Address address = range_->address;
    address[12] = static_cast<uint8_t>(*low >> 24);
    address[13] = static_cast<uint8_t>(*low >> 16);
    address[14] = static_cast<uint8_t>(*low >> 8);
    address[15] = static_cast<uint8_t>(*low);
    return address;
}

void ClusterIp6Allocator::release(const Ipv6Address& address) {
    if (in_range(address)) low_.release(low_bits(address));
}

}  // namespace vipgate::config
