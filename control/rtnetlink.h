// One rtnetlink request at a time, answered by the kernel's ack: what kernel_interface.cpp
// (addresses, link state) and route_announcer.cpp (routes) send.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>

namespace vipgate {

struct NetlinkRequest {
    nlmsghdr header;
    union {
        ifaddrmsg address;
        ifinfomsg link;
        rtmsg route;
    };
    char attributes[64];
};

// Appends one attribute (the request's attributes have room for 64 bytes of them).
void add_attribute(NetlinkRequest& request, uint16_t type, const void* data, uint16_t length);

class Rtnetlink {
public:
    // Throws std::runtime_error when the socket cannot be opened.
    Rtnetlink();
    ~Rtnetlink();
    Rtnetlink(const Rtnetlink&) = delete;
    Rtnetlink& operator=(const Rtnetlink&) = delete;

    // Sends one request and returns the kernel's answer: 0, or a negative errno.
    int transact(NetlinkRequest& request);

private:
    int fd_;
    uint32_t sequence_ = 0;
};

}  // namespace vipgate
