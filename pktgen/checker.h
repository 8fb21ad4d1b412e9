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
    uint32_t source;       // host order
    uint32_t destination;  // host order
    uint16_t source_port;  // host order
    uint16_t destination_port;
    uint8_t protocol;
    uint8_t ttl;
    uint8_t tcp_flags;
    const uint8_t* l4;
    uint32_t l4_length;
};

enum class FrameType { Ipv4, Arp, Other };

// Classifies a frame; for IPv4 fills `out` and returns Malformed through `verdict` when the
// headers, lengths or checksums are wrong (Ok otherwise).
FrameType parse_frame(const uint8_t* frame, uint32_t length, ReceivedPacket& out, Verdict& verdict) noexcept;

enum class CheckMode { Gateway, Forwarder };

class Checker {
public:
    Checker(CheckMode mode, const Targets& targets, const FlowSpace& flows, FlowMemory& memory) noexcept
        : mode_(mode), targets_(targets), flows_(flows), memory_(memory) {}

    // Which side receives the packet: true for the client side (a reply to a client, or any
    // returned packet in forwarder mode), false for the emulated backends.
    bool is_client_bound(const ReceivedPacket& packet) const noexcept {
        return mode_ == CheckMode::Forwarder || flows_.is_client_address(packet.destination);
    }

    // Backend side: sets endpoint_index when Ok.
    Verdict check_forwarded(const ReceivedPacket& packet, Signature& signature,
                            uint32_t& endpoint_index) const noexcept;

    // Client side: a reply (gateway mode) or the packet itself coming back (forwarder mode).
    Verdict check_returned(const ReceivedPacket& packet, Signature& signature) const noexcept;

private:
    Verdict classify_foreign(const ReceivedPacket& packet, Signature& signature) const noexcept;

    CheckMode mode_;
    const Targets& targets_;
    const FlowSpace& flows_;
    FlowMemory& memory_;
};

}  // namespace vipgen
