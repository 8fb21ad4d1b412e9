// Kubernetes manifests (YAML) -> ObjectSet.
//
// Design note: a manifest is not decoded on its own. The Translator rewrites each object into
// the TOML object shape of the config file (a [[services]], [[pods]] or [[endpoint_slices]]
// table with vipgate's keys) and the result goes through the same decoder and validator as a
// TOML document, so both formats accept the same values and enforce the same rules. The
// translation maps Kubernetes fields to keys, works out the values Kubernetes derives (readiness
// from conditions, the pod address from status or annotation) and rejects what has no
// counterpart (an unknown kind, FQDN slices); it checks nothing the
// decoder checks. Scalars are typed the way the decoder expects: a plain 80 becomes an integer,
// a plain true a boolean, a quoted "80" stays a string (IntOrString: a port name).
//
// Built TOML nodes have no source position, so for every key it writes the Translator records
// where the value came from: the YAML mark and the Kubernetes field path. Diagnostics looks
// errors up there, so "services[0].ports[1].target_port" is reported as
// "spec.ports[1].targetPort" at the manifest's own line and column. Keys the decoder requires
// are recorded even when absent, pointing at the enclosing mapping, so a missing field is named
// as Kubernetes names it.
//
// Bounds. yaml-cpp gives an alias the very node its anchor names, so the document it returns is
// a graph, not a tree: `&a [*a]` contains itself, and nine anchors each listing the previous
// one ten times are 10^9 copies of the first to whoever walks them as a tree, as the Translator
// does (a List's items are followed into further Lists). Walked as written, the first recurses
// until the stack or memory runs out and takes the whole dataplane with it; the second does the
// same more slowly. So before anything is built, BoundsCheck reads the parser's event stream and
// follows what the Translator would see: the nesting depth, the node count and the scalar bytes
// with every alias expanded, each anchor's expanded size computed once when its node closes and
// added at every alias (so the check itself costs one pass over the text whatever the aliases
// multiply to). An alias to an anchor whose node is still open is a cycle. The first limit
// crossed stops the parse, reported at the alias or node that crossed it (the event stream,
// unlike the node graph, knows where each alias is written). The limits are in objects.h. This
// is a second parse of the text (yaml-cpp has no public way to build its nodes from events):
// about a fifth of the time a large manifest takes to load, paid so that nothing is built
// from a document that is refused, and a cycle never reaches code that follows it.
#include "config/config_internal.h"
#include "config/objects.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace vipgate::config {

namespace {

constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
constexpr std::string_view kPodIpAnnotation = "vipgate.io/pod-ip";
constexpr std::string_view kWeightAnnotation = "vipgate.io/weight";

// How a YAML scalar is typed for the decoder.
enum class Scalar {
    String,       // as written
    Integer,      // a plain (unquoted) decimal number; anything else stays a string
    IntOrString,  // the same, but a string is a legitimate value (a port name)
    Boolean,      // a plain true/false (YAML 1.1 spellings too, as Kubernetes reads them)
    IntegerText,  // a number even when quoted (annotation values are always strings)
};

detail::SourceLocation location_of(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    if (mark.line < 0) return {};
    return {static_cast<uint32_t>(mark.line + 1), static_cast<uint32_t>(mark.column + 1)};
}

bool is_plain(const YAML::Node& node) {
    return node.Tag() == "?";
}

std::optional<int64_t> decimal(std::string_view text) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// A child of a mapping; absent when the key is missing or its value is null.
std::optional<YAML::Node> child(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) return std::nullopt;
    const YAML::Node node = map[std::string(key)];
    if (!node.IsDefined() || node.IsNull()) return std::nullopt;
    return node;
}

std::optional<std::string> scalar_text(const YAML::Node& map, std::string_view key) {
    auto node = child(map, key);
    if (!node || !node->IsScalar()) return std::nullopt;
    return node->Scalar();
}

std::string indexed(std::string_view path, size_t index) {
    return std::string(path) + "[" + std::to_string(index) + "]";
}

