#include "dataplane/dns_wire.h"

namespace vipgate {
namespace {

constexpr uint8_t kLabelTypeMask = 0xC0;
constexpr uint8_t kPointerType = 0xC0;
constexpr uint32_t kOptFixedLength = 11;  // root name, type, class, TTL, RDLENGTH

uint16_t read16(const uint8_t* at) noexcept {
    return static_cast<uint16_t>(at[0] << 8 | at[1]);
}

uint8_t to_lower(uint8_t c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

// Reads the question's name at `position`; on success `position` is the first byte after it
// (after the first pointer, if any).
DnsQueryStatus read_name(const uint8_t* message, uint32_t length, uint32_t& position, DnsQuery& query) noexcept {
    uint32_t cursor = position;
    uint32_t lowest_target = cursor;  // every pointer must go below this: the name's start at first
    uint32_t written = 0;
    bool jumped = false;
    for (;;) {
        if (cursor >= length) return DnsQueryStatus::TruncatedName;
        const uint8_t label = message[cursor];
        if ((label & kLabelTypeMask) == kPointerType) {
            if (cursor + 1 >= length) return DnsQueryStatus::TruncatedName;
            const uint32_t target = static_cast<uint32_t>((label & ~kLabelTypeMask) << 8 | message[cursor + 1]);
            if (target < dns::kHeaderLength || target >= length) return DnsQueryStatus::PointerOutOfRange;
            if (target >= cursor) return DnsQueryStatus::PointerForward;
            if (target >= lowest_target) return DnsQueryStatus::PointerLoop;
            if (!jumped) position = cursor + 2;
            jumped = true;
            lowest_target = target;
            cursor = target;
            continue;
        }
        if ((label & kLabelTypeMask) != 0) return DnsQueryStatus::LabelTooLong;
        if (written + 1u + label > dns::kMaxNameLength) return DnsQueryStatus::NameTooLong;
        if (cursor + 1u + label > length) return DnsQueryStatus::TruncatedName;
        query.name[written] = label;
        query.lower[written] = label;
        for (uint32_t i = 1; i <= label; ++i) {
            const uint8_t c = message[cursor + i];
            query.name[written + i] = c;
            query.lower[written + i] = to_lower(c);
        }
        written += 1u + label;
        cursor += 1u + label;
        if (label == 0) break;
    }
    if (!jumped) position = cursor;
    query.name_length = static_cast<uint16_t>(written);
    return DnsQueryStatus::Ok;
}

// The additional section: nothing, or one OPT record (RFC 6891).
DnsQueryStatus read_additional(const uint8_t* message, uint32_t length, uint32_t position, uint16_t count,
                               DnsQuery& query) noexcept {
    if (count == 0) return DnsQueryStatus::Ok;
    if (count > 1) return DnsQueryStatus::BadAdditional;
    if (position + 3 > length) return DnsQueryStatus::BadOpt;
    if (message[position] != 0 || read16(message + position + 1) != dns::kTypeOpt) return DnsQueryStatus::BadAdditional;
    if (position + kOptFixedLength > length) return DnsQueryStatus::BadOpt;
    const uint16_t rdlength = read16(message + position + 9);
    if (position + kOptFixedLength + rdlength > length) return DnsQueryStatus::BadOpt;
    query.has_opt = true;
    query.udp_size = read16(message + position + 3);
    const uint8_t version = message[position + 6];
    query.dnssec_ok = (read16(message + position + 7) & dns::kOptFlagDo) != 0;
    if (version != 0) return DnsQueryStatus::BadVersion;
    return DnsQueryStatus::Ok;
}

}  // namespace

DnsQueryStatus parse_dns_query(const uint8_t* message, uint32_t length, DnsQuery& query) noexcept {
    query.name_length = 0;
    query.has_opt = false;
    query.dnssec_ok = false;
    query.udp_size = 0;
    query.qtype = 0;
    query.qclass = 0;
    query.message_length = static_cast<uint16_t>(length > 0xFFFF ? 0xFFFF : length);
    if (length < dns::kHeaderLength) return DnsQueryStatus::TruncatedHeader;
    std::memcpy(&query.id, message, sizeof(query.id));
    query.flags = read16(message + 2);
    if (query.flags & dns::kFlagQr) return DnsQueryStatus::Response;
    if (length > dns::kMaxQueryLength) return DnsQueryStatus::TooLarge;
    if (query.opcode() != dns::kOpcodeQuery) return DnsQueryStatus::BadOpcode;
    if (read16(message + 4) != 1) return DnsQueryStatus::BadQuestionCount;
    if (read16(message + 6) != 0 || read16(message + 8) != 0) return DnsQueryStatus::UnexpectedRecords;
    uint32_t position = dns::kHeaderLength;
    const DnsQueryStatus name_status = read_name(message, length, position, query);
    if (name_status != DnsQueryStatus::Ok) return name_status;
    if (position + 4 > length) return DnsQueryStatus::TruncatedQuestion;
    query.qtype = read16(message + position);
    query.qclass = read16(message + position + 2);
    return read_additional(message, length, position + 4, read16(message + 10), query);
}

}  // namespace vipgate
