#include "pktgen/dns_answer_check.h"

#include <algorithm>
#include <array>

namespace vipgen {
namespace {

constexpr uint16_t kFlagResponse = 0x8000;
constexpr uint16_t kFlagTruncated = 0x0200;
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kClassIn = 1;
constexpr uint32_t kMaxLabels = 128;  // a 255-byte name has at most 127 labels: more is a loop

inline uint16_t be16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t be32(const uint8_t* p) noexcept {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
           p[3];
}
inline uint8_t lower(uint8_t c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c;
}

// Skips the name at `offset` (labels, ending with the root or a compression pointer); returns the
// offset after it, or 0 when it runs past the end or has too many labels. Pointers are not
// followed: skipping needs only the bytes in place.
uint32_t skip_name(const uint8_t* message, uint32_t length, uint32_t offset) noexcept {
    for (uint32_t labels = 0; labels < kMaxLabels; ++labels) {
        if (offset >= length) return 0;
        const uint8_t byte = message[offset];
        if ((byte & 0xc0) == 0xc0) return offset + 2 <= length ? offset + 2 : 0;
        if ((byte & 0xc0) != 0) return 0;  // 0x40 and 0x80 label types are obsolete or reserved
        if (byte == 0) return offset + 1;
        offset += 1u + byte;
    }
    return 0;
}

}  // namespace

const char* dns_check_name(DnsCheck check) noexcept {
    switch (check) {
    case DnsCheck::Ok:
        return "ok";
    case DnsCheck::Malformed:
        return "malformed";
    case DnsCheck::NotAnswer:
        return "not_answer";
    case DnsCheck::Truncated:
        return "truncated";
    case DnsCheck::WrongQuestion:
        return "wrong_question";
    case DnsCheck::WrongRcode:
        return "wrong_rcode";
    case DnsCheck::WrongRecords:
        return "wrong_records";
    }
    return "unknown";
}

DnsCheck check_dns_answer(const uint8_t* message, uint32_t length, const DnsName& asked) noexcept {
    if (length < kDnsHeaderBytes) return DnsCheck::Malformed;
    const uint16_t flags = be16(message + 2);
    if ((flags & kFlagResponse) == 0 || ((flags >> 11) & 0xf) != 0) return DnsCheck::NotAnswer;
    if ((flags & kFlagTruncated) != 0) return DnsCheck::Truncated;
    const uint16_t questions = be16(message + 4);
    const uint32_t answers = be16(message + 6);
    const uint32_t authorities = be16(message + 8);
    const uint32_t additionals = be16(message + 10);
    if (questions != 1) return DnsCheck::WrongQuestion;

    // The question: the name as asked (without regard to case), then type and class.
    const uint32_t name_length = static_cast<uint32_t>(asked.wire.size());
    uint32_t offset = kDnsHeaderBytes;
    const uint32_t after_name = skip_name(message, length, offset);
    if (after_name == 0 || after_name + 4 > length) return DnsCheck::Malformed;
    if (after_name - offset != name_length) return DnsCheck::WrongQuestion;
    for (uint32_t i = 0; i < name_length; ++i) {
        if (lower(message[offset + i]) != lower(asked.wire[i])) return DnsCheck::WrongQuestion;
    }
    if (be16(message + after_name) != asked.type || be16(message + after_name + 2) != kClassIn) {
        return DnsCheck::WrongQuestion;
    }
    offset = after_name + 4;

    // Every record of the three sections must be well formed; A records of the answer section and
    // SOA records of the authority section are noted.
    std::array<uint32_t, kDnsMaxAddresses> addresses{};
    uint32_t address_count = 0;
    bool too_many_addresses = false;
    bool authority_soa = false;
    const uint32_t records = answers + authorities + additionals;
    for (uint32_t record = 0; record < records; ++record) {
        offset = skip_name(message, length, offset);
        if (offset == 0 || offset + 10 > length) return DnsCheck::Malformed;
        const uint16_t type = be16(message + offset);
        const uint16_t record_class = be16(message + offset + 2);
        const uint32_t data_length = be16(message + offset + 8);
        offset += 10;
        if (offset + data_length > length) return DnsCheck::Malformed;
        if (record < answers && type == kTypeA && record_class == kClassIn) {
            if (data_length != 4) return DnsCheck::Malformed;
            if (address_count < kDnsMaxAddresses) {
                addresses[address_count++] = be32(message + offset);
            } else {
                too_many_addresses = true;
            }
        } else if (record >= answers && record < answers + authorities && type == kTypeSoa) {
            authority_soa = true;
        }
        offset += data_length;
    }

    if ((flags & 0xf) != asked.rcode) return DnsCheck::WrongRcode;
    switch (asked.outcome) {
    case DnsOutcome::Addresses: {
        if (too_many_addresses || address_count != asked.addresses.size()) return DnsCheck::WrongRecords;
        std::sort(addresses.begin(), addresses.begin() + address_count);
        return std::equal(addresses.begin(), addresses.begin() + address_count, asked.addresses.begin())
                   ? DnsCheck::Ok
                   : DnsCheck::WrongRecords;
    }
    case DnsOutcome::NoError:
        return answers > 0 ? DnsCheck::Ok : DnsCheck::WrongRecords;
    case DnsOutcome::NoData:
    case DnsOutcome::NxDomain:
        return answers == 0 && authority_soa ? DnsCheck::Ok : DnsCheck::WrongRecords;
    case DnsOutcome::Rcode:
        return DnsCheck::Ok;
    }
    return DnsCheck::WrongRecords;
}

}  // namespace vipgen
