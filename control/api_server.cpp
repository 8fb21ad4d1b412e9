#include "control/api_server.h"

#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "control/api_socket.h"

namespace vipgate {
namespace {

// As many connections as are served at once may wait to be accepted: the accepting thread can be
// slow to run on a busy machine, and a Unix socket refuses a non-blocking connect (EAGAIN) as
// soon as the backlog is full.
constexpr int kListenBacklog = 64;
// Requests may carry any bytes, and errors quote them: dumping must not throw on invalid UTF-8.
constexpr auto kReplaceInvalidUtf8 = nlohmann::json::error_handler_t::replace;

std::string errno_text(int error) {
    return std::strerror(error);
}

// mkdir -p with mode 0700 for every directory it creates; existing ones are left as they are.
void create_owner_only_directories(const std::filesystem::path& directory) {
    if (directory.empty()) return;
    std::filesystem::path partial;
    for (const auto& part : directory) {
        partial /= part;
        if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
            throw std::runtime_error("cannot create the API socket directory " + partial.string() + ": " +
                                     errno_text(errno));
        }
    }
    struct stat status {};
    if (stat(directory.c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) {
        throw std::runtime_error("the API socket directory " + directory.string() + " is not a directory");
    }
}

// A socket file left by a daemon that died is removed; one a live daemon answers on is not.
void remove_stale_socket(const std::string& path, const sockaddr_un& address) {
    struct stat status {};
    if (lstat(path.c_str(), &status) != 0) {
        if (errno == ENOENT) return;
        throw std::runtime_error("cannot inspect the API socket path " + path + ": " + errno_text(errno));
    }
    if (!S_ISSOCK(status.st_mode)) {
        throw std::runtime_error("the API socket path " + path +
                                 " exists and is not a socket; remove it or choose another socket path");
    }
    // Non-blocking: a live daemon with a full backlog answers EAGAIN instead of stalling start().
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) throw std::runtime_error("cannot create a Unix socket: " + errno_text(errno));
    const int connected = connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    const int connect_error = errno;
    close(probe);
    if (connected == 0 || connect_error == EAGAIN) {
        throw std::runtime_error("another vipgate is serving the API on " + path +
                                 "; stop it, or give this daemon another socket path");
    }
    if (connect_error != ECONNREFUSED) {
        throw std::runtime_error("cannot tell whether the API socket " + path +
                                 " is in use: " + errno_text(connect_error));
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw std::runtime_error("cannot remove the stale API socket " + path + ": " + errno_text(errno));
    }
    spdlog::info("api: removed the stale socket {} (no daemon answered on it)", path);
}

// "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at line 1, ..."
std::string without_exception_tag(const char* what) {
    std::string text = what;
    if (!text.empty() && text.front() == '[') {
        const size_t end = text.find("] ");
        if (end != std::string::npos) text.erase(0, end + 2);
    }
    return text;
}

// Why a depth limit before parsing: nlohmann::json parses nesting iteratively, but a 60 MB request
// of '[' is 30 million nested arrays, 2.2 GB and 15 s of parsing, and copying or printing such a
// value recurses. No request nests deeper than a few levels, so the text is scanned first.
constexpr size_t kMaxRequestDepth = 32;

bool nested_too_deep(std::string_view text) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxRequestDepth) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

nlohmann::json failure(std::string error) {
    return {{"ok", false}, {"error", std::move(error)}};
}

}  // namespace

ApiServer::ApiServer(std::string socket_path, Handler handler)
    : ApiServer(std::move(socket_path), std::move(handler), Limits{}) {}

ApiServer::ApiServer(std::string socket_path, Handler handler, Limits limits)
    : socket_path_(std::move(socket_path)), handler_(std::move(handler)), limits_(limits) {}

ApiServer::~ApiServer() {
    stop();
}

