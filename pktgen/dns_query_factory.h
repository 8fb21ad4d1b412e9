// Builds DNS query packets (Ethernet/IPv4/UDP/DNS) from one template per name.
//
// Design note: as in packet_factory.h, a query is a copy of a prebuilt frame plus the few
// fields that vary (client address, client port, DNS ID), and both checksums are finished from
// sums precomputed over the constant bytes. Queries ask with RD set and no EDNS (what dnsperf
// sends by default), so every answer to the names of a cluster fits in 512 bytes.
#pragma once

#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "pktgen/dns_names.h"

namespace vipgen {

class DnsQueryFactory {
public:
    // server: the DNS address (host order), asked on port 53.
    DnsQueryFactory(const std::vector<DnsName>& names, uint32_t server, const rte_ether_addr& source_mac,
                    const rte_ether_addr& gateway_mac);

    // Writes the query for names[name_index] from client (address, port) with `id` into an empty
    // mbuf (which must hold kMaxQueryFrame bytes); returns the frame length without FCS.
    uint16_t build(rte_mbuf* m, uint32_t name_index, uint32_t client_address, uint16_t client_port,
                   uint16_t id) const noexcept;

    static constexpr uint32_t kMaxQueryFrame = 14 + 20 + 8 + 12 + kDnsMaxName + 4;

private:
    struct Template {
        uint32_t offset;           // into bytes_
        uint16_t frame_size;       // without FCS, padded to the 60-byte minimum
        uint64_t ip_partial_sum;   // IPv4 header with the source address and checksum zero
        uint64_t udp_partial_sum;  // pseudo-header and datagram with source, port, ID and checksum zero
    };
    std::vector<uint8_t> bytes_;
    std::vector<Template> templates_;
};

}  // namespace vipgen
