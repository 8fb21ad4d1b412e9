// KubernetesSource: follows a Kubernetes API server (v1 Services, discovery.k8s.io/v1
// EndpointSlices) and keeps the gateway's objects equal to the cluster's.
//
// Design note. Like a client-go reflector, each resource is listed (which gives a
// resourceVersion), then watched from that version with bookmarks; a watch that ends is resumed
// from the last version seen (event or bookmark), so nothing is lost or repeated; 410 Gone (as
// the HTTP status or as an ERROR event) means the version is too old: list again and reconcile,
// i.e. whatever the source holds that the new list lacks is deleted. Failures reconnect after a
// capped exponential backoff. Everything runs on one thread of its own (libcurl's multi
// interface), never on a worker core, and the dataplane is only ever touched through
// ControlPlane::sync: the same store transactions and publications as vipctl and reloads. Losing
// the API server therefore changes nothing the workers use; the status says so.
//
// The source keeps the latest JSON of every object it follows and a set of names that changed
// since the last sync. A sync translates each changed object once, with the same translation
// as `vipctl apply` of a manifest (load_kubernetes_yaml: JSON is YAML), and commits all of them
// in one transaction. Bursts are coalesced like kube-proxy's minSyncPeriod: a sync runs at once
// after a quiet period, then at most once per min_sync, so 10,000 updates of one slice cost a
// few transactions and one translation each. The delay from the first event a sync carries to
// its publication is measured and reported.
//
// Filters, as kube-proxy: a Service (and the slices, which carry their Service's labels)
// labelled service.kubernetes.io/service-proxy-name is skipped unless the label names
// proxy_name. Unlike kube-proxy, headless services (and slices labelled
// service.kubernetes.io/headless) are kept: the gateway's DNS answers for them (they never reach
// the dataplane's VIP tables). Slices of addressType FQDN are skipped.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "control/control_plane.h"
#include "control/kube_config.h"
#include "control/kubernetes_status.h"

namespace vipgate {

class KubeHttp;

struct KubernetesOptions {
    std::string kubeconfig;  // empty with in_cluster: the service account
    std::string context;     // empty: the kubeconfig's current-context
    bool in_cluster = false;
    std::string namespace_name;  // empty: every namespace
    std::string label_selector;  // passed to the API server as is
    std::string field_selector;
    std::string proxy_name;  // service.kubernetes.io/service-proxy-name we serve; empty: unlabelled only
    std::chrono::milliseconds min_sync{1000};
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30000};
    std::chrono::seconds watch_timeout{300};  // timeoutSeconds of each watch (then resumed)
};

// Where the options come from: the kubeconfig or the service account. Throws with what to fix.
KubeEndpoint kubernetes_endpoint(const KubernetesOptions& options);

class KubernetesSource {
public:
    KubernetesSource(KubernetesOptions options, KubeEndpoint endpoint, ControlPlane& control);
    ~KubernetesSource();  // stops the thread
    KubernetesSource(const KubernetesSource&) = delete;
    KubernetesSource& operator=(const KubernetesSource&) = delete;

    void start();
    void stop();
    KubernetesStatus status() const;

private:
    struct Resource;

    void run();
    void begin(Resource& resource);
    void note_watches();
    void finish(Resource& resource, long status, bool transfer_ok, std::string error);
    bool on_watch_line(Resource& resource, std::string_view line);
    void on_list(Resource& resource, const nlohmann::json& body);
    void put(Resource& resource, const nlohmann::json& object);
    void erase(Resource& resource, const std::string& key);
    void fail(Resource& resource, const std::string& error);
    void sync();
    bool wanted(const Resource& resource, const nlohmann::json& object);

    KubernetesOptions options_;
    KubeEndpoint endpoint_;
    ControlPlane& control_;
    std::unique_ptr<Resource> services_;
    std::unique_ptr<Resource> slices_;
    // Object names ("service"/"endpointslice", "namespace/name") changed since the last sync.
    std::set<config::ObjectRef> dirty_;
    std::chrono::steady_clock::time_point first_dirty_{};
    std::chrono::steady_clock::time_point last_sync_{};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    mutable std::mutex status_mutex_;
    KubernetesStatus status_;
    std::unique_ptr<KubeHttp> http_;
};

}  // namespace vipgate
