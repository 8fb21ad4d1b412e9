#include "tools/vipctl/response_output.h"

#include <fstream>
#include <optional>
#include <vector>

#include "tools/vipctl/json_fields.h"
#include "tools/vipctl/resource_tables.h"
#include "tools/vipctl/top.h"

namespace vipgate::vipctl {
namespace {

void print_table(const CommandLine& command, const nlohmann::json& response, std::ostream& out, std::ostream& err) {
    const TableOptions options{command.namespace_name, command.output == OutputFormat::Wide};
    if (command.resource == "services") {
        print_services(response, options, out, err);
    } else if (command.resource == "endpoints") {
        print_endpoints(response, options, out, err);
    } else if (command.resource == "pods") {
        print_pods(response, options, out, err);
    } else if (command.resource == "conntrack") {
        print_conntrack(response, options, out, err);
    } else if (command.resource == "dns") {
        out << field_text(response, "text", "");
    } else if (command.resource == "announcements") {
        print_announcements(response, out);
    } else if (command.resource == "routes") {
        print_routes(response, out);
    } else {
        print_stats(response, options, out, err);
    }
}

}  // namespace

void print_refusal(const nlohmann::json& response, std::ostream& err) {
    for (const auto& error : field_list(response, "errors")) err << error_line(error) << "\n";
    err << "error: " << field_text(response, "error", "the daemon refused the request (no reason given)") << "\n";
}

std::string error_line(const nlohmann::json& error) {
    std::string location = field_text(error, "source", "");
    const std::string line = field_text(error, "line", "");
    const std::string column = field_text(error, "column", "");
    if (!line.empty()) {
        location.append(location.empty() ? "" : ":").append(line);
        if (!column.empty()) location.append(":").append(column);
    }
    std::string text;
    for (const std::string& part : {location, field_text(error, "field", ""), field_text(error, "message", "")}) {
        if (!part.empty()) text.append(text.empty() ? "" : ": ").append(part);
    }
    return text;
}

std::string result_lines(const nlohmann::json& response) {
    std::string text;
    for (const auto& result : field_list(response, "results")) {
        text += field_text(result, "kind", "?") + "/" + field_text(result, "name", "?") + " " +
                field_text(result, "action", "?") + "\n";
    }
    std::vector<std::string> parts;
    if (response.contains("generation")) parts.push_back("generation " + field_text(response, "generation"));
    const nlohmann::json& timing = field_list(response, "timing_us");
    for (const auto& [key, verb] :
         {std::pair{"validate", "validated"}, std::pair{"build", "built"}, std::pair{"publish", "published"}}) {
        if (timing.contains(key))
            parts.push_back(std::string(verb) + " in " + microseconds_as_ms(field_number(timing, key)));
    }
    if (!parts.empty()) {
        text += "(";
        for (size_t index = 0; index < parts.size(); ++index) text += (index == 0 ? "" : ", ") + parts[index];
        text += ")\n";
    }
    return text;
}

namespace {

// "QUJD" -> "ABC"; nullopt on anything that is not base64.
std::optional<std::string> from_base64(const std::string& text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string bytes;
    bytes.reserve(text.size() / 4 * 3);
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    for (size_t at = 0; at < text.size(); at += 4) {
        uint32_t group = 0;
        int padding = 0;
        for (size_t i = 0; i < 4; ++i) {
            const char c = text[at + i];
            if (c == '=' && at + 4 == text.size() && i >= 2) {
                ++padding;
                group <<= 6;
                continue;
            }
            const int digit = value(c);
            if (digit < 0 || padding != 0) return std::nullopt;
            group = group << 6 | static_cast<uint32_t>(digit);
        }
        bytes += static_cast<char>(group >> 16);
        if (padding < 2) bytes += static_cast<char>(group >> 8 & 0xff);
        if (padding < 1) bytes += static_cast<char>(group & 0xff);
    }
    return bytes;
}

int write_capture(const CommandLine& command, const nlohmann::json& response, std::ostream& out, std::ostream& err) {
    const std::optional<std::string> pcapng = from_base64(field_text(response, "pcapng_base64", ""));
    if (!pcapng || pcapng->empty()) {
        err << "vipctl: the daemon's capture answer holds no pcapng\n";
        return kExitRefused;
    }
    std::ofstream file(command.output_file, std::ios::binary | std::ios::trunc);
    file.write(pcapng->data(), static_cast<std::streamsize>(pcapng->size()));
    file.close();
    if (!file) {
        err << "vipctl: cannot write " << command.output_file << "\n";
        return kExitUsage;
    }
    out << "captured " << field_number(response, "packets") << " packets on " << command.port << " into "
        << command.output_file;
    const uint64_t missed = field_number(response, "missed");
    if (missed != 0) out << " (" << missed << " missed: the copy buffers were full)";
    out << "\n";
    return kExitDone;
}

}  // namespace

int print_response(const CommandLine& command, const nlohmann::json& response, std::ostream& out, std::ostream& err) {
    const bool ok = response.is_object() && response.contains("ok") && response.at("ok") == true;
    if (command.output == OutputFormat::Json) {
        out << response.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (!ok) err << "error: " << field_text(response, "error", "the daemon refused the request") << "\n";
        return ok ? kExitDone : kExitRefused;
    }
    if (!ok) {
        print_refusal(response, err);
        return kExitRefused;
    }
    switch (command.verb) {
    case Verb::Get:
        print_table(command, response, out, err);
        break;
    case Verb::Top:
        out << top_frame(response, command.output == OutputFormat::Wide);
        break;
    case Verb::Capture:
        return write_capture(command, response, out, err);
    case Verb::DrainGateway:
    case Verb::UndrainGateway:
        print_announcements(response, out);
        break;
    case Verb::Dump: {
        const std::string text = field_text(response, "text", "");
        out << text << (text.empty() || text.back() == '\n' ? "" : "\n");
        break;
    }
    case Verb::Apply:
    case Verb::Delete:
    case Verb::Drain:
    case Verb::Undrain:
    case Verb::Help:
        out << result_lines(response);
        break;
    }
    return kExitDone;
}

}  // namespace vipgate::vipctl