// A vipgate table being filled: its path in the TOML object shape, and the Kubernetes field
// path (with trailing '.') of the mapping it comes from.
struct Target {
    toml::table& table;
    std::string path;
    std::string field;
};

class Translator {
public:
    explicit Translator(detail::Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

    void document(const YAML::Node& node, const std::string& field) {
        if (!node.IsDefined() || node.IsNull()) return;  // an empty document, e.g. after "---"
        if (!node.IsMap()) {
            diagnostics_.error_at(field, location_of(node),
                                  "expected a Kubernetes object: a mapping with apiVersion and kind");
            return;
        }
        auto kind = scalar_text(node, "kind");
        if (!kind) {
            diagnostics_.error_at(field + "kind", location_of(node),
                                  "missing kind; vipgate reads " + std::string(kKinds));
            return;
        }
        if (*kind == "List") {
            if (api_version_matches(node, field, "List", "v1")) list_items(node, field);
            return;
        }
        for (const auto& known : kKindTable) {
            if (*kind != known.kind) continue;
            if (api_version_matches(node, field, known.kind, known.api_version)) (this->*known.translate)(node, field);
            return;
        }
        diagnostics_.error_at(field + "kind", location_of(*child(node, "kind")),
                              "unsupported kind '" + *kind + "'; vipgate reads " + std::string(kKinds));
    }

    toml::table take_root() {
        toml::table root;
        root.insert("services", std::move(services_));
        root.insert("pods", std::move(pods_));
        root.insert("endpoint_slices", std::move(endpoint_slices_));
        return root;
    }

    // Where the value at `path` came from: the nearest recorded path at or above it.
    detail::Origin locate(std::string_view path) const {
        for (;; path = detail::parent_path(path)) {
            auto found = origins_.find(path);
            if (found != origins_.end()) return found->second;
            if (path.empty()) return {};
        }
    }

private:
    struct KnownKind {
        std::string_view kind;
        std::string_view api_version;
        void (Translator::*translate)(const YAML::Node&, const std::string&);
    };
    static constexpr std::string_view kKinds =
        "Service (v1), Pod (v1), EndpointSlice (discovery.k8s.io/v1) and List (v1)";
    static const KnownKind kKindTable[3];

    bool api_version_matches(const YAML::Node& node, const std::string& field, std::string_view kind,
                             std::string_view expected) {
        auto version = scalar_text(node, "apiVersion");
        if (version == expected) return true;
        std::string message = std::string(kind) + " needs apiVersion " + std::string(expected);
        if (version) {
            diagnostics_.error_at(field + "apiVersion", location_of(*child(node, "apiVersion")),
                                  message + ", found '" + *version + "'");
        } else {
            diagnostics_.error_at(field + "apiVersion", location_of(node), "missing apiVersion; " + message);
        }
        return false;
    }

    void list_items(const YAML::Node& node, const std::string& field) {
        auto items = child(node, "items");
        if (!items) return;
        if (!items->IsSequence()) {
            diagnostics_.error_at(field + "items", location_of(*items), "expected a list of objects");
            return;
        }
        for (size_t i = 0; i < items->size(); ++i) document((*items)[i], indexed(field + "items", i) + ".");
    }

    // --- writing the TOML object shape ---

    // Records where `path` comes from. A node built here (an absent mapping) has no position;
    // the path then falls back to its parent's.
    void record(const std::string& path, const YAML::Node& node, std::string field) {
        if (node.Mark().line < 0) return;
        origins_[path] = {location_of(node), std::move(field)};
    }

    // Starts a new table at `list`[n] for an object or list entry.
    Target begin(toml::array& array, std::string_view list, const YAML::Node& node, const std::string& field) {
        std::string path = indexed(list, array.size());
        array.push_back(toml::table{});
        record(path, node, field.empty() ? field : field.substr(0, field.size() - 1));
        return {*array.back().as_table(), path, field};
    }

    // Writes `key` from the Kubernetes field `name` of `map`. A missing value writes nothing,
    // but the key is still recorded so that "missing required key" names the field.
    void put(Target& target, std::string_view key, const YAML::Node& map, std::string_view name, Scalar type) {
        std::string path = target.path + "." + std::string(key);
        std::string field = target.field + std::string(name);
        auto node = child(map, name);
        record(path, node ? *node : map, field);
        if (node) target.table.insert(key, std::move(*make(*node, type)));
    }

    void put_value(Target& target, std::string_view key, toml::node&& value, const YAML::Node& from,
                   std::string field) {
        record(target.path + "." + std::string(key), from, std::move(field));
        target.table.insert(key, std::move(value));
    }

    // A scalar as the decoder should see it; a mapping or sequence becomes an empty table or
    // array, which the decoder reports as the wrong type. (Inserting moves the node's contents
    // into the table; the temporary holder dies at the end of the statement.)
    static std::unique_ptr<toml::node> make(const YAML::Node& node, Scalar type) {
        if (node.IsMap()) return std::make_unique<toml::table>();
        if (node.IsSequence()) return std::make_unique<toml::array>();
        const std::string& text = node.Scalar();
        bool plain = is_plain(node);
        if (type == Scalar::Integer || type == Scalar::IntOrString || type == Scalar::IntegerText) {
            if (auto number = decimal(text); number && (plain || type == Scalar::IntegerText))
                return std::make_unique<toml::value<int64_t>>(*number);
        }
        if (type == Scalar::Boolean && plain) {
            bool value = false;
            if (YAML::convert<bool>::decode(node, value)) return std::make_unique<toml::value<bool>>(value);
        }
        return std::make_unique<toml::value<std::string>>(text);
    }

    // status.podIPs ([{ip: ...}], one per family) as the array of strings `pod_ips`; an entry
    // that is not a mapping with an ip goes in as it is, for the decoder to refuse.
    void pod_ips(Target& target, const YAML::Node& status, const std::string& field) {
        auto node = child(status, "podIPs");
        if (!node) return;
        const std::string path = target.path + ".pod_ips";
        record(path, *node, field + "podIPs");
        if (!node->IsSequence()) {
            target.table.insert("pod_ips", std::move(*make(*node, Scalar::String)));
            return;
        }
        toml::array values;
        for (size_t i = 0; i < node->size(); ++i) {
            const YAML::Node entry = (*node)[i];
            auto ip = entry.IsMap() ? child(entry, "ip") : std::nullopt;
            record(indexed(path, i), ip ? *ip : entry, indexed(field + "podIPs", i) + (ip ? ".ip" : ""));
            values.push_back(std::move(*make(ip ? *ip : entry, Scalar::String)));
        }
        target.table.insert("pod_ips", std::move(values));
    }

    // A sequence of strings (clusterIPs, ipFamilies) as a TOML array, each entry recorded.
    void put_strings(Target& target, std::string_view key, const YAML::Node& map, std::string_view name) {
        auto node = child(map, name);
        if (!node) return;
        std::string path = target.path + "." + std::string(key);
        std::string field = target.field + std::string(name);
        record(path, *node, field);
        if (!node->IsSequence()) {
            target.table.insert(key, std::move(*make(*node, Scalar::String)));
            return;
        }
        toml::array values;
        for (size_t i = 0; i < node->size(); ++i) {
            record(indexed(path, i), (*node)[i], indexed(field, i));
            values.push_back(std::move(*make((*node)[i], Scalar::String)));
        }
        target.table.insert(key, std::move(values));
    }

    // A Kubernetes string map (labels, selector) as a TOML table; each entry recorded with its
    // own position since label keys cannot be looked up by path.
    void put_labels(Target& target, std::string_view key, const YAML::Node& map, std::string_view name) {
        auto node = child(map, name);
        if (!node) return;
        std::string path = target.path + "." + std::string(key);
        std::string field = target.field + std::string(name);
        record(path, *node, field);
        if (!node->IsMap()) {
            target.table.insert(key, std::move(*make(*node, Scalar::String)));
            return;
        }
        if (node->size() == 0) return;  // an empty selector selects nothing: no selector
        toml::table labels;
        for (const auto& entry : *node) {
            std::string label = entry.first.Scalar();
            record(path + "." + label, entry.second, field + "." + label);
            if (entry.second.IsNull()) {
                labels.insert(label, std::string());
            } else {
                labels.insert(label, std::move(*make(entry.second, Scalar::String)));
            }
        }
        target.table.insert(key, std::move(labels));
    }

    // A mapping the translator walks into; anything else is reported.
    std::optional<YAML::Node> mapping(const YAML::Node& parent, std::string_view name, const std::string& field) {
        auto node = child(parent, name);
        if (node && !node->IsMap()) {
            diagnostics_.error_at(field + std::string(name), location_of(*node), "expected a mapping");
            return std::nullopt;
        }
        return node;
    }

    std::optional<YAML::Node> sequence(const YAML::Node& parent, std::string_view name, const std::string& field) {
        auto node = child(parent, name);
        if (node && !node->IsSequence()) {
            diagnostics_.error_at(field + std::string(name), location_of(*node), "expected a list");
            return std::nullopt;
        }
        return node;
    }

    void metadata(Target& target, const YAML::Node& document, const YAML::Node& meta) {
        std::string field = target.field;
        target.field += "metadata.";
        put(target, "name", meta.IsMap() ? meta : document, "name", Scalar::String);
        put(target, "namespace", meta, "namespace", Scalar::String);
        target.field = field;
    }

    // --- the kinds ---

    void service(const YAML::Node& node, const std::string& field) {
        YAML::Node meta = mapping(node, "metadata", field).value_or(YAML::Node());
        YAML::Node spec = mapping(node, "spec", field).value_or(YAML::Node());
        const std::optional<std::string> type = scalar_text(spec, "type");
        const bool external = type == "ExternalName";
        if (type && !external && *type != "ClusterIP" && *type != "NodePort" && *type != "LoadBalancer") {
            diagnostics_.error_at(
                field + "spec.type", location_of(*child(spec, "type")),
                "unknown service type '" + *type + "'; allowed: ClusterIP, NodePort, LoadBalancer, ExternalName");
            return;
        }
        if (external && !scalar_text(spec, "externalName")) {
            diagnostics_.error_at(field + "spec.externalName", location_of(spec.IsMap() ? spec : node),
                                  "missing: an ExternalName service needs the DNS name it aliases");
            return;
        }
        Target target = begin(services_, "services", node, field);
        metadata(target, node, meta);
        target.field = field + "spec.";
        if (auto ip = scalar_text(spec, "clusterIP"); (!ip && !external) || (ip && !ip->empty()))
            put(target, "cluster_ip", spec, "clusterIP", Scalar::String);
        if (external) put(target, "external_name", spec, "externalName", Scalar::String);
        if (!external) {
            put_strings(target, "cluster_ips", spec, "clusterIPs");
            put_strings(target, "ip_families", spec, "ipFamilies");
            put(target, "ip_family_policy", spec, "ipFamilyPolicy", Scalar::String);
        }
        put(target, "publish_not_ready_addresses", spec, "publishNotReadyAddresses", Scalar::Boolean);
        put_labels(target, "selector", spec, "selector");
        put(target, "session_affinity", spec, "sessionAffinity", Scalar::String);
        if (auto config = mapping(spec, "sessionAffinityConfig", target.field)) {
            if (auto client_ip = mapping(*config, "clientIP", target.field + "sessionAffinityConfig.")) {
                std::string saved = target.field;
                target.field += "sessionAffinityConfig.clientIP.";
                put(target, "session_affinity_timeout", *client_ip, "timeoutSeconds", Scalar::Integer);
                target.field = saved;
            }
        }
        auto ports = sequence(spec, "ports", target.field);
        std::string list_path = target.path + ".ports";
        record(list_path, ports ? *ports : spec.IsMap() ? spec : node, target.field + "ports");
        if (ports) {
            toml::array list;
            for (size_t j = 0; j < ports->size(); ++j) {
                const YAML::Node port = (*ports)[j];
                Target entry = begin(list, list_path, port, indexed(target.field + "ports", j) + ".");
                put(entry, "name", port, "name", Scalar::String);
                put(entry, "protocol", port, "protocol", Scalar::String);
                put(entry, "port", port, "port", Scalar::Integer);
                put(entry, "target_port", port, "targetPort", Scalar::IntOrString);
            }
            target.table.insert("ports", std::move(list));
        }
    }

    void pod(const YAML::Node& node, const std::string& field) {
        YAML::Node meta = mapping(node, "metadata", field).value_or(YAML::Node());
        YAML::Node spec = mapping(node, "spec", field).value_or(YAML::Node());
        YAML::Node status = mapping(node, "status", field).value_or(YAML::Node());
        YAML::Node annotations = mapping(meta, "annotations", field + "metadata.").value_or(YAML::Node());
        Target target = begin(pods_, "pods", node, field);
        metadata(target, node, meta);
        target.field = field + "metadata.";
        put_labels(target, "labels", meta, "labels");
        if (auto deleted = child(meta, "deletionTimestamp"))
            put_value(target, "terminating", toml::value<bool>(true), *deleted, target.field + "deletionTimestamp");
        target.field = field + "metadata.annotations.";
        put(target, "weight", annotations, kWeightAnnotation, Scalar::IntegerText);
        if (auto ip = scalar_text(status, "podIP"); ip && !ip->empty()) {
            target.field = field + "status.";
            put(target, "address", status, "podIP", Scalar::String);
        } else if (child(annotations, kPodIpAnnotation)) {
            put(target, "address", annotations, kPodIpAnnotation, Scalar::String);
        }
        pod_ips(target, status, field + "status.");
        pod_ready(target, status, field + "status.");
        target.field = field + "spec.";
        put(target, "hostname", spec, "hostname", Scalar::String);
        put(target, "subdomain", spec, "subdomain", Scalar::String);
        pod_ports(target, spec, field + "spec.");
    }

    // The Ready condition's status; no Ready condition (a manifest without status) is ready.
    void pod_ready(Target& target, const YAML::Node& status, const std::string& field) {
        auto conditions = sequence(status, "conditions", field);
        if (!conditions) return;
        for (size_t i = 0; i < conditions->size(); ++i) {
            const YAML::Node condition = (*conditions)[i];
            if (scalar_text(condition, "type") != "Ready") continue;
            put_value(target, "ready", toml::value<bool>(scalar_text(condition, "status") == "True"), condition,
                      indexed(field + "conditions", i) + ".status");
            return;
        }
    }

    // Every container's ports, in order, as the pod's named ports.
    void pod_ports(Target& target, const YAML::Node& spec, const std::string& field) {
        auto containers = sequence(spec, "containers", field);
        if (!containers) return;
        toml::array list;
        std::string list_path = target.path + ".ports";
        for (size_t c = 0; c < containers->size(); ++c) {
            std::string container_field = indexed(field + "containers", c) + ".";
            auto ports = sequence((*containers)[c], "ports", container_field);
            if (!ports) continue;
            for (size_t p = 0; p < ports->size(); ++p) {
                const YAML::Node port = (*ports)[p];
                Target entry = begin(list, list_path, port, indexed(container_field + "ports", p) + ".");
                put(entry, "name", port, "name", Scalar::String);
                put(entry, "protocol", port, "protocol", Scalar::String);
                put(entry, "port", port, "containerPort", Scalar::Integer);
            }
        }
        if (!list.empty()) target.table.insert("ports", std::move(list));
    }

    void endpoint_slice(const YAML::Node& node, const std::string& field) {
        YAML::Node meta = mapping(node, "metadata", field).value_or(YAML::Node());
        YAML::Node labels = mapping(meta, "labels", field + "metadata.").value_or(YAML::Node());
        auto address_type = scalar_text(node, "addressType");
        if (address_type != "IPv4" && address_type != "IPv6") {
            auto at = child(node, "addressType");
            diagnostics_.error_at(
                field + "addressType", location_of(at ? *at : node),
                (address_type ? "addressType '" + *address_type + "'" : std::string("a missing addressType")) +
                    " is not supported; vipgate reads IPv4 and IPv6 endpoint slices");
            return;
        }
        if (!child(labels, kServiceNameLabel)) {
            diagnostics_.error_at(
                field + "metadata.labels", location_of(labels.IsDefined() ? labels : node),
                "missing label " + std::string(kServiceNameLabel) + ": it names the service these endpoints belong to");
            return;
        }
        Target target = begin(endpoint_slices_, "endpoint_slices", node, field);
        metadata(target, node, meta);
        target.field = field + "metadata.labels.";
        put(target, "service", labels, kServiceNameLabel, Scalar::String);
        target.field = field;
        put(target, "address_type", node, "addressType", Scalar::String);
        if (auto ports = sequence(node, "ports", field)) {
            toml::array list;
            std::string list_path = target.path + ".ports";
            for (size_t j = 0; j < ports->size(); ++j) {
                const YAML::Node port = (*ports)[j];
                Target entry = begin(list, list_path, port, indexed(field + "ports", j) + ".");
                if (scalar_text(port, "name") != "") put(entry, "name", port, "name", Scalar::String);
                put(entry, "protocol", port, "protocol", Scalar::String);
                put(entry, "port", port, "port", Scalar::Integer);
            }
            target.table.insert("ports", std::move(list));
        }
        if (auto endpoints = sequence(node, "endpoints", field)) {
            toml::array list;
            std::string list_path = target.path + ".endpoints";
            for (size_t k = 0; k < endpoints->size(); ++k) {
                std::string entry_field = indexed(field + "endpoints", k) + ".";
                slice_endpoint(begin(list, list_path, (*endpoints)[k], entry_field), (*endpoints)[k], entry_field);
            }
            target.table.insert("endpoints", std::move(list));
        }
    }

    void slice_endpoint(Target entry, const YAML::Node& endpoint, const std::string& field) {
        auto addresses = sequence(endpoint, "addresses", field);
        if (addresses && addresses->size() > 0) {
            record(entry.path + ".address", (*addresses)[0], field + "addresses[0]");
            entry.table.insert("address", std::move(*make((*addresses)[0], Scalar::String)));
        } else {
            record(entry.path + ".address", endpoint, field + "addresses");
        }
        put(entry, "hostname", endpoint, "hostname", Scalar::String);
        auto conditions = mapping(endpoint, "conditions", field);
        if (!conditions) return;
        std::string conditions_field = field + "conditions.";
        auto ready = condition(*conditions, "ready", conditions_field);
        auto serving = condition(*conditions, "serving", conditions_field);
        auto terminating = condition(*conditions, "terminating", conditions_field);
        bool is_serving = serving.value_or(ready.value_or(true));
        put_value(entry, "ready", toml::value<bool>(is_serving), *conditions,
                  conditions_field + (serving ? "serving" : "ready"));
        put_value(entry, "terminating", toml::value<bool>(terminating.value_or(false)), *conditions,
                  conditions_field + "terminating");
    }

    // A condition: true, false or absent (nil); anything else is reported and taken as absent.
    std::optional<bool> condition(const YAML::Node& conditions, std::string_view name, const std::string& field) {
        auto node = child(conditions, name);
        if (!node) return std::nullopt;
        bool value = false;
        if (node->IsScalar() && is_plain(*node) && YAML::convert<bool>::decode(*node, value)) return value;
        diagnostics_.error_at(field + std::string(name), location_of(*node), "expected true or false");
        return std::nullopt;
    }

    detail::Diagnostics& diagnostics_;
    toml::array services_;
    toml::array pods_;
    toml::array endpoint_slices_;
    std::map<std::string, detail::Origin, std::less<>> origins_;
};

const Translator::KnownKind Translator::kKindTable[3] = {
    {"Service", "v1", &Translator::service},
    {"Pod", "v1", &Translator::pod},
    {"EndpointSlice", "discovery.k8s.io/v1", &Translator::endpoint_slice},
};

// --- bounds on the document as the Translator sees it (design note) ---

// Why the parse stopped; thrown from BoundsCheck's handlers, the one way to stop yaml-cpp's
// parser early, and turned into an error by check_yaml_bounds.
struct OutOfBounds {
    YAML::Mark mark;
    std::string message;
};

std::string position(const YAML::Mark& mark) {
    return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

class BoundsCheck final : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark&) override { anchors_.clear(); }  // anchors are per document
    void OnDocumentEnd() override {}
    void OnAnchor(const YAML::Mark&, const std::string& name) override { anchor_name_ = name; }

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, 0); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  const std::string& value) override {
        leaf(mark, anchor, value.size());
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapEnd() override { close(); }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t id) override {
        const Anchor& anchor = anchors_.at(id - 1);
        const std::string alias = "*" + anchor.name;
        if (anchor.open) {
            throw OutOfBounds{mark, "alias cycle: " + alias + " refers to the node anchored &" + anchor.name + " at " +
                                        position(anchor.mark) +
                                        ", which contains this alias; a node cannot contain itself"};
        }
        const std::string repeats = " (" + alias + " repeats the node anchored at " + position(anchor.mark) + ": ";
        if (frames_.size() + anchor.extent.height > kYamlMaxDepth) {
            throw OutOfBounds{mark, "nesting deeper than " + std::to_string(kYamlMaxDepth) + " levels" + repeats +
                                        std::to_string(anchor.extent.height) + " levels)"};
        }
        nodes_ += anchor.extent.nodes;
        bytes_ += anchor.extent.bytes;
        if (nodes_ > kYamlMaxNodes) {
            throw OutOfBounds{mark, "aliases expand this document to more than " + std::to_string(kYamlMaxNodes) +
                                        " nodes" + repeats + std::to_string(anchor.extent.nodes) + " nodes)"};
        }
        if (bytes_ > kYamlMaxScalarBytes) {
            throw OutOfBounds{mark, "aliases expand this document to more than " +
                                        std::to_string(kYamlMaxScalarBytes >> 20) +
                                        " MiB of text, more than a request may carry" + repeats +
                                        std::to_string(anchor.extent.bytes) + " bytes)"};
        }
        grown(anchor.extent.height);
    }

