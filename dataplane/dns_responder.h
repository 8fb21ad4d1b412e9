// The DNS responder: a query's bytes in, the response's bytes out, from the published zone.
// A pure function: the pipeline (dataplane/dns_path.cpp) calls it on the mbuf's payload, vipctl's
// "dns" API operation on a query it builds, with the same zone, so both say the same thing.
//
// What it answers (the Kubernetes DNS specification, CoreDNS's kubernetes plugin as reference):
// - a name with records of the asked type: NOERROR, AA, the prebuilt answer (and additional)
//   section; a CNAME (an ExternalName service) answers every type at its name;
// - a name that exists without that type (the apex, svc.<zone>, <ns>.svc.<zone>, an empty
//   non-terminal): NODATA, NOERROR + AA with the SOA in the authority section (in the zone;
//   an exact name outside it, such as a PTR name, answers NODATA without an SOA);
// - an in-zone name that does not exist: NXDOMAIN + AA with the SOA;
// - a name outside the zone: Forward (the caller sends it upstream) over UDP when the zone has
//   upstreams; otherwise, and always over TCP, REFUSED;
// - class other than IN, AXFR and IXFR: REFUSED;
// - ANY (RFC 8482): the name's first record set in type order (its A records when it has any),
//   NODATA when it has none.
// The question is echoed as asked (its case kept). With an OPT record in the query the response
// carries one (our UDP size, kServerUdpSize; DO copied) and the client's size is honoured (at
// least 512); without one a UDP response is at most 512 bytes. When the answer does not fit,
// the additional section is left out first; if it still does not fit the response is the
// header and question with TC set, and the client retries over TCP.
#pragma once

#include <cstdint>

#include "dataplane/dns_wire.h"
#include "dataplane/dns_zone_layout.h"

namespace vipgate {

namespace dns {
constexpr uint16_t kServerUdpSize = 1232;  // the size we advertise (DNS flag day 2020)
constexpr uint16_t kClassicUdpSize = 512;
constexpr uint32_t kUntrustedAmplification = 4;  // a UDP response to a client outside the
                                                 // client ranges is at most 4x its query
}  // namespace dns

enum class DnsTransport : uint8_t { Udp, Tcp };

enum class DnsAnswerKind : uint8_t {
    NoError,  // records answered
    NoData,
    NxDomain,
    Refused,
    FormErr,
    NotImp,
    BadVers,
    Forward,  // out of zone, to the upstreams: nothing written
    Drop,     // never answered: nothing written (see DnsAnswer::status)
};

struct DnsAnswerOptions {
    DnsTransport transport = DnsTransport::Udp;
    // A source inside [cluster] client_ranges; other sources (allowed because the ranges are
    // empty) get UDP responses no larger than kUntrustedAmplification times their query.
    bool client_trusted = true;
    bool force_truncated = false;  // answer with TC and no records (RRL's slip)
};

struct DnsAnswer {
    DnsAnswerKind kind = DnsAnswerKind::Drop;
    DnsQueryStatus status = DnsQueryStatus::Ok;  // the parser's verdict
    bool truncated = false;                      // TC set
    uint16_t length = 0;                         // response bytes written
    uint16_t question_end = 0;                   // offset after the echoed question; 0: none echoed
    bool has_opt = false;                        // the response ends with an OPT record
};

// `response` may be the query's own buffer (the query is parsed before anything is written);
// `capacity`: bytes writable there, which bounds the response like the client's size does (a
// response that cannot hold even its header and question is dropped).
DnsAnswer answer_dns_query(const DnsZone& zone, const uint8_t* query, uint32_t query_length,
                           const DnsAnswerOptions& options, uint8_t* response, uint32_t capacity) noexcept;

// Cuts a response answer_dns_query wrote down to header, question and OPT, with TC set (RRL's
// slip, decided after answering). Returns the new length.
uint16_t truncate_dns_response(uint8_t* response, const DnsAnswer& answer) noexcept;

}  // namespace vipgate
