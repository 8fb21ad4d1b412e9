#include "dataplane/nat_rewrite6.h"

#include <cstring>

#include <rte_ip.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dataplane/checksum.h"
#include "dataplane/sctp.h"

namespace vipgate {
namespace {

uint32_t ports_value(uint16_t src_port, uint16_t dst_port) {
    const uint16_t ports[2] = {src_port, dst_port};
    uint32_t value;
    std::memcpy(&value, ports, sizeof(value));
    return value;
}

// ~HC + the address terms + ~old ports + new ports, folded and complemented.
uint16_t adjusted(uint16_t checksum, uint64_t address_delta, uint16_t old_src_port, uint16_t old_dst_port,
                  const Ipv6Rewrite& rewrite) {
    const uint64_t sum = uint16_t(~checksum) + address_delta + uint16_t(~old_src_port) + uint16_t(~old_dst_port) +
                         rewrite.src_port + rewrite.dst_port;
    return static_cast<uint16_t>(~checksum_fold64(sum));
}

}  // namespace

void rewrite_ipv6_packet(uint8_t* frame, const ParsedIpv6& parsed, const Ipv6Rewrite& rewrite) noexcept {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    const uint64_t address_delta = checksum_address6_delta(ip->src_addr, rewrite.src_addr) +
                                   checksum_address6_delta(ip->dst_addr, rewrite.dst_addr);
    uint8_t* l4 = frame + parsed.l4_offset;
    switch (parsed.key.protocol) {
    case kProtoTcp: {
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
        tcp->cksum = adjusted(tcp->cksum, address_delta, tcp->src_port, tcp->dst_port, rewrite);
        tcp->src_port = rewrite.src_port;
        tcp->dst_port = rewrite.dst_port;
        break;
    }
    case kProtoUdp: {
        auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
        udp->dgram_cksum =
            udp6_checksum_for_wire(adjusted(udp->dgram_cksum, address_delta, udp->src_port, udp->dst_port, rewrite));
        udp->src_port = rewrite.src_port;
        udp->dst_port = rewrite.dst_port;
        break;
    }
    case kProtoSctp: {
        // The SCTP packet: the IPv6 payload after the extension headers.
        auto* sctp = reinterpret_cast<rte_sctp_hdr*>(l4);
        const uint32_t length = parsed.payload_length + sizeof(rte_ipv6_hdr) + parsed.l3_offset - parsed.l4_offset;
        uint32_t old_ports;
        std::memcpy(&old_ports, l4, sizeof(old_ports));
        sctp->cksum =
            sctp_checksum_update_ports(sctp->cksum, old_ports, ports_value(rewrite.src_port, rewrite.dst_port), length);
        sctp->src_port = rewrite.src_port;
        sctp->dst_port = rewrite.dst_port;
        break;
    }
    default:
        break;
    }
    --ip->hop_limits;
    // memmove: a rewrite may name the packet's own destination as its new source (a reply's VIP).
    uint8_t source[16];
    std::memcpy(source, rewrite.src_addr, sizeof(source));
    std::memmove(ip->dst_addr, rewrite.dst_addr, sizeof(ip->dst_addr));
    std::memcpy(ip->src_addr, source, sizeof(source));
}

void rewrite_fragment6_addresses(uint8_t* frame, const ParsedIpv6& parsed, const uint8_t src_addr[16],
                                 const uint8_t dst_addr[16]) noexcept {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    --ip->hop_limits;
    std::memcpy(ip->src_addr, src_addr, sizeof(ip->src_addr));
    std::memcpy(ip->dst_addr, dst_addr, sizeof(ip->dst_addr));
}

}  // namespace vipgate
