// libFuzzer target: arbitrary DNS queries through the parser and the responder
// (answer_dns_query) on a fixed zone, every response checked; and the same bytes through
// vipctl's response decoder (decode_dns_response), which must refuse them with an
// std::invalid_argument or decode them, never crash.
//
// Input: byte 0 picks the options:
//   bit 0  the zone with upstreams (out-of-zone names are forwarded over UDP) or without
//   bit 1  the client is trusted (else UDP responses are bounded to 4x the query)
//   bit 2  force_truncated (RRL's slip)
//   bit 3  the message is TCP-framed: a 2-byte length prefix, then that many bytes (or fewer)
// bytes 1-2 and 3-4: the response buffer's size (big-endian, modulo 2048) for UDP and for TCP.
// The rest: the DNS message. Each transport answers it twice, into a buffer of exactly that
// size and in place (in the query's own buffer, as dataplane/dns_path.cpp does), which must
// give the same response. truncate_dns_response is then applied to a copy.
//
// Checked for every response written (length > 0):
//   - it fits the buffer, and over UDP the size the client may receive (512 without OPT, at
//     most our 1232, 4x the query for an untrusted client); a TCP one is never Forward;
//   - its ID is the query's, QR = 1, the opcode is the query's, TC matches answer.truncated,
//     the rcode (with the OPT's extended bits) matches answer.kind;
//   - with a question echoed: QDCOUNT = 1 and the question's bytes are the query's; without:
//     QDCOUNT = 0 and the response is the 12-byte header;
//   - an independent walk of the sections (every name's labels and compression pointers, which
//     must point backwards into the message past the header; the record data's names of CNAME,
//     PTR, NS, SRV and SOA, which must end with their RDATA) consumes exactly the response,
//     with ANCOUNT + NSCOUNT + ARCOUNT records, at most one OPT and only as the last
//     additional record, present exactly when the query had one (FORMERR/NOTIMP aside);
//   - decode_dns_response accepts it and finds as many records (OPT aside).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <rte_byteorder.h>

