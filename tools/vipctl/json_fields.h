// Tolerant readers for the daemon's answers: a missing or differently typed field renders as a
// placeholder instead of aborting the whole listing.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace vipgate::vipctl {

constexpr const char* kNone = "<none>";

// A string as is, a number or boolean as JSON writes it, anything else (missing, null) as fallback.
std::string field_text(const nlohmann::json& object, const char* key, const std::string& fallback = kNone);

// An unsigned number, or fallback when missing or not a number.
uint64_t field_number(const nlohmann::json& object, const char* key, uint64_t fallback = 0);

bool field_bool(const nlohmann::json& object, const char* key, bool fallback = false);

// The array or object under key, or an empty array (iterates as nothing).
const nlohmann::json& field_list(const nlohmann::json& object, const char* key);

// {"app":"web","tier":"front"} -> "app=web,tier=front"; null, missing or {} -> "<none>".
std::string labels_text(const nlohmann::json& labels);

// 812 -> "0.81 ms"
std::string microseconds_as_ms(uint64_t microseconds);

}  // namespace vipgate::vipctl
