// Jumbo frames: each port's pool gets a data room that holds a whole frame of the port's MTU
// (never less than DPDK's default 2048 bytes), rather than chained mbufs. Chaining would need
// the scatter RX and multi-segment TX offloads, which net_pcap, net_null and net_af_packet do
// not offer and which turn off the vector RX paths of physical NICs for every packet, and the
// packet path would meet split payloads it never has to handle now. The price is memory on
// jumbo ports only (README, MTU: 16383 mbufs take 37 MiB at MTU 1500 and 147 MiB at 9000), and
// it is paid per port: a pool only fills its own port's RX queues, so a 1500-byte port keeps
// small buffers beside a 9000-byte one.
#include "control/port_setup.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "dataplane/packet_pool.h"

namespace vipgate {
namespace {

constexpr unsigned kMempoolCacheSize = 256;
// A frame around an IPv4 datagram of MTU bytes: Ethernet header, two VLAN tags, FCS.
constexpr uint32_t kFrameOverhead = RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;

std::runtime_error port_error(const config::PortConfig& port, const std::string& what) {
    return std::runtime_error("port '" + port.name + "' (" + port.device + "): " + what);
}

uint16_t probe(const config::PortConfig& port) {
    std::string device_name = port.device.substr(0, port.device.find(','));
    uint16_t port_id = 0;
    if (rte_eth_dev_get_port_by_name(device_name.c_str(), &port_id) == 0) return port_id;
    int result = rte_dev_probe(port.device.c_str());
    if (result != 0) {
        throw port_error(port, "cannot probe the device: " + std::string(rte_strerror(-result)) +
                                   " (check the device string; PCI devices need the EAL to allow PCI)");
    }
    if (rte_eth_dev_get_port_by_name(device_name.c_str(), &port_id) != 0) {
        throw port_error(port, "probed, but no ethdev port named '" + device_name + "' appeared");
    }
    return port_id;
}

// The data room of a port's mbufs: a whole frame of `mtu` after the headroom.
uint16_t data_room_for(uint16_t mtu) {
    return static_cast<uint16_t>(
        std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + mtu + kFrameOverhead));
}

// The largest MTU the device takes, as rte_eth_dev_set_mtu judges it (its frame limit less
// the overhead DPDK assumes for it).
uint32_t device_max_mtu(const rte_eth_dev_info& info) {
    const uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                                  ? info.max_rx_pktlen - info.max_mtu
                                  : uint32_t(RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN);
    return std::min<uint32_t>(info.max_mtu, info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0);
}

// Sets the configured MTU on a configured device and returns the port's MTU. A device without
// MTU control (-ENOTSUP: net_pcap, net_ring, whose "wire" is a file or a ring) keeps it in
// software with a warning: the dataplane enforces it on what it sends, and nothing else has an
// MTU to disagree. Any other refusal stops start-up: the gateway would tell senders (ICMP
// fragmentation needed) that it carries datagrams its device then drops or cannot receive.
uint16_t apply_mtu(const config::PortConfig& port, uint16_t port_id, uint16_t device_mtu,
                   const rte_eth_dev_info& info) {
    if (!port.mtu || *port.mtu == device_mtu) return device_mtu;
    const int result = rte_eth_dev_set_mtu(port_id, *port.mtu);
    if (result == -ENOTSUP) {
        spdlog::warn(
            "port {}: the device has no MTU setting ({}); MTU {} applies to what vipgate sends only, "
            "frames up to the device's limit are still received",
            port.name, rte_strerror(-result), *port.mtu);
    } else if (result != 0) {
        const bool af_packet = port.device.rfind("net_af_packet", 0) == 0;
        throw port_error(port, "the device refuses MTU " + std::to_string(*port.mtu) + " (" + rte_strerror(-result) +
                                   "); it takes " + std::to_string(info.min_mtu) + ".." +
                                   std::to_string(device_max_mtu(info)) +
                                   (af_packet ? "; net_af_packet takes larger frames with a larger framesz= argument"
                                              : "; lower ports[].mtu or omit it for the device's own"));
    }
    return *port.mtu;
}

}  // namespace