#include "control/dns_text.h"
#include "control/dns_zone_builder.h"
#include "dataplane/dns_responder.h"
#include "dataplane/dns_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace vipgate::fuzz {
namespace {

constexpr uint32_t kTtl = 30;
constexpr uint32_t kCapacityModulo = 2048;
constexpr uint32_t kOptionBytes = 5;
constexpr uint32_t kOptLength = 11;

std::shared_ptr<const DnsZone> zones[2];  // [0] without upstreams, [1] with

std::shared_ptr<const DnsZone> build_zone(bool upstreams) {
    DnsServerParameters parameters;
    parameters.addresses = {rte_cpu_to_be_32(0xC6126435)};  // 198.18.100.53
    parameters.has_upstreams = upstreams;
    DnsZoneBuilder builder("cluster.local", kTtl, parameters);
    builder.add_txt("dns-version.cluster.local", "1.1.0");
    // ClusterIP services: A, SRV per named port, PTR.
    const char* services[] = {"web", "api", "sticky"};
    for (uint32_t i = 0; i < 3; ++i) {
        const std::string name = std::string(services[i]).append(".default.svc.cluster.local");
        builder.add_a(name, 0xC6126401 + i);  // 198.18.100.1..3
        builder.add_srv(std::string("_http._tcp.").append(name), 0, 100, 80, name);
        builder.add_srv(std::string("_dns._udp.").append(name), 0, 100, 53, name);
        builder.add_ptr(std::to_string(1 + i).append(".100.18.198.in-addr.arpa"), name);
    }
    // A headless service: one A per endpoint, names by hostname or dashed address, SRV each.
    const std::string headless = "db.data.svc.cluster.local";
    const char* endpoints[] = {"db-0", "db-1", "198-19-0-42"};
    for (uint32_t i = 0; i < 3; ++i) {
        const std::string endpoint = std::string(endpoints[i]).append(".").append(headless);
        builder.add_a(headless, 0xC6130028 + i);  // 198.19.0.40..42
        builder.add_a(endpoint, 0xC6130028 + i);
        builder.add_srv(std::string("_pg._tcp.").append(headless), 0, 33, 5432, endpoint);
        builder.add_ptr(std::to_string(40 + i).append(".0.19.198.in-addr.arpa"), endpoint);
    }
    // Many addresses (answers that do not fit 512 bytes, or even 1232), a CNAME, a name at the
    // length limits, an empty non-terminal (x.y: y.default exists only as its parent).
    for (uint32_t i = 0; i < 100; ++i) builder.add_a("big.default.svc.cluster.local", 0xC6130100 + i);
    builder.add_cname("ext.default.svc.cluster.local", "www.example.org");
    const std::string label63(63, 'l');
    builder.add_a(
        std::string(label63).append(".").append(label63).append(".").append(label63).append(".svc.cluster.local"),
        0xC6126409);
    builder.add_a("x.y.default.svc.cluster.local", 0xC612640A);
    const std::array<uint8_t, 16> ipv6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
    builder.add_aaaa("x.y.default.svc.cluster.local", ipv6);
    builder.add_aaaa("web.default.svc.cluster.local", ipv6);
    return builder.build();
}

uint16_t read16(const uint8_t* at) {
    return static_cast<uint16_t>(at[0] << 8 | at[1]);
}

// Walks the name at `position` (labels and backward pointers only); returns the offset after it
// in place (after the first pointer, if any).
uint32_t walk_name(const uint8_t* message, uint32_t length, uint32_t position) {
    uint32_t cursor = position;
    uint32_t end = 0;
    uint32_t wire_length = 0;
    for (;;) {
        FUZZ_CHECK(cursor < length);
        const uint8_t label = message[cursor];
        if ((label & 0xC0) == 0xC0) {
            FUZZ_CHECK(cursor + 1 < length);
            const uint32_t target = static_cast<uint32_t>((label & 0x3F) << 8 | message[cursor + 1]);
            FUZZ_CHECK(target >= dns::kHeaderLength && target < cursor,
                       "a compression pointer that does not point backwards");
            if (end == 0) end = cursor + 2;
            cursor = target;
            continue;
        }
        FUZZ_CHECK(label <= dns::kMaxLabelLength);
        wire_length += 1u + label;
        FUZZ_CHECK(wire_length <= dns::kMaxNameLength);
        FUZZ_CHECK(cursor + 1u + label <= length);
        cursor += 1u + label;
        if (label == 0) break;
    }
    return end == 0 ? cursor : end;
}

struct Walk {
    uint32_t records = 0;
    bool has_opt = false;
    uint8_t extended_rcode = 0;
};

// Every section of `response`; the walk must consume exactly `length` bytes.
Walk walk_response(const uint8_t* response, uint32_t length) {
    FUZZ_CHECK(length >= dns::kHeaderLength);
    const uint16_t questions = read16(response + 4);
    const uint32_t counts[3] = {read16(response + 6), read16(response + 8), read16(response + 10)};
    uint32_t position = dns::kHeaderLength;
    for (uint16_t i = 0; i < questions; ++i) {
        position = walk_name(response, length, position) + 4;
        FUZZ_CHECK(position <= length);
    }
    Walk walk;
    for (uint32_t section = 0; section < 3; ++section) {
        for (uint32_t i = 0; i < counts[section]; ++i) {
            const uint32_t owner = position;
            position = walk_name(response, length, position);
            FUZZ_CHECK(position + 10 <= length);
            const uint16_t type = read16(response + position);
            const uint32_t rdlength = read16(response + position + 8);
            const uint32_t rdata = position + 10;
            FUZZ_CHECK(rdata + rdlength <= length);
            if (type == dns::kTypeOpt) {
                FUZZ_CHECK(section == 2 && i + 1 == counts[2], "OPT not the last additional record");
                FUZZ_CHECK(response[owner] == 0 && position == owner + 1, "OPT not owned by the root");
                walk.has_opt = true;
                walk.extended_rcode = response[position + 4];
            }
            uint32_t cursor = rdata;
            switch (type) {
            case dns::kTypeCname:
            case dns::kTypePtr:
            case dns::kTypeNs:
                cursor = walk_name(response, length, cursor);
                FUZZ_CHECK(cursor == rdata + rdlength, "RDATA name not ending with the RDATA");
                break;
            case dns::kTypeSrv:
                FUZZ_CHECK(rdlength > 6);
                cursor = walk_name(response, length, cursor + 6);
                FUZZ_CHECK(cursor == rdata + rdlength, "SRV target not ending with the RDATA");
                break;
            case dns::kTypeSoa:
                cursor = walk_name(response, length, walk_name(response, length, cursor)) + 20;
                FUZZ_CHECK(cursor == rdata + rdlength, "SOA not ending with the RDATA");
                break;
            case dns::kTypeA:
                FUZZ_CHECK(rdlength == 4);
                break;
            default:
                break;
            }
            position = rdata + rdlength;
            ++walk.records;
        }
    }
    FUZZ_CHECK(position == length, "bytes after the last record");
    return walk;
}

uint8_t rcode_of(DnsAnswerKind kind) {
    switch (kind) {
    case DnsAnswerKind::NoError:
    case DnsAnswerKind::NoData:
        return dns::kRcodeNoError;
    case DnsAnswerKind::NxDomain:
        return dns::kRcodeNxDomain;
    case DnsAnswerKind::Refused:
        return dns::kRcodeRefused;
    case DnsAnswerKind::FormErr:
        return dns::kRcodeFormErr;
    case DnsAnswerKind::NotImp:
        return dns::kRcodeNotImp;
    case DnsAnswerKind::BadVers:
        return static_cast<uint8_t>(dns::kRcodeBadVers);
    case DnsAnswerKind::Forward:
    case DnsAnswerKind::Drop:
        break;
    }
    fail("no rcode for a kind that writes nothing");
}

void check_response(const uint8_t* query, uint32_t query_length, const DnsAnswerOptions& options, uint32_t capacity,
                    const DnsAnswer& answer, const uint8_t* response) {
    DnsQuery parsed;
    parse_dns_query(query, query_length, parsed);
    if (answer.kind == DnsAnswerKind::Drop || answer.kind == DnsAnswerKind::Forward) {
        FUZZ_CHECK(answer.length == 0);
        FUZZ_CHECK(answer.kind != DnsAnswerKind::Forward || options.transport == DnsTransport::Udp);
        return;
    }
    const uint32_t length = answer.length;
    FUZZ_CHECK(length >= dns::kHeaderLength && length <= capacity, "a response larger than its buffer");
    if (options.transport == DnsTransport::Udp) {
        FUZZ_CHECK(length <= dns::kServerUdpSize);
        FUZZ_CHECK(parsed.has_opt || length <= dns::kClassicUdpSize, "over 512 bytes to a client without EDNS");
        FUZZ_CHECK(options.client_trusted || length <= dns::kUntrustedAmplification * query_length,
                   "amplification bound exceeded");
    }
    FUZZ_CHECK(std::memcmp(response, query, 2) == 0, "response ID differs from the query's");
    const uint16_t flags = read16(response + 2);
    FUZZ_CHECK(flags & dns::kFlagQr);
    FUZZ_CHECK((flags & 0x7800) == (read16(query + 2) & 0x7800), "opcode not echoed");
    FUZZ_CHECK(((flags & dns::kFlagTc) != 0) == answer.truncated);
    if (answer.question_end == 0) {
        FUZZ_CHECK(length == dns::kHeaderLength && read16(response + 4) == 0);
    } else {
        FUZZ_CHECK(read16(response + 4) == 1);
        FUZZ_CHECK(answer.question_end <= query_length && answer.question_end <= length);
        FUZZ_CHECK(std::memcmp(response + dns::kHeaderLength, query + dns::kHeaderLength,
                               answer.question_end - dns::kHeaderLength) == 0,
                   "question not echoed byte for byte");
    }
    const Walk walk = walk_response(response, length);
    const uint32_t counted = uint32_t{read16(response + 6)} + read16(response + 8) + read16(response + 10);
    FUZZ_CHECK(walk.records == counted);
    FUZZ_CHECK(walk.has_opt == answer.has_opt);
    FUZZ_CHECK(walk.has_opt == (parsed.has_opt && answer.question_end != 0), "OPT in the response iff in the query");
    FUZZ_CHECK(!walk.has_opt || length - kOptLength >= answer.question_end);
    const uint32_t rcode = (flags & 0xF) | uint32_t{walk.extended_rcode} << 4;
    FUZZ_CHECK(rcode == rcode_of(answer.kind), "rcode does not match the answer's kind");
    try {
        const DnsTextResponse decoded = decode_dns_response(response, length);
        FUZZ_CHECK(decoded.records.size() + (decoded.edns_size ? 1 : 0) == counted);
        FUZZ_CHECK(decoded.rcode == rcode);
        FUZZ_CHECK(decoded.question.empty() == (answer.question_end == 0));
        (void)decoded.to_text();
    } catch (const std::invalid_argument& error) {
        fail("decode_dns_response refused a response", error.what());
    }
}

void answer_both_ways(const DnsZone& zone, const std::vector<uint8_t>& query, const DnsAnswerOptions& options,
                      uint32_t capacity) {
    const auto length = static_cast<uint32_t>(query.size());
    // Exactly `capacity` bytes: AddressSanitizer sees any write past them.
    std::unique_ptr<uint8_t[]> separate(new uint8_t[capacity == 0 ? 1 : capacity]);
    const DnsAnswer answer = answer_dns_query(zone, query.data(), length, options, separate.get(), capacity);
    check_response(query.data(), length, options, capacity, answer, separate.get());

    std::vector<uint8_t> in_place(std::max<size_t>({capacity, query.size(), 1}));
    std::copy(query.begin(), query.end(), in_place.begin());
    const DnsAnswer again = answer_dns_query(zone, in_place.data(), length, options, in_place.data(), capacity);
    FUZZ_CHECK(again.kind == answer.kind && again.status == answer.status && again.length == answer.length &&
               again.truncated == answer.truncated && again.question_end == answer.question_end);
    FUZZ_CHECK(std::memcmp(in_place.data(), separate.get(), answer.length) == 0, "in place answers differently");

    if (answer.length == 0) return;
    const uint16_t cut = truncate_dns_response(in_place.data(), answer);
    FUZZ_CHECK(cut <= answer.length);
    if (answer.question_end == 0) return;  // header-only errors are left as they are
    FUZZ_CHECK(read16(in_place.data() + 2) & dns::kFlagTc);
    FUZZ_CHECK(read16(in_place.data() + 6) == 0 && read16(in_place.data() + 8) == 0);
    const Walk walk = walk_response(in_place.data(), cut);
    FUZZ_CHECK(walk.records == (answer.has_opt ? 1u : 0u) && walk.has_opt == answer.has_opt);
}

}  // namespace
}  // namespace vipgate::fuzz

