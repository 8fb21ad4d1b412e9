#include "tools/vipctl/command_line.h"

#include <arpa/inet.h>

#include <charconv>
#include <map>

namespace vipgate::vipctl {
namespace {

// Every flag as typed, before the verb decides which ones it accepts.
struct Flags {
    std::optional<std::string> socket;
    std::optional<std::string> namespace_name;
    bool all_namespaces = false;
    std::optional<std::string> output;
    std::optional<std::string> limit;
    std::optional<std::string> interval;
    std::optional<std::string> count;
    std::optional<std::string> write;
    std::optional<std::string> timeout;
    std::optional<std::string> deadline;
    std::vector<std::string> files;
    bool help = false;
    std::vector<std::string> positionals;
};

struct FlagSpelling {
    const char* short_name;  // nullptr: long form only
    const char* long_name;
};

constexpr FlagSpelling kSocket{nullptr, "--socket"};
constexpr FlagSpelling kNamespace{"-n", "--namespace"};
constexpr FlagSpelling kOutput{"-o", "--output"};
constexpr FlagSpelling kLimit{nullptr, "--limit"};
constexpr FlagSpelling kFilename{"-f", "--filename"};
constexpr FlagSpelling kInterval{nullptr, "--interval"};
constexpr FlagSpelling kCount{"-c", "--count"};
constexpr FlagSpelling kWrite{"-w", "--write"};
constexpr FlagSpelling kTimeout{nullptr, "--timeout"};
constexpr FlagSpelling kDeadline{nullptr, "--deadline"};

// Matches `-n NS`, `-nNS`, `--namespace NS` and `--namespace=NS`; advances index past the value.
bool take_value(const FlagSpelling& flag, const std::vector<std::string>& args, size_t& index, std::string& value) {
    const std::string& arg = args[index];
    const std::string long_name = flag.long_name;
    const bool short_match = flag.short_name != nullptr && arg.rfind(flag.short_name, 0) == 0;
    const bool long_match = arg == long_name || arg.rfind(long_name + "=", 0) == 0;
    if (!short_match && !long_match) return false;
    if (long_match && arg.size() > long_name.size()) {
        value = arg.substr(long_name.size() + 1);
    } else if (short_match && arg.size() > 2) {
        value = arg.substr(2);
    } else {
        if (index + 1 >= args.size()) throw UsageError("flag " + arg + " needs a value");
        value = args[++index];
    }
    return true;
}

Flags scan(const std::vector<std::string>& args) {
    Flags flags;
    for (size_t index = 0; index < args.size(); ++index) {
        const std::string& arg = args[index];
        std::string value;
        if (arg == "--") {
            flags.positionals.insert(flags.positionals.end(), args.begin() + static_cast<long>(index) + 1, args.end());
            break;
        } else if (arg == "-h" || arg == "--help") {
            flags.help = true;
        } else if (arg == "-A" || arg == "--all-namespaces") {
            flags.all_namespaces = true;
        } else if (take_value(kSocket, args, index, value)) {
            flags.socket = value;
        } else if (take_value(kNamespace, args, index, value)) {
            flags.namespace_name = value;
        } else if (take_value(kOutput, args, index, value)) {
            flags.output = value;
        } else if (take_value(kLimit, args, index, value)) {
            flags.limit = value;
        } else if (take_value(kFilename, args, index, value)) {
            flags.files.push_back(value);
        } else if (take_value(kInterval, args, index, value)) {
            flags.interval = value;
        } else if (take_value(kCount, args, index, value)) {
            flags.count = value;
        } else if (take_value(kWrite, args, index, value)) {
            flags.write = value;
        } else if (take_value(kTimeout, args, index, value)) {
            flags.timeout = value;
        } else if (take_value(kDeadline, args, index, value)) {
            flags.deadline = value;
        } else if (arg.size() > 1 && arg[0] == '-') {
            throw UsageError("unknown flag " + arg);
        } else {
            flags.positionals.push_back(arg);
        }
    }
    return flags;
}

const std::map<std::string, std::string>& resource_names() {
    static const std::map<std::string, std::string> names = {
        {"services", "services"},
        {"service", "services"},
        {"svc", "services"},
        {"endpoints", "endpoints"},
        {"endpoint", "endpoints"},
        {"ep", "endpoints"},
        {"pods", "pods"},
        {"pod", "pods"},
        {"po", "pods"},
        {"conntrack", "conntrack"},
        {"connections", "conntrack"},
        {"ct", "conntrack"},
        {"stats", "stats"},
        {"statistics", "stats"},
        {"dns", "dns"},
        {"announcements", "announcements"},
        {"announce", "announcements"},
        {"routes", "routes"},
        {"route", "routes"},
    };
    return names;
}

const std::map<std::string, std::string>& kind_names() {
    static const std::map<std::string, std::string> names = {
        {"service", "service"},
        {"services", "service"},
        {"svc", "service"},
        {"pod", "pod"},
        {"pods", "pod"},
        {"po", "pod"},
        {"endpointslice", "endpointslice"},
        {"endpointslices", "endpointslice"},
    };
    return names;
}

void expect_positionals(const Flags& flags, size_t count, const std::string& form) {
    if (flags.positionals.size() != count) throw UsageError("usage: vipctl " + form);
}

void refuse(bool present, const std::string& what, const std::string& verb) {
    if (present) throw UsageError(what + " does not apply to '" + verb + "'");
}

OutputFormat output_format(const Flags& flags, bool wide_allowed) {
    if (!flags.output) return OutputFormat::Table;
    if (*flags.output == "json") return OutputFormat::Json;
    if (*flags.output == "wide" && wide_allowed) return OutputFormat::Wide;
    throw UsageError("unknown output format '" + *flags.output + "' (" + (wide_allowed ? "json or wide" : "json") +
                     ")");
}

uint64_t parse_positive(const std::string& flag, const std::string& text) {
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value == 0) {
        throw UsageError(flag + " takes a positive number, not '" + text + "'");
    }
    return value;
}

// Seconds, at least the daemon's shortest rate interval (control/stats_rates.h).
double parse_interval(const std::string& text) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !(value >= 0.2) || value > 3600) {
        throw UsageError("--interval takes seconds from 0.2 to 3600, not '" + text + "'");
    }
    return value;
}

