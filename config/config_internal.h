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
#include "config/objects.h"

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config::detail {

struct SourceLocation {
    uint32_t line = 0;
    uint32_t column = 0;
};

// Where the value at a path came from, as the user wrote it: its position and the name of the
// field in the user's own document (the path itself for TOML; "spec.ports[0].targetPort" for a
// Kubernetes manifest translated into the TOML object shape).
struct Origin {
    SourceLocation location;
    std::string field;
};

class Diagnostics {
public:
    using Locator = std::function<Origin(std::string_view path)>;

    // Positions come from the parsed TOML document; fields are named by their paths.
    Diagnostics(std::string file, const toml::table& document);
    // Positions and field names come from `locator` (a document translated from another format).
    Diagnostics(std::string file, Locator locator) : file_(std::move(file)), locator_(std::move(locator)) {}

    // Reports a problem with the value at `path`, located where that value starts in the file,
    // or where its nearest enclosing table starts when it is absent (a missing key points at
    // its table).
    void error(const std::string& path, const std::string& message);

    // Reports a problem at an explicit location (an unknown key, which has no value path).
    void error_at(const std::string& field, SourceLocation location, const std::string& message);

    // error() plus: the decoded value at `path` is unusable, see intact().
    void reject(const std::string& path, const std::string& message);
    void reject_at(const std::string& path, SourceLocation location, const std::string& message);

    // False when `path`, one of its ancestors or one of its descendants was rejected.
    bool intact(std::string_view path) const;

    // How a message refers to another value, e.g. "(also services[0])": its path in TOML, its
    // field and line in a translated document.
    std::string reference(const std::string& path) const;

    // The name the user knows the field at `path` by (the key for TOML).
    std::string field_name(const std::string& path) const { return locator_(path).field; }

    // All errors, in file order.
    std::vector<ConfigError> take_errors();

private:
    std::string file_;
    Locator locator_;
    bool translated_ = true;
    std::set<std::string, std::less<>> rejected_;
    std::vector<ConfigError> errors_;
};

// Parses TOML text; a syntax error comes back as the error, with its position.
std::optional<ConfigError> parse_toml(const std::string& text, const std::string& source_name, toml::table& document);

// TOML -> Config, shape checks only. Defaults stay where keys are omitted, except one that
// follows another key of its table (conntrack.udp_unreplied_timeout, capped by udp_timeout).
void decode(const toml::table& root, Config& config, Diagnostics& diagnostics);

// TOML object document -> ObjectSet: the [[services]], [[pods]] and [[endpoint_slices]] of
// decode(), nothing else.
void decode_objects(const toml::table& root, ObjectSet& objects, Diagnostics& diagnostics);

// Cross-field rules and derived values (route/neighbor port, SNAT default).
void validate(Config& config, Diagnostics& diagnostics);

// The rules of validate() that hold within a set of objects (duplicates, selector or
// endpoints); those that need the daemon's cluster and ports are left to whoever merges the
// objects into a running configuration.
void validate_objects(ObjectSet& objects, Diagnostics& diagnostics);

// decode_objects() and validate_objects() on one document (TOML, or YAML translated to it): the
// objects when nothing is wrong, else every error found.
ObjectsResult check_objects(const toml::table& root, Diagnostics& diagnostics);

// Reads a YAML stream's events once and stops at the first of: nesting deeper than
// kYamlMaxDepth, more than kYamlMaxNodes nodes or kYamlMaxScalarBytes of scalars (aliases
// expanded), an alias inside the node it names, a syntax error. The error names the alias or
// node where it stopped. load_kubernetes_yaml runs it before building anything.
std::optional<ConfigError> check_yaml_bounds(const std::string& text, const std::string& source);

// A result that holds only `error` (the document could not be read at all).
ObjectsResult failed_objects(ConfigError error);

// Kubernetes name rules; each returns what is wrong with `text`, or "" when it is valid.
std::string label_key_problem(std::string_view text);                             // "app.kubernetes.io/name"
std::string label_value_problem(std::string_view text);                           // may be empty
std::string port_name_problem(std::string_view text);                             // IANA_SVC_NAME: "http-web-svc"
std::string service_port_name_problem(std::string_view text);                     // DNS-1123 label: service, slice
std::string dns_label_problem(std::string_view text, std::string_view what);      // "web-0"
std::string dns_subdomain_problem(std::string_view text, std::string_view what);  // "db.example.com"

// Whether `text` is well-formed UTF-8. A TOML document always is; a YAML manifest's scalars
// are whatever bytes it holds, and a string that is not could not be written back (dump).
bool is_valid_utf8(std::string_view text);

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "" (the document itself).
std::string_view parent_path(std::string_view path);

// The netmask of a prefix length, host order: 24 -> 0xffffff00.
uint32_t prefix_mask(uint8_t length);

}  // namespace vipgate::config::detail
