// The names vipgen's DNS mode asks, and what each one must answer, read from a text file.
//
// One query per line: NAME TYPE EXPECTED, '#' starts a comment, blank lines are skipped.
//   NAME      a domain name, dotted, with or without the trailing dot
//   TYPE      A, AAAA, NS, CNAME, SOA, PTR, TXT, SRV, ANY or a type number
//   EXPECTED  a comma-separated list of IPv4 addresses: NOERROR, and the answer's A records are
//               exactly these (any order; a CNAME before them is allowed, as for ExternalName)
//             NOERROR   NOERROR with at least one answer record (for SRV, PTR, TXT, ...)
//             NODATA    NOERROR, no answer record, an SOA in the authority section
//             NXDOMAIN  NXDOMAIN with an SOA in the authority section
//             REFUSED, SERVFAIL, FORMERR, NOTIMP   that rcode
// Example:
//   my-internal-backend-api.default.svc.cluster.local  A  198.18.128.10
//   nothing-here.default.svc.cluster.local             A  NXDOMAIN
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vipgen {

enum class DnsOutcome : uint8_t { Addresses, NoError, NoData, NxDomain, Rcode };

inline constexpr uint8_t kDnsRcodeNoError = 0;
inline constexpr uint8_t kDnsRcodeFormErr = 1;
inline constexpr uint8_t kDnsRcodeServFail = 2;
inline constexpr uint8_t kDnsRcodeNxDomain = 3;
inline constexpr uint8_t kDnsRcodeNotImp = 4;
inline constexpr uint8_t kDnsRcodeRefused = 5;
inline constexpr size_t kDnsMaxName = 255;  // wire format, root label included

struct DnsName {
    std::string text;           // as written, without the trailing dot
    std::vector<uint8_t> wire;  // wire format as written (queries keep the case; answers compare without)
    uint16_t type = 1;
    DnsOutcome outcome = DnsOutcome::Addresses;
    uint8_t rcode = kDnsRcodeNoError;  // what the answer's RCODE must be
    std::vector<uint32_t> addresses;   // Addresses: host order, sorted
};

// Wire format of a dotted name; an empty string and "." are the root. Returns a message saying
// what is wrong (an empty label, a label over 63 bytes, over 255 bytes in all), or "" when fine.
std::string encode_dns_name(std::string_view dotted, std::vector<uint8_t>& wire);

// Throws std::runtime_error "ORIGIN:LINE: problem" for the first bad line, or when no name is given.
std::vector<DnsName> parse_dns_names(std::string_view text, const std::string& origin);
std::vector<DnsName> load_dns_names(const std::string& path);

}  // namespace vipgen
