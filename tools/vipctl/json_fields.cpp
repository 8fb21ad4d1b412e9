#include "tools/vipctl/json_fields.h"

#include <cstdio>

namespace vipgate::vipctl {

std::string field_text(const nlohmann::json& object, const char* key, const std::string& fallback) {
    if (!object.is_object()) return fallback;
    const auto found = object.find(key);
    if (found == object.end()) return fallback;
    if (found->is_string()) return found->get<std::string>();
    if (found->is_number() || found->is_boolean()) return found->dump();
    return fallback;
}

uint64_t field_number(const nlohmann::json& object, const char* key, uint64_t fallback) {
    if (!object.is_object()) return fallback;
    const auto found = object.find(key);
    if (found == object.end() || !found->is_number() || *found < 0) return fallback;
    return found->get<uint64_t>();
}

bool field_bool(const nlohmann::json& object, const char* key, bool fallback) {
    if (!object.is_object()) return fallback;
    const auto found = object.find(key);
    return found != object.end() && found->is_boolean() ? found->get<bool>() : fallback;
}

const nlohmann::json& field_list(const nlohmann::json& object, const char* key) {
    static const nlohmann::json empty = nlohmann::json::array();
    if (!object.is_object()) return empty;
    const auto found = object.find(key);
    return found != object.end() && (found->is_array() || found->is_object()) ? *found : empty;
}

std::string labels_text(const nlohmann::json& labels) {
    if (!labels.is_object() || labels.empty()) return kNone;
    std::string text;
    for (const auto& [key, value] : labels.items()) {
        text.append(text.empty() ? "" : ",")
            .append(key)
            .append("=")
            .append(value.is_string() ? value.get<std::string>() : value.dump());
    }
    return text;
}

std::string microseconds_as_ms(uint64_t microseconds) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.2f ms", static_cast<double>(microseconds) / 1000.0);
    return text;
}

}  // namespace vipgate::vipctl
