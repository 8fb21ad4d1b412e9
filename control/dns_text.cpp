#include "control/dns_text.h"

#include <sstream>
#include <stdexcept>

#include "config/config.h"
#include "dataplane/dns_zone.h"

namespace vipgate {
namespace {

constexpr size_t kHeaderLength = 12;
constexpr size_t kMaxNameLength = 255;
constexpr uint32_t kMaxPointerHops = 64;

struct TypeName {
    uint16_t type;
    std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {dns::kTypeA, "A"},     {dns::kTypeNs, "NS"},   {dns::kTypeCname, "CNAME"}, {dns::kTypeSoa, "SOA"},
    {dns::kTypePtr, "PTR"}, {dns::kTypeTxt, "TXT"}, {dns::kTypeAaaa, "AAAA"},   {dns::kTypeSrv, "SRV"},
    {dns::kTypeOpt, "OPT"}, {dns::kTypeAny, "ANY"},
};

class Reader {
public:
    Reader(const uint8_t* message, size_t length) : message_(message), length_(length) {}

    void need(size_t position, size_t count, const char* what) const {
        if (position + count > length_) throw std::invalid_argument(std::string("truncated ") + what);
    }
    uint16_t u16(size_t position) const {
        need(position, 2, "field");
        return static_cast<uint16_t>(message_[position] << 8 | message_[position + 1]);
    }
    uint32_t u32(size_t position) const { return uint32_t{u16(position)} << 16 | u16(position + 2); }
    uint8_t u8(size_t position) const {
        need(position, 1, "field");
        return message_[position];
    }

