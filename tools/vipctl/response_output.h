// Prints the daemon's answer to a vipctl command and chooses the exit status: tables for get,
// kubectl-style "service/web created" lines for changes, the file for dump, the raw answer for
// -o json, and on refusal every error as FILE:LINE:COL: FIELD: MESSAGE on err.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/vipctl/command_line.h"

namespace vipgate::vipctl {

constexpr int kExitDone = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

// Returns kExitDone, or kExitRefused when the answer is not {"ok":true,...}.
int print_response(const CommandLine& command, const nlohmann::json& response, std::ostream& out, std::ostream& err);

// A refusal: the error, then every entry of "errors" as error_line() prints it.
void print_refusal(const nlohmann::json& response, std::ostream& err);

// One entry of "errors": "web.yaml:3:5: spec.ports[0].port: must be 1-65535", unknown parts left out.
std::string error_line(const nlohmann::json& error);

// "service/web created" for each result, then "(generation 12, validated in 0.81 ms, ...)".
std::string result_lines(const nlohmann::json& response);

}  // namespace vipgate::vipctl