void ApiServer::create_socket() {
    const sockaddr_un address = api::unix_address(socket_path_);
    create_owner_only_directories(std::filesystem::path(socket_path_).parent_path());
    remove_stale_socket(socket_path_, address);
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("cannot create a Unix socket: " + errno_text(errno));
    if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        throw std::runtime_error("cannot bind the API socket " + socket_path_ + ": " + errno_text(errno));
    }
    struct stat status {};
    if (stat(socket_path_.c_str(), &status) != 0) {
        throw std::runtime_error("cannot inspect the API socket " + socket_path_ + ": " + errno_text(errno));
    }
    socket_device_ = status.st_dev;
    socket_inode_ = status.st_ino;
    // Before listen(): until then connect() is refused, so the socket is never usable with a wider mode.
    if (chmod(socket_path_.c_str(), 0600) != 0) {
        throw std::runtime_error("cannot restrict the API socket " + socket_path_ +
                                 " to its owner: " + errno_text(errno));
    }
    if (listen(listen_fd_, kListenBacklog) != 0) {
        throw std::runtime_error("cannot listen on the API socket " + socket_path_ + ": " + errno_text(errno));
    }
}

void ApiServer::start() {
    if (thread_.joinable()) throw std::runtime_error("the API server on " + socket_path_ + " is already running");
    try {
        create_socket();
        wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) throw std::runtime_error("cannot create the API server's eventfd: " + errno_text(errno));
        thread_ = std::thread([this] { serve(); });
    } catch (...) {
        stop();
        throw;
    }
    spdlog::info("api: listening on {}", socket_path_);
}

void ApiServer::stop() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        if (write(wake_fd_, &one, sizeof(one)) != sizeof(one)) {
            spdlog::error("api: cannot wake the API server threads: {}", errno_text(errno));
        }
        thread_.join();
    }
    // The eventfd stays readable once written, so every connection thread sees it at its next poll.
    for (Client& client : clients_) client.thread.join();
    clients_.clear();
    for (int* fd : {&listen_fd_, &wake_fd_}) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
    }
    // Remove the socket only if it is still ours (not one a later daemon created meanwhile).
    struct stat status {};
    if (socket_inode_ != 0 && stat(socket_path_.c_str(), &status) == 0 && status.st_dev == socket_device_ &&
        status.st_ino == socket_inode_) {
        unlink(socket_path_.c_str());
    }
    socket_inode_ = 0;
}

void ApiServer::serve() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            spdlog::error("api: poll failed ({}); the API server stops", errno_text(errno));
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) return;
        reap_finished_clients();
        if ((fds[0].revents & POLLIN) != 0) accept_client();
    }
}

void ApiServer::accept_client() {
    const int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
        // A client that gave up between poll() and accept(), or a transient shortage of descriptors.
        spdlog::warn("api: accept failed: {}", errno_text(errno));
        return;
    }
    if (clients_.size() >= limits_.max_clients) {
        answer_busy(connection);
        close(connection);
        return;
    }
    Client& client = clients_.emplace_back();
    try {
        client.thread = std::thread([this, connection, &client] {
            size_t largest_message = 0;
            try {
                largest_message = serve_connection(connection);
            } catch (const std::exception& error) {  // the answer could not even be built or sent
                spdlog::error("api: serving a request failed: {}", error.what());
            }
            close(connection);
            // Every buffer of the request is gone now (see the design note in api_server.h).
            if (largest_message >= kTrimThresholdBytes) malloc_trim(0);
            client.finished.store(true, std::memory_order_release);
        });
    } catch (const std::system_error& error) {  // no thread to be had: this client is refused, not the daemon
        clients_.pop_back();
        spdlog::error("api: cannot start a thread for a client: {}", error.what());
        answer_busy(connection);
        close(connection);
    }
}

void ApiServer::reap_finished_clients() {
    for (auto client = clients_.begin(); client != clients_.end();) {
        if (!client->finished.load(std::memory_order_acquire)) {
            ++client;
            continue;
        }
        client->thread.join();
        client = clients_.erase(client);
    }
}

