#include "control/rtnetlink.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vipgate {

void add_attribute(NetlinkRequest& request, uint16_t type, const void* data, uint16_t length) {
    auto* attribute =
        reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) + NLMSG_ALIGN(request.header.nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = static_cast<uint16_t>(RTA_LENGTH(length));
    std::memcpy(RTA_DATA(attribute), data, length);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attribute->rta_len);
}

Rtnetlink::Rtnetlink() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (fd_ < 0) throw std::runtime_error(std::string("cannot open an rtnetlink socket: ") + std::strerror(errno));
}

Rtnetlink::~Rtnetlink() {
    close(fd_);
}

int Rtnetlink::transact(NetlinkRequest& request) {
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

}  // namespace vipgate
