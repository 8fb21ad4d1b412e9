// Turns a parsed command line into the control API request (control/api_protocol.md).
#pragma once

#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/vipctl/command_line.h"

namespace vipgate::vipctl {

struct Document {
    std::string source;  // the path as given, or "<stdin>"
    std::string text;
};

// A named file vipctl cannot read; main prints it and exits 2.
class FileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads every -f file in order; "-" reads stdin (once). Throws FileError.
std::vector<Document> load_documents(const std::vector<std::string>& files, std::istream& standard_input);

// documents: what load_documents read for command.files (apply, delete -f); otherwise unused.
nlohmann::json build_request(const CommandLine& command, const std::vector<Document>& documents);

}  // namespace vipgate::vipctl
