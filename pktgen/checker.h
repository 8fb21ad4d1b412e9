// The verifier: what a packet that comes back to vipgen must look like.
//
// Design note: vipgen plays both ends of every connection, so it can check the gateway
// exactly. On the backend side a forwarded packet must be addressed to an endpoint of its
// flow's VIP port (a ready one with weight > 0 for a connection's first packet), come from the
// source the NAT mode prescribes, have its TTL decremented and valid checksums, and reach the
// same endpoint as every earlier packet of the flow. On the client side a reply must come from
// VIP:port to the flow's own client address and port. In forwarder mode (a plain forwarder
// such as testpmd) packets must come back unchanged apart from the MACs. The checks are pure
// functions of the packet bytes plus FlowMemory, so tests feed them hand-made packets.
// IPv6 flows get the same checks (hop limit for TTL, the IPv6 SNAT addresses, the flow's IPv6
// client address and cluster IP); a packet of the wrong family for its flow's target is
// misdirected (forwarded) or a wrong reply (returned). vipgate's own code is not used here:
// checksums and addresses are verified from the bytes, so the gateway's helpers cannot hide
// their own mistakes.
#pragma once

#include <array>
#include <cstdint>

#include "pktgen/flow_memory.h"
#include "pktgen/flow_space.h"
#include "pktgen/packet_factory.h"
#include "pktgen/targets.h"

namespace vipgen {

enum class Verdict : uint8_t {
    Ok = 0,
    Malformed,    // truncated, bad IPv4/L4 checksum, fragment, bad lengths
    Unexpected,   // not vipgen traffic (no signature), or a protocol vipgen never sends
    Reset,        // a TCP reset (the gateway refused or tore down a connection)
    IcmpError,    // an ICMP message (unreachable, time exceeded, ...)
    Misdirected,  // to an address/port that is not an endpoint of the flow's VIP port
    WrongSource,  // source not rewritten as the NAT mode says
    TtlError,     // TTL not decremented by exactly one
    Moved,        // the flow reached a different endpoint than before
    WrongReply,   // client side: not from VIP:port, or not to the flow's client address:port
    // DNS mode (dns_mode.h): answers checked by dns_answer_check.h
    DnsWrongId,        // no outstanding query of that client has the answer's ID (duplicate, invented)
    DnsWrongQuestion,  // the question is not the one asked
    DnsWrongRcode,     // the rcode is not the expected one
    DnsWrongRecords,   // wrong addresses, no answer where one is due, no SOA in a negative answer
    DnsTruncated,      // TC set (the answer did not fit, or rate limiting slipped it)
};
inline constexpr size_t kVerdictCount = 15;
const char* verdict_name(Verdict verdict) noexcept;

struct ReceivedPacket {
    uint32_t source;       // host order (IPv4)
    uint32_t destination;  // host order (IPv4)
    uint16_t source_port;  // host order
    uint16_t destination_port;
    uint8_t protocol;  // IPv6: the next header of the fixed header
    uint8_t ttl;       // IPv6: the hop limit
    uint8_t tcp_flags;
    bool ipv6;
    const uint8_t* l4;
    uint32_t l4_length;
    const uint8_t* source6;  // IPv6: the addresses in the frame (network order)
    const uint8_t* destination6;
};

enum class FrameType { Ipv4, Ipv6, Arp, Other };

// Classifies a frame; for IPv4 and IPv6 fills `out` and returns Malformed through `verdict`
// when the headers, lengths or checksums are wrong (Ok otherwise). IPv6 with an extension
// header is Unexpected (vipgen sends none and vipgate adds none).
FrameType parse_frame(const uint8_t* frame, uint32_t length, ReceivedPacket& out, Verdict& verdict) noexcept;

enum class CheckMode { Gateway, Forwarder };

class Checker {
public:
    Checker(CheckMode mode, const Targets& targets, const FlowSpace& flows, const FlowSpace6& flows6,
            FlowMemory& memory) noexcept
        : mode_(mode), targets_(targets), flows_(flows), flows6_(flows6), memory_(memory) {}

    // Which side receives the packet: true for the client side (a reply to a client, or any
    // returned packet in forwarder mode), false for the emulated backends.
    bool is_client_bound(const ReceivedPacket& packet) const noexcept {
        return mode_ == CheckMode::Forwarder || (packet.ipv6 ? flows6_.is_client_address(packet.destination6)
                                                             : flows_.is_client_address(packet.destination));
    }

    // Backend side: sets endpoint_index when Ok.
    Verdict check_forwarded(const ReceivedPacket& packet, Signature& signature,
                            uint32_t& endpoint_index) const noexcept;

    // Client side: a reply (gateway mode) or the packet itself coming back (forwarder mode).
    Verdict check_returned(const ReceivedPacket& packet, Signature& signature) const noexcept;

private:
    Verdict classify_foreign(const ReceivedPacket& packet, Signature& signature) const noexcept;
    Verdict check_forwarded6(const ReceivedPacket& packet, const Signature& signature, const Target& target,
                             uint32_t& endpoint_index) const noexcept;
    Verdict check_returned6(const ReceivedPacket& packet, const Signature& signature,
                            const Target& target) const noexcept;

    CheckMode mode_;
    const Targets& targets_;
    const FlowSpace& flows_;
    const FlowSpace6& flows6_;
    FlowMemory& memory_;
};

}  // namespace vipgen
