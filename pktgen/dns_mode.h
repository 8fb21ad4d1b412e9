// vipgen's DNS query mode (--dns-names): the generator lcores send DNS queries for the names of a
// file to the DNS address and check every answer (dns_answer_check.h) instead of playing both ends
// of VIP connections. The rest of vipgen is unchanged: pacing, trials, the zero-loss search, the
// report (an answer checked OK is a "returned" packet, so loss = queries - good answers).
#pragma once

#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "pktgen/checker.h"
#include "pktgen/dns_flows.h"
#include "pktgen/dns_names.h"
#include "pktgen/dns_query_factory.h"

namespace vipgen {

class DnsMode {
public:
    DnsMode(std::vector<DnsName> names, uint32_t server, const ClientSpace& clients, uint32_t flows,
            const rte_ether_addr& source_mac, const rte_ether_addr& gateway_mac);

    // Builds flow's next query into `m`; returns the frame length without FCS.
    uint16_t build_query(rte_mbuf* m, uint32_t flow, uint32_t tx_tsc) noexcept;

    // Checks a packet addressed to a client; on Ok `tx_tsc` is the send time of the query it
    // answers when that was the flow's newest (0 otherwise: no latency sample).
    Verdict check_answer(const ReceivedPacket& packet, uint32_t& tx_tsc) noexcept;

    const std::vector<DnsName>& names() const noexcept { return names_; }
    uint32_t server() const noexcept { return server_; }

private:
    std::vector<DnsName> names_;
    uint32_t server_;
    DnsClients clients_;
    DnsQueryTable queries_;
    DnsQueryFactory factory_;
};

}  // namespace vipgen