void refuse_top_flags(const Flags& flags, const std::string& verb) {
    refuse(flags.interval.has_value(), "--interval", verb);
    if (verb != "capture") refuse(flags.count.has_value(), "--count", verb);
}

void refuse_capture_flags(const Flags& flags, const std::string& verb) {
    refuse(flags.write.has_value(), "-w", verb);
    refuse(flags.timeout.has_value(), "--timeout", verb);
}

void parse_capture(const Flags& flags, CommandLine& command) {
    expect_positionals(flags, 2, "capture PORT -w FILE [-c N] [--timeout SECONDS]");
    refuse(flags.namespace_name.has_value() || flags.all_namespaces || !flags.files.empty() || flags.limit.has_value(),
           "-n/-A/-f/--limit", "capture");
    if (!flags.write || flags.write->empty()) throw UsageError("capture needs -w FILE (the pcapng to write)");
    command.port = flags.positionals[1];
    command.output_file = *flags.write;
    command.count = flags.count ? parse_positive("-c", *flags.count) : 100;
    if (command.count > 100'000) throw UsageError("-c takes at most 100000 packets");
    if (flags.timeout) {
        double value = 0;
        const std::string& text = *flags.timeout;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || !(value > 0) || value > 600) {
            throw UsageError("--timeout takes seconds from 0 to 600, not '" + text + "'");
        }
        command.timeout_s = value;
    }
    command.output = output_format(flags, false);
}

void parse_top(const Flags& flags, CommandLine& command) {
    expect_positionals(flags, 1, "top [--interval SECONDS] [--count N] [-o wide]");
    refuse(flags.namespace_name.has_value() || flags.all_namespaces || !flags.files.empty() || flags.limit.has_value(),
           "-n/-A/-f/--limit", "top");
    if (flags.interval) command.interval_s = parse_interval(*flags.interval);
    if (flags.count) command.count = parse_positive("--count", *flags.count);
    command.output = output_format(flags, true);
    if (command.output == OutputFormat::Json)
        throw UsageError("top prints tables; for JSON use: vipctl get stats -o json");
}

// get dns NAME [TYPE]: what the workers answer for a name, from the published zone.
void parse_get_dns(const Flags& flags, CommandLine& command) {
    if (flags.positionals.size() < 3 || flags.positionals.size() > 4)
        throw UsageError("usage: vipctl get dns NAME [TYPE]");
    refuse(!flags.files.empty(), "-f", "get dns");
    refuse(flags.namespace_name.has_value() || flags.all_namespaces, "-n/-A (names are absolute)", "get dns");
    refuse(flags.limit.has_value(), "--limit", "get dns");
    command.resource = "dns";
    command.name = flags.positionals[2];
    if (flags.positionals.size() == 4) command.dns_type = flags.positionals[3];
    command.output = output_format(flags, false);
}

