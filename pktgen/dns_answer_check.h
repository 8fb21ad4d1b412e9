// Checks one DNS answer against the query vipgen sent: a pure function of the message bytes and
// the DnsName asked (dns_names.h), so tests feed it hand-made answers.
//
// Design note: a DNS server can be wrong in many ways that a packet counter cannot see: the
// right rcode with the wrong address, a stale headless answer that still lists a pod, a question
// that is not the one asked. The checker walks the whole message (every resource record of the
// three sections, compression pointers followed with a bound) and compares what matters: QR set,
// opcode QUERY, not truncated, the question echoed (name without regard to case, type, class IN),
// the rcode, and for A queries the set of A records in the answer. Whether the ID belongs to an
// outstanding query is the caller's business (dns_query_table.h): it needs per-flow state.
#pragma once

#include <cstdint>

#include "pktgen/dns_names.h"

namespace vipgen {

enum class DnsCheck : uint8_t {
    Ok,
    Malformed,      // shorter than its header or counts say, a name running past the end, a pointer loop
    NotAnswer,      // QR clear or an opcode other than QUERY
    Truncated,      // TC set: the answer did not fit (or was rate-limited with a slip)
    WrongQuestion,  // QDCOUNT != 1, or another name, type or class
    WrongRcode,     // the rcode differs from the expected one
    WrongRecords,   // the records differ (addresses, no answer where one is due, no SOA in a negative answer)
};
const char* dns_check_name(DnsCheck check) noexcept;

inline constexpr uint32_t kDnsHeaderBytes = 12;
inline constexpr uint32_t kDnsMaxAddresses = 64;  // A records compared per answer; more is WrongRecords

// `message`: the UDP payload (from the DNS header on).
DnsCheck check_dns_answer(const uint8_t* message, uint32_t length, const DnsName& asked) noexcept;

}  // namespace vipgen
