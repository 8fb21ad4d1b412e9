#include "control/api_socket.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vipgate::api {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

enum class WaitStatus { Ready, TimedOut, Woken, Failed };

// Waits until fd has the events, the deadline passes or wake_fd becomes readable.
WaitStatus wait_for(int fd, short events, Clock::time_point deadline, int wake_fd, int& error) {
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return WaitStatus::TimedOut;
        pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
        const int ready = poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
        if (ready < 0) {
            if (errno == EINTR) continue;
            error = errno;
            return WaitStatus::Failed;
        }
        if (ready == 0) continue;  // the loop re-checks the deadline
        if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) return WaitStatus::Woken;
        return WaitStatus::Ready;  // POLLHUP/POLLERR too: the next read or send reports it
    }
}

}  // namespace

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty()) throw std::runtime_error("the API socket path is empty");
    if (path.size() >= sizeof(address.sun_path)) {
        throw std::runtime_error("API socket path '" + path + "' is " + std::to_string(path.size()) +
                                 " bytes; Unix socket paths must be shorter than " +
                                 std::to_string(sizeof(address.sun_path)) + " bytes");
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    return address;
}

ReadResult read_line(int fd, size_t max_bytes, Clock::time_point deadline, int wake_fd) {
    ReadResult result;
    char chunk[kReadChunkBytes];
    for (;;) {
        switch (wait_for(fd, POLLIN, deadline, wake_fd, result.error)) {
        case WaitStatus::Ready:
            break;
        case WaitStatus::TimedOut:
            result.status = ReadStatus::TimedOut;
            return result;
        case WaitStatus::Woken:
            result.status = ReadStatus::Woken;
            return result;
        case WaitStatus::Failed:
            result.status = ReadStatus::Failed;
            return result;
        }
        const ssize_t got = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            result.error = errno;
            result.status = ReadStatus::Failed;
            return result;
        }
        if (got == 0) {
            result.status = ReadStatus::Closed;
            return result;
        }
        const char* newline = static_cast<const char*>(std::memchr(chunk, '\n', static_cast<size_t>(got)));
        const size_t take = newline != nullptr ? static_cast<size_t>(newline - chunk) : static_cast<size_t>(got);
        if (result.text.size() + take > max_bytes) {
            result.text.clear();
            result.status = ReadStatus::TooLarge;
            return result;
        }
        result.text.append(chunk, take);
        if (newline != nullptr) {
            result.status = ReadStatus::Line;
            return result;
        }
    }
}

WriteResult write_all(int fd, std::string_view data, std::chrono::milliseconds stall_timeout, int wake_fd) {
    WriteResult result;
    while (!data.empty()) {
        switch (wait_for(fd, POLLOUT, Clock::now() + stall_timeout, wake_fd, result.error)) {
        case WaitStatus::Ready:
            break;
        case WaitStatus::TimedOut:
            result.status = WriteStatus::Stalled;
            return result;
        case WaitStatus::Woken:
            result.status = WriteStatus::Woken;
            return result;
        case WaitStatus::Failed:
            result.status = WriteStatus::Failed;
            return result;
        }
        const ssize_t sent = send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            result.error = errno;
            result.status = WriteStatus::Failed;
            return result;
        }
        data.remove_prefix(static_cast<size_t>(sent));
    }
    result.status = WriteStatus::Done;
    return result;
}

}  // namespace vipgate::api
