// Object documents in the TOML shape of the config file, and telling the two formats apart.
#include "config/config_internal.h"
#include "config/objects.h"

#include <exception>

namespace vipgate::config {

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

ObjectsResult parse_and_check(const std::string& text, const std::string& source) {
    toml::table document;
    if (auto error = detail::parse_toml(text, source, document)) return detail::failed_objects(*error);
    detail::Diagnostics diagnostics(source, document);
    return detail::check_objects(document, diagnostics);
}

}  // namespace

namespace detail {

ObjectsResult check_objects(const toml::table& root, Diagnostics& diagnostics) {
    ObjectSet objects;
    decode_objects(root, objects, diagnostics);
    validate_objects(objects, diagnostics);
    ObjectsResult result;
    result.errors = diagnostics.take_errors();
    if (result.errors.empty()) result.objects = std::move(objects);
    return result;
}

ObjectsResult failed_objects(ConfigError error) {
    ObjectsResult result;
    result.errors.push_back(std::move(error));
    return result;
}

}  // namespace detail

std::optional<DocumentFormat> detect_format(std::string_view file_name, std::string_view text) {
    if (ends_with(file_name, ".toml")) return DocumentFormat::Toml;
    if (ends_with(file_name, ".yaml") || ends_with(file_name, ".yml")) return DocumentFormat::Yaml;
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        if (line.starts_with("apiVersion:") || line.starts_with("kind:")) return DocumentFormat::Yaml;
        if (line.starts_with("[[")) return DocumentFormat::Toml;
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return std::nullopt;
}

ObjectsResult load_objects_toml(const std::string& text, const std::string& source) {
    try {
        return parse_and_check(text, source);
    } catch (const std::exception& error) {  // out of memory: still an error value, not a throw
        return detail::failed_objects({source, 0, 0, "", std::string("cannot load: ") + error.what()});
    }
}

}  // namespace vipgate::config
