// Text forms of IPv6 addresses and prefixes, and the names of the dual-stack fields' values.
#include "config/config.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vipgate::config {

std::string format_ipv6(const Ipv6Address& address) {
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, address.data(), text, sizeof(text)) == nullptr) return "?";
    return text;
}

std::optional<Ipv6Address> parse_ipv6(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find(':') == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string terminated(text);
    Ipv6Address address{};
    if (inet_pton(AF_INET6, terminated.c_str(), address.data()) != 1) return std::nullopt;
    return address;
}

std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view text) {
    const size_t slash = text.find('/');
    std::optional<Ipv6Address> address = parse_ipv6(text.substr(0, slash));
    if (!address) return std::nullopt;
    Ipv6Prefix prefix{*address, 128};
    if (slash == std::string_view::npos) return prefix;
    const std::string_view length = text.substr(slash + 1);
    unsigned value = 0;
    auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), value);
    if (length.empty() || (length.size() > 1 && length[0] == '0') || error != std::errc{} ||
        end != length.data() + length.size() || value > 128) {
        return std::nullopt;
    }
    prefix.length = static_cast<uint8_t>(value);
    return prefix;
}

std::string format_ipv6_prefix(const Ipv6Prefix& prefix) {
    return format_ipv6(prefix.address) + "/" + std::to_string(prefix.length);
}

bool ipv6_prefix_contains(const Ipv6Prefix& prefix, const Ipv6Address& address) {
    const unsigned whole = prefix.length / 8;
    if (std::memcmp(prefix.address.data(), address.data(), whole) != 0) return false;
    const unsigned bits = prefix.length % 8;
    if (bits == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xFF00 >> bits);
    return (prefix.address[whole] & mask) == (address[whole] & mask);
}

std::string_view ip_family_name(IpFamily family) {
    return family == IpFamily::Ipv4 ? "IPv4" : "IPv6";
}

std::string_view ip_family_policy_name(IpFamilyPolicy policy) {
    switch (policy) {
    case IpFamilyPolicy::SingleStack:
        return "SingleStack";
    case IpFamilyPolicy::PreferDualStack:
        return "PreferDualStack";
    case IpFamilyPolicy::RequireDualStack:
        return "RequireDualStack";
    }
    return "SingleStack";
}

std::optional<IpFamilyPolicy> parse_ip_family_policy(std::string_view text) {
    for (IpFamilyPolicy policy :
         {IpFamilyPolicy::SingleStack, IpFamilyPolicy::PreferDualStack, IpFamilyPolicy::RequireDualStack}) {
        if (text == ip_family_policy_name(policy)) return policy;
    }
    return std::nullopt;
}

}  // namespace vipgate::config
