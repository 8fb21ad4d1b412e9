// How statistics, the API and metrics write a snapshot's addresses: IPv4 as "198.18.0.1:80",
// IPv6 as "[2001:db8::1]:80" (RFC 5952 section 6), whichever family a service port has.
#pragma once

#include <array>
#include <cstring>
#include <string>

#include <rte_byteorder.h>

#include "config/config.h"
#include "dataplane/snapshot.h"

namespace vipgate {

inline std::string address_text(bool ipv6, uint32_t address_be, const uint8_t (&address6)[16]) {
    if (!ipv6) return config::format_ipv4(rte_be_to_cpu_32(address_be));
    config::Ipv6Address address;
    std::memcpy(address.data(), address6, address.size());
    return config::format_ipv6(address);
}

inline std::string with_port(bool ipv6, const std::string& address, uint16_t port_be) {
    std::string text;
    if (ipv6) text += '[';
    text += address;
    if (ipv6) text += ']';
    text += ':';
    text += std::to_string(rte_be_to_cpu_16(port_be));
    return text;
}

inline std::string vip_address_text(const ServicePort& port) {
    return address_text(port.ipv6, port.vip, port.vip6);
}
inline std::string vip_text(const ServicePort& port) {
    return with_port(port.ipv6, vip_address_text(port), port.port);
}
inline std::string endpoint_text(const EndpointSlot& endpoint) {
    return with_port(endpoint.ipv6, address_text(endpoint.ipv6, endpoint.address, endpoint.address6), endpoint.port);
}

}  // namespace vipgate
