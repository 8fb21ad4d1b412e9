// Entry points: read a file or a string, parse the TOML, decode, validate. Nothing here throws:
// every failure, including an unreadable file or a TOML syntax error, becomes a ConfigError.
#include "config/config.h"
#include "config/config_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>

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

// toml++ builds one table per part of a dotted key ([a.b.c] or a.b.c = 1) and then recurses
// through them, as destroying the document does: a key of 50,000 parts, 100 KB of text,
// overflows the stack. Its own bound, TOML_MAX_NESTED_VALUES (256), covers arrays and inline
// tables, not keys. So before parsing, keys are limited to kMaxKeyParts parts, which bounds
// the depth of any document toml++ accepts to (kMaxKeyParts + 1) * 258 levels. A key is found
// lexically: outside strings and comments, words (bare or quoted) joined by dots. No value has
// a run of more than two such words (1.5e3), so only keys count.
constexpr size_t kMaxKeyParts = 16;

bool is_bare_key_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::optional<ConfigError> overlong_key(std::string_view text, const std::string& source_name) {
    uint32_t line = 1;
    size_t line_start = 0;
    size_t parts = 0;  // of the dotted key being read; 0 outside keys
    bool after_dot = false;
    auto newline_at = [&](size_t at) {
        ++line;
        line_start = at + 1;
    };
    for (size_t i = 0; i < text.size();) {
        const char c = text[i];
        const size_t word_start = i;
        if (c == '"' || c == '\'') {
            const std::string_view quote =
                text.substr(i, 3) == std::string(3, c) ? text.substr(i, 3) : text.substr(i, 1);
            for (i += quote.size(); i < text.size() && !text.substr(i).starts_with(quote); ++i) {
                if (text[i] == '\n') {
                    if (quote.size() == 1) break;  // unterminated: the parser says so
                    newline_at(i);
                } else if (text[i] == '\\' && c == '"' && i + 1 < text.size()) {
                    if (text[++i] == '\n') newline_at(i);
                }
            }
            if (i < text.size() && text[i] != '\n') i += quote.size();
        } else if (is_bare_key_char(c)) {
            while (i < text.size() && is_bare_key_char(text[i])) ++i;
        } else {
            if (c == '#') {
                i = std::min(text.find('\n', i), text.size());
                parts = 0;
            } else if (c == '.' && parts > 0 && !after_dot) {
                after_dot = true;
            } else if (c != ' ' && c != '\t') {
                parts = 0;
            }
            if (i < text.size() && text[i] == '\n') newline_at(i);
            ++i;
            continue;
        }
        parts = parts > 0 && after_dot ? parts + 1 : 1;
        after_dot = false;
        if (parts > kMaxKeyParts) {
            return ConfigError{source_name, line, static_cast<uint32_t>(word_start - line_start + 1), "",
                               "a dotted key of more than " + std::to_string(kMaxKeyParts) +
                                   " parts: each part is a table inside the previous one, and "
                                   "no key vipgate reads is nested that deep"};
        }
    }
    return std::nullopt;
}

}  // namespace

namespace detail {

std::optional<ConfigError> parse_toml(const std::string& text, const std::string& source_name, toml::table& document) {
    if (auto error = overlong_key(text, source_name)) return error;
    try {
        document = toml::parse(std::string_view(text), std::string_view(source_name));
    } catch (const toml::parse_error& error) {
        return ConfigError{source_name, error.source().begin.line, error.source().begin.column, "",
                           "TOML syntax error: " + std::string(error.description())};
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

namespace {

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

// Why open non-blocking and insist on a regular file: the daemon reloads on SIGHUP, and a FIFO
// or a character device in the config file's place would block the read for ever (a FIFO with
// no writer) or never end (/dev/zero). O_NONBLOCK makes open() itself return at once for a FIFO,
// fstat() then refuses it, and the size limit bounds what a growing file can make us read.
std::optional<std::string> read_regular_file(int fd, std::string& text) {
    struct stat status {};
    if (fstat(fd, &status) != 0) return std::string("cannot inspect the config file: ") + std::strerror(errno);
    if (!S_ISREG(status.st_mode)) {
        return std::string("cannot read the config file: it is ") + file_type_name(status.st_mode) +
               " (vipgate reads regular files only)";
    }
    if (static_cast<uint64_t>(status.st_size) > kMaxConfigFileBytes) {
        return "the config file is " + std::to_string(status.st_size) + " bytes; the limit is " +
               std::to_string(kMaxConfigFileBytes);
    }
    text.resize(static_cast<size_t>(status.st_size));
    size_t length = 0;
    for (;;) {
        if (length == text.size()) {  // the file grew since fstat(): read on, up to the limit
            if (length > kMaxConfigFileBytes) {
                return "the config file grew past the limit of " + std::to_string(kMaxConfigFileBytes) +
                       " bytes while being read";
            }
            text.resize(std::min(std::max<size_t>(length * 2, 4096), kMaxConfigFileBytes + 1));
        }
        const ssize_t got = read(fd, text.data() + length, text.size() - length);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return std::string("cannot read the config file: ") + std::strerror(errno);
        if (got == 0) break;
        length += static_cast<size_t>(got);
    }
    text.resize(length);
    return std::nullopt;
}

}  // namespace

LoadResult load_config_file(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return failure({path, 0, 0, "", std::string("cannot open the config file: ") + std::strerror(errno)});
    }
    std::string text;
    std::optional<std::string> error;
    try {
        error = read_regular_file(fd, text);
    } catch (const std::exception& exception) {  // out of memory: still an error value, not a throw
        error = std::string("cannot load: ") + exception.what();
    }
    close(fd);
    if (error) return failure({path, 0, 0, "", *error});
    return load_config_string(text, path);
}

const std::string& embedded_default_config() {
    static const std::string text =
#include "embedded_default_config.inc"
        ;
    return text;
}

}  // namespace vipgate::config
