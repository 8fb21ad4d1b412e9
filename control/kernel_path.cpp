#include "control/kernel_path.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <rte_arp.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "control/kernel_interface.h"
#include "dataplane/worker_context.h"

namespace vipgate {
namespace {

constexpr unsigned kToKernelRingSize = 4096;
constexpr unsigned kFromKernelRingSize = 1024;
constexpr uint16_t kTapDescriptors = 512;
constexpr unsigned kToKernelBatch = 64;
constexpr uint16_t kTapBurst = 32;
constexpr unsigned kToKernelPerPoll = 1024;  // the control loop runs every millisecond

std::runtime_error tap_error(const config::PortConfig& port, const std::string& what) {
    return std::runtime_error("port '" + port.name + "': kernel_interface " + port.kernel_interface + ": " + what);
}

// Removes the 802.1Q tag of a frame in place (the kernel interface is the untagged port).
void strip_vlan(rte_mbuf* frame) {
    if (rte_pktmbuf_data_len(frame) < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)) return;
    auto* ethernet = rte_pktmbuf_mtod(frame, rte_ether_hdr*);
    if (ethernet->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) return;
    auto* bytes = rte_pktmbuf_mtod(frame, uint8_t*);
    std::memmove(bytes + sizeof(rte_vlan_hdr), bytes, 2 * RTE_ETHER_ADDR_LEN);
    rte_pktmbuf_adj(frame, sizeof(rte_vlan_hdr));
}

}  // namespace

bool KernelPath::wanted(const config::Config& config) {
    return std::any_of(config.ports.begin(), config.ports.end(),
                       [](const config::PortConfig& port) { return !port.kernel_interface.empty(); });
}

