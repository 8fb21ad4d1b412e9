// The zone compiler: records collected by name and type, then laid out as dataplane/dns_zone_layout.h
// describes (answer sections compressed against the question, SRV targets' A records as
// additional records, one negative SOA per question length, the name hash table).
#include "control/dns_zone_builder.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "dataplane/dns_zone_layout.h"

namespace vipgate {
namespace {

using Wire = std::string;  // a lower-cased wire-format name, used as a map key

constexpr uint32_t kMaxNegativeTtl = 300;
constexpr uint32_t kSoaRefresh = 7200;
constexpr uint32_t kSoaRetry = 1800;
constexpr uint32_t kSoaExpire = 86400;
constexpr uint32_t kMaxCharacterString = 255;
constexpr size_t kMinimumSlots = 16;

// Every build gets a new serial: the clock, or one more than the last one when builds come
// faster than once a second.
std::atomic<uint32_t> last_serial{0};

uint32_t next_serial() {
    const auto now = static_cast<uint32_t>(std::time(nullptr));
    uint32_t previous = last_serial.load(std::memory_order_relaxed);
    uint32_t serial = 0;
    do {
        serial = std::max(now, previous + 1);
    } while (!last_serial.compare_exchange_weak(previous, serial,
                                                std::memory_order_relaxed));  // relaxed: only the value matters
    return serial;
}

// "Web.Default.svc" -> "\3web\7default\3svc\0". Empty string on error, with `error` set.
Wire to_wire(std::string_view dotted, std::string& error) {
    if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
    Wire wire;
    if (dotted.empty()) {
        error = "empty name";
        return {};
    }
    size_t start = 0;
    while (start <= dotted.size()) {
        size_t dot = dotted.find('.', start);
        if (dot == std::string_view::npos) dot = dotted.size();
        const size_t label_length = dot - start;
        if (label_length == 0) {
            error = "empty label";
            return {};
        }
        if (label_length > dns::kMaxLabelLength) {
            error = "label longer than 63 bytes";
            return {};
        }
        wire.push_back(static_cast<char>(label_length));
        for (size_t i = start; i < dot; ++i) {
            const char c = dotted[i];
            wire.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
        }
        start = dot + 1;
    }
    wire.push_back('\0');
    if (wire.size() > dns::kMaxNameLength) {
        error = "name longer than 255 bytes";
        return {};
    }
    return wire;
}

// "\3web\7default\0" -> "web.default", for messages.
std::string to_dotted(const Wire& name) {
    std::string dotted;
    for (size_t position = 0; position + 1 < name.size(); position += 1 + static_cast<uint8_t>(name[position])) {
        if (!dotted.empty()) dotted.push_back('.');
        dotted.append(name, position + 1, static_cast<uint8_t>(name[position]));
    }
    return dotted;
}

// The name without its first label ("\3web\7default\0" -> "\7default\0"); the root stays the root.
Wire parent_of(const Wire& name) {
    if (name.size() <= 1) return name;
    return name.substr(1 + static_cast<uint8_t>(name[0]));
}

void put16(std::vector<uint8_t>& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

void put32(std::vector<uint8_t>& out, uint32_t value) {
    put16(out, static_cast<uint16_t>(value >> 16));
    put16(out, static_cast<uint16_t>(value));
}

// Name compression within one message whose question name is known (see the layout's note).
class Compressor {
public:
    // The message so far is header + question: `question` at offset 12.
    explicit Compressor(const Wire& question) { remember(question, dns::kHeaderLength); }

    // Appends `name` to `out` (which starts at message offset `base`), with a pointer for the
    // longest suffix already in the message when `compress`; remembers where its suffixes went.
    void write(const Wire& name, std::vector<uint8_t>& out, uint32_t base, bool compress) {
        const auto start = static_cast<uint32_t>(base + out.size());
        size_t position = 0;
        while (position < name.size() - 1) {
            if (compress) {
                auto known = offsets_.find(name.substr(position));
                if (known != offsets_.end()) {
                    put16(out, static_cast<uint16_t>(dns::kCompressionPointer | known->second));
                    remember(name, start, position);
                    return;
                }
            }
            const uint8_t label = static_cast<uint8_t>(name[position]);
            out.insert(out.end(), name.begin() + static_cast<long>(position),
                       name.begin() + static_cast<long>(position + 1 + label));
            position += 1 + label;
        }
        out.push_back(0);
        remember(name, start, name.size() - 1);
    }

private:
    static constexpr uint32_t kMaxPointerOffset = 0x3FFF;

    // The suffixes of `name` that start at its first `written` bytes, written at `offset`.
    void remember(const Wire& name, uint32_t offset, size_t written = std::string::npos) {
        for (size_t position = 0; position < std::min(written, name.size() - 1);
             position += 1 + static_cast<uint8_t>(name[position])) {
            if (offset + position > kMaxPointerOffset) return;
            offsets_.emplace(name.substr(position), static_cast<uint16_t>(offset + position));
        }
    }

    std::map<Wire, uint16_t> offsets_;
};

}  // namespace

struct DnsZoneBuilder::Impl {
    struct Srv {
        uint16_t priority;
        uint16_t weight;
        uint16_t port;
        Wire target;
        auto operator<=>(const Srv&) const = default;
    };
    struct NameRecords {
        std::set<uint32_t> a;  // host order
        std::set<std::array<uint8_t, 16>> aaaa;
        std::set<Srv> srv;
        std::set<Wire> ptr;
        std::vector<std::string> txt;  // in the order added
        std::optional<Wire> cname;
    };

