// Helpers for the control API tests: a private temporary directory and a raw socket client
// that sends exact bytes (the tests need to send what vipctl never would).
#pragma once

#include <string>

namespace vipgate::api_test {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TemporaryDirectory {
public:
    TemporaryDirectory();
    ~TemporaryDirectory();
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Connects to socket_path (returns -1 on failure).
int connect_unix(const std::string& socket_path);

// Sends bytes (stopping quietly if the server closes first), then reads until the server closes.
std::string send_and_receive(const std::string& socket_path, const std::string& bytes);

}  // namespace vipgate::api_test