// Without waiting: a fresh connection's socket buffer always takes one short line.
void ApiServer::answer_busy(int connection) const {
    const std::string text =
        failure("the API is serving " + std::to_string(limits_.max_clients) + " connections already; try again")
            .dump() +
        "\n";
    if (send(connection, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        spdlog::warn("api: cannot answer a client refused as busy: {}", errno_text(errno));
    }
    spdlog::warn("api: refused a connection: {} connections are being served", limits_.max_clients);
}

size_t ApiServer::serve_connection(int connection) {
    ucred peer{};
    socklen_t peer_size = sizeof(peer);
    getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size);
    const api::ReadResult request =
        api::read_line(connection, limits_.max_request_bytes, api::Clock::now() + limits_.read_timeout, wake_fd_);
    const size_t request_bytes = request.text.size();
    nlohmann::json response;
    switch (request.status) {
    case api::ReadStatus::Line:
        response = answer(request.text);
        break;
    case api::ReadStatus::Closed:
        if (request.text.empty()) return 0;  // a liveness probe (another daemon checking the socket)
        response = answer(request.text);     // a client that half-closed instead of sending '\n'
        break;
    case api::ReadStatus::TooLarge:
        response = failure("request larger than the limit of " + std::to_string(limits_.max_request_bytes) + " bytes");
        break;
    case api::ReadStatus::TimedOut:
        response = failure("request not complete within " + std::to_string(limits_.read_timeout.count()) +
                           " ms (one JSON object followed by a newline)");
        break;
    case api::ReadStatus::Woken:
        return request_bytes;
    case api::ReadStatus::Failed:
        spdlog::warn("api: reading a request from pid {} failed: {}", peer.pid, errno_text(request.error));
        return request_bytes;
    }
    if (response.find("ok") == response.end() || response.at("ok") != true) {
        const auto error = response.find("error");
        spdlog::warn("api: request from pid {} uid {} refused: {}", peer.pid, peer.uid,
                     error == response.end() ? "(no error given)" : error->dump(-1, ' ', false, kReplaceInvalidUtf8));
    }
    const std::string text = response.dump(-1, ' ', false, kReplaceInvalidUtf8) + "\n";
    const api::WriteResult written = api::write_all(connection, text, limits_.write_timeout, wake_fd_);
    if (written.status == api::WriteStatus::Stalled || written.status == api::WriteStatus::Failed) {
        spdlog::warn(
            "api: answering pid {} failed: {}", peer.pid,
            written.status == api::WriteStatus::Stalled ? "the client stopped reading" : errno_text(written.error));
    }
    return std::max(request_bytes, text.size());
}

nlohmann::json ApiServer::answer(const std::string& request_text) {
    if (nested_too_deep(request_text)) {
        return failure("malformed request: nested deeper than " + std::to_string(kMaxRequestDepth) + " levels");
    }
    nlohmann::json request;
    try {
        request = nlohmann::json::parse(request_text);
    } catch (const nlohmann::json::exception& error) {  // parse_error, and out_of_range for 1e999999
        return failure("malformed request: " + without_exception_tag(error.what()));
    } catch (const std::bad_alloc&) {
        return failure("the daemon ran out of memory parsing this request; nothing changed");
    }
    if (!request.is_object())
        return failure("malformed request: expected a JSON object, got " + std::string(request.type_name()));
    try {
        std::unique_lock<std::mutex> serialized(handler_mutex_, std::defer_lock);
        if (limits_.serialize_handler) serialized.lock();
        nlohmann::json response = handler_(request);
        if (!response.is_object()) return failure("internal error: the request handler answered a non-object");
        return response;
    } catch (const std::bad_alloc&) {
        return failure("the daemon ran out of memory serving this request");
    } catch (const std::exception& error) {
        return failure(error.what());
    } catch (...) {
        return failure("internal error: the request handler failed");
    }
}

}  // namespace vipgate
