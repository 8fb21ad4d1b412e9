// The client end of the control API (control/api_protocol.md): connect, send one request line,
// read one answer line.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace vipgate::vipctl {

// Long enough for an apply of a large file set on a busy control thread.
constexpr std::chrono::milliseconds kRequestTimeout{60'000};
// Answers (a conntrack listing) may be large; the cap only guards against a runaway peer.
constexpr size_t kMaxAnswerBytes = size_t{1} << 30;

// The daemon could not be asked or did not answer; main prints it and exits 3.
class ApiUnreachable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Returns the daemon's answer object (ok true or false). Throws ApiUnreachable with a message
// that names the socket and what to check.
nlohmann::json send_request(const std::string& socket_path, const nlohmann::json& request,
                            std::chrono::milliseconds timeout = kRequestTimeout);

}  // namespace vipgate::vipctl
