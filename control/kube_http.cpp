#include "control/kube_http.h"

#include <stdexcept>

namespace vipgate {
namespace {

// curl_global_init is not thread-safe: done once, before any thread can start a request.
struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    ~CurlGlobal() { curl_global_cleanup(); }
};

void blob(CURL* handle, CURLoption option, const std::string& data) {
    curl_blob value{const_cast<char*>(data.data()), data.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle, option, &value);
}

}  // namespace

KubeRequest::KubeRequest(const KubeEndpoint& endpoint, const std::string& path, bool streaming, OnData on_data)
    : on_data_(std::move(on_data)) {
    static CurlGlobal global;
    handle_ = curl_easy_init();
    if (handle_ == nullptr) throw std::runtime_error("libcurl: cannot create a request");
    const std::string url = endpoint.server + path;
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_PRIVATE, this);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_buffer_);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &KubeRequest::write);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(kConnectTimeout.count() * 1000));
    if (!streaming) curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, static_cast<long>(kListTimeout.count() * 1000));
    curl_easy_setopt(handle_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle_, CURLOPT_TCP_KEEPIDLE, 15L);
    curl_easy_setopt(handle_, CURLOPT_TCP_KEEPINTVL, 5L);
    curl_easy_setopt(handle_, CURLOPT_ACCEPT_ENCODING, "");
    headers_ = curl_slist_append(headers_, "Accept: application/json");
    headers_ = curl_slist_append(headers_, "User-Agent: vipgate");
    const std::string token = endpoint.bearer_token();
    if (!token.empty()) headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers_);
    if (!endpoint.ca_pem.empty()) blob(handle_, CURLOPT_CAINFO_BLOB, endpoint.ca_pem);
    if (!endpoint.client_cert_pem.empty()) {
        blob(handle_, CURLOPT_SSLCERT_BLOB, endpoint.client_cert_pem);
        curl_easy_setopt(handle_, CURLOPT_SSLCERTTYPE, "PEM");
        blob(handle_, CURLOPT_SSLKEY_BLOB, endpoint.client_key_pem);
        curl_easy_setopt(handle_, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (endpoint.insecure_skip_tls_verify) {
        curl_easy_setopt(handle_, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(handle_, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

KubeRequest::~KubeRequest() {
    curl_easy_cleanup(handle_);
    curl_slist_free_all(headers_);
}

long KubeRequest::status() const {
    long code = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

size_t KubeRequest::write(char* data, size_t size, size_t count, void* self) {
    auto* request = static_cast<KubeRequest*>(self);
    return request->on_data_(std::string_view(data, size * count)) ? size * count : 0;
}

KubeHttp::KubeHttp() {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("libcurl: cannot create a multi handle");
}

KubeHttp::~KubeHttp() {
    curl_multi_cleanup(multi_);
}

void KubeHttp::start(KubeRequest& request) {
    curl_multi_add_handle(multi_, request.handle());
}

void KubeHttp::stop(KubeRequest& request) {
    curl_multi_remove_handle(multi_, request.handle());
}

std::vector<KubeHttp::Done> KubeHttp::run(std::chrono::milliseconds timeout) {
    int running = 0;
    curl_multi_perform(multi_, &running);
    curl_multi_poll(multi_, nullptr, 0, static_cast<int>(timeout.count()), nullptr);
    curl_multi_perform(multi_, &running);
    std::vector<Done> done;
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        KubeRequest* request = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&request));
        request->error_ =
            request->error_buffer_[0] != '\0' ? request->error_buffer_ : curl_easy_strerror(message->data.result);
        done.push_back({request, message->data.result});
    }
    for (const Done& finished : done) stop(*finished.request);
    return done;
}

void KubeHttp::wake() {
    curl_multi_wakeup(multi_);
}

}  // namespace vipgate
