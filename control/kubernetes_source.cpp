#include "control/kubernetes_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <stdexcept>

#include "config/objects.h"
#include "control/kube_http.h"

namespace vipgate {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProxyNameLabel = "service.kubernetes.io/service-proxy-name";
constexpr std::chrono::milliseconds kPollPeriod{50};
// A watch line (one event, one object) or a list larger than this is refused: not a server.
constexpr size_t kMaxWatchLineBytes = size_t{64} << 20;
constexpr size_t kMaxListBytes = size_t{1} << 30;

std::string percent_encoded(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 15];
        }
    }
    return out;
}

std::string text_at(const json& object, const char* first, const char* second) {
    const auto outer = object.find(first);
    if (outer == object.end() || !outer->is_object()) return {};
    const auto inner = outer->find(second);
    return inner != outer->end() && inner->is_string() ? inner->get<std::string>() : std::string();
}

std::string object_key_of(const json& object) {
    std::string namespace_name = text_at(object, "metadata", "namespace");
    if (namespace_name.empty()) namespace_name = "default";
    return config::object_key(namespace_name, text_at(object, "metadata", "name"));
}

// What the translation never reads and a large cluster has plenty of: kept out of the cache.
void trim(json& object) {
    const auto metadata = object.find("metadata");
    if (metadata == object.end() || !metadata->is_object()) return;
    metadata->erase("managedFields");
    const auto annotations = metadata->find("annotations");
    if (annotations != metadata->end() && annotations->is_object()) {
        annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    }
}

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

struct KubernetesSource::Resource {
    enum class Phase { Idle, Listing, Watching };

    const char* name;                     // "services": the API's resource name
    const char* kind;                     // "Service": list items carry no kind, the translation needs one
    const char* api_version;              // "v1"
    config::ObjectKind store_kind;        // what the store calls it
    std::string base_path;                // "/api/v1"
    std::map<std::string, json> objects;  // followed now, by "namespace/name"
    std::string resource_version;
    bool listed = false;  // false: the next request lists (first time, or after 410)
    bool ever_listed = false;
    bool watching = false;  // a watch answered 200 and has not ended
    Phase phase = Phase::Idle;
    std::unique_ptr<KubeRequest> request;
    std::string buffer;        // the list's body, or the watch's partial line
    bool gone = false;         // the watch said 410
    std::string stream_error;  // the watch said something else, or sent garbage
    unsigned failures = 0;
    Clock::time_point retry_at{};
};

KubeEndpoint kubernetes_endpoint(const KubernetesOptions& options) {
    if (!options.kubeconfig.empty()) return load_kubeconfig(options.kubeconfig, options.context);
    if (options.in_cluster) return in_cluster_endpoint();
    throw std::runtime_error("no Kubernetes API server: give --kubeconfig FILE or --kube-in-cluster");
}

KubernetesSource::KubernetesSource(KubernetesOptions options, KubeEndpoint endpoint, ControlPlane& control)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), control_(control) {
    services_.reset(new Resource{"services", "Service", "v1", config::ObjectKind::Service, "/api/v1"});
    slices_.reset(new Resource{"endpointslices", "EndpointSlice", "discovery.k8s.io/v1",
                               config::ObjectKind::EndpointSlice, "/apis/discovery.k8s.io/v1"});
    status_.server = endpoint_.server;
    status_.services.resource = services_->name;
    status_.endpoint_slices.resource = slices_->name;
    http_ = std::make_unique<KubeHttp>();
}

KubernetesSource::~KubernetesSource() {
    stop();
}

void KubernetesSource::start() {
    spdlog::info("kubernetes: following {} ({}){}{}", endpoint_.server, endpoint_.description,
                 options_.namespace_name.empty() ? "" : ", namespace " + options_.namespace_name,
                 options_.label_selector.empty() ? "" : ", labels " + options_.label_selector);
    thread_ = std::thread([this] { run(); });
}

void KubernetesSource::stop() {
    stopping_.store(true, std::memory_order_relaxed);  // only a flag: the wake-up carries no data
    if (http_) http_->wake();
    if (thread_.joinable()) thread_.join();
}

KubernetesStatus KubernetesSource::status() const {
    std::lock_guard lock(status_mutex_);
    return status_;
}

