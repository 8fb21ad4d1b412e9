// DNS messages as text and back, for the API's "dns" operation (vipctl get dns) and the tests:
// a query built from a name and a type, and a response printed the way dig prints one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate {

// "A", "srv", "PTR", "TYPE65", ... -> the type number; nullopt for a name we do not know.
std::optional<uint16_t> dns_type_from_text(std::string_view text);
std::string dns_type_to_text(uint16_t type);
std::string dns_rcode_to_text(uint16_t rcode);

struct DnsQuerySpec {
    std::string name;  // dotted, any case, trailing dot optional
    uint16_t type = 1;
    uint16_t id = 0x1234;
    bool recursion_desired = true;
    std::optional<uint16_t> edns_size;  // an OPT record with this UDP size
};

// Throws std::invalid_argument for a name that is not a valid DNS name.
std::vector<uint8_t> make_dns_query(const DnsQuerySpec& spec);

// One record of a response, decoded.
struct DnsTextRecord {
    std::string section;  // "answer", "authority", "additional"
    std::string name;     // dotted with the trailing dot
    uint32_t ttl = 0;
    uint16_t type = 0;
    std::string data;  // presentation format: "198.18.0.1", "0 100 80 web.ns.svc.cluster.local.", ...
};

struct DnsTextResponse {
    uint16_t id = 0;
    uint16_t rcode = 0;  // with the OPT record's extended bits
    bool authoritative = false;
    bool truncated = false;
    bool recursion_available = false;
    std::string question;  // "name. IN TYPE"
    std::optional<uint16_t> edns_size;
    std::vector<DnsTextRecord> records;  // OPT excluded

    std::string to_text() const;  // dig-like, one record per line
};

// Throws std::invalid_argument naming what is wrong with a malformed response.
DnsTextResponse decode_dns_response(const uint8_t* message, size_t length);

}  // namespace vipgate
