#include "pktgen/backend_responder.h"

#include <netinet/in.h>
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ip.h>

#include "dataplane/tcp_state.h"
#include "pktgen/wire_bytes.h"

namespace vipgen {
namespace {

uint8_t reply_flags(uint8_t flags) noexcept {
    using namespace vipgate;
    if (flags & kTcpFlagSyn) return kTcpFlagSyn | kTcpFlagAck;
    if (flags & kTcpFlagFin) return kTcpFlagFin | kTcpFlagAck;
    return kTcpFlagAck;
}

template <typename T>
void swap_fields(uint8_t* a, uint8_t* b) noexcept {
    T x, y;
    std::memcpy(&x, a, sizeof(T));
    std::memcpy(&y, b, sizeof(T));
    std::memcpy(a, &y, sizeof(T));
    std::memcpy(b, &x, sizeof(T));
}

const rte_arp_hdr* arp_of(const rte_mbuf* m) noexcept {
    if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(rte_arp_hdr)) return nullptr;
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) return nullptr;
    const auto* arp = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, RTE_ETHER_HDR_LEN);
    if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
        arp->arp_plen != sizeof(uint32_t)) {
        return nullptr;
    }
    return arp;
}

}  // namespace

void make_backend_reply(rte_mbuf* m, const ReceivedPacket& packet, const rte_ether_addr& our_mac) noexcept {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eth->dst_addr = eth->src_addr;
    eth->src_addr = our_mac;
    auto* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, RTE_ETHER_HDR_LEN);
    if (packet.ipv6) {
        // No header checksum; the addresses swap within the pseudo-header's sum.
        swap_fields<std::array<uint8_t, 16>>(ip + 8, ip + 24);
        ip[7] = kClientTtl;
    } else {
        swap_fields<uint32_t>(ip + 12, ip + 16);
        uint16_t ip_checksum;
        std::memcpy(&ip_checksum, ip + 10, sizeof(ip_checksum));
        const uint16_t old_ttl_word = load16(ip + 8);
        ip[8] = kClientTtl;
        ip_checksum = update_checksum16(ip_checksum, old_ttl_word, load16(ip + 8));
        std::memcpy(ip + 10, &ip_checksum, sizeof(ip_checksum));
    }

    auto* l4 = const_cast<uint8_t*>(packet.l4);
    swap_fields<uint16_t>(l4, l4 + 2);
    if (packet.protocol == IPPROTO_TCP) {
        const uint16_t old_word = load16(l4 + 12);
        l4[13] = reply_flags(packet.tcp_flags);
        uint16_t checksum;
        std::memcpy(&checksum, l4 + 16, sizeof(checksum));
        checksum = update_checksum16(checksum, old_word, load16(l4 + 12));
        std::memcpy(l4 + 16, &checksum, sizeof(checksum));
    }
}

// The far side of the wire answers ARP itself rather than with vipgate's make_arp_reply, so a
// mistake in vipgate's ARP cannot be mirrored by the hosts that test it.
bool make_arp_answer(rte_mbuf* m, const std::vector<uint32_t>& addresses, const rte_ether_addr& our_mac) noexcept {
    const rte_arp_hdr* request = arp_of(m);
    if (request == nullptr || request->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) return false;
    const uint32_t wanted = rte_be_to_cpu_32(request->arp_data.arp_tip);
    if (!std::binary_search(addresses.begin(), addresses.end(), wanted)) return false;
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* arp = const_cast<rte_arp_hdr*>(request);
    eth->dst_addr = arp->arp_data.arp_sha;
    eth->src_addr = our_mac;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    arp->arp_data.arp_sha = our_mac;
    arp->arp_data.arp_sip = rte_cpu_to_be_32(wanted);
    return true;
}

bool read_arp_reply(const rte_mbuf* m, uint32_t from_address, rte_ether_addr& sender_mac) noexcept {
    const rte_arp_hdr* reply = arp_of(m);
    if (reply == nullptr || reply->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REPLY) ||
        reply->arp_data.arp_sip != rte_cpu_to_be_32(from_address)) {
        return false;
    }
    sender_mac = reply->arp_data.arp_sha;
    return true;
}

}  // namespace vipgen
