// ApiServer: the daemon's end of the runtime control API (protocol: control/api_protocol.md).
//
// One thread of its own, beside the control thread and never on a worker lcore, accepts on a
// Unix stream socket and serves one connection at a time: read one JSON request line, call the
// handler, write its answer, close. Serving one at a time is the point: the handler changes the
// running state and is not thread-safe, so requests are serialized here rather than by locks.
// The cost is that one client holds the API for at most the read timeout while it sends.
//
// Whatever a client sends, the daemon survives: a request that is not JSON, is too large or is
// too slow gets an {"ok":false,...} answer, and a handler exception becomes one too.
//
// Security: the socket is the only access control, so it is created mode 0600 (owner only) in
// a directory created 0700 when missing. The mode is set between bind() and listen(); before
// listen() every connect() is refused, so there is no moment at which a wider mode is usable.
// (umask would do it at bind() too, but it is process-wide and other threads create files.)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace vipgate {

class ApiServer {
public:
    // Takes a request object, returns the answer object. May throw: the client gets
    // {"ok":false,"error":<what()>}.
    using Handler = std::function<nlohmann::json(const nlohmann::json&)>;

    struct Limits {
        size_t max_request_bytes = size_t{64} << 20;
        std::chrono::milliseconds read_timeout{5000};   // the whole request line, from accept()
        std::chrono::milliseconds write_timeout{5000};  // without the client taking any of the answer
    };

    ApiServer(std::string socket_path, Handler handler);
    ApiServer(std::string socket_path, Handler handler, Limits limits);
    ~ApiServer();  // stop()
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Creates the socket (and its directory), then starts the thread. Throws std::runtime_error
    // saying what to fix: path too long, directory not creatable, another live daemon on the
    // socket, a non-socket file in the way, bind/listen failures.
    void start();

    // Wakes the thread (also from an idle connected client), joins it, removes the socket file
    // if it is still the one start() created. Idempotent.
    void stop();

    const std::string& socket_path() const { return socket_path_; }

private:
    void create_socket();
    void serve();
    void serve_connection(int connection);
    nlohmann::json answer(const std::string& request_text) const;

    std::string socket_path_;
    Handler handler_;
    Limits limits_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() writes it, every poll of the thread watches it
    dev_t socket_device_ = 0;
    ino_t socket_inode_ = 0;
    std::thread thread_;
};

}  // namespace vipgate
