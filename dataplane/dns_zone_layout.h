// DnsZone's layout: private to the zone builder (control/dns_zone_builder.cpp), which fills it,
// and the responder (dataplane/dns_responder.cpp), which reads it. See dns_zone.h for the why.
//
// Design note: every byte a worker copies was laid out by the builder for the message it lands
// in. A response is header (12) + question (name of L bytes + 4) + sections, and the question's
// name is the asked name, uncompressed, at offset 12. A record set of a name of L bytes is
// therefore always copied to offset 12 + L + 4, so the builder can compress every name in it
// against the question (and against earlier names of the set) with pointers it computes once.
// The negative answers' SOA follows the same rule: for an in-zone question of L bytes, the apex
// is the question's last `apex.size()` bytes, at offset 12 + L - apex.size(); the builder
// prebuilds one SOA per possible L (at most 256 of about 60 bytes each), so NODATA and NXDOMAIN
// are a table read and a copy, like a hit.
//
// Names are lower-cased wire format. The name table is an open-addressing hash (linear probing,
// power-of-two slots, load <= 0.5) keyed by rte_hash_crc of the name: a miss ends at the first
// empty slot, so NXDOMAIN costs about what a hit does.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include <rte_hash_crc.h>

#include "dataplane/dns_zone.h"

namespace vipgate {

namespace dns {
constexpr uint32_t kMaxNameLength = 255;  // wire format, with the root label's 0
constexpr uint32_t kMaxLabelLength = 63;
constexpr uint32_t kHeaderLength = 12;
constexpr uint32_t kNameHashSeed = 0x9E3779B9;
constexpr uint16_t kCompressionPointer = 0xC000;
constexpr uint16_t kQuestionNamePointer = kCompressionPointer | kHeaderLength;  // 0xC00C
// The whole message must fit in 65535 bytes; the builder keeps every set's answer plus
// additional below this, leaving room for the header, the longest question and an OPT record.
constexpr uint32_t kMaxPrebuiltSectionBytes = 65535 - kHeaderLength - (kMaxNameLength + 4) - 11;

// rte_hash_crc(name, length, kNameHashSeed), without its 8-byte loads through a cast pointer:
// names sit at any offset (in the zone's bytes, in DnsQuery), and such a load is undefined
// there (UBSan reports it); memcpy makes the same single load, legally.
inline uint32_t name_hash(const uint8_t* name, uint32_t length) noexcept {
    uint32_t hash = kNameHashSeed;
    uint32_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        std::memcpy(&word, name + i, sizeof(word));
        hash = rte_hash_crc_8byte(word, hash);
    }
    if (i + 4 <= length) {
        uint32_t word;
        std::memcpy(&word, name + i, sizeof(word));
        hash = rte_hash_crc_4byte(word, hash);
        i += 4;
    }
    if (i + 2 <= length) {
        uint16_t word;
        std::memcpy(&word, name + i, sizeof(word));
        hash = rte_hash_crc_2byte(word, hash);
        i += 2;
    }
    if (i < length) hash = rte_hash_crc_1byte(name[i], hash);
    return hash;
}
}  // namespace dns

// One (name, type) with records: its answer section, and the additional records that go with
// it (A records of in-zone SRV targets), both ready to copy at offset 12 + name length + 4.
struct DnsRecordSet {
    uint16_t type = 0;
    uint16_t answer_count = 0;
    uint16_t additional_count = 0;
    uint32_t answer_offset = 0;  // into DnsZone::bytes
    uint32_t answer_length = 0;
    uint32_t additional_offset = 0;
    uint32_t additional_length = 0;
};

struct DnsNameEntry {
    uint32_t name_offset = 0;  // into DnsZone::bytes
    uint16_t name_length = 0;
    bool in_zone = false;    // at or below the apex: negative answers carry the SOA
    uint16_t set_count = 0;  // 0: an empty non-terminal or a name without records (NODATA)
    uint32_t first_set = 0;  // into DnsZone::sets, sets sorted by type
};

struct DnsSlot {
    uint32_t hash = 0;
    uint32_t entry = 0;  // index into DnsZone::names + 1; 0: empty
};

class DnsZone {
public:
    // Server parameters, copied out of DnsServerParameters into fixed storage for the workers.
    std::array<uint32_t, kMaxDnsAddresses> addresses{};  // network order
    uint32_t address_count = 0;
    bool has_upstreams = false;
    uint32_t rate_limit = 0;
    uint32_t rate_limit_slip = 0;

    std::vector<uint8_t> apex;  // lower-cased wire format: "\7cluster\5local\0"
    uint32_t ttl = 0;
    uint32_t negative_ttl = 0;
    uint32_t serial = 0;

    std::vector<DnsSlot> slots;  // power of two
    std::vector<DnsNameEntry> names;
    std::vector<DnsRecordSet> sets;
    std::vector<uint8_t> bytes;  // names, sections, SOAs
    // The SOA authority record for an in-zone question whose name is L bytes long, at
    // bytes[negative_soa_offset[L]], negative_soa_length[L] bytes (0 for L < apex.size()).
    std::array<uint32_t, dns::kMaxNameLength + 1> negative_soa_offset{};
    std::array<uint16_t, dns::kMaxNameLength + 1> negative_soa_length{};

    bool serves(uint32_t address) const noexcept {
        for (uint32_t i = 0; i < address_count; ++i) {
            if (addresses[i] == address) return true;
        }
        return false;
    }

    // `name`: lower-cased wire format, `length` bytes with the final 0.
    const DnsNameEntry* find(const uint8_t* name, uint32_t length) const noexcept {
        const uint32_t hash = dns::name_hash(name, length);
        const uint32_t mask = static_cast<uint32_t>(slots.size()) - 1;
        for (uint32_t slot = hash & mask;; slot = (slot + 1) & mask) {
            const DnsSlot& candidate = slots[slot];
            if (candidate.entry == 0) return nullptr;
            if (candidate.hash != hash) continue;
            const DnsNameEntry& entry = names[candidate.entry - 1];
            if (entry.name_length == length && std::memcmp(&bytes[entry.name_offset], name, length) == 0) {
                return &entry;
            }
        }
    }

    // True when `name` is the apex or below it (the apex's labels end the name on a label
    // boundary).
    bool contains_name(const uint8_t* name, uint32_t length) const noexcept {
        const auto apex_length = static_cast<uint32_t>(apex.size());
        if (length < apex_length || std::memcmp(name + length - apex_length, apex.data(), apex_length) != 0) {
            return false;
        }
        uint32_t position = 0;
        while (position < length - apex_length) position += 1u + name[position];
        return position == length - apex_length;
    }
};

}  // namespace vipgate