private:
    // A node with every alias in it expanded.
    struct Extent {
        uint64_t nodes = 0;
        uint64_t bytes = 0;
        uint32_t height = 0;  // levels: 1 for a scalar
    };
    struct Anchor {
        std::string name;
        YAML::Mark mark;
        bool open = true;  // its node has started and not ended
        Extent extent;
    };
    // An open sequence or mapping.
    struct Frame {
        YAML::anchor_t anchor;
        uint64_t nodes_before;
        uint64_t bytes_before;
        uint32_t height_below = 0;
    };

    // Counts one written node; `anchor` (0: none) starts being defined here.
    void start(const YAML::Mark& mark, YAML::anchor_t anchor, uint64_t bytes) {
        if (frames_.size() + 1 > kYamlMaxDepth) {
            throw OutOfBounds{mark, "nesting deeper than " + std::to_string(kYamlMaxDepth) +
                                        " levels; a Kubernetes object needs far fewer"};
        }
        ++nodes_;
        bytes_ += bytes;
        if (nodes_ > kYamlMaxNodes) {
            throw OutOfBounds{mark, "this document has more than " + std::to_string(kYamlMaxNodes) +
                                        " nodes; apply its objects in several requests"};
        }
        if (anchor == 0) return;
        // yaml-cpp numbers a document's anchors 1, 2, ... in the order they are defined.
        if (anchors_.size() < anchor) anchors_.resize(anchor);
        anchors_[anchor - 1] = {std::move(anchor_name_), mark, true, {}};
    }

    void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, uint64_t bytes) {
        start(mark, anchor, bytes);
        if (anchor != 0) {
            anchors_[anchor - 1].open = false;
            anchors_[anchor - 1].extent = {1, bytes, 1};
        }
        grown(1);
    }

    void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
        start(mark, anchor, 0);
        frames_.push_back({anchor, nodes_ - 1, bytes_});
    }

    void close() {
        const Frame frame = frames_.back();
        frames_.pop_back();
        const uint32_t height = frame.height_below + 1;
        if (frame.anchor != 0) {
            Anchor& anchor = anchors_[frame.anchor - 1];
            anchor.open = false;
            anchor.extent = {nodes_ - frame.nodes_before, bytes_ - frame.bytes_before, height};
        }
        grown(height);
    }

    // A child of the innermost open node is `height` levels high.
    void grown(uint32_t height) {
        if (!frames_.empty()) frames_.back().height_below = std::max(frames_.back().height_below, height);
    }

    std::vector<Frame> frames_;
    std::vector<Anchor> anchors_;
    std::string anchor_name_;  // of the node about to start
    uint64_t nodes_ = 0;       // in the whole request, aliases expanded
    uint64_t bytes_ = 0;
};

