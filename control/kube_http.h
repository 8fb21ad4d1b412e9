// HTTP GETs to the Kubernetes API server on one thread: libcurl's multi interface carries the
// lists and the long-lived watch streams of every resource side by side.
//
// Design note: each request hands its body to a callback as it arrives (a watch is a stream
// of JSON lines that never ends on its own), and says when it is done with libcurl's result
// and the HTTP status. TCP keepalive finds a server that vanished without closing; a request
// that is connecting or listing gives up after kConnectTimeout / kListTimeout.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/kube_config.h"

namespace vipgate {

class KubeRequest {
public:
    // Return false from on_data to end the request (it then completes with CURLE_WRITE_ERROR).
    using OnData = std::function<bool(std::string_view)>;

    // `path`: "/api/v1/services?watch=1&..."; `streaming`: no overall time limit (a watch).
    KubeRequest(const KubeEndpoint& endpoint, const std::string& path, bool streaming, OnData on_data);
    ~KubeRequest();
    KubeRequest(const KubeRequest&) = delete;
    KubeRequest& operator=(const KubeRequest&) = delete;

    CURL* handle() const noexcept { return handle_; }
    long status() const;                                               // the HTTP status, 0 before the headers
    const std::string& error_text() const noexcept { return error_; }  // libcurl's detail

private:
    static size_t write(char* data, size_t size, size_t count, void* self);

    CURL* handle_ = nullptr;
    curl_slist* headers_ = nullptr;
    OnData on_data_;
    std::string error_;
    char error_buffer_[CURL_ERROR_SIZE] = {};
    friend class KubeHttp;
};

class KubeHttp {
public:
    struct Done {
        KubeRequest* request;
        CURLcode result;
    };

    KubeHttp();
    ~KubeHttp();
    KubeHttp(const KubeHttp&) = delete;
    KubeHttp& operator=(const KubeHttp&) = delete;

    void start(KubeRequest& request);
    void stop(KubeRequest& request);  // before the request is destroyed
    // Runs the transfers for up to `timeout` (less when something completes or wake() is called)
    // and returns the requests that completed; each is stopped already.
    std::vector<Done> run(std::chrono::milliseconds timeout);
    void wake();  // from another thread: run() returns at once

private:
    CURLM* multi_ = nullptr;
};

inline constexpr std::chrono::seconds kConnectTimeout{10};
inline constexpr std::chrono::seconds kListTimeout{120};

}  // namespace vipgate
