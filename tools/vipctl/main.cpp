// vipctl: the operator's command line for a running vipgate (see command_line.cpp's usage text).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tools/vipctl/api_client.h"
#include "tools/vipctl/command_line.h"
#include "tools/vipctl/request.h"
#include "tools/vipctl/response_output.h"
#include "tools/vipctl/top.h"

using namespace vipgate::vipctl;

int main(int argc, char** argv) {
    CommandLine command;
    std::vector<Document> documents;
    try {
        command = parse_command_line(std::vector<std::string>(argv + 1, argv + argc),
                                     std::getenv(kSocketEnvironmentVariable));
        documents = load_documents(command.files, std::cin);
    } catch (const UsageError& error) {
        std::cerr << "vipctl: " << error.what() << "\n(try vipctl --help)\n";
        return kExitUsage;
    } catch (const FileError& error) {
        std::cerr << "vipctl: " << error.what() << "\n";
        return kExitUsage;
    }
    if (command.verb == Verb::Help) {
        std::cout << usage_text();
        return kExitDone;
    }
    if (command.verb == Verb::Top) {
        try {
            return run_top(
                command, [&](const nlohmann::json& request) { return send_request(command.socket_path, request); },
                [](double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }, std::cout,
                std::cerr, isatty(STDOUT_FILENO) == 1);
        } catch (const ApiUnreachable& error) {
            std::cerr << "vipctl: " << error.what() << "\n";
            return kExitUnreachable;
        }
    }
    nlohmann::json response;
    try {
        // A capture may run up to its --timeout: wait that long, and a margin, for the answer.
        const auto timeout =
            command.verb == Verb::Capture
                ? std::max(kRequestTimeout,
                           std::chrono::milliseconds(static_cast<int64_t>(command.timeout_s * 1000)) + kRequestTimeout)
                : kRequestTimeout;
        response = send_request(command.socket_path, build_request(command, documents), timeout);
    } catch (const ApiUnreachable& error) {
        std::cerr << "vipctl: " << error.what() << "\n";
        return kExitUnreachable;
    }
    return print_response(command, response, std::cout, std::cerr);
}
