// Line-framed I/O on the control API's Unix stream socket, shared by the daemon (ApiServer) and
// the client (vipctl). The protocol is in control/api_protocol.md: one JSON object and '\n' each
// way, one request per connection.
//
// Every wait is a poll() with a deadline, and the daemon side also polls a wake-up descriptor so
// that stopping the server never waits for a slow or idle peer.
#pragma once

#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace vipgate::api {

using Clock = std::chrono::steady_clock;

// The address of a socket path; throws std::runtime_error when the path does not fit sun_path.
sockaddr_un unix_address(const std::string& path);

enum class ReadStatus {
    Line,      // text holds one line, without its '\n'
    Closed,    // the peer closed first; text holds what it sent (maybe empty)
    TooLarge,  // more than max_bytes without a '\n'
    TimedOut,  // the deadline passed first
    Woken,     // wake_fd became readable (the server is stopping)
    Failed,    // a socket error; error holds errno
};

struct ReadResult {
    ReadStatus status = ReadStatus::Failed;
    std::string text;
    int error = 0;
};

// Reads up to the first '\n'. Bytes after it are ignored (one message per connection).
// wake_fd < 0: no wake-up descriptor.
ReadResult read_line(int fd, size_t max_bytes, Clock::time_point deadline, int wake_fd = -1);

enum class WriteStatus { Done, Stalled, Woken, Failed };

struct WriteResult {
    WriteStatus status = WriteStatus::Failed;
    int error = 0;
};

// Writes all of data (MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE). Gives up when the
// peer accepts nothing for stall_timeout, so a large answer to a slow reader still gets through.
WriteResult write_all(int fd, std::string_view data, std::chrono::milliseconds stall_timeout, int wake_fd = -1);

}  // namespace vipgate::api
