#include "dataplane/dns_responder.h"

#include <algorithm>
#include <cstring>

namespace vipgate {
namespace {

constexpr uint32_t kOptLength = 11;
constexpr uint32_t kQuestionFixedLength = 4;  // QTYPE, QCLASS

void write16(uint8_t* at, uint16_t value) noexcept {
    at[0] = static_cast<uint8_t>(value >> 8);
    at[1] = static_cast<uint8_t>(value);
}

// A section's bytes at `out`; an empty section has no bytes (its pointer may be null, which
// memcpy may not be given even for 0 bytes).
uint8_t* append(uint8_t* out, const uint8_t* bytes, uint32_t length) noexcept {
    if (length != 0) std::memcpy(out, bytes, length);
    return out + length;
}

struct Sections {
    const uint8_t* answer = nullptr;
    uint32_t answer_length = 0;
    uint16_t answer_count = 0;
    const uint8_t* authority = nullptr;
    uint32_t authority_length = 0;
    const uint8_t* additional = nullptr;
    uint32_t additional_length = 0;
    uint16_t additional_count = 0;
};

uint32_t size_limit(const DnsQuery& query, const DnsAnswerOptions& options, uint32_t query_length, uint32_t capacity) {
    uint32_t limit = capacity;
    if (options.transport == DnsTransport::Udp) {
        uint32_t client =
            query.has_opt ? std::max<uint32_t>(query.udp_size, dns::kClassicUdpSize) : dns::kClassicUdpSize;
        client = std::min<uint32_t>(client, dns::kServerUdpSize);
        if (!options.client_trusted) client = std::min(client, dns::kUntrustedAmplification * query_length);
        limit = std::min(limit, client);
    }
    return std::min<uint32_t>(limit, 0xFFFF);
}

uint16_t response_flags(const DnsZone& zone, const DnsQuery& query, bool authoritative, uint8_t rcode) {
    uint16_t flags =
        static_cast<uint16_t>(dns::kFlagQr | (query.flags & (0x7800 | dns::kFlagRd | dns::kFlagCd)) | rcode);
    if (authoritative) flags |= dns::kFlagAa;
    if (zone.has_upstreams) flags |= dns::kFlagRa;
    return flags;
}

// A header-only error (FORMERR, NOTIMP): the question may not be trustworthy, so none is echoed.
DnsAnswer header_only(const DnsZone& zone, const DnsQuery& query, DnsAnswerKind kind, uint8_t rcode,
                      DnsQueryStatus status, uint8_t* response, uint32_t capacity) {
    if (capacity < dns::kHeaderLength) return {DnsAnswerKind::Drop, status, false, 0};
    std::memcpy(response, &query.id, sizeof(query.id));
    write16(response + 2, response_flags(zone, query, false, rcode));
    std::memset(response + 4, 0, 8);
    return {kind, status, false, static_cast<uint16_t>(dns::kHeaderLength)};
}

DnsAnswer write_response(const DnsZone& zone, const DnsQuery& query, DnsAnswerKind kind, uint8_t rcode,
                         bool authoritative, const Sections& sections, uint32_t limit, bool force_truncated,
                         uint8_t* response) {
    const uint32_t question_end = dns::kHeaderLength + query.name_length + kQuestionFixedLength;
    const uint32_t opt_length = query.has_opt ? kOptLength : 0;
    const uint32_t minimal = question_end + opt_length;
    if (minimal > limit) return {DnsAnswerKind::Drop, DnsQueryStatus::Ok, false, 0};
    const uint32_t with_records = minimal + sections.answer_length + sections.authority_length;
    const bool truncated = force_truncated || with_records > limit;
    const bool with_additional = !truncated && with_records + sections.additional_length <= limit;

    std::memcpy(response, &query.id, sizeof(query.id));
    uint16_t flags = response_flags(zone, query, authoritative, rcode & 0xF);
    if (truncated) flags |= dns::kFlagTc;
    write16(response + 2, flags);
    write16(response + 4, 1);
    write16(response + 6, truncated ? 0 : sections.answer_count);
    write16(response + 8, truncated || sections.authority_length == 0 ? 0 : 1);
    write16(response + 10,
            static_cast<uint16_t>((with_additional ? sections.additional_count : 0) + (opt_length ? 1 : 0)));
    uint8_t* out = response + dns::kHeaderLength;
    std::memcpy(out, query.name, query.name_length);
    out += query.name_length;
    write16(out, query.qtype);
    write16(out + 2, query.qclass);
    out += kQuestionFixedLength;
    if (!truncated) {
        out = append(out, sections.answer, sections.answer_length);
        out = append(out, sections.authority, sections.authority_length);
        if (with_additional) out = append(out, sections.additional, sections.additional_length);
    }
    if (opt_length != 0) {
        out[0] = 0;
        write16(out + 1, dns::kTypeOpt);
        write16(out + 3, dns::kServerUdpSize);
        out[5] = static_cast<uint8_t>(rcode >> 4);  // extended rcode: its upper 8 bits
        out[6] = 0;                                 // version
        write16(out + 7, query.dnssec_ok ? dns::kOptFlagDo : 0);
        write16(out + 9, 0);
        out += kOptLength;
    }
    return {kind,
            DnsQueryStatus::Ok,
            truncated,
            static_cast<uint16_t>(out - response),
            static_cast<uint16_t>(question_end),
            opt_length != 0};
}

const DnsRecordSet* find_set(const DnsZone& zone, const DnsNameEntry& entry, uint16_t qtype) {
    if (entry.set_count == 0) return nullptr;
    const DnsRecordSet* first = &zone.sets[entry.first_set];
    const DnsRecordSet* end = first + entry.set_count;
    if (first->type == dns::kTypeCname || qtype == dns::kTypeAny) return first;
    for (const DnsRecordSet* set = first; set != end; ++set) {
        if (set->type == qtype) return set;
    }
    return nullptr;
}

Sections negative(const DnsZone& zone, const DnsQuery& query) {
    Sections sections;
    sections.authority = &zone.bytes[zone.negative_soa_offset[query.name_length]];
    sections.authority_length = zone.negative_soa_length[query.name_length];
    return sections;
}

uint16_t read16(const uint8_t* at) {
    return static_cast<uint16_t>(at[0] << 8 | at[1]);
}

}  // namespace

uint16_t truncate_dns_response(uint8_t* response, const DnsAnswer& answer) noexcept {
    if (answer.question_end == 0) return answer.length;
    write16(response + 2, read16(response + 2) | dns::kFlagTc);
    write16(response + 6, 0);
    write16(response + 8, 0);
    write16(response + 10, answer.has_opt ? 1 : 0);
    if (!answer.has_opt) return answer.question_end;
    std::memmove(response + answer.question_end, response + answer.length - kOptLength, kOptLength);
    return static_cast<uint16_t>(answer.question_end + kOptLength);
}

DnsAnswer answer_dns_query(const DnsZone& zone, const uint8_t* message, uint32_t message_length,
                           const DnsAnswerOptions& options, uint8_t* response, uint32_t capacity) noexcept {
    DnsQuery query;
    const DnsQueryStatus status = parse_dns_query(message, message_length, query);
    switch (status) {
    case DnsQueryStatus::Ok:
        break;
    case DnsQueryStatus::TruncatedHeader:
    case DnsQueryStatus::Response:
    case DnsQueryStatus::TooLarge:
        return {DnsAnswerKind::Drop, status, false, 0};
    case DnsQueryStatus::BadOpcode:
        return header_only(zone, query, DnsAnswerKind::NotImp, dns::kRcodeNotImp, status, response, capacity);
    case DnsQueryStatus::BadVersion: {
        DnsAnswer answer = write_response(zone, query, DnsAnswerKind::BadVers, dns::kRcodeBadVers, false, {},
                                          size_limit(query, options, message_length, capacity), false, response);
        answer.status = status;
        return answer;
    }
    default:
        return header_only(zone, query, DnsAnswerKind::FormErr, dns::kRcodeFormErr, status, response, capacity);
    }
    const uint32_t limit = size_limit(query, options, message_length, capacity);
    const bool truncate = options.force_truncated;
    if (query.qclass != dns::kClassIn || query.qtype == dns::kTypeAxfr || query.qtype == dns::kTypeIxfr) {
        return write_response(zone, query, DnsAnswerKind::Refused, dns::kRcodeRefused, false, {}, limit, truncate,
                              response);
    }
    const DnsNameEntry* entry = zone.find(query.lower, query.name_length);
    if (entry == nullptr) {
        if (!zone.contains_name(query.lower, query.name_length)) {
            if (zone.has_upstreams && options.transport == DnsTransport::Udp)
                return {DnsAnswerKind::Forward, status, false, 0};
            return write_response(zone, query, DnsAnswerKind::Refused, dns::kRcodeRefused, false, {}, limit, truncate,
                                  response);
        }
        return write_response(zone, query, DnsAnswerKind::NxDomain, dns::kRcodeNxDomain, true, negative(zone, query),
                              limit, truncate, response);
    }
    const DnsRecordSet* set = find_set(zone, *entry, query.qtype);
    if (set == nullptr) {
        const Sections sections = entry->in_zone ? negative(zone, query) : Sections{};
        return write_response(zone, query, DnsAnswerKind::NoData, dns::kRcodeNoError, true, sections, limit, truncate,
                              response);
    }
    Sections sections;
    sections.answer = &zone.bytes[set->answer_offset];
    sections.answer_length = set->answer_length;
    sections.answer_count = set->answer_count;
    sections.additional = &zone.bytes[set->additional_offset];
    sections.additional_length = set->additional_length;
    sections.additional_count = set->additional_count;
    return write_response(zone, query, DnsAnswerKind::NoError, dns::kRcodeNoError, true, sections, limit, truncate,
                          response);
}

}  // namespace vipgate
