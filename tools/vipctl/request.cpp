#include "tools/vipctl/request.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace vipgate::vipctl {
namespace {

nlohmann::json documents_json(const std::vector<Document>& documents) {
    nlohmann::json list = nlohmann::json::array();
    for (const Document& document : documents) list.push_back({{"source", document.source}, {"text", document.text}});
    return list;
}

}  // namespace

std::vector<Document> load_documents(const std::vector<std::string>& files, std::istream& standard_input) {
    std::vector<Document> documents;
    bool stdin_read = false;
    for (const std::string& file : files) {
        if (file == "-") {
            if (stdin_read) throw FileError("-f - (stdin) given more than once");
            stdin_read = true;
            documents.push_back({"<stdin>", std::string(std::istreambuf_iterator<char>(standard_input), {})});
            continue;
        }
        std::ifstream stream(file, std::ios::binary);
        if (!stream) throw FileError("cannot read " + file + ": " + std::strerror(errno));
        std::ostringstream text;
        text << stream.rdbuf();
        if (stream.bad()) throw FileError("cannot read " + file + ": " + std::strerror(errno));
        documents.push_back({file, text.str()});
    }
    return documents;
}

nlohmann::json build_request(const CommandLine& command, const std::vector<Document>& documents) {
    switch (command.verb) {
    case Verb::Get: {
        if (command.resource == "dns") return {{"op", "dns"}, {"name", command.name}, {"type", command.dns_type}};
        nlohmann::json request = {{"op", "get"}, {"resource", command.resource}};
        if (command.namespace_name) request["namespace"] = *command.namespace_name;
        if (command.limit) request["limit"] = *command.limit;
        return request;
    }
    case Verb::Apply:
        return {{"op", "apply"}, {"documents", documents_json(documents)}};
    case Verb::Delete:
        if (!command.files.empty()) return {{"op", "delete"}, {"documents", documents_json(documents)}};
        return {{"op", "delete"},
                {"kind", command.kind},
                {"namespace", command.namespace_name.value_or(kDefaultNamespace)},
                {"name", command.name}};
    case Verb::Drain:
        return {{"op", "drain"}, {"address", command.address}};
    case Verb::Undrain:
        return {{"op", "undrain"}, {"address", command.address}};
    case Verb::DrainGateway: {
        nlohmann::json request = {{"op", "drain-gateway"}};
        if (command.deadline_s) request["deadline_s"] = *command.deadline_s;
        return request;
    }
    case Verb::UndrainGateway:
        return {{"op", "undrain-gateway"}};
    case Verb::Dump:
        return {{"op", "dump"}};
    case Verb::Top:
        return {{"op", "get"}, {"resource", "stats"}};
    case Verb::Capture:
        return {{"op", "capture"},
                {"port", command.port},
                {"count", command.count},
                {"timeout_ms", static_cast<uint64_t>(command.timeout_s * 1000)}};
    case Verb::Help:
        break;
    }
    throw std::logic_error("build_request: 'help' sends no request");
}

}  // namespace vipgate::vipctl
