// Object documents: services, pods and endpoint slices given at run time, apart from the
// daemon's config file, either in the TOML shape of that file or as Kubernetes manifests.
//
// Both forms go through the same decoder and the same rules as the config file; a Kubernetes
// manifest is first translated into the TOML object shape (kubernetes_yaml.cpp says how), so an
// object means the same whichever way it was written. Rules that need the daemon's own
// configuration (cluster.service_cidr, the ports' addresses) are not checked here: the caller
// merging the objects into a running configuration checks them.
#pragma once

#include "config/config.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config {

struct ObjectSet {
    std::vector<ServiceConfig> services;
    std::vector<PodConfig> pods;
    std::vector<EndpointSliceConfig> endpoint_slices;
    // A [dns] table (TOML documents only): replaces the running DNS settings; absent: unchanged.
    std::optional<DnsConfig> dns;
    bool operator==(const ObjectSet&) const = default;
};

struct ObjectsResult {
    std::optional<ObjectSet> objects;  // set only when errors is empty
    std::vector<ConfigError> errors;
};

enum class DocumentFormat { Toml, Yaml };

// By extension (.toml; .yaml or .yml), else by content: a line starting with "apiVersion:" or
// "kind:" is YAML, a line starting with "[[" is TOML. nullopt when neither says.
std::optional<DocumentFormat> detect_format(std::string_view file_name, std::string_view text);

// [[services]], [[pods]] and [[endpoint_slices]] tables exactly as in the config file, and a
// [dns] table (the DNS settings can change at run time); any other top-level key is an error
// ("<key> can only be set in the daemon's config file").
ObjectsResult load_objects_toml(const std::string& text, const std::string& source);

// Kubernetes manifests, several documents separated by "---", each a v1 Service, a v1 Pod, a
// discovery.k8s.io/v1 EndpointSlice or a v1 List of them. Fields vipgate has no use for
// (status of a service, annotations other than vipgate.io/*, uid, ...) are ignored.
//
// - Service: type ClusterIP (default), NodePort and LoadBalancer are accepted and only their
//   ClusterIP part is served (node ports and load-balancer fields are ignored); ExternalName
//   (spec.externalName) is a DNS alias only: no cluster IP, nothing in the dataplane.
//   spec.clusterIP absent or "" -> allocated; "None" -> headless. A targetPort written as a
//   number is a port number, a string (even "8080", as in Kubernetes) a port name.
//   spec.publishNotReadyAddresses is kept.
// - Pod: address from status.podIP, else the annotation vipgate.io/pod-ip; status.podIPs gives
//   one address per family (pod_ips: the IPv4 one is the endpoint address); a pod with neither
//   is accepted with address 0 (not an endpoint until it has one). Ready from the Ready
//   condition (absent: ready); terminating when metadata.deletionTimestamp is set; weight from
//   the annotation vipgate.io/weight (default 1); spec.hostname and spec.subdomain kept.
// - EndpointSlice: addressType IPv4 or IPv6 (an IPv6 slice feeds the service's IPv6 cluster
//   IP), label kubernetes.io/service-name required; an endpoint's first address is used, and its hostname;
//   EndpointConfig.ready is the serving condition (absent: ready, which is absent: true), .terminating the terminating
//   condition (absent: false).
//
// Aliases are expanded as the translation reads them, so a document is refused before it is
// read when, with its aliases expanded, it nests deeper than kYamlMaxDepth, holds more than
// kYamlMaxNodes nodes or more than kYamlMaxScalarBytes bytes of scalars, or when an alias
// refers to a node that contains it (a cycle).
ObjectsResult load_kubernetes_yaml(const std::string& text, const std::string& source);

// Kubernetes objects are shallow (a Service's targetPort is 5 levels down).
inline constexpr uint32_t kYamlMaxDepth = 64;
// A bulk apply of 10,000 Services and 10,000 EndpointSlices of 10 endpoints each, written as
// kubectl prints them (uid, targetRef, ...: 32 MB), is 3.4 million nodes. yaml-cpp holds some
// 470 bytes per node, so this also bounds what it builds from one request to about 2 GB.
inline constexpr uint64_t kYamlMaxNodes = uint64_t{4} << 20;
// What one API request may carry (control/api_server.h, Limits::max_request_bytes): aliases
// may not make a document larger than the largest one a client could send written out.
inline constexpr uint64_t kYamlMaxScalarBytes = uint64_t{64} << 20;

// An object document that load_objects_toml reads back to an equal ObjectSet.
std::string format_objects_toml(const ObjectSet& objects);

}  // namespace vipgate::config
