// The Linux side of a kernel exception path interface: its addresses and link state, set over
// rtnetlink (no `ip` command: the daemon may run where none is installed, and a netlink error
// is a value to report).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace vipgate {

// Adds `addresses` (host order, with their prefix lengths) and `addresses6` (without duplicate
// address detection: the addresses are the gateway's, and usable at once) to interface `name`
// and sets it up. Throws std::runtime_error naming the interface and the kernel's reason.
void configure_kernel_interface(const std::string& name, const std::vector<config::Ipv4Prefix>& addresses,
                                const std::vector<config::Ipv6Prefix>& addresses6);

}  // namespace vipgate
