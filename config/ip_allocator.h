// ClusterIpAllocator: hands out ClusterIPs from the service CIDR and takes them back.
//
// Design note: Kubernetes gives each service one address for its whole life and reuses an
// address only after its service is deleted. Allocation is next-fit (a cursor that moves on
// after each allocation) rather than lowest-free, so a just-released address is not handed to
// the next new service while clients may still hold it in DNS caches. The network and
// broadcast addresses of the CIDR are never allocated. One bit per address: a /12 is 128 KiB.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "config/config.h"

namespace vipgate::config {

class ClusterIpAllocator {
public:
    ClusterIpAllocator() = default;  // no CIDR: every explicit address is accepted, none allocated
    explicit ClusterIpAllocator(Ipv4Prefix cidr);

    bool has_range() const noexcept { return range_.has_value(); }
    const std::optional<Ipv4Prefix>& range() const noexcept { return range_; }
    bool in_range(uint32_t address) const noexcept;
    bool in_use(uint32_t address) const noexcept;
    uint32_t used() const noexcept { return used_; }
    uint32_t capacity() const noexcept;

    // Claim `address` (host order). False when it is outside the range or already taken.
    bool claim(uint32_t address);
    // The next free address, claimed; nullopt when the range is exhausted or there is none.
    std::optional<uint32_t> allocate();
    void release(uint32_t address);

private:
    uint32_t index_of(uint32_t address) const noexcept { return address - first_; }

    std::optional<Ipv4Prefix> range_;
    uint32_t first_ = 0;  // first allocatable address
    uint32_t count_ = 0;  // allocatable addresses
    uint32_t cursor_ = 0;
    uint32_t used_ = 0;
    std::vector<uint64_t> bits_;
};

}  // namespace vipgate::config

namespace vipgate::config {

// The IPv6 allocator: an IPv6 service CIDR is at most a /108 (ClusterConfig), so its host part
// fits in the low 32 bits and the IPv4 allocator above does the work on them, next-fit alike.
// Its first and last addresses are never allocated (the subnet-router anycast address, and the
// last for symmetry with IPv4's broadcast).
class ClusterIp6Allocator {
public:
    ClusterIp6Allocator() = default;
    explicit ClusterIp6Allocator(const Ipv6Prefix& cidr);

    bool has_range() const noexcept { return range_.has_value(); }
    const std::optional<Ipv6Prefix>& range() const noexcept { return range_; }
    bool in_range(const Ipv6Address& address) const noexcept;
    uint32_t used() const noexcept { return low_.used(); }
    bool claim(const Ipv6Address& address);
    std::optional<Ipv6Address> allocate();
    void release(const Ipv6Address& address);

private:
    static uint32_t low_bits(const Ipv6Address& address) noexcept;

    std::optional<Ipv6Prefix> range_;
    ClusterIpAllocator low_;
};

}  // namespace vipgate::config
