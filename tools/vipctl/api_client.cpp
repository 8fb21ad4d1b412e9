#include "tools/vipctl/api_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/api_socket.h"

namespace vipgate::vipctl {
namespace {

// Closes the socket on every path out of send_request.
class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

std::string connect_hint(const std::string& socket_path, int error) {
    std::string text = "cannot reach vipgate at " + socket_path + ": " + std::strerror(error);
    if (error == EACCES || error == EPERM) {
        return text + " (the socket is owner-only: run vipctl as the user that runs vipgate, usually root)";
    }
    return text +
           " (is vipgate running with the control API enabled? use --socket PATH or VIPGATE_SOCKET to "
           "name another socket)";
}

}  // namespace

nlohmann::json send_request(const std::string& socket_path, const nlohmann::json& request,
                            std::chrono::milliseconds timeout) {
    sockaddr_un address{};
    try {
        address = api::unix_address(socket_path);
    } catch (const std::runtime_error& error) {
        throw ApiUnreachable(error.what());
    }
    const Descriptor connection(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connection.get() < 0) throw ApiUnreachable(std::string("cannot create a Unix socket: ") + std::strerror(errno));
    if (connect(connection.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        throw ApiUnreachable(connect_hint(socket_path, errno));
    }
    const api::Clock::time_point deadline = api::Clock::now() + timeout;
    // A failed write is not the end: a daemon that refuses a request (too large) answers and
    // closes before reading all of it, and that answer is still there to be read.
    const api::WriteResult written = api::write_all(connection.get(), request.dump() + "\n", timeout);
    if (written.status == api::WriteStatus::Stalled) {
        throw ApiUnreachable("vipgate at " + socket_path + " did not take the request within " +
                             std::to_string(timeout.count() / 1000) + " s");
    }
    shutdown(connection.get(), SHUT_WR);
    const api::ReadResult answer = api::read_line(connection.get(), kMaxAnswerBytes, deadline);
    switch (answer.status) {
    case api::ReadStatus::Line:
    case api::ReadStatus::Closed:
        if (answer.text.empty()) {
            throw ApiUnreachable("vipgate at " + socket_path + " closed the connection without answering");
        }
        break;
    case api::ReadStatus::TimedOut:
        throw ApiUnreachable("vipgate at " + socket_path + " did not answer within " +
                             std::to_string(timeout.count() / 1000) + " s");
    case api::ReadStatus::TooLarge:
        throw ApiUnreachable("vipgate at " + socket_path + " sent an answer larger than " +
                             std::to_string(kMaxAnswerBytes) + " bytes");
    case api::ReadStatus::Woken:
    case api::ReadStatus::Failed:
        throw ApiUnreachable("reading the answer from vipgate at " + socket_path +
                             " failed: " + std::strerror(answer.error));
    }
    try {
        nlohmann::json response = nlohmann::json::parse(answer.text);
        if (!response.is_object()) throw ApiUnreachable("vipgate at " + socket_path + " answered a non-object");
        return response;
    } catch (const nlohmann::json::parse_error& error) {
        throw ApiUnreachable("vipgate at " + socket_path + " sent an answer that is not JSON: " + error.what());
    }
}

}  // namespace vipgate::vipctl