void parse_get(const Flags& flags, CommandLine& command) {
    if (flags.positionals.size() >= 2 && flags.positionals[1] == "dns") {
        parse_get_dns(flags, command);
        return;
    }
    expect_positionals(flags, 2, "get (services|endpoints|pods|conntrack|stats|routes) [-n NS | -A] [-o json|wide]");
    const auto resource = resource_names().find(flags.positionals[1]);
    if (resource == resource_names().end()) {
        throw UsageError("unknown resource '" + flags.positionals[1] +
                         "' (services/svc, endpoints/ep, pods/po, conntrack, stats, announcements, routes)");
    }
    command.resource = resource->second;
    refuse(!flags.files.empty(), "-f", "get");
    if (flags.namespace_name && flags.all_namespaces) throw UsageError("-n and -A exclude each other");
    const bool namespaced = command.resource != "conntrack" && command.resource != "stats" &&
                            command.resource != "announcements" && command.resource != "routes";
    if (!namespaced && (flags.namespace_name || flags.all_namespaces)) {
        throw UsageError(command.resource + " is not namespaced; drop -n/-A");
    }
    if (namespaced && !flags.all_namespaces) command.namespace_name = flags.namespace_name.value_or(kDefaultNamespace);
    if (flags.limit) {
        if (command.resource != "conntrack") throw UsageError("--limit applies to 'get conntrack' only");
        command.limit = parse_positive("--limit", *flags.limit);
    }
    command.output = output_format(flags, true);
}

void parse_delete(const Flags& flags, CommandLine& command) {
    const std::string form = "delete (service|pod|endpointslice) NAME [-n NS]  or  vipctl delete -f FILE";
    refuse(flags.all_namespaces, "-A", "delete");
    refuse(flags.limit.has_value(), "--limit", "delete");
    command.output = output_format(flags, false);
    if (!flags.files.empty()) {
        expect_positionals(flags, 1, form);
        refuse(flags.namespace_name.has_value(), "-n (the files name their namespaces)", "delete -f");
        command.files = flags.files;
        return;
    }
    expect_positionals(flags, 3, form);
    const auto kind = kind_names().find(flags.positionals[1]);
    if (kind == kind_names().end()) {
        throw UsageError("cannot delete '" + flags.positionals[1] + "' (service/svc, pod/po, endpointslice)");
    }
    command.kind = kind->second;
    command.name = flags.positionals[2];
    command.namespace_name = flags.namespace_name.value_or(kDefaultNamespace);
}

void parse_drain(const Flags& flags, CommandLine& command, const std::string& verb) {
    expect_positionals(flags, 2, verb + " ADDRESS");
    for (const auto& [present, what] :
         {std::pair{flags.namespace_name.has_value(), "-n"}, std::pair{flags.all_namespaces, "-A"},
          std::pair{!flags.files.empty(), "-f"}, std::pair{flags.limit.has_value(), "--limit"}}) {
        refuse(present, what, verb);
    }
    command.address = flags.positionals[1];
    unsigned char buffer[16];
    if (inet_pton(AF_INET, command.address.c_str(), buffer) != 1 &&
        inet_pton(AF_INET6, command.address.c_str(), buffer) != 1) {
        throw UsageError("'" + command.address + "' is not an IP address");
    }
    command.output = output_format(flags, false);
}

// drain-gateway [--deadline SECONDS]: every route withdrawn, what still arrives served.
void parse_drain_gateway(const Flags& flags, CommandLine& command, const std::string& verb) {
    expect_positionals(flags, 1, verb + (verb == "drain-gateway" ? " [--deadline SECONDS]" : ""));
    refuse(flags.namespace_name.has_value() || flags.all_namespaces || !flags.files.empty() || flags.limit.has_value(),
           "-n/-A/-f/--limit", verb);
    if (flags.deadline) {
        refuse(verb != "drain-gateway", "--deadline", verb);
        double value = 0;
        const std::string& text = *flags.deadline;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || !(value > 0) || value > 86400) {
            throw UsageError("--deadline takes seconds from 0 to 86400, not '" + text + "'");
        }
        command.deadline_s = value;
    }
    command.output = output_format(flags, false);
}

}  // namespace

