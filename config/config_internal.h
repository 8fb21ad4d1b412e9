// Private to the config library: what the TOML decoder hands to the validator.
//
// Design note: loading runs in two passes over one Diagnostics object. The decoder turns TOML
// into the plain structs of config.h, checking shape (unknown keys, types, syntax of addresses,
// ranges of single values). The validator then checks rules that span fields (duplicates,
// subnets, SNAT, ...) and fills derived values. Both passes always run so a user sees every
// problem at once; to keep one typo from cascading into a page of follow-on errors, the decoder
// marks the fields it rejected and the validator skips any rule whose inputs are not intact.
// Errors name fields by dotted path ("services[2].ports[0].port"); the path is looked up in the
// parsed document only when an error is reported, so no per-field bookkeeping is kept.
#pragma once

#include "config/config.h"

#include <toml++/toml.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config::detail {

struct SourceLocation {
    uint32_t line = 0;
    uint32_t column = 0;
};

class Diagnostics {
public:
    Diagnostics(std::string file, const toml::table& document)
        : file_(std::move(file)), document_(document) {}

    // Reports a problem with the value at `path`, located where that value starts in the file,
    // or where its nearest enclosing table starts when it is absent (a missing key points at
    // its table).
    void error(const std::string& path, const std::string& message);

    // Reports a problem at an explicit location (an unknown key, which has no value path).
    void error_at(const std::string& path, SourceLocation location, const std::string& message);

    // error() plus: the decoded value at `path` is unusable, see intact().
    void reject(const std::string& path, const std::string& message);

    // False when `path`, one of its ancestors or one of its descendants was rejected.
    bool intact(std::string_view path) const;

    // All errors, in file order.
    std::vector<ConfigError> take_errors();

private:
    SourceLocation locate(std::string_view path) const;

    std::string file_;
    const toml::table& document_;
    std::set<std::string, std::less<>> rejected_;
    std::vector<ConfigError> errors_;
};

// TOML -> Config, shape checks only. Defaults stay where keys are omitted.
void decode(const toml::table& root, Config& config, Diagnostics& diagnostics);

// Cross-field rules and derived values (route/neighbor port, SNAT default).
void validate(Config& config, Diagnostics& diagnostics);

// The netmask of a prefix length, host order: 24 -> 0xffffff00.
uint32_t prefix_mask(uint8_t length);

}  // namespace vipgate::config::detail
