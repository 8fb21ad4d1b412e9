// Helpers the configuration and service store tests share: the smallest valid configuration,
// addresses from text, a dual-stack [cluster], and errors as a test failure shows them or as a
// test looks for one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace vipgate::config {

// One worker and one port: the smallest valid file. Tests append sections to it.
inline constexpr std::string_view kMinimalConfig = R"(
[dataplane]
worker_lcores = [1]

[[ports]]
name = "p0"
device = "net_null0"
addresses = ["198.18.0.1/24"]
)";

inline uint32_t ip4(const char* text) {
    return parse_ipv4(text).value();
}

inline Ipv6Address ip6(const char* text) {
    return parse_ipv6(text).value();
}

// Service CIDRs of both families: 198.18.128.0/24 and 2001:db8:1::/112.
inline ClusterConfig dual_cluster() {
    ClusterConfig out;
    out.service_cidr = parse_ipv4_prefix("198.18.128.0/24");
    out.service_cidr_ipv6 = parse_ipv6_prefix("2001:db8:1::/112");
    return out;
}

// One error a line, each indented, for a failure message (" (no errors)" when there are none).
inline std::string describe(const std::vector<ConfigError>& errors) {
    std::string text;
    for (const auto& error : errors) text += "\n  " + error.to_string();
    return text.empty() ? " (no errors)" : text;
}

// Whether any of `errors` contains `fragment`.
inline bool mentions(const std::vector<ConfigError>& errors, const std::string& fragment) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const ConfigError& error) { return error.to_string().find(fragment) != std::string::npos; });
}

}  // namespace vipgate::config