void KubernetesSource::run() {
    while (!stopping_.load(std::memory_order_relaxed)) {
        const Clock::time_point now = Clock::now();
        for (Resource* resource : {services_.get(), slices_.get()}) {
            if (resource->phase == Resource::Phase::Idle && now >= resource->retry_at) begin(*resource);
        }
        for (const KubeHttp::Done& done : http_->run(kPollPeriod)) {
            Resource& resource = done.request == services_->request.get() ? *services_ : *slices_;
            finish(resource, done.request->status(), done.result == CURLE_OK, done.request->error_text());
        }
        note_watches();
        // The first sync waits for both lists (a service without its slices would serve nothing).
        if (!dirty_.empty() && services_->ever_listed && slices_->ever_listed &&
            Clock::now() - last_sync_ >= options_.min_sync) {
            sync();
        }
    }
    for (Resource* resource : {services_.get(), slices_.get()}) {
        if (resource->request) http_->stop(*resource->request);
        resource->request.reset();
    }
}

// A watch is up once its answer's status is 200, events or not (an idle cluster sends none).
void KubernetesSource::note_watches() {
    for (Resource* resource : {services_.get(), slices_.get()}) {
        if (resource->phase == Resource::Phase::Watching && !resource->watching && resource->request->status() == 200) {
            resource->watching = true;
            resource->failures = 0;
        }
    }
    std::lock_guard lock(status_mutex_);
    status_.services.watching = services_->watching;
    status_.endpoint_slices.watching = slices_->watching;
    status_.connected = services_->watching && slices_->watching;
}

void KubernetesSource::begin(Resource& resource) {
    std::string path = resource.base_path;
    if (!options_.namespace_name.empty()) path += "/namespaces/" + percent_encoded(options_.namespace_name);
    path += "/";
    path += resource.name;
    path += "?";
    if (!options_.label_selector.empty()) path += "labelSelector=" + percent_encoded(options_.label_selector) + "&";
    if (!options_.field_selector.empty()) path += "fieldSelector=" + percent_encoded(options_.field_selector) + "&";
    const bool listing = !resource.listed;
    if (!listing) {
        path += "watch=1&allowWatchBookmarks=true&resourceVersion=" + percent_encoded(resource.resource_version) +
                "&timeoutSeconds=" + std::to_string(options_.watch_timeout.count());
    }
    resource.buffer.clear();
    resource.gone = false;
    resource.stream_error.clear();
    auto on_data = [this, &resource, listing](std::string_view data) {
        if (listing || resource.request->status() != 200) {
            if (resource.buffer.size() + data.size() > kMaxListBytes) return false;
            resource.buffer.append(data);
            return true;
        }
        resource.buffer.append(data);
        size_t start = 0;
        for (size_t end; (end = resource.buffer.find('\n', start)) != std::string::npos; start = end + 1) {
            if (!on_watch_line(resource, std::string_view(resource.buffer).substr(start, end - start))) return false;
        }
        resource.buffer.erase(0, start);
        if (resource.buffer.size() > kMaxWatchLineBytes) {
            resource.stream_error = "a watch event larger than " + std::to_string(kMaxWatchLineBytes >> 20) + " MiB";
            return false;
        }
        return true;
    };
    try {
        resource.request = std::make_unique<KubeRequest>(endpoint_, path, !listing, on_data);
    } catch (const std::exception& error) {
        fail(resource, error.what());
        return;
    }
    resource.phase = listing ? Resource::Phase::Listing : Resource::Phase::Watching;
    http_->start(*resource.request);
    spdlog::debug("kubernetes: GET {}", path);
}

void KubernetesSource::finish(Resource& resource, long status, bool transfer_ok, std::string error) {
    const bool listing = resource.phase == Resource::Phase::Listing;
    resource.phase = Resource::Phase::Idle;
    const bool was_watching = resource.watching;
    resource.watching = false;
    resource.retry_at = Clock::now();
    std::string body = std::move(resource.buffer);
    resource.buffer.clear();
    resource.request.reset();
    auto relist = [&](const char* why) {
        resource.listed = false;
        std::lock_guard lock(status_mutex_);
        ++status_.gone;
        spdlog::info("kubernetes: {} at resourceVersion {}: {}; listing again", resource.name,
                     resource.resource_version, why);
    };
    if (resource.gone || status == 410) {
        relist(resource.gone ? "the watch said 410 Gone" : "410 Gone");
    } else if (!resource.stream_error.empty()) {
        fail(resource, std::string(resource.name) + " watch: " + resource.stream_error);
    } else if (status != 200) {
        std::string message = body;
        try {
            const json parsed = json::parse(body);
            if (parsed.contains("message") && parsed["message"].is_string()) message = parsed["message"];
        } catch (const json::exception&) {}
        if (message.size() > 200) message.resize(200);
        fail(resource, status == 0 ? std::string(resource.name) + ": " + error
                                   : std::string(resource.name) + ": HTTP " + std::to_string(status) + ": " + message);
    } else if (listing) {
        if (!transfer_ok) {
            fail(resource, std::string(resource.name) + " list: " + error);
            return;
        }
        try {
            on_list(resource, json::parse(body));
        } catch (const std::exception& parse_error) {
            fail(resource, std::string(resource.name) + " list: not a list (" + parse_error.what() + ")");
        }
    } else if (transfer_ok) {
        spdlog::debug("kubernetes: {} watch ended; resuming at resourceVersion {}", resource.name,
                      resource.resource_version);
    } else {
        // Cut mid-stream: resume from the last version seen, after a short wait (the server may be going away).
        fail(resource, std::string(resource.name) + " watch cut: " + error);
        if (was_watching) resource.retry_at = Clock::now() + options_.backoff_initial;
    }
}

