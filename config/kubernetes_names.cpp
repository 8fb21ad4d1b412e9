// Kubernetes name rules for label keys and values (k8s.io/apimachinery validation:
// IsQualifiedName, IsValidLabelValue) and port names. Kubernetes names ports two ways: a
// container port (and so a named targetPort) is an IANA_SVC_NAME of RFC 6335 (IsValidPortName,
// at most 15 characters), a service port or an EndpointSlice port a DNS-1123 label (at most 63:
// the docs' own example is "name-of-service-port"). Each returns a message naming the rule broken, so a user can fix
// the name without looking the rule up.
#include "config/config_internal.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace vipgate::config::detail {

namespace {

constexpr size_t kMaxNameLength = 63;     // a label value, the name part of a label key
constexpr size_t kMaxPrefixLength = 253;  // the DNS subdomain before a label key's '/'
constexpr size_t kMaxPortNameLength = 15;

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.append(1, '\'').append(text).append(1, '\'');
    return out;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
std::string qualified_name_problem(std::string_view text, std::string_view what) {
    if (text.empty()) return std::string(what) + " must not be empty";
    if (text.size() > kMaxNameLength) {
        return std::string(what) + " " + quoted(text) + " is " + std::to_string(text.size()) +
               " characters long; at most 63 are allowed";
    }
    bool characters_ok =
        std::all_of(text.begin(), text.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
    if (!characters_ok || !is_alnum(text.front()) || !is_alnum(text.back())) {
        return std::string(what) + " " + quoted(text) +
               " is not valid: use letters, digits, '-', '_' and '.', and begin and end with a "
               "letter or digit";
    }
    return "";
}

// A DNS-1123 subdomain: lowercase alphanumeric labels separated by '.', '-' inside labels.
std::string subdomain_problem(std::string_view text) {
    if (text.empty()) return "the prefix before '/' must not be empty";
    if (text.size() > kMaxPrefixLength) return "the prefix before '/' is longer than 253 characters";
    bool ok = is_lower_alnum(text.front()) && is_lower_alnum(text.back());
    for (size_t i = 0; ok && i < text.size(); ++i) {
        char c = text[i];
        if (c == '.') {
            ok = is_lower_alnum(text[i - 1]) && is_lower_alnum(text[i + 1]);
        } else {
            ok = is_lower_alnum(c) || c == '-';
        }
    }
    if (ok) return "";
    return "the prefix " + quoted(text) +
           " is not a DNS subdomain: lowercase letters, digits, '-' and '.', each part beginning "
           "and ending with a letter or digit";
}

}  // namespace

std::string label_key_problem(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return qualified_name_problem(text, "the label key");
    if (std::string problem = subdomain_problem(text.substr(0, slash)); !problem.empty()) {
        return "label key " + quoted(text) + ": " + problem;
    }
    return qualified_name_problem(text.substr(slash + 1), "the name after '/'");
}

std::string label_value_problem(std::string_view text) {
    if (text.empty()) return "";
    return qualified_name_problem(text, "the label value");
}

std::string service_port_name_problem(std::string_view text) {
    std::string name = quoted(text);
    if (text.empty()) return "a port name must not be empty";
    if (text.size() > kMaxNameLength) {
        return "port name " + name + " is " + std::to_string(text.size()) + " characters long; at most 63 are allowed";
    }
    if (!std::all_of(text.begin(), text.end(), [](char c) { return is_lower_alnum(c) || c == '-'; }) ||
        !is_lower_alnum(text.front()) || !is_lower_alnum(text.back())) {
        return "port name " + name +
               " may only hold lowercase letters, digits and '-', and must begin and end with a "
               "letter or digit";
    }
    return "";
}

std::string dns_label_problem(std::string_view text, std::string_view what) {
    std::string name = quoted(text);
    if (text.empty()) return std::string(what) + " must not be empty";
    if (text.size() > kMaxNameLength) {
        return std::string(what) + " " + name + " is " + std::to_string(text.size()) +
               " characters long; at most 63 are allowed (a DNS label)";
    }
    if (!std::all_of(text.begin(), text.end(), [](char c) { return is_lower_alnum(c) || c == '-'; }) ||
        !is_lower_alnum(text.front()) || !is_lower_alnum(text.back())) {
        return std::string(what) + " " + name +
               " is not a DNS label: lowercase letters, digits and '-', beginning and ending with a "
               "letter or digit";
    }
    return "";
}

std::string dns_subdomain_problem(std::string_view text, std::string_view what) {
    if (text.empty()) return std::string(what) + " must not be empty";
    if (text.size() > kMaxPrefixLength) {
        return std::string(what) + " " + quoted(text) + " is " + std::to_string(text.size()) +
               " characters long; at most 253 are allowed (a DNS name)";
    }
    size_t start = 0;
    while (start <= text.size()) {
        size_t dot = std::min(text.find('.', start), text.size());
        if (std::string problem = dns_label_problem(text.substr(start, dot - start), "label"); !problem.empty()) {
            return std::string(what) + " " + quoted(text) + " is not a DNS name: " + problem;
        }
        start = dot + 1;
    }
    return "";
}

std::string port_name_problem(std::string_view text) {
    std::string name = quoted(text);
    if (text.empty()) return "a port name must not be empty";
    if (text.size() > kMaxPortNameLength) {
        return "port name " + name + " is " + std::to_string(text.size()) + " characters long; at most 15 are allowed";
    }
    if (!std::all_of(text.begin(), text.end(), [](char c) { return is_lower_alnum(c) || c == '-'; })) {
        return "port name " + name + " may only hold lowercase letters, digits and '-'";
    }
    if (std::none_of(text.begin(), text.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
        return "port name " + name + " needs at least one letter (a number would be a port number)";
    }
    if (text.front() == '-' || text.back() == '-' || text.find("--") != std::string_view::npos) {
        return "port name " + name + " must not begin or end with '-' or hold \"--\"";
    }
    return "";
}

}  // namespace vipgate::config::detail
