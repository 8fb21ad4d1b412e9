// Text forms of addresses, error formatting and the Diagnostics collector shared by the decoder
// and the validator.
#include "config/config.h"
#include "config/config_internal.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace vipgate::config {

namespace {

// A decimal number with no sign, no leading zeros (so "010" is not mistaken for octal) and at
// most `max`.
std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max) {
    if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    uint32_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
    return value;
}

std::optional<uint8_t> parse_hex_octet(std::string_view text) {
    if (text.size() != 2) return std::nullopt;
    uint8_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + 2, value, 16);
    if (error != std::errc{} || end != text.data() + 2) return std::nullopt;
    return value;
}

}  // namespace

std::string ConfigError::to_string() const {
    std::string text = file;
    if (line != 0) text.append(":").append(std::to_string(line)).append(":").append(std::to_string(column));
    text += ": ";
    if (!field.empty()) text += field + ": ";
    return text + message;
}

std::string describe_errors(const std::vector<ConfigError>& errors) {
    std::string text;
    for (const ConfigError& error : errors) {
        if (!text.empty()) text += '\n';
        text += error.to_string();
    }
    return text;
}

std::string_view protocol_name(Protocol protocol) {
    switch (protocol) {
    case Protocol::Tcp:
        return "TCP";
    case Protocol::Udp:
        return "UDP";
    case Protocol::Sctp:
        return "SCTP";
    }
    return "?";
}

std::optional<Protocol> parse_protocol(std::string_view text) {
    std::string upper(text);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (Protocol protocol : {Protocol::Tcp, Protocol::Udp, Protocol::Sctp}) {
        if (upper == protocol_name(protocol)) return protocol;
    }
    return std::nullopt;
}

std::string format_ipv4(uint32_t host_order_address) {
    char text[16];
    std::snprintf(text, sizeof text, "%u.%u.%u.%u", host_order_address >> 24, (host_order_address >> 16) & 0xff,
                  (host_order_address >> 8) & 0xff, host_order_address & 0xff);
    return text;
}

std::string format_ipv4_prefix(const Ipv4Prefix& prefix) {
    return format_ipv4(prefix.address) + "/" + std::to_string(prefix.length);
}

std::string format_mac(const MacAddress& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return text;
}

std::optional<uint32_t> parse_ipv4(std::string_view text) {
    uint32_t address = 0;
    for (int octet = 0; octet < 4; ++octet) {
        size_t dot = octet < 3 ? text.find('.') : text.size();
        if (dot == std::string_view::npos) return std::nullopt;
        auto value = parse_decimal(text.substr(0, dot), 255);
        if (!value) return std::nullopt;
        address = (address << 8) | *value;
        text.remove_prefix(std::min(dot + 1, text.size()));
    }
    return address;
}

std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text) {
    size_t slash = text.find('/');
    auto address = parse_ipv4(text.substr(0, slash));
    if (!address) return std::nullopt;
    if (slash == std::string_view::npos) return Ipv4Prefix{*address, 32};
    auto length = parse_decimal(text.substr(slash + 1), 32);
    if (!length) return std::nullopt;
    return Ipv4Prefix{*address, static_cast<uint8_t>(*length)};
}

std::optional<MacAddress> parse_mac(std::string_view text) {
    if (text.size() != 17) return std::nullopt;
    MacAddress mac{};
    for (size_t i = 0; i < mac.size(); ++i) {
        if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
        auto octet = parse_hex_octet(text.substr(i * 3, 2));
        if (!octet) return std::nullopt;
        mac[i] = *octet;
    }
    return mac;
}

namespace detail {

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF (what a TOML parser
// accepts, so text that passes can be written back into a TOML file).
bool is_valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        size_t length = 0;
        uint32_t code = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xe0) == 0xc0) {
            length = 2;
            code = lead & 0x1fu;
        } else if ((lead & 0xf0) == 0xe0) {
            length = 3;
            code = lead & 0x0fu;
        } else if ((lead & 0xf8) == 0xf0) {
            length = 4;
            code = lead & 0x07u;
        } else {
            return false;
        }
        if (text.size() - i < length) return false;
        for (size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) return false;
            code = code << 6 | (next & 0x3fu);
        }
        constexpr uint32_t kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < kSmallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        i += length;
    }
    return true;
}

uint32_t prefix_mask(uint8_t length) {
    return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

std::string_view parent_path(std::string_view path) {
    size_t cut = path.find_last_of(".[");
    return cut == std::string_view::npos ? std::string_view{} : path.substr(0, cut);
}

namespace {

// True when `path` is `ancestor` or lies below it.
bool path_within(std::string_view path, std::string_view ancestor) {
    if (!path.starts_with(ancestor)) return false;
    return path.size() == ancestor.size() || path[ancestor.size()] == '.' || path[ancestor.size()] == '[';
}

}  // namespace

Diagnostics::Diagnostics(std::string file, const toml::table& document) : file_(std::move(file)), translated_(false) {
    locator_ = [&document](std::string_view path) {
        std::string field(path);
        for (;; path = parent_path(path)) {
            const toml::node* node = path.empty() ? &document : toml::at_path(document, path).node();
            if (node) return Origin{{node->source().begin.line, node->source().begin.column}, field};
            if (path.empty()) return Origin{{}, field};
        }
    };
}

void Diagnostics::error(const std::string& path, const std::string& message) {
    Origin origin = locator_(path);
    errors_.push_back({file_, origin.location.line, origin.location.column, origin.field, message});
}

std::string Diagnostics::reference(const std::string& path) const {
    if (!translated_) return path;
    Origin origin = locator_(path);
    std::string line = "line " + std::to_string(origin.location.line);
    return origin.field.empty() ? line : origin.field + " at " + line;
}

void Diagnostics::error_at(const std::string& field, SourceLocation location, const std::string& message) {
    errors_.push_back({file_, location.line, location.column, field, message});
}

void Diagnostics::reject(const std::string& path, const std::string& message) {
    error(path, message);
    rejected_.insert(path);
}

void Diagnostics::reject_at(const std::string& path, SourceLocation location, const std::string& message) {
    error_at(path, location, message);
    rejected_.insert(path);
}

bool Diagnostics::intact(std::string_view path) const {
    return std::none_of(rejected_.begin(), rejected_.end(), [&](const std::string& rejected) {
        return path_within(path, rejected) || path_within(rejected, path);
    });
}

std::vector<ConfigError> Diagnostics::take_errors() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
        return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    return std::move(errors_);
}

}  // namespace detail

}  // namespace vipgate::config