void KubernetesSource::fail(Resource& resource, const std::string& error) {
    ++resource.failures;
    const unsigned shift = std::min(resource.failures - 1, 16u);
    auto backoff = std::min(options_.backoff_max, options_.backoff_initial * (1u << shift));
    static thread_local std::minstd_rand random(std::random_device{}());
    backoff += std::chrono::milliseconds(random() % (backoff.count() / 5 + 1));  // spread many gateways' retries
    resource.retry_at = Clock::now() + backoff;
    spdlog::warn("kubernetes: {}; retrying in {} ms", error, backoff.count());
    std::lock_guard lock(status_mutex_);
    status_.connected = false;
    status_.last_error = error;
    ++status_.reconnects;
}

bool KubernetesSource::on_watch_line(Resource& resource, std::string_view line) {
    if (line.empty() || line == "\r") return true;
    json event;
    try {
        event = json::parse(line);
    } catch (const json::exception& error) {
        resource.stream_error = std::string("an event that is not JSON (") + error.what() + ")";
        return false;
    }
    const std::string type = event.value("type", "");
    const auto object = event.find("object");
    if (object == event.end() || !object->is_object()) {
        resource.stream_error = "an event without an object";
        return false;
    }
    if (type == "ERROR") {
        if (object->value("code", 0) == 410) {
            resource.gone = true;
        } else {
            resource.stream_error = "ERROR event: " + object->value("message", std::string("(no message)"));
        }
        return false;
    }
    const std::string version = text_at(*object, "metadata", "resourceVersion");
    if (!version.empty()) resource.resource_version = version;
    if (type == "ADDED" || type == "MODIFIED") {
        put(resource, *object);
    } else if (type == "DELETED") {
        erase(resource, object_key_of(*object));
    } else if (type != "BOOKMARK") {
        return true;  // a type this version does not know: its version still counts
    }
    std::lock_guard lock(status_mutex_);
    if (type != "BOOKMARK") ++status_.events;
    KubernetesResourceStatus& out = &resource == services_.get() ? status_.services : status_.endpoint_slices;
    out.resource_version = resource.resource_version;
    out.objects = resource.objects.size();
    return true;
}

// Reconciliation: the list is the whole truth, so names the source followed and the list
// lacks are deleted; objects whose resourceVersion did not change are not translated again.
void KubernetesSource::on_list(Resource& resource, const json& body) {
    const auto items = body.find("items");
    if (items == body.end() || !items->is_array()) throw std::runtime_error("no items");
    std::map<std::string, json> listed;
    uint64_t skipped = 0;
    for (json item : *items) {
        if (!item.is_object()) continue;
        item["kind"] = resource.kind;
        item["apiVersion"] = resource.api_version;
        trim(item);
        if (!wanted(resource, item)) {
            ++skipped;
            continue;
        }
        const std::string key = object_key_of(item);
        auto previous = resource.objects.find(key);
        if (previous == resource.objects.end() ||
            text_at(previous->second, "metadata", "resourceVersion") != text_at(item, "metadata", "resourceVersion")) {
            if (dirty_.empty()) first_dirty_ = Clock::now();
            dirty_.insert({resource.store_kind, key});
        }
        listed.emplace(key, std::move(item));
    }
    for (const auto& [key, object] : resource.objects) {
        if (listed.count(key)) continue;
        if (dirty_.empty()) first_dirty_ = Clock::now();
        dirty_.insert({resource.store_kind, key});
    }
    resource.objects = std::move(listed);
    resource.resource_version = text_at(body, "metadata", "resourceVersion");
    resource.listed = true;
    resource.ever_listed = true;
    resource.failures = 0;
    spdlog::info("kubernetes: listed {} {} at resourceVersion {}", resource.objects.size(), resource.name,
                 resource.resource_version);
    std::lock_guard lock(status_mutex_);
    ++status_.lists;
    status_.skipped += skipped;
    KubernetesResourceStatus& out = &resource == services_.get() ? status_.services : status_.endpoint_slices;
    out.resource_version = resource.resource_version;
    out.objects = resource.objects.size();
}