// Reads `text` in place (no copy of a request that may be 64 MiB).
class TextBuffer final : public std::streambuf {
public:
    explicit TextBuffer(const std::string& text) {
        char* begin = const_cast<char*>(text.data());  // only read: a get area
        setg(begin, begin, begin + text.size());
    }
};

ConfigError error_at(const std::string& source, const YAML::Mark& mark, std::string message) {
    if (mark.is_null()) return {source, 0, 0, "", std::move(message)};
    return {source, static_cast<uint32_t>(mark.line + 1), static_cast<uint32_t>(mark.column + 1), "",
            std::move(message)};
}

ObjectsResult translate_and_check(const std::string& text, const std::string& source) {
    if (auto error = detail::check_yaml_bounds(text, source)) return detail::failed_objects(*error);
    TextBuffer buffer(text);
    std::istream stream(&buffer);
    const std::vector<YAML::Node> documents = YAML::LoadAll(stream);
    const Translator* translator_view = nullptr;
    detail::Diagnostics diagnostics(
        source, [&translator_view](std::string_view path) { return translator_view->locate(path); });
    Translator translator(diagnostics);
    translator_view = &translator;
    for (const auto& document : documents) translator.document(document, "");
    const toml::table root = translator.take_root();
    return detail::check_objects(root, diagnostics);
}

}  // namespace

namespace detail {

std::optional<ConfigError> check_yaml_bounds(const std::string& text, const std::string& source) {
    TextBuffer buffer(text);
    std::istream stream(&buffer);
    YAML::Parser parser(stream);
    BoundsCheck check;
    try {
        while (parser.HandleNextDocument(check)) {}
    } catch (const OutOfBounds& refusal) {
        return error_at(source, refusal.mark, refusal.message);
    } catch (const YAML::ParserException& error) {  // yaml-cpp's DeepRecursion too
        return error_at(source, error.mark, "YAML syntax error: " + error.msg);
    }
    return std::nullopt;
}

}  // namespace detail

ObjectsResult load_kubernetes_yaml(const std::string& text, const std::string& source) {
    try {
        return translate_and_check(text, source);
    } catch (const YAML::Exception& error) {
        return detail::failed_objects(error_at(source, error.mark, "cannot load: " + error.msg));
    } catch (const std::exception& error) {  // out of memory: an error value
        return detail::failed_objects({source, 0, 0, "", std::string("cannot load: ") + error.what()});
    }
}

}  // namespace vipgate::config