std::vector<PortRuntime> start_ports(const config::Config& config, uint16_t worker_count) {
    std::vector<PortRuntime> ports;
    for (const auto& port_config : config.ports) {
        PortRuntime port;
        port.name = port_config.name;
        port.device_name = port_config.device.substr(0, port_config.device.find(','));
        port.port_id = probe(port_config);
        int socket = rte_eth_dev_socket_id(port.port_id);
        if (socket < 0) socket = 0;

        rte_eth_dev_info info{};
        if (rte_eth_dev_info_get(port.port_id, &info) != 0) throw port_error(port_config, "cannot read device info");
        const uint16_t rx_queues = worker_count;
        const uint16_t tx_queues = worker_count;
        if (info.max_rx_queues < rx_queues || info.max_tx_queues < tx_queues) {
            throw port_error(port_config, "needs " + std::to_string(rx_queues) + " RX and " +
                                              std::to_string(tx_queues) +
                                              " TX queues (one each per worker) but the device offers " +
                                              std::to_string(info.max_rx_queues) + " RX and " +
                                              std::to_string(info.max_tx_queues) + " TX" +
                                              (port.device_name.rfind("net_pcap", 0) == 0
                                                   ? "; net_pcap gets one queue per rx_pcap=/tx_pcap= argument"
                                                   : ""));
        }

        rte_eth_conf conf{};
        if (worker_count > 1 && info.flow_type_rss_offloads != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf =
                (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
            port.rss = conf.rx_adv_conf.rss_conf.rss_hf != 0;
        }
        // Fast free needs every mbuf of a TX queue from one pool; with several ports (one pool
        // each) a queue also sends packets received on the other ports.
        if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) && config.ports.size() == 1) {
            conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
        }
        // rte_eth_dev_configure sets the MTU it is given, 1500 when none: keep the device's own.
        uint16_t device_mtu = RTE_ETHER_MTU;
        rte_eth_dev_get_mtu(port.port_id, &device_mtu);
        conf.rxmode.mtu = device_mtu;
        int result = rte_eth_dev_configure(port.port_id, rx_queues, tx_queues, &conf);
        if (result != 0)
            throw port_error(port_config, "rte_eth_dev_configure failed: " + std::string(rte_strerror(-result)));
        port.mtu = apply_mtu(port_config, port.port_id, device_mtu, info);

        uint16_t rx_descriptors = config.dataplane.rx_descriptors;
        uint16_t tx_descriptors = config.dataplane.tx_descriptors;
        rte_eth_dev_adjust_nb_rx_tx_desc(port.port_id, &rx_descriptors, &tx_descriptors);
        std::string pool_name = "mbufs_" + port.name;
        const uint16_t data_room = data_room_for(port.mtu);
        port.pool = create_packet_pool(pool_name.c_str(), port.port_id, config.dataplane.mbufs_per_port,
                                       kMempoolCacheSize, data_room, socket);
        if (port.pool == nullptr) {
            throw port_error(port_config, "cannot create a pool of " + std::to_string(config.dataplane.mbufs_per_port) +
                                              " mbufs: " + rte_strerror(rte_errno) +
                                              " (raise the EAL memory with -m, or lower dataplane.mbufs_per_port)");
        }
        for (uint16_t queue = 0; queue < rx_queues; ++queue) {
            result = rte_eth_rx_queue_setup(port.port_id, queue, rx_descriptors, socket, nullptr, port.pool);
            if (result != 0)
                throw port_error(port_config, "RX queue setup failed: " + std::string(rte_strerror(-result)));
        }
        rte_eth_txconf tx_conf = info.default_txconf;
        tx_conf.offloads = conf.txmode.offloads;
        for (uint16_t queue = 0; queue < tx_queues; ++queue) {
            result = rte_eth_tx_queue_setup(port.port_id, queue, tx_descriptors, socket, &tx_conf);
            if (result != 0)
                throw port_error(port_config, "TX queue setup failed: " + std::string(rte_strerror(-result)));
        }

        rte_eth_macaddr_get(port.port_id, &port.mac);
        bool promiscuous = port_config.promiscuous;
        if (port_config.mac) {
            std::copy(port_config.mac->begin(), port_config.mac->end(), port.mac.addr_bytes);
            result = rte_eth_dev_default_mac_addr_set(port.port_id, &port.mac);
            if (result != 0) {
                // Keep the configured MAC as the gateway's identity in software; the device must
                // then pass every frame up for the dataplane to filter.
                spdlog::warn(
                    "port {}: the device cannot take MAC {} ({}); using it in software with "
                    "promiscuous mode",
                    port.name, format_mac(port.mac), rte_strerror(-result));
                promiscuous = true;
            }
        }
        if (promiscuous) rte_eth_promiscuous_enable(port.port_id);
        result = rte_eth_dev_start(port.port_id);
        if (result != 0) throw port_error(port_config, "cannot start: " + std::string(rte_strerror(-result)));

        const uint64_t pool_bytes =
            uint64_t(rte_mempool_calc_obj_size(port.pool->elt_size, port.pool->flags, nullptr)) * port.pool->size;
        spdlog::info(
            "port {} ({}): DPDK port {}, MAC {}, {} RX / {} TX queues, RSS {}, MTU {}, {} mbufs of {} bytes "
            "({:.1f} MiB)",
            port.name, port.device_name, port.port_id, format_mac(port.mac), rx_queues, tx_queues,
            port.rss ? "on" : "off (software hand-off only)", port.mtu, port.pool->size, data_room,
            double(pool_bytes) / (1 << 20));
        ports.push_back(port);
    }
    return ports;
}

void stop_ports(std::vector<PortRuntime>& ports) {
    for (auto& port : ports) {
        rte_eth_dev_stop(port.port_id);
        rte_eth_dev_close(port.port_id);
    }
    for (auto& port : ports) {
        rte_mempool_free(port.pool);
        port.pool = nullptr;
    }
}

std::string format_mac(const rte_ether_addr& mac) {
    char text[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(text, sizeof(text), &mac);
    return text;
}

}  // namespace vipgate