KernelPath::KernelPath(const config::Config& config, const std::vector<PortRuntime>& ports,
                       const NeighborTable& neighbors, NeighborResolver& resolver, const NeighborTable6& neighbors6,
                       NeighborDiscovery& discovery)
    : ports_(ports), neighbors_(neighbors), resolver_(resolver), neighbors6_(neighbors6), discovery_(discovery) {
    to_kernel_ = rte_ring_create("vipgate_to_kernel", kToKernelRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    from_kernel_ =
        rte_ring_create("vipgate_from_kernel", kFromKernelRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (to_kernel_ == nullptr || from_kernel_ == nullptr) {
        release();
        throw std::runtime_error("cannot create the kernel exception path's rings (raise the EAL memory with -m)");
    }
    for (uint16_t index = 0; index < config.ports.size() && index < ports.size(); ++index) {
        const config::PortConfig& port = config.ports[index];
        if (port.kernel_interface.empty()) continue;
        const PortRuntime& runtime = ports[index];
        Tap tap{index, 0, "net_tap_vg" + std::to_string(index), port.kernel_interface};
        const std::string device = tap.device + ",iface=" + tap.interface + ",mac=" + format_mac(runtime.mac);
        int result = rte_dev_probe(device.c_str());
        if (result != 0) {
            release();
            throw tap_error(port, "cannot create the net_tap device (" + std::string(rte_strerror(-result)) +
                                      "; it needs CAP_NET_ADMIN and /dev/net/tun, and a name no other "
                                      "interface has)");
        }
        if (rte_eth_dev_get_port_by_name(tap.device.c_str(), &tap.tap_port_id) != 0) {
            release();
            throw tap_error(port, "the net_tap device has no ethdev port");
        }
        taps_.push_back(tap);
        const Tap& created = taps_.back();
        try {
            rte_eth_conf conf{};
            conf.rxmode.mtu = runtime.mtu;
            if ((result = rte_eth_dev_configure(created.tap_port_id, 1, 1, &conf)) != 0) {
                throw tap_error(port, "cannot configure the tap: " + std::string(rte_strerror(-result)));
            }
            const int socket = std::max(0, rte_eth_dev_socket_id(created.tap_port_id));
            if ((result = rte_eth_rx_queue_setup(created.tap_port_id, 0, kTapDescriptors, socket, nullptr,
                                                 runtime.pool)) != 0 ||
                (result = rte_eth_tx_queue_setup(created.tap_port_id, 0, kTapDescriptors, socket, nullptr)) != 0) {
                throw tap_error(port, "cannot set up the tap's queues: " + std::string(rte_strerror(-result)));
            }
            if ((result = rte_eth_dev_start(created.tap_port_id)) != 0) {
                throw tap_error(port, "cannot start the tap: " + std::string(rte_strerror(-result)));
            }
            configure_kernel_interface(created.interface, port.addresses, port.addresses6);
        } catch (...) {
            release();
            throw;
        }
        spdlog::info(
            "port {}: kernel interface {} (DPDK port {}, MAC {}, MTU {}, {} IPv4 and {} IPv6 address(es)): "
            "unserved traffic to the port's addresses goes to the kernel",
            port.name, created.interface, created.tap_port_id, format_mac(runtime.mac), runtime.mtu,
            port.addresses.size(), port.addresses6.size());
    }
}

KernelPath::~KernelPath() {
    release();
}

// Also the constructor's clean-up: every member it has not set is still empty or null.
void KernelPath::release() {
    for (rte_ring* ring : {to_kernel_, from_kernel_}) {
        rte_mbuf* frame;
        while (ring != nullptr && rte_ring_sc_dequeue(ring, reinterpret_cast<void**>(&frame)) == 0) {
            rte_pktmbuf_free(frame);
        }
        rte_ring_free(ring);
    }
    to_kernel_ = from_kernel_ = nullptr;
    // Removing the tap device closes it, which removes its Linux interface.
    for (const Tap& tap : taps_) {
        rte_eth_dev_stop(tap.tap_port_id);
        rte_eth_dev_info info{};
        if (rte_eth_dev_info_get(tap.tap_port_id, &info) != 0 || info.device == nullptr ||
            rte_dev_remove(info.device) != 0) {
            rte_eth_dev_close(tap.tap_port_id);
        }
    }
    taps_.clear();
}

void KernelPath::poll(const Snapshot& snapshot, uint64_t now_ms) {
    write_to_taps();
    for (const Tap& tap : taps_) read_tap(tap, snapshot, now_ms);
}

void KernelPath::write_to_taps() {
    rte_mbuf* frames[kToKernelBatch];
    unsigned total = 0;
    unsigned count;
    while (total < kToKernelPerPoll && (count = rte_ring_sc_dequeue_burst(to_kernel_, reinterpret_cast<void**>(frames),
                                                                          kToKernelBatch, nullptr)) > 0) {
        total += count;
        for (unsigned i = 0; i < count; ++i) {
            rte_mbuf* frame = frames[i];
            const auto tap = std::find_if(taps_.begin(), taps_.end(),
                                          [&](const Tap& t) { return ports_[t.port_index].port_id == frame->port; });
            strip_vlan(frame);
            if (tap != taps_.end() && rte_eth_tx_burst(tap->tap_port_id, 0, &frame, 1) == 1) {
                ++statistics_.written_to_tap;
            } else {
                ++statistics_.tap_refused;
                rte_pktmbuf_free(frame);
            }
        }
    }
}

void KernelPath::read_tap(const Tap& tap, const Snapshot& snapshot, uint64_t now_ms) {
    rte_mbuf* frames[kTapBurst];
    const uint16_t count = rte_eth_rx_burst(tap.tap_port_id, 0, frames, kTapBurst);
    for (uint16_t i = 0; i < count; ++i) {
        rte_mbuf* frame = frames[i];
        if (rte_pktmbuf_data_len(frame) < sizeof(rte_ether_hdr)) {
            refuse(frame);
            continue;
        }
        const uint16_t ether_type = rte_be_to_cpu_16(rte_pktmbuf_mtod(frame, const rte_ether_hdr*)->ether_type);
        if (ether_type == RTE_ETHER_TYPE_ARP) {
            answer_arp(tap, frame, snapshot, now_ms);
        } else if (ether_type == RTE_ETHER_TYPE_IPV4 &&
                   rte_pktmbuf_data_len(frame) >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
            send_out(tap, frame, snapshot, now_ms);
        } else if (ether_type == RTE_ETHER_TYPE_IPV6) {
            read_ipv6(tap, frame, snapshot, now_ms);
        } else {
            refuse(frame);
        }
    }
}

// The kernel asks for a neighbor's MAC: answered with the MAC vipgate knows, as if the neighbor
// had. The kernel's own announcements (target one of our addresses) need no answer.
void KernelPath::answer_arp(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms) {
    if (rte_pktmbuf_data_len(frame) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
        refuse(frame);
        return;
    }
    auto* ethernet = rte_pktmbuf_mtod(frame, rte_ether_hdr*);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
    const uint32_t target = arp->arp_data.arp_tip;
    if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
        arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        snapshot.address_kind(target) != AddressKind::None) {
        rte_pktmbuf_free(frame);
        return;
    }
    rte_ether_addr mac;
    if (!neighbors_.lookup(target, mac)) {
        ++statistics_.arp_resolving;
        resolver_.resolve(snapshot, tap.port_index, target, now_ms);
        rte_pktmbuf_free(frame);
        return;
    }
    ethernet->dst_addr = arp->arp_data.arp_sha;
    ethernet->src_addr = mac;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    arp->arp_data.arp_sha = mac;
    arp->arp_data.arp_sip = target;
    if (write_to_tap(tap, frame)) ++statistics_.arp_answered;
}

// An IPv4 frame the kernel sends: out of the tap's port to the next hop vipgate routes the
// destination to (on that port), with the MACs vipgate knows.
void KernelPath::send_out(const Tap& tap, rte_mbuf* frame, const Snapshot& snapshot, uint64_t now_ms) {
    const auto* ip = rte_pktmbuf_mtod_offset(frame, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
    const uint32_t destination = ip->dst_addr;
    // Multicast and broadcast (IGMP, a routing daemon's hellos) would need MACs vipgate does
    // not resolve: refused and counted like the kernel's IPv6 multicast.
    const uint32_t host_order = rte_be_to_cpu_32(destination);
    if ((host_order >> 28) == 0xe || host_order == UINT32_MAX) {
        refuse(frame);
        return;
    }
    const NextHop* hop = snapshot.route(destination);
    const uint32_t neighbor =
        hop != nullptr && hop->port_index == tap.port_index && hop->gateway != 0 ? hop->gateway : destination;
    rte_ether_hdr* ethernet = frame_for_port(tap, frame, snapshot);
    if (ethernet == nullptr) return;
    if (neighbors_.lookup(neighbor, ethernet->dst_addr)) {
        pass_to_worker(frame);
        return;
    }
    // Held until the neighbor answers ARP, then sent through the resolver's ring (not counted
    // as from_kernel: rare, the kernel itself asked for this neighbor a moment ago).
    frame->hash.usr = neighbor;
    resolver_.handle(frame, snapshot, now_ms);
}

// Both families' frames from the kernel, made ready to leave through the tap's port: its VLAN
// tag and its MAC as the source; the caller sets the next hop's MAC. Null when the tag did not
// fit (the frame refused).
rte_ether_hdr* KernelPath::frame_for_port(const Tap& tap, rte_mbuf*& frame, const Snapshot& snapshot) {
    const PortIdentity& port = snapshot.ports[tap.port_index];
    if (port.vlan != 0) {
        frame->vlan_tci = port.vlan;
        if (rte_vlan_insert(&frame) != 0) {
            refuse(frame);
            return nullptr;
        }
    }
    auto* ethernet = rte_pktmbuf_mtod(frame, rte_ether_hdr*);
    ethernet->src_addr = port.mac;
    frame->port = ports_[tap.port_index].port_id;
    return ethernet;
}

// Both families' answers to the kernel (ARP replies, neighbor advertisements): false when the
// tap did not take the frame (freed).
bool KernelPath::write_to_tap(const Tap& tap, rte_mbuf* frame) {
    if (rte_eth_tx_burst(tap.tap_port_id, 0, &frame, 1) == 1) return true;
    rte_pktmbuf_free(frame);
    return false;
}

void KernelPath::refuse(rte_mbuf* frame) {
    frame->port = kRefusedFromKernel;
    pass_to_worker(frame);
}

void KernelPath::pass_to_worker(rte_mbuf* frame) {
    if (rte_ring_sp_enqueue(from_kernel_, frame) != 0) {
        ++statistics_.ring_full;
        rte_pktmbuf_free(frame);
    }
}

}  // namespace vipgate