bool KubernetesSource::wanted(const Resource& resource, const json& object) {
    const auto metadata = object.find("metadata");
    if (metadata != object.end() && metadata->is_object()) {
        const auto labels = metadata->find("labels");
        if (labels != metadata->end() && labels->is_object()) {
            const auto proxy = labels->find(kProxyNameLabel);
            if (proxy != labels->end() && !(proxy->is_string() && *proxy == options_.proxy_name)) return false;
        }
    }
    if (&resource == slices_.get()) {
        // FQDN slices have nothing to serve; a malformed addressType goes on to be refused by name.
        const auto type = object.find("addressType");
        if (type != object.end() && type->is_string() && *type != "IPv4" && *type != "IPv6") return false;
    }
    return true;
}

void KubernetesSource::put(Resource& resource, const json& object) {
    json copy = object;
    copy["kind"] = resource.kind;
    copy["apiVersion"] = resource.api_version;
    trim(copy);
    const std::string key = object_key_of(copy);
    if (!wanted(resource, copy)) {
        {
            std::lock_guard lock(status_mutex_);
            ++status_.skipped;
        }
        erase(resource, key);  // a label change may take it out of our hands
        return;
    }
    resource.objects[key] = std::move(copy);
    if (dirty_.empty()) first_dirty_ = Clock::now();
    dirty_.insert({resource.store_kind, key});
}

void KubernetesSource::erase(Resource& resource, const std::string& key) {
    if (resource.objects.erase(key) == 0) return;
    if (dirty_.empty()) first_dirty_ = Clock::now();
    dirty_.insert({resource.store_kind, key});
}

void KubernetesSource::sync() {
    config::ObjectSet upserts;
    std::set<config::ObjectRef> deletes;
    std::vector<config::ConfigError> rejected;
    for (const config::ObjectRef& ref : dirty_) {
        Resource& resource = ref.first == services_->store_kind ? *services_ : *slices_;
        const auto found = resource.objects.find(ref.second);
        if (found == resource.objects.end()) {
            deletes.insert(ref);
            continue;
        }
        config::ObjectsResult translated =
            config::load_kubernetes_yaml(found->second.dump(), std::string(resource.name) + "/" + ref.second);
        if (!translated.objects) {
            rejected.insert(rejected.end(), translated.errors.begin(), translated.errors.end());
            continue;
        }
        for (auto& service : translated.objects->services) upserts.services.push_back(std::move(service));
        for (auto& slice : translated.objects->endpoint_slices) upserts.endpoint_slices.push_back(std::move(slice));
    }
    const size_t changed = dirty_.size();
    dirty_.clear();
    std::vector<config::ConfigError> refused;
    size_t shadowed = 0;
    const UpdateOutcome outcome = control_.sync(upserts, deletes, "kubernetes", refused, shadowed);
    rejected.insert(rejected.end(), refused.begin(), refused.end());
    const Clock::time_point now = Clock::now();
    last_sync_ = now;
    const double delay_ms = ms_between(first_dirty_, now);
    for (size_t i = 0; i < rejected.size() && i < 5; ++i) {
        spdlog::warn("kubernetes: not taken: {}", rejected[i].to_string());
    }
    if (rejected.size() > 5) spdlog::warn("kubernetes: {} more objects not taken", rejected.size() - 5);
    spdlog::info(
        "kubernetes: sync of {} changed objects: {} (generation {}), {} refused, {} shadowed by local "
        "objects, {:.1f} ms after the first event",
        changed, outcome.published ? "published" : "nothing to publish", outcome.generation, rejected.size(), shadowed,
        delay_ms);
    std::lock_guard lock(status_mutex_);
    ++status_.syncs;
    if (outcome.published) ++status_.publications;
    status_.rejected += rejected.size();
    status_.shadowed += shadowed;
    status_.last_sync_unix_ms = unix_ms();
    status_.last_sync_delay_ms = delay_ms;
    status_.max_sync_delay_ms = std::max(status_.max_sync_delay_ms, delay_ms);
    status_.sync_delay_sum_ms += delay_ms;
}

}  // namespace vipgate