    // The name at `position` (dotted, trailing dot); `position` moves past it.
    std::string name(size_t& position) const {
        std::string dotted;
        size_t cursor = position;
        size_t wire_length = 0;
        bool jumped = false;
        for (uint32_t hops = 0;;) {
            const uint8_t label = u8(cursor);
            if ((label & 0xC0) == 0xC0) {
                if (++hops > kMaxPointerHops) throw std::invalid_argument("compression loop");
                const size_t target = (label & 0x3F) << 8 | u8(cursor + 1);
                if (!jumped) position = cursor + 2;
                jumped = true;
                cursor = target;
                continue;
            }
            if (label > 63) throw std::invalid_argument("bad label type");
            wire_length += 1u + label;
            if (wire_length > kMaxNameLength) throw std::invalid_argument("name too long");
            if (label == 0) break;
            need(cursor + 1, label, "name");
            dotted.append(reinterpret_cast<const char*>(message_ + cursor + 1), label);
            dotted.push_back('.');
            cursor += 1u + label;
        }
        if (!jumped) position = cursor + 1;
        return dotted.empty() ? "." : dotted;
    }

private:
    const uint8_t* message_;
    size_t length_;
};

std::string rdata_text(const Reader& reader, uint16_t type, size_t position, uint16_t length) {
    std::ostringstream text;
    reader.need(position, length, "record data");
    switch (type) {
    case dns::kTypeA:
        if (length != 4) throw std::invalid_argument("A record of the wrong length");
        text << int(reader.u8(position)) << '.' << int(reader.u8(position + 1)) << '.' << int(reader.u8(position + 2))
             << '.' << int(reader.u8(position + 3));
        break;
    case dns::kTypeAaaa: {
        if (length != 16) throw std::invalid_argument("AAAA record of the wrong length");
        config::Ipv6Address address{};
        for (size_t i = 0; i < address.size(); ++i) address[i] = reader.u8(position + i);
        text << config::format_ipv6(address);
        break;
    }
    case dns::kTypeCname:
    case dns::kTypePtr:
    case dns::kTypeNs:
        text << reader.name(position);
        break;
    case dns::kTypeSrv:
        text << reader.u16(position) << ' ' << reader.u16(position + 2) << ' ' << reader.u16(position + 4) << ' ';
        position += 6;
        text << reader.name(position);
        break;
    case dns::kTypeTxt: {
        const size_t end = position + length;
        bool first = true;
        while (position < end) {
            const uint8_t piece = reader.u8(position);
            reader.need(position + 1, piece, "TXT string");
            text << (first ? "" : " ") << '"';
            for (size_t i = 0; i < piece; ++i) {
                const char c = static_cast<char>(reader.u8(position + 1 + i));
                if (c == '"' || c == '\\') text << '\\';
                text << c;
            }
            text << '"';
            first = false;
            position += 1u + piece;
        }
        break;
    }
    case dns::kTypeSoa: {
        text << reader.name(position) << ' ';
        text << reader.name(position);
        for (int field = 0; field < 5; ++field, position += 4) text << ' ' << reader.u32(position);
        break;
    }
    default:
        text << "\\# " << length;
        break;
    }
    return text.str();
}

}  // namespace

std::optional<uint16_t> dns_type_from_text(std::string_view text) {
    std::string upper;
    for (char c : text) upper.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    for (const TypeName& entry : kTypeNames) {
        if (entry.name == upper) return entry.type;
    }
    if (upper.size() > 4 && upper.compare(0, 4, "TYPE") == 0) {
        uint32_t value = 0;
        for (size_t i = 4; i < upper.size(); ++i) {
            if (upper[i] < '0' || upper[i] > '9' || value > 6553) return std::nullopt;
            value = value * 10 + static_cast<uint32_t>(upper[i] - '0');
        }
        if (value <= 0xFFFF) return static_cast<uint16_t>(value);
    }
    return std::nullopt;
}

std::string dns_type_to_text(uint16_t type) {
    for (const TypeName& entry : kTypeNames) {
        if (entry.type == type) return std::string(entry.name);
    }
    return "TYPE" + std::to_string(type);
}

std::string dns_rcode_to_text(uint16_t rcode) {
    switch (rcode) {
    case 0:
        return "NOERROR";
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 3:
        return "NXDOMAIN";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    case 16:
        return "BADVERS";
    default:
        return "RCODE" + std::to_string(rcode);
    }
}

std::vector<uint8_t> make_dns_query(const DnsQuerySpec& spec) {
    std::vector<uint8_t> out = {static_cast<uint8_t>(spec.id >> 8),
                                static_cast<uint8_t>(spec.id),
                                static_cast<uint8_t>(spec.recursion_desired ? 0x01 : 0x00),
                                0,
                                0,
                                1,
                                0,
                                0,
                                0,
                                0,
                                0,
                                static_cast<uint8_t>(spec.edns_size ? 1 : 0)};
    std::string_view name = spec.name;
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    size_t wire_length = 1;
    while (!name.empty()) {
        const size_t dot = name.find('.');
        const std::string_view label = name.substr(0, dot);
        if (label.empty() || label.size() > 63)
            throw std::invalid_argument("bad label in DNS name '" + spec.name + "'");
        out.push_back(static_cast<uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        wire_length += 1 + label.size();
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    if (wire_length > kMaxNameLength) throw std::invalid_argument("DNS name '" + spec.name + "' longer than 255 bytes");
    out.push_back(0);
    out.insert(out.end(), {static_cast<uint8_t>(spec.type >> 8), static_cast<uint8_t>(spec.type), 0, 1});
    if (spec.edns_size) {
        out.insert(out.end(), {0, 0, 41, static_cast<uint8_t>(*spec.edns_size >> 8),
                               static_cast<uint8_t>(*spec.edns_size), 0, 0, 0, 0, 0, 0});
    }
    return out;
}

DnsTextResponse decode_dns_response(const uint8_t* message, size_t length) {
    Reader reader(message, length);
    reader.need(0, kHeaderLength, "header");
    DnsTextResponse response;
    response.id = reader.u16(0);
    const uint16_t flags = reader.u16(2);
    if ((flags & 0x8000) == 0) throw std::invalid_argument("not a response");
    response.rcode = flags & 0xF;
    response.authoritative = flags & 0x0400;
    response.truncated = flags & 0x0200;
    response.recursion_available = flags & 0x0080;
    const uint16_t counts[4] = {reader.u16(4), reader.u16(6), reader.u16(8), reader.u16(10)};
    size_t position = kHeaderLength;
    for (uint16_t i = 0; i < counts[0]; ++i) {
        std::string name = reader.name(position);
        response.question = name + " IN " + dns_type_to_text(reader.u16(position));
        position += 4;
    }
    static constexpr const char* kSections[] = {"answer", "authority", "additional"};
    for (int section = 0; section < 3; ++section) {
        for (uint16_t i = 0; i < counts[section + 1]; ++i) {
            DnsTextRecord record;
            record.section = kSections[section];
            record.name = reader.name(position);
            record.type = reader.u16(position);
            const uint16_t record_class = reader.u16(position + 2);
            record.ttl = reader.u32(position + 4);
            const uint16_t rdlength = reader.u16(position + 8);
            position += 10;
            if (record.type == dns::kTypeOpt) {
                response.edns_size = record_class;
                response.rcode = static_cast<uint16_t>(response.rcode | (record.ttl >> 24) << 4);
            } else {
                record.data = rdata_text(reader, record.type, position, rdlength);
                response.records.push_back(std::move(record));
            }
            position += rdlength;
        }
    }
    return response;
}

std::string DnsTextResponse::to_text() const {
    std::ostringstream text;
    text << ";; status: " << dns_rcode_to_text(rcode) << ", id: " << id << ", flags: qr" << (authoritative ? " aa" : "")
         << (truncated ? " tc" : "") << (recursion_available ? " ra" : "") << '\n';
    if (edns_size) text << ";; EDNS: version 0, udp " << *edns_size << '\n';
    if (!question.empty()) text << ";; QUESTION: " << question << '\n';
    std::string section;
    for (const DnsTextRecord& record : records) {
        if (record.section != section) {
            section = record.section;
            text << ";; " << section << ":\n";
        }
        text << record.name << '\t' << record.ttl << "\tIN\t" << dns_type_to_text(record.type) << '\t' << record.data
             << '\n';
    }
    return text.str();
}

}  // namespace vipgate
