// Object documents in the TOML shape of the config file, and telling the two formats apart.
#include "config/config_internal.h"
#include "config/objects.h"

#include <exception>

namespace vipgate::config {

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

ObjectsResult failure(ConfigError error) {
    ObjectsResult result;
    result.errors.push_back(std::move(error));
    return result;
}

ObjectsResult parse_and_check(const std::string& text, const std::string& source) {
    toml::table document;
    if (auto error = detail::parse_toml(text, source, document)) return failure(*error);
    detail::Diagnostics diagnostics(source, document);
    ObjectSet objects;
    detail::decode_objects(document, objects, diagnostics);
    detail::validate_objects(objects, diagnostics);
    ObjectsResult result;
    result.errors = diagnostics.take_errors();
    if (result.errors.empty()) result.objects = std::move(objects);
    return result;
}

}  // namespace

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
        return failure({source, 0, 0, "", std::string("cannot load: ") + error.what()});
    }
}

}  // namespace vipgate::config
