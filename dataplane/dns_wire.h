// DNS query parser: a pure function on a buffer, the only DNS code that distrusts the wire.
//
// Design note: it reads the header, the one question and the additional section (where only
// one EDNS0 OPT record may be), checking every length before it reads, and copies the name,
// decompressed, into the caller's DnsQuery twice: as asked (the response echoes the question's
// case, RFC 4343, which DNS 0x20 clients check) and lower-cased (the zone's key). Compression
// pointers are followed under one rule that bounds every walk: each must point backwards, below
// where the previous one pointed (below the name's own start for the first), and not into the
// header. In a question, the first name of the message, that leaves nothing legal: a pointer
// into the name being read is a loop, one into the header is out of range; both are answered
// FORMERR, each with its own status. Every way a query can be bad has its own status; the responder
// maps each to a drop or an error answer (dns_query_status_action).
#pragma once

#include <cstdint>

#include "dataplane/dns_zone_layout.h"

namespace vipgate {

namespace dns {
constexpr uint32_t kMaxQueryLength = 512;  // larger queries are dropped (TooLarge)
constexpr uint8_t kOpcodeQuery = 0;
constexpr uint8_t kRcodeNoError = 0;
constexpr uint8_t kRcodeFormErr = 1;
constexpr uint8_t kRcodeServFail = 2;
constexpr uint8_t kRcodeNxDomain = 3;
constexpr uint8_t kRcodeNotImp = 4;
constexpr uint8_t kRcodeRefused = 5;
constexpr uint16_t kRcodeBadVers = 16;  // extended: 1 in the OPT record's upper rcode bits
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr uint16_t kFlagCd = 0x0010;
constexpr uint16_t kOptFlagDo = 0x8000;
constexpr uint16_t kTypeIxfr = 251;
constexpr uint16_t kTypeAxfr = 252;
}  // namespace dns

enum class DnsQueryStatus : uint8_t {
    Ok,
    // Dropped: nothing can or should be answered.
    TruncatedHeader,  // fewer than 12 bytes
    Response,         // QR = 1: never answered (no reflection, no loops between servers)
    TooLarge,         // over dns::kMaxQueryLength
    // Answered NOTIMP.
    BadOpcode,  // not QUERY
    // Answered FORMERR.
    BadQuestionCount,   // QDCOUNT != 1
    UnexpectedRecords,  // ANCOUNT or NSCOUNT != 0
    TruncatedName,      // the name runs past the message
    LabelTooLong,       // a label type other than a length <= 63 or a pointer (0x40, 0x80)
    NameTooLong,        // over 255 bytes decompressed
    PointerOutOfRange,  // into the header or past the message
    PointerForward,     // not before the pointer itself
    PointerLoop,        // not before where the previous pointer pointed
    TruncatedQuestion,  // no room for QTYPE and QCLASS
    BadAdditional,      // more than one additional record, or one that is not a root-owned OPT
    BadOpt,             // an OPT record cut short (fixed part or RDATA past the end)
    // Answered BADVERS.
    BadVersion,  // EDNS version != 0
};

struct DnsQuery {
    uint16_t id;     // as sent (network order)
    uint16_t flags;  // host order
    uint16_t qtype;  // host order
    uint16_t qclass;
    uint16_t name_length;  // wire bytes with the final 0; 0 until the name is read
    bool has_opt;
    bool dnssec_ok;
    uint16_t udp_size;  // the OPT record's, 0 without one
    uint16_t message_length;
    uint8_t name[dns::kMaxNameLength];   // as asked, decompressed
    uint8_t lower[dns::kMaxNameLength];  // lower-cased

    uint8_t opcode() const noexcept { return static_cast<uint8_t>((flags >> 11) & 0xF); }
};

// `message`: the DNS message (UDP payload, or a TCP message after its length prefix). Fills
// `query` as far as it gets: id and flags whenever the header is complete.
DnsQueryStatus parse_dns_query(const uint8_t* message, uint32_t length, DnsQuery& query) noexcept;

}  // namespace vipgate
