#include "control/kernel_interface.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "control/rtnetlink.h"

namespace vipgate {
namespace {

std::runtime_error interface_error(const std::string& name, const std::string& what, int error) {
    return std::runtime_error("kernel interface " + name + ": " + what + ": " + std::strerror(-error));
}

void write_sysctl(const std::string& name, const std::string& setting, const char* value) {
    const std::string path = "/proc/sys/net/ipv6/conf/" + name + "/" + setting;
    std::ofstream file(path);
    file << value << '\n';
    file.close();
    if (!file) throw std::runtime_error("kernel interface " + name + ": cannot set " + path + " to " + value);
}

// The tap's IPv6 addresses are the port's, no more: no link-local address (addr_gen_mode 1). One
// would be the kernel's alone, which vipgate's Neighbor Discovery does not answer for on the
// wire, so a daemon that announced it (a BGP link-local next hop) would announce a next hop
// nobody can reach. Then IPv6 on: a new interface takes net.ipv6.conf.default.disable_ipv6,
// which a host or namespace may have set. Sysctls: rtnetlink sets neither.
void enable_ipv6(const std::string& name) {
    write_sysctl(name, "addr_gen_mode", "1");
    write_sysctl(name, "disable_ipv6", "0");
}

}  // namespace

void configure_kernel_interface(const std::string& name, const std::vector<config::Ipv4Prefix>& addresses,
                                const std::vector<config::Ipv6Prefix>& addresses6) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) throw std::runtime_error("kernel interface " + name + " does not exist after the tap was created");
    Rtnetlink netlink;
    for (const config::Ipv4Prefix& prefix : addresses) {
        NetlinkRequest request{};
        request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
        request.header.nlmsg_type = RTM_NEWADDR;
        request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        request.address.ifa_family = AF_INET;
        request.address.ifa_prefixlen = prefix.length;
        request.address.ifa_scope = RT_SCOPE_UNIVERSE;
        request.address.ifa_index = index;
        const uint32_t address = htonl(prefix.address);
        add_attribute(request, IFA_LOCAL, &address, sizeof(address));
        add_attribute(request, IFA_ADDRESS, &address, sizeof(address));
        if (const int error = netlink.transact(request); error != 0) {
            throw interface_error(name, "cannot add an address", error);
        }
    }
    if (!addresses6.empty()) enable_ipv6(name);
    for (const config::Ipv6Prefix& prefix : addresses6) {
        NetlinkRequest request{};
        request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
        request.header.nlmsg_type = RTM_NEWADDR;
        request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        request.address.ifa_family = AF_INET6;
        request.address.ifa_prefixlen = prefix.length;
        request.address.ifa_flags = IFA_F_NODAD;
        request.address.ifa_scope = RT_SCOPE_UNIVERSE;
        request.address.ifa_index = index;
        add_attribute(request, IFA_LOCAL, prefix.address.data(), 16);
        add_attribute(request, IFA_ADDRESS, prefix.address.data(), 16);
        if (const int error = netlink.transact(request); error != 0) {
            throw interface_error(name, "cannot add an IPv6 address (is IPv6 disabled on it?)", error);
        }
    }
    NetlinkRequest request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    request.header.nlmsg_type = RTM_NEWLINK;
    request.link.ifi_family = AF_UNSPEC;
    request.link.ifi_index = static_cast<int>(index);
    request.link.ifi_flags = IFF_UP;
    request.link.ifi_change = IFF_UP;
    if (const int error = netlink.transact(request); error != 0) throw interface_error(name, "cannot set it up", error);
}

}  // namespace vipgate
