// `vipctl get` output: one kubectl-style table per resource, rendered from the daemon's answer
// (the "items" of control/api_protocol.md). Hints and "nothing found" go to err, tables to out.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/vipctl/table.h"

namespace vipgate::vipctl {

// kubectl shows this many endpoints before "+ N more..." (unless -o wide).
constexpr size_t kEndpointsShown = 3;

struct TableOptions {
    std::optional<std::string> namespace_name;  // nullopt: all namespaces, a NAMESPACE column
    bool wide = false;
};

void print_services(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err);
void print_endpoints(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err);
void print_pods(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err);
void print_conntrack(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err);
void print_stats(const nlohmann::json& response, const TableOptions& options, std::ostream& out, std::ostream& err);
// get announcements, drain-gateway, undrain-gateway: the announced routes and the drain state.
void print_announcements(const nlohmann::json& response, std::ostream& out);
// get routes: static routes and the IPv6 default routers learnt from router advertisements.
void print_routes(const nlohmann::json& response, std::ostream& out);

// The per-service table of `get stats` and `top`: busiest first when the answer has rates (then
// with their columns); at most `rows` rows unless -o wide (0: all).
Table service_rates_table(const nlohmann::json& response, const TableOptions& options, size_t rows = 0);

// A rate for a table cell: "0.5", "1234", "45.7k", "7.12M".
std::string rate_text(double per_second);

// "15m0s" style: 899000 -> "14m59s", 4200 -> "4s", 7322000 -> "2h2m".
std::string duration_text(uint64_t milliseconds);

}  // namespace vipgate::vipctl