using namespace vipgate;
using namespace vipgate::fuzz;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    zones[0] = build_zone(false);
    zones[1] = build_zone(true);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // vipctl's decoder on raw bytes: any outcome but a crash.
    try {
        (void)decode_dns_response(data, size).to_text();
    } catch (const std::invalid_argument&) {}
    if (size < kOptionBytes) return 0;
    const uint8_t choice = data[0];
    const uint32_t udp_capacity = read16(data + 1) % kCapacityModulo;
    const uint32_t tcp_capacity = read16(data + 3) % kCapacityModulo;
    const uint8_t* message = data + kOptionBytes;
    size_t length = size - kOptionBytes;
    if (choice & 8) {
        if (length < 2) return 0;
        const size_t prefixed = read16(message);
        message += 2;
        length = std::min(length - 2, prefixed);
    }
    const std::vector<uint8_t> query(message, message + length);
    const DnsZone& zone = *zones[choice & 1];

    DnsAnswerOptions options;
    options.client_trusted = (choice & 2) != 0;
    options.force_truncated = (choice & 4) != 0;
    options.transport = DnsTransport::Udp;
    answer_both_ways(zone, query, options, udp_capacity);
    options.transport = DnsTransport::Tcp;
    options.client_trusted = true;
    answer_both_ways(zone, query, options, tcp_capacity);
    return 0;
}
