// ApiServer: the daemon's end of the runtime control API (protocol: control/api_protocol.md).
//
// One thread of its own, beside the control thread and never on a worker lcore, accepts on a
// Unix stream socket; each connection is then served on a thread of its own: read one JSON
// request line, call the handler, write its answer, close. Why a thread per connection: a peer
// that sends slowly, sends nothing, or reads a large answer slowly must only ever wait for
// itself (with one connection at a time, ten idle clients delayed a good request by 50 s). A
// handler that is not thread-safe runs under a mutex (Limits::serialize_handler): requests are
// then handled one at a time, in the order they became complete, and reading, parsing and
// writing happen outside it. The daemon's handler serializes changes itself (ControlPlane), so
// it turns that off, and a long request (a packet capture) delays no other. Connections are bounded
// (Limits::max_clients): one more gets a "busy" answer at once rather than a thread, so a flood of idle peers costs
// bounded memory and each of them is dropped at its read deadline.
//
// Memory: a large request (a 64 MiB apply, a deep document) leaves glibc's arenas holding the
// freed pages; after any request or answer over kTrimThresholdBytes the connection's thread
// returns them to the kernel (malloc_trim), so the daemon's RSS goes back down.
//
// Whatever a client sends, the daemon survives: a request that is not JSON, is too large or is
// too slow gets an {"ok":false,...} answer, and a handler exception becomes one too: every
// request that arrives gets an answer.
//
// Security: the socket is the only access control, so it is created mode 0600 (owner only) in
// a directory created 0700 when missing. The mode is set between bind() and listen(); before
// listen() every connect() is refused, so there is no moment at which a wider mode is usable.
// (umask would do it at bind() too, but it is process-wide and other threads create files.)
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
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
        size_t max_clients = 64;                        // connections served at once
        bool serialize_handler = true;                  // false: the handler is thread-safe itself
    };

    // A request or answer at least this large is followed by malloc_trim (see the design note).
    static constexpr size_t kTrimThresholdBytes = size_t{1} << 20;

    ApiServer(std::string socket_path, Handler handler);
    ApiServer(std::string socket_path, Handler handler, Limits limits);
    ~ApiServer();  // stop()
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Creates the socket (and its directory), then starts the thread. Throws std::runtime_error
    // saying what to fix: path too long, directory not creatable, another live daemon on the
    // socket, a non-socket file in the way, bind/listen failures.
    void start();

    // Wakes every thread (also those serving idle clients), joins them, removes the socket file
    // if it is still the one start() created. Idempotent.
    void stop();

    const std::string& socket_path() const { return socket_path_; }

    // The answer to one request line, without the socket: the depth guard, the JSON parse, the
    // handler and its exceptions (what serve_connection writes back; the API fuzz target calls it).
    nlohmann::json answer(const std::string& request_text);

private:
    // A connection's thread; `finished` is set last, so the accept thread may then join it.
    struct Client {
        std::thread thread;
        std::atomic<bool> finished{false};
    };

    void create_socket();
    void serve();
    void accept_client();
    void reap_finished_clients();
    // Returns the size of the larger of the request and the answer.
    size_t serve_connection(int connection);
    void answer_busy(int connection) const;

    std::string socket_path_;
    Handler handler_;
    Limits limits_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() writes it, every poll of the thread watches it
    dev_t socket_device_ = 0;
    ino_t socket_inode_ = 0;
    std::thread thread_;         // accepts
    std::list<Client> clients_;  // touched by the accept thread only (and stop() after joining it)
    std::mutex handler_mutex_;   // the handler runs under it
};

}  // namespace vipgate
