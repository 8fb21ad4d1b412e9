#include "pktgen/dns_names.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/config.h"

namespace vipgen {
namespace {

struct TypeName {
    const char* name;
    uint16_t type;
};
constexpr TypeName kTypes[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
                               {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}};

std::string upper(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// Empty when fine, else what is wrong.
std::string parse_type(std::string_view text, uint16_t& type) {
    const std::string name = upper(text);
    for (const TypeName& known : kTypes) {
        if (name == known.name) {
            type = known.type;
            return "";
        }
    }
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size() && value > 0 && value <= 65535) {
        type = static_cast<uint16_t>(value);
        return "";
    }
    return "unknown type '" + std::string(text) + "' (A, AAAA, NS, CNAME, SOA, PTR, TXT, SRV, ANY or a number)";
}

std::string parse_expected(std::string_view text, DnsName& name) {
    const std::string word = upper(text);
    struct Rcode {
        const char* name;
        DnsOutcome outcome;
        uint8_t rcode;
    };
    static constexpr Rcode kWords[] = {
        {"NOERROR", DnsOutcome::NoError, kDnsRcodeNoError},    {"NODATA", DnsOutcome::NoData, kDnsRcodeNoError},
        {"NXDOMAIN", DnsOutcome::NxDomain, kDnsRcodeNxDomain}, {"REFUSED", DnsOutcome::Rcode, kDnsRcodeRefused},
        {"SERVFAIL", DnsOutcome::Rcode, kDnsRcodeServFail},    {"FORMERR", DnsOutcome::Rcode, kDnsRcodeFormErr},
        {"NOTIMP", DnsOutcome::Rcode, kDnsRcodeNotImp}};
    for (const Rcode& known : kWords) {
        if (word == known.name) {
            name.outcome = known.outcome;
            name.rcode = known.rcode;
            return "";
        }
    }
    name.outcome = DnsOutcome::Addresses;
    name.rcode = kDnsRcodeNoError;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view item = text.substr(start, comma - start);
        const auto address = vipgate::config::parse_ipv4(std::string(item));
        if (!address) {
            return "expected answer '" + std::string(text) +
                   "' is neither IPv4 addresses (a,b,...) nor NOERROR, NODATA, NXDOMAIN, REFUSED, SERVFAIL, FORMERR, "
                   "NOTIMP";
        }
        name.addresses.push_back(*address);
        start = comma + 1;
    }
    std::sort(name.addresses.begin(), name.addresses.end());
    return "";
}

// before 'text' after (appended: GCC 12 warns falsely about "literal" + std::string).
std::string quoted(std::string_view before, std::string_view text, std::string_view after) {
    std::string out(before);
    out.append("'").append(text).append("'").append(after);
    return out;
}

}  // namespace

std::string encode_dns_name(std::string_view dotted, std::vector<uint8_t>& wire) {
    wire.clear();
    if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
    size_t start = 0;
    while (!dotted.empty() && start <= dotted.size()) {
        const size_t dot = std::min(dotted.find('.', start), dotted.size());
        const size_t length = dot - start;
        if (length == 0) return quoted("empty label in ", dotted, "");
        if (length > 63) return quoted("label ", dotted.substr(start, length), " is over 63 bytes");
        wire.push_back(static_cast<uint8_t>(length));
        wire.insert(wire.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
                    dotted.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    wire.push_back(0);
    if (wire.size() > kDnsMaxName) return quoted("", dotted, " is over 255 bytes in wire format");
    return "";
}

std::vector<DnsName> parse_dns_names(std::string_view text, const std::string& origin) {
    std::vector<DnsName> names;
    std::istringstream lines{std::string(text)};
    size_t number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream words(line);
        std::vector<std::string> fields;
        for (std::string word; words >> word;) fields.push_back(word);
        if (fields.empty()) continue;
        auto fail = [&](const std::string& problem) {
            std::ostringstream message;
            message << origin << ":" << number << ": " << problem;
            throw std::runtime_error(message.str());
        };
        if (fields.size() != 3)
            fail("expected 'NAME TYPE EXPECTED', got " + std::to_string(fields.size()) + " field(s)");
        DnsName name;
        if (std::string problem = encode_dns_name(fields[0], name.wire); !problem.empty()) fail(problem);
        name.text = fields[0];
        if (!name.text.empty() && name.text.back() == '.') name.text.pop_back();
        if (std::string problem = parse_type(fields[1], name.type); !problem.empty()) fail(problem);
        if (std::string problem = parse_expected(fields[2], name); !problem.empty()) fail(problem);
        if (name.outcome == DnsOutcome::Addresses && name.type != 1) {
            fail("addresses can only be expected for type A (use NOERROR for " + fields[1] + ")");
        }
        names.push_back(std::move(name));
    }
    if (names.empty()) throw std::runtime_error(origin + ": no names (lines 'NAME TYPE EXPECTED')");
    return names;
}

std::vector<DnsName> load_dns_names(const std::string& path) {
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot read the DNS names file " + path);
    std::ostringstream text;
    text << file.rdbuf();
    return parse_dns_names(text.str(), path);
}

}  // namespace vipgen
