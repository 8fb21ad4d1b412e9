// Entry points: read a file or a string, parse the TOML, decode, validate. Nothing here throws:
// every failure, including an unreadable file or a TOML syntax error, becomes a ConfigError.
#include "config/config.h"
#include "config/config_internal.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace vipgate::config {

namespace {

LoadResult failure(ConfigError error) {
    LoadResult result;
    result.errors.push_back(std::move(error));
    return result;
}

LoadResult parse_and_check(const std::string& text, const std::string& source_name) {
    toml::table document;
    if (auto error = detail::parse_toml(text, source_name, document)) return failure(*error);
    detail::Diagnostics diagnostics(source_name, document);
    Config config;
    config.source = source_name;
    detail::decode(document, config, diagnostics);
    detail::validate(config, diagnostics);
    LoadResult result;
    result.errors = diagnostics.take_errors();
    if (result.errors.empty()) result.config = std::move(config);
    return result;
}

}  // namespace

namespace detail {

std::optional<ConfigError> parse_toml(const std::string& text, const std::string& source_name,
                                      toml::table& document) {
    try {
        document = toml::parse(std::string_view(text), std::string_view(source_name));
    } catch (const toml::parse_error& error) {
        return ConfigError{source_name, error.source().begin.line, error.source().begin.column,
                           "", "TOML syntax error: " + std::string(error.description())};
    }
    return std::nullopt;
}

}  // namespace detail

LoadResult load_config_string(const std::string& text, const std::string& source_name) {
    try {
        return parse_and_check(text, source_name);
    } catch (const std::exception& error) {  // out of memory: still an error value, not a throw
        return failure({source_name, 0, 0, "", std::string("cannot load: ") + error.what()});
    }
}

LoadResult load_config_file(const std::string& path) {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
        return failure({path, 0, 0, "", "cannot read the config file: it is a directory"});
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return failure(
            {path, 0, 0, "", std::string("cannot open the config file: ") + std::strerror(errno)});
    }
    std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (file.bad()) {
        return failure(
            {path, 0, 0, "", std::string("cannot read the config file: ") + std::strerror(errno)});
    }
    return load_config_string(text, path);
}

const std::string& embedded_default_config() {
    static const std::string text =
#include "embedded_default_config.inc"
        ;
    return text;
}

}  // namespace vipgate::config
