#include "pktgen/dns_query_factory.h"

#include <netinet/in.h>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "pktgen/packet_factory.h"
#include "pktgen/wire_bytes.h"

namespace vipgen {
namespace {

constexpr uint32_t kUdpOffset = kL4Offset;
constexpr uint32_t kDnsOffset = kUdpPayloadOffset;
constexpr uint16_t kFlagsRecursionDesired = 0x0100;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kDnsPort = 53;

}  // namespace

DnsQueryFactory::DnsQueryFactory(const std::vector<DnsName>& names, uint32_t server, const rte_ether_addr& source_mac,
                                 const rte_ether_addr& gateway_mac) {
    templates_.reserve(names.size());
    for (const DnsName& name : names) {
        const uint32_t dns_length = 12 + static_cast<uint32_t>(name.wire.size()) + 4;
        const uint32_t ip_length = 20 + 8 + dns_length;
        const uint32_t frame = std::max<uint32_t>(kMinFrameSize, kIpOffset + ip_length);
        Template t{static_cast<uint32_t>(bytes_.size()), static_cast<uint16_t>(frame), 0, 0};
        bytes_.resize(bytes_.size() + frame, 0);
        uint8_t* f = bytes_.data() + t.offset;
        std::memcpy(f, gateway_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
        std::memcpy(f + 6, source_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
        store16_be(f + 12, RTE_ETHER_TYPE_IPV4);
        uint8_t* ip = f + kIpOffset;
        ip[0] = 0x45;
        store16_be(ip + 2, static_cast<uint16_t>(ip_length));
        ip[8] = kClientTtl;
        ip[9] = IPPROTO_UDP;
        store32_be(ip + 16, server);
        t.ip_partial_sum = sum_words(ip, 20);
        uint8_t* udp = f + kUdpOffset;
        store16_be(udp + 2, kDnsPort);
        store16_be(udp + 4, static_cast<uint16_t>(8 + dns_length));
        uint8_t* dns = f + kDnsOffset;
        store16_be(dns + 2, kFlagsRecursionDesired);
        store16_be(dns + 4, 1);
        std::memcpy(dns + 12, name.wire.data(), name.wire.size());
        store16_be(dns + 12 + name.wire.size(), name.type);
        store16_be(dns + 14 + name.wire.size(), kClassIn);
        // Pseudo-header: destination, protocol and UDP length (the source is added per packet).
        uint8_t pseudo[8] = {};
        std::memcpy(pseudo, ip + 16, 4);
        pseudo[5] = IPPROTO_UDP;
        store16_be(pseudo + 6, static_cast<uint16_t>(8 + dns_length));
        t.udp_partial_sum = sum_words(pseudo, sizeof(pseudo)) + sum_words(udp, 8 + dns_length);
        templates_.push_back(t);
    }
}

uint16_t DnsQueryFactory::build(rte_mbuf* m, uint32_t name_index, uint32_t client_address, uint16_t client_port,
                                uint16_t id) const noexcept {
    const Template& t = templates_[name_index];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(f, bytes_.data() + t.offset, t.frame_size);
    uint8_t* ip = f + kIpOffset;
    uint8_t* udp = f + kUdpOffset;
    store32_be(ip + 12, client_address);
    store16_be(udp, client_port);
    store16_be(f + kDnsOffset, id);
    const uint64_t source = term32(ip + 12);
    const uint16_t ip_checksum = finish_checksum(t.ip_partial_sum + source);
    std::memcpy(ip + 10, &ip_checksum, sizeof(ip_checksum));
    uint16_t udp_checksum = finish_checksum(t.udp_partial_sum + source + term16(udp) + term16(f + kDnsOffset));
    if (udp_checksum == 0) udp_checksum = 0xffff;  // zero means "no checksum" in UDP
    std::memcpy(udp + 6, &udp_checksum, sizeof(udp_checksum));
    m->data_len = t.frame_size;
    m->pkt_len = t.frame_size;
    return t.frame_size;
}

}  // namespace vipgen