    Wire apex;
    std::string zone;
    uint32_t ttl;
    DnsServerParameters parameters;
    std::map<Wire, NameRecords> names;
    std::vector<std::string> errors;

    NameRecords* records_of(std::string_view dotted) {
        std::string error;
        Wire wire = to_wire(dotted, error);
        if (wire.empty()) {
            std::ostringstream message;
            message << "DNS name '" << dotted << "': " << error;
            errors.push_back(message.str());
            return nullptr;
        }
        return &names[wire];
    }

    Wire target_of(std::string_view dotted) {
        std::string error;
        Wire wire = to_wire(dotted, error);
        if (wire.empty()) {
            std::ostringstream message;
            message << "DNS target '" << dotted << "': " << error;
            errors.push_back(message.str());
        }
        return wire;
    }

    bool in_zone(const Wire& name) const {
        return name.size() >= apex.size() && name.compare(name.size() - apex.size(), apex.size(), apex) == 0 &&
               (name.size() == apex.size() || [&] {
                   size_t position = 0;
                   while (position < name.size() - apex.size()) position += 1 + static_cast<uint8_t>(name[position]);
                   return position == name.size() - apex.size();
               }());
    }

    std::vector<uint8_t> soa_record(uint32_t apex_offset, uint32_t record_ttl, uint32_t serial) const {
        std::vector<uint8_t> out;
        const auto pointer = static_cast<uint16_t>(dns::kCompressionPointer | apex_offset);
        put16(out, pointer);
        put16(out, dns::kTypeSoa);
        put16(out, dns::kClassIn);
        put32(out, record_ttl);
        static constexpr uint8_t kMname[] = {2, 'n', 's', 3, 'd', 'n', 's'};
        static constexpr uint8_t kRname[] = {10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r'};
        put16(out, static_cast<uint16_t>(sizeof(kMname) + 2 + sizeof(kRname) + 2 + 20));
        out.insert(out.end(), std::begin(kMname), std::end(kMname));
        put16(out, pointer);
        out.insert(out.end(), std::begin(kRname), std::end(kRname));
        put16(out, pointer);
        put32(out, serial);
        put32(out, kSoaRefresh);
        put32(out, kSoaRetry);
        put32(out, kSoaExpire);
        put32(out, std::min(ttl, kMaxNegativeTtl));
        return out;
    }
};

DnsZoneBuilder::DnsZoneBuilder(std::string zone, uint32_t ttl_s, DnsServerParameters parameters)
    : impl_(std::make_unique<Impl>()) {
    impl_->zone = std::move(zone);
    impl_->ttl = ttl_s;
    impl_->parameters = std::move(parameters);
    std::string error;
    impl_->apex = to_wire(impl_->zone, error);
    if (impl_->apex.empty()) {
        std::ostringstream message;
        message << "DNS zone '" << impl_->zone << "': " << error;
        impl_->errors.push_back(message.str());
    }
}

DnsZoneBuilder::~DnsZoneBuilder() = default;

void DnsZoneBuilder::add_name(std::string_view name) {
    impl_->records_of(name);
}

void DnsZoneBuilder::add_a(std::string_view name, uint32_t address_host_order) {
    if (auto* records = impl_->records_of(name)) records->a.insert(address_host_order);
}

void DnsZoneBuilder::add_aaaa(std::string_view name, const std::array<uint8_t, 16>& address) {
    if (auto* records = impl_->records_of(name)) records->aaaa.insert(address);
}

void DnsZoneBuilder::add_srv(std::string_view name, uint16_t priority, uint16_t weight, uint16_t port,
                             std::string_view target) {
    auto* records = impl_->records_of(name);
    Wire wire = impl_->target_of(target);
    if (records != nullptr && !wire.empty()) records->srv.insert({priority, weight, port, std::move(wire)});
}

void DnsZoneBuilder::add_ptr(std::string_view name, std::string_view target) {
    auto* records = impl_->records_of(name);
    Wire wire = impl_->target_of(target);
    if (records != nullptr && !wire.empty()) records->ptr.insert(std::move(wire));
}

void DnsZoneBuilder::add_txt(std::string_view name, std::string_view text) {
    if (auto* records = impl_->records_of(name)) records->txt.emplace_back(text);
}

void DnsZoneBuilder::add_cname(std::string_view name, std::string_view target) {
    auto* records = impl_->records_of(name);
    Wire wire = impl_->target_of(target);
    if (records != nullptr && !wire.empty()) records->cname = std::move(wire);
}

std::shared_ptr<const DnsZone> DnsZoneBuilder::build() {
    Impl& impl = *impl_;
    if (impl.parameters.addresses.size() > kMaxDnsAddresses) {
        impl.errors.push_back("at most " + std::to_string(kMaxDnsAddresses) + " DNS addresses");
    }
    if (!impl.errors.empty()) {
        std::ostringstream message;
        for (size_t i = 0; i < impl.errors.size(); ++i) message << (i ? "; " : "") << impl.errors[i];
        throw std::invalid_argument(message.str());
    }
    auto zone = std::make_shared<DnsZone>();
    std::copy(impl.parameters.addresses.begin(), impl.parameters.addresses.end(), zone->addresses.begin());
    zone->address_count = static_cast<uint32_t>(impl.parameters.addresses.size());
    zone->has_upstreams = impl.parameters.has_upstreams;
    zone->rate_limit = impl.parameters.rate_limit;
    zone->rate_limit_slip = impl.parameters.rate_limit_slip;
    zone->apex.assign(impl.apex.begin(), impl.apex.end());
    zone->ttl = impl.ttl;
    zone->negative_ttl = std::min(impl.ttl, kMaxNegativeTtl);
    zone->serial = next_serial();

    // Every in-zone ancestor exists (RFC 8020: an empty non-terminal is NODATA, not NXDOMAIN).
    std::vector<Wire> ancestors;
    for (const auto& [name, records] : impl.names) {
        if (!impl.in_zone(name)) continue;
        for (Wire parent = parent_of(name); parent.size() >= impl.apex.size(); parent = parent_of(parent)) {
            ancestors.push_back(parent);
            if (parent == impl.apex) break;
        }
    }
    impl.names[impl.apex];
    for (Wire& ancestor : ancestors) impl.names[std::move(ancestor)];

    std::vector<uint8_t>& bytes = zone->bytes;
    for (uint32_t length = static_cast<uint32_t>(impl.apex.size()); length <= dns::kMaxNameLength; ++length) {
        const auto record = impl.soa_record(dns::kHeaderLength + length - static_cast<uint32_t>(impl.apex.size()),
                                            zone->negative_ttl, zone->serial);
        zone->negative_soa_offset[length] = static_cast<uint32_t>(bytes.size());
        zone->negative_soa_length[length] = static_cast<uint16_t>(record.size());
        bytes.insert(bytes.end(), record.begin(), record.end());
    }

    auto append_set = [&](uint16_t type, const std::vector<uint8_t>& answer, uint16_t answer_count,
                          const std::vector<uint8_t>& additional, uint16_t additional_count) {
        DnsRecordSet set;
        set.type = type;
        set.answer_count = answer_count;
        set.answer_offset = static_cast<uint32_t>(bytes.size());
        set.answer_length = static_cast<uint32_t>(answer.size());
        bytes.insert(bytes.end(), answer.begin(), answer.end());
        set.additional_count = additional_count;
        set.additional_offset = static_cast<uint32_t>(bytes.size());
        set.additional_length = static_cast<uint32_t>(additional.size());
        bytes.insert(bytes.end(), additional.begin(), additional.end());
        zone->sets.push_back(set);
    };

    for (const auto& named : impl.names) {
        // Not a structured binding: clang 14 (the fuzz build's compiler) cannot capture one in a lambda.
        const auto& name = named.first;
        const auto& records = named.second;
        DnsNameEntry entry;
        entry.name_offset = static_cast<uint32_t>(bytes.size());
        entry.name_length = static_cast<uint16_t>(name.size());
        entry.in_zone = impl.in_zone(name);
        entry.first_set = static_cast<uint32_t>(zone->sets.size());
        bytes.insert(bytes.end(), name.begin(), name.end());
        const uint32_t answer_base = dns::kHeaderLength + static_cast<uint32_t>(name.size()) + 4;

        // One set: records written one by one until the section limit, then a message.
        struct SetWriter {
            std::vector<uint8_t> out;
            uint16_t count = 0;
            bool full = false;
        };
        auto begin_record = [&](SetWriter& writer, uint16_t type, uint32_t record_ttl) {
            put16(writer.out, dns::kQuestionNamePointer);
            put16(writer.out, type);
            put16(writer.out, dns::kClassIn);
            put32(writer.out, record_ttl);
            const size_t rdlength_at = writer.out.size();
            put16(writer.out, 0);
            return rdlength_at;
        };
        auto end_record = [&](SetWriter& writer, size_t rdlength_at, size_t record_start, uint16_t type) {
            const size_t rdlength = writer.out.size() - rdlength_at - 2;
            writer.out[rdlength_at] = static_cast<uint8_t>(rdlength >> 8);
            writer.out[rdlength_at + 1] = static_cast<uint8_t>(rdlength);
            if (writer.out.size() > dns::kMaxPrebuiltSectionBytes) {
                writer.out.resize(record_start);
                if (!writer.full) {
                    spdlog::warn("DNS: the records of type {} at {} exceed one message; {} are served", type,
                                 to_dotted(name), writer.count);
                }
                writer.full = true;
                return;
            }
            ++writer.count;
        };
        if (records.cname) {
            Compressor compressor(name);
            SetWriter writer;
            const size_t start = writer.out.size();
            const size_t at = begin_record(writer, dns::kTypeCname, impl.ttl);
            compressor.write(*records.cname, writer.out, answer_base, true);
            end_record(writer, at, start, dns::kTypeCname);
            append_set(dns::kTypeCname, writer.out, writer.count, {}, 0);
            if (!records.a.empty() || !records.aaaa.empty() || !records.srv.empty() || !records.ptr.empty() ||
                !records.txt.empty()) {
                spdlog::warn("DNS: {} has a CNAME and other records; only the CNAME is served", to_dotted(name));
            }
        } else {
            if (!records.a.empty()) {
                SetWriter writer;
                for (uint32_t address : records.a) {
                    if (writer.full) break;
                    const size_t start = writer.out.size();
                    const size_t at = begin_record(writer, dns::kTypeA, impl.ttl);
                    put32(writer.out, address);
                    end_record(writer, at, start, dns::kTypeA);
                }
                append_set(dns::kTypeA, writer.out, writer.count, {}, 0);
            }
            if (!records.aaaa.empty()) {
                SetWriter writer;
                for (const auto& address : records.aaaa) {
                    if (writer.full) break;
                    const size_t start = writer.out.size();
                    const size_t at = begin_record(writer, dns::kTypeAaaa, impl.ttl);
                    writer.out.insert(writer.out.end(), address.begin(), address.end());
                    end_record(writer, at, start, dns::kTypeAaaa);
                }
                append_set(dns::kTypeAaaa, writer.out, writer.count, {}, 0);
            }
            if (name == impl.apex) {
                const auto record = impl.soa_record(dns::kHeaderLength, impl.ttl, zone->serial);
                append_set(dns::kTypeSoa, record, 1, {}, 0);
            }
            if (!records.ptr.empty()) {
                Compressor compressor(name);
                SetWriter writer;
                for (const Wire& target : records.ptr) {
                    if (writer.full) break;
                    const size_t start = writer.out.size();
                    const size_t at = begin_record(writer, dns::kTypePtr, impl.ttl);
                    compressor.write(target, writer.out, answer_base, true);
                    end_record(writer, at, start, dns::kTypePtr);
                }
                append_set(dns::kTypePtr, writer.out, writer.count, {}, 0);
            }
            if (!records.txt.empty()) {
                SetWriter writer;
                for (const std::string& text : records.txt) {
                    if (writer.full) break;
                    const size_t start = writer.out.size();
                    const size_t at = begin_record(writer, dns::kTypeTxt, impl.ttl);
                    size_t position = 0;
                    do {  // an empty text is one empty character-string
                        const size_t piece = std::min<size_t>(kMaxCharacterString, text.size() - position);
                        writer.out.push_back(static_cast<uint8_t>(piece));
                        writer.out.insert(writer.out.end(), text.begin() + static_cast<long>(position),
                                          text.begin() + static_cast<long>(position + piece));
                        position += piece;
                    } while (position < text.size());
                    end_record(writer, at, start, dns::kTypeTxt);
                }
                append_set(dns::kTypeTxt, writer.out, writer.count, {}, 0);
            }
            if (!records.srv.empty()) {
                // RFC 2782: the target is not compressed; the additional records' owners point at it.
                Compressor compressor(name);
                SetWriter answer;
                std::map<Wire, uint32_t> target_offset;
                for (const Impl::Srv& srv : records.srv) {
                    if (answer.full) break;
                    const size_t start = answer.out.size();
                    const size_t at = begin_record(answer, dns::kTypeSrv, impl.ttl);
                    put16(answer.out, srv.priority);
                    put16(answer.out, srv.weight);
                    put16(answer.out, srv.port);
                    const auto offset = static_cast<uint32_t>(answer_base + answer.out.size());
                    compressor.write(srv.target, answer.out, answer_base, false);
                    end_record(answer, at, start, dns::kTypeSrv);
                    if (!answer.full) target_offset.emplace(srv.target, offset);
                }
                SetWriter additional;
                for (const auto& targeted : target_offset) {
                    // Not a structured binding: captured below (clang 14, as above).
                    const Wire& target = targeted.first;
                    const uint32_t offset = targeted.second;
                    auto found = impl.names.find(target);
                    if (found == impl.names.end() || found->second.cname || !impl.in_zone(target)) continue;
                    // The target's addresses of both families (RFC 2782), while they fit.
                    auto add = [&](uint16_t type, const uint8_t* address, uint16_t length) {
                        if (additional.full || offset > 0x3FFF) return;
                        const size_t start = additional.out.size();
                        put16(additional.out, static_cast<uint16_t>(dns::kCompressionPointer | offset));
                        put16(additional.out, type);
                        put16(additional.out, dns::kClassIn);
                        put32(additional.out, impl.ttl);
                        put16(additional.out, length);
                        additional.out.insert(additional.out.end(), address, address + length);
                        if (answer.out.size() + additional.out.size() > dns::kMaxPrebuiltSectionBytes) {
                            additional.out.resize(start);
                            additional.full = true;
                            return;
                        }
                        ++additional.count;
                    };
                    for (uint32_t address : found->second.a) {
                        const uint8_t wire[4] = {static_cast<uint8_t>(address >> 24),
                                                 static_cast<uint8_t>(address >> 16),
                                                 static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)};
                        add(dns::kTypeA, wire, 4);
                    }
                    for (const auto& address : found->second.aaaa) add(dns::kTypeAaaa, address.data(), 16);
                }
                append_set(dns::kTypeSrv, answer.out, answer.count, additional.out, additional.count);
            }
        }
        entry.set_count = static_cast<uint16_t>(zone->sets.size() - entry.first_set);
        zone->names.push_back(entry);
    }

    size_t slot_count = kMinimumSlots;
    while (slot_count < 2 * zone->names.size()) slot_count *= 2;
    zone->slots.assign(slot_count, DnsSlot{});
    const size_t mask = slot_count - 1;
    for (uint32_t index = 0; index < zone->names.size(); ++index) {
        const DnsNameEntry& entry = zone->names[index];
        const uint32_t hash = dns::name_hash(&bytes[entry.name_offset], entry.name_length);
        size_t slot = hash & mask;
        while (zone->slots[slot].entry != 0) slot = (slot + 1) & mask;
        zone->slots[slot] = DnsSlot{hash, index + 1};
    }
    return zone;
}

}  // namespace vipgate