CommandLine parse_command_line(const std::vector<std::string>& args, const char* socket_from_environment) {
    const Flags flags = scan(args);
    CommandLine command;
    command.socket_path = flags.socket ? *flags.socket
                          : (socket_from_environment != nullptr && *socket_from_environment != '\0')
                              ? socket_from_environment
                              : kDefaultSocketPath;
    if (flags.socket && flags.socket->empty()) throw UsageError("--socket needs a path");
    if (flags.help || (!flags.positionals.empty() && flags.positionals[0] == "help")) return command;
    if (flags.positionals.empty()) throw UsageError("missing command");
    const std::string& verb = flags.positionals[0];
    if (verb != "top") refuse_top_flags(flags, verb);
    if (verb != "capture") refuse_capture_flags(flags, verb);
    if (verb != "drain-gateway") refuse(flags.deadline.has_value(), "--deadline", verb);
    if (verb == "capture") {
        command.verb = Verb::Capture;
        parse_capture(flags, command);
    } else if (verb == "top") {
        command.verb = Verb::Top;
        parse_top(flags, command);
    } else if (verb == "get") {
        command.verb = Verb::Get;
        parse_get(flags, command);
    } else if (verb == "apply") {
        command.verb = Verb::Apply;
        expect_positionals(flags, 1, "apply -f FILE [-f FILE ...]");
        if (flags.files.empty()) throw UsageError("apply needs at least one -f FILE (-f - reads stdin)");
        refuse(flags.namespace_name.has_value() || flags.all_namespaces, "-n/-A (the files name their namespaces)",
               "apply");
        refuse(flags.limit.has_value(), "--limit", "apply");
        command.files = flags.files;
        command.output = output_format(flags, false);
    } else if (verb == "delete") {
        command.verb = Verb::Delete;
        parse_delete(flags, command);
    } else if (verb == "drain" || verb == "undrain") {
        command.verb = verb == "drain" ? Verb::Drain : Verb::Undrain;
        parse_drain(flags, command, verb);
    } else if (verb == "drain-gateway" || verb == "undrain-gateway") {
        command.verb = verb == "drain-gateway" ? Verb::DrainGateway : Verb::UndrainGateway;
        parse_drain_gateway(flags, command, verb);
    } else if (verb == "dump") {
        command.verb = Verb::Dump;
        expect_positionals(flags, 1, "dump");
        refuse(
            flags.namespace_name.has_value() || flags.all_namespaces || !flags.files.empty() || flags.limit.has_value(),
            "-n/-A/-f/--limit", "dump");
        command.output = output_format(flags, false);
    } else {
        throw UsageError("unknown command '" + verb + "'");
    }
    return command;
}

std::string usage_text() {
    return "vipctl: inspect and change a running vipgate through its control API\n"
           "\n"
           "Usage:\n"
           "  vipctl get services|svc|endpoints|ep|pods|po [-n NS | -A] [-o json|wide]\n"
           "  vipctl get conntrack [--limit N] [-o json|wide]\n"
           "  vipctl get stats [-o json|wide]\n"
           "  vipctl get announcements [-o json]       (the VIP routes given to the routing daemon)\n"
           "  vipctl get routes [-o json]              (static routes, IPv6 default routers learnt from RAs)\n"
           "  vipctl get dns NAME [TYPE]                 (what the gateway answers: A, SRV, PTR, TXT, ...)\n"
           "  vipctl apply -f FILE [-f FILE ...]        (-f - reads stdin)\n"
           "  vipctl delete (service|svc|pod|po|endpointslice) NAME [-n NS]\n"
           "  vipctl delete -f FILE [-f FILE ...]       (deletes what the files define)\n"
           "  vipctl drain ADDRESS | undrain ADDRESS   (an endpoint keeps its connections, gets no new ones)\n"
           "  vipctl drain-gateway [--deadline S]      (withdraw every route, keep serving; open connections)\n"
           "  vipctl undrain-gateway                   (announce again)\n"
           "  vipctl dump                              (the running state as a configuration file)\n"
           "  vipctl top [--interval S] [--count N] [-o wide]   (busiest service ports, rates per second)\n"
           "  vipctl capture PORT -w FILE [-c N] [--timeout S]  (N packets in and out of PORT into a pcapng)\n"
           "\n"
           "Flags:\n"
           "  --socket PATH       the daemon's API socket (default: $VIPGATE_SOCKET, else " +
           std::string(kDefaultSocketPath) +
           ")\n"
           "  -n, --namespace NS  namespace (default: default)\n"
           "  -A, --all-namespaces\n"
           "  -o, --output FMT    json (the daemon's answer, for scripts) or wide (get: every column, no truncation)\n"
           "  --limit N           get conntrack: at most N connections\n"
           "  --interval S        top: seconds between refreshes (default 1, at least 0.2)\n"
           "  --count N           top: refresh N times, then exit (default: until interrupted)\n"
           "  -c, --count N       capture: packets to take (default 100, at most 100000)\n"
           "  -w, --write FILE    capture: the pcapng file to write\n"
           "  --timeout S         capture: stop after S seconds with what was taken (default 10)\n"
           "  -h, --help\n"
           "\n"
           "Exit status: 0 done, 1 the daemon refused the request, 2 usage error, 3 daemon not reachable.\n";
}

}  // namespace vipgate::vipctl
