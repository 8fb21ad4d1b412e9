// Port bring-up: any DPDK device string (PCI address or vdev with arguments) becomes a started
// port with one RX and one TX queue per worker (RSS spread when the device supports it), running
// the configured MTU (or the device's own) with a pool whose mbufs hold a frame of that MTU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_ether.h>

#include "config/config.h"

struct rte_mempool;

namespace vipgate {

struct PortRuntime {
    std::string name;         // configured name, e.g. "p0"
    std::string device_name;  // DPDK device name, e.g. "net_pcap0"
    uint16_t port_id = 0;
    rte_ether_addr mac{};
    rte_mempool* pool = nullptr;
    bool rss = false;
    uint16_t mtu = 0;  // the largest IPv4 datagram the port sends (PortIdentity::mtu)
};

// Throws std::runtime_error naming the port and what to change.
std::vector<PortRuntime> start_ports(const config::Config& config, uint16_t worker_count);
void stop_ports(std::vector<PortRuntime>& ports);

// "02:00:00:00:00:01", as DPDK writes a MAC (device arguments take this form too).
std::string format_mac(const rte_ether_addr& mac);

}  // namespace vipgate
