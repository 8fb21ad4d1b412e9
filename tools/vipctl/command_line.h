// vipctl's command line: kubectl-like verbs and flags, parsed by hand so that flags may come
// anywhere (`vipctl get svc -A`, `vipctl -A get svc`) and `-f -` means stdin.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vipgate::vipctl {

constexpr const char* kDefaultSocketPath = "/run/vipgate/api.sock";
constexpr const char* kSocketEnvironmentVariable = "VIPGATE_SOCKET";
constexpr const char* kDefaultNamespace = "default";

enum class Verb { Help, Get, Apply, Delete, Drain, Undrain, DrainGateway, UndrainGateway, Dump, Top, Capture };
enum class OutputFormat { Table, Wide, Json };

struct CommandLine {
    Verb verb = Verb::Help;
    std::string socket_path;  // resolved: --socket, else $VIPGATE_SOCKET, else kDefaultSocketPath
    OutputFormat output = OutputFormat::Table;
    std::string resource;                       // get: services, endpoints, pods, conntrack, stats or dns
    std::optional<std::string> namespace_name;  // get/delete; nullopt with -A (all namespaces)
    std::optional<uint64_t> limit;              // get conntrack --limit
    std::vector<std::string> files;             // apply/delete -f; "-" is stdin
    std::string kind;                           // delete: service, pod or endpointslice
    std::string name;                           // delete NAME; get dns NAME
    std::string dns_type = "A";                 // get dns NAME [TYPE]
    std::string address;                        // drain/undrain
    double interval_s = 1.0;                    // top --interval
    uint64_t count = 0;                         // top --count (0: until interrupted); capture -c (packets)
    std::string port;                           // capture PORT
    std::string output_file;                    // capture -w FILE
    double timeout_s = 10;                      // capture --timeout
    std::optional<double> deadline_s;           // drain-gateway --deadline
    bool all_namespaces() const { return !namespace_name.has_value(); }
};

// A command line vipctl cannot act on; main prints it and exits 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// args excludes argv[0]; socket_from_environment is $VIPGATE_SOCKET (nullptr when unset).
CommandLine parse_command_line(const std::vector<std::string>& args, const char* socket_from_environment);

std::string usage_text();

}  // namespace vipgate::vipctl
