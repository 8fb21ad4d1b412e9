#include "control/kernel_interface.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vipgate {
namespace {

struct Request {
    nlmsghdr header;
    union {
        ifaddrmsg address;
        ifinfomsg link;
    };
    char attributes[64];
};

void add_attribute(Request& request, uint16_t type, const void* data, uint16_t length) {
    auto* attribute =
        reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) + NLMSG_ALIGN(request.header.nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = static_cast<uint16_t>(RTA_LENGTH(length));
    std::memcpy(RTA_DATA(attribute), data, length);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attribute->rta_len);
}

class Netlink {
public:
    Netlink() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
        if (fd_ < 0) throw std::runtime_error(std::string("cannot open an rtnetlink socket: ") + std::strerror(errno));
    }
    ~Netlink() { close(fd_); }
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    // Sends one request and returns the kernel's answer: 0, or a negative errno.
    int transact(Request& request) {
        request.header.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        request.header.nlmsg_seq = ++sequence_;
        if (send(fd_, &request, request.header.nlmsg_len, 0) < 0) return -errno;
        alignas(nlmsghdr) char answer[4096];
        for (;;) {
            const ssize_t length = recv(fd_, answer, sizeof(answer), 0);
            if (length < 0) {
                if (errno == EINTR) continue;
                return -errno;
            }
            int remaining = static_cast<int>(length);
            for (auto* header = reinterpret_cast<nlmsghdr*>(answer); NLMSG_OK(header, remaining);
                 header = NLMSG_NEXT(header, remaining)) {
                if (header->nlmsg_seq != sequence_ || header->nlmsg_type != NLMSG_ERROR) continue;
                return static_cast<const nlmsgerr*>(NLMSG_DATA(header))->error;
            }
        }
    }

private:
    int fd_;
    uint32_t sequence_ = 0;
};

std::runtime_error interface_error(const std::string& name, const std::string& what, int error) {
    return std::runtime_error("kernel interface " + name + ": " + what + ": " + std::strerror(-error));
}

}  // namespace

void configure_kernel_interface(const std::string& name, const std::vector<config::Ipv4Prefix>& addresses) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0) throw std::runtime_error("kernel interface " + name + " does not exist after the tap was created");
    Netlink netlink;
    for (const config::Ipv4Prefix& prefix : addresses) {
        Request request{};
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
    Request request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    request.header.nlmsg_type = RTM_NEWLINK;
    request.link.ifi_family = AF_UNSPEC;
    request.link.ifi_index = static_cast<int>(index);
    request.link.ifi_flags = IFF_UP;
    request.link.ifi_change = IFF_UP;
    if (const int error = netlink.transact(request); error != 0) throw interface_error(name, "cannot set it up", error);
}

}  // namespace vipgate
