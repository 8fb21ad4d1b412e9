// What the Kubernetes source (kubernetes_source.h) reports about itself: read by `vipctl get
// stats` and the metrics, a plain copy taken under the source's lock.
#pragma once

#include <cstdint>
#include <string>

namespace vipgate {

struct KubernetesResourceStatus {
    std::string resource;          // "services", "endpointslices"
    bool watching = false;         // a watch stream is open and answered 200
    std::string resource_version;  // the last one seen (list, event or bookmark)
    uint64_t objects = 0;          // followed now (after the filters)
};

struct KubernetesStatus {
    std::string server;
    bool connected = false;         // every resource listed and watched, no error since
    std::string last_error;         // empty: none since the last success
    int64_t last_sync_unix_ms = 0;  // 0: never synced
    KubernetesResourceStatus services;
    KubernetesResourceStatus endpoint_slices;
    uint64_t events = 0;        // ADDED/MODIFIED/DELETED received (list items not counted)
    uint64_t lists = 0;         // successful lists (the first one and every relist)
    uint64_t gone = 0;          // 410 Gone answers (HTTP status or ERROR event): each a relist
    uint64_t reconnects = 0;    // watches and lists started again after an error
    uint64_t syncs = 0;         // store transactions
    uint64_t publications = 0;  // of which changed the dataplane or DNS
    uint64_t rejected = 0;      // objects the translation or the store refused
    uint64_t shadowed = 0;      // objects skipped: a local object has their name
    uint64_t skipped = 0;       // objects left out by the filters (proxy name, address type)
    // From the first event a sync takes up to its publication (every worker on it).
    double last_sync_delay_ms = 0;
    double max_sync_delay_ms = 0;
    double sync_delay_sum_ms = 0;
};

}  // namespace vipgate
