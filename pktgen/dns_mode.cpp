#include "pktgen/dns_mode.h"

#include <netinet/in.h>

#include "dataplane/tcp_state.h"
#include "pktgen/dns_answer_check.h"

namespace vipgen {
namespace {

constexpr uint16_t kDnsPort = 53;
constexpr uint32_t kUdpHeaderBytes = 8;

Verdict verdict_of(DnsCheck check) noexcept {
    switch (check) {
    case DnsCheck::Ok:
        return Verdict::Ok;
    case DnsCheck::Malformed:
        return Verdict::Malformed;
    case DnsCheck::NotAnswer:
        return Verdict::Unexpected;
    case DnsCheck::Truncated:
        return Verdict::DnsTruncated;
    case DnsCheck::WrongQuestion:
        return Verdict::DnsWrongQuestion;
    case DnsCheck::WrongRcode:
        return Verdict::DnsWrongRcode;
    case DnsCheck::WrongRecords:
        return Verdict::DnsWrongRecords;
    }
    return Verdict::Malformed;
}

}  // namespace

DnsMode::DnsMode(std::vector<DnsName> names, uint32_t server, const ClientSpace& clients, uint32_t flows,
                 const rte_ether_addr& source_mac, const rte_ether_addr& gateway_mac)
    : names_(std::move(names)),
      server_(server),
      clients_(clients),
      queries_(flows),
      factory_(names_, server, source_mac, gateway_mac) {}

uint16_t DnsMode::build_query(rte_mbuf* m, uint32_t flow, uint32_t tx_tsc) noexcept {
    const uint16_t id = queries_.next_id(flow, tx_tsc);
    const uint32_t name = dns_name_index(flow, id, queries_.flows(), static_cast<uint32_t>(names_.size()));
    return factory_.build(m, name, clients_.address(flow), clients_.port(flow), id);
}

Verdict DnsMode::check_answer(const ReceivedPacket& packet, uint32_t& tx_tsc) noexcept {
    if (packet.protocol == IPPROTO_ICMP) return Verdict::IcmpError;
    if (packet.protocol == IPPROTO_TCP && (packet.tcp_flags & vipgate::kTcpFlagRst) != 0) return Verdict::Reset;
    if (packet.protocol != IPPROTO_UDP) return Verdict::Unexpected;
    uint32_t flow = 0;
    if (packet.source != server_ || packet.source_port != kDnsPort ||
        !clients_.flow_of(packet.destination, packet.destination_port, flow) || flow >= queries_.flows()) {
        return Verdict::WrongReply;
    }
    const uint8_t* message = packet.l4 + kUdpHeaderBytes;
    const uint32_t length = packet.l4_length - kUdpHeaderBytes;
    if (length < kDnsHeaderBytes) return Verdict::Malformed;
    const uint16_t id = static_cast<uint16_t>(message[0] << 8 | message[1]);
    if (!queries_.accept(flow, id, tx_tsc)) return Verdict::DnsWrongId;
    const DnsName& asked = names_[dns_name_index(flow, id, queries_.flows(), static_cast<uint32_t>(names_.size()))];
    return verdict_of(check_dns_answer(message, length, asked));
}

}  // namespace vipgen
