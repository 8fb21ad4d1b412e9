// DnsZone: the cluster's DNS names as the workers answer them, built by the control thread
// (control/dns_zone_builder.h) with every publication that changes services or endpoints, and
// published in the Snapshot beside the tables that forward the same services. Immutable once
// published; workers read it without locks.
//
// Design note (see ../shared/DESIGN-NOTES.md section 7): everything a worker needs to answer is
// prepared here: names are stored lower-cased in wire format, and each (name, type) holds its
// answer and additional sections as ready-to-copy bytes whose owner names are compression
// pointers to the question (offset 12). A worker parses the query, finds the name, and copies
// bytes: no name parsing beyond the query, no allocation per query. A name that does not exist
// costs one probe sequence like a hit (kubelet's ndots:5 makes NXDOMAIN the most common answer).
//
// The layout below is private to dns_zone.cpp / dns_zone_builder.cpp; everything else uses the
// builder (control side) and the responder (dataplane/dns_responder.h).
#pragma once

#include <cstdint>
#include <vector>

namespace vipgate {

namespace dns {
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeNs = 2;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kTypePtr = 12;
constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeSrv = 33;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kTypeAny = 255;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kPort = 53;
}  // namespace dns

// Runtime parameters of the DNS server that the workers need with the zone.
struct DnsServerParameters {
    std::vector<uint32_t> addresses;  // network order: the DNS VIPs (at most kMaxDnsAddresses)
    bool has_upstreams = false;       // out-of-zone queries take the (address, 53, UDP) VIP entry
    uint32_t rate_limit = 0;          // responses per second per client address, per worker; 0: off
    uint32_t rate_limit_slip = 2;     // every Nth rate-limited answer is sent truncated (TC=1); 0: none
};

constexpr size_t kMaxDnsAddresses = 8;

class DnsZone;  // defined in dns_zone.cpp's private header, owned by the dataplane

}  // namespace vipgate
