#include "control/kube_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

namespace vipgate {
namespace {

std::string read_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + what + " " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The entry of `list` (clusters, users, contexts) named `name`, its `field` mapping.
YAML::Node named(const YAML::Node& root, const char* list, const std::string& name, const char* field,
                 const std::string& where) {
    const YAML::Node entries = root[list];
    if (entries && entries.IsSequence()) {
        for (const YAML::Node& entry : entries) {
            if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) {
                const YAML::Node inner = entry[field];
                if (!inner || !inner.IsMap())
                    throw std::runtime_error(where + ": " + list + " entry '" + name + "' has no " + field);
                return inner;
            }
        }
    }
    throw std::runtime_error(where + ": no " + std::string(field) + " named '" + name + "' in " + std::string(list));
}

std::string text(const YAML::Node& map, const char* key) {
    const YAML::Node value = map[key];
    return value && value.IsScalar() ? value.as<std::string>() : std::string();
}

// "X-data" (base64) or "X" (a file, relative to the kubeconfig's directory).
std::string pem(const YAML::Node& map, const std::string& key, const std::filesystem::path& directory,
                const std::string& where) {
    const std::string data = text(map, (key + "-data").c_str());
    if (!data.empty()) {
        try {
            return decode_base64(data);
        } catch (const std::exception& error) {
            throw std::runtime_error(where + ": " + key + "-data: " + error.what());
        }
    }
    const std::string file = text(map, key.c_str());
    if (file.empty()) return {};
    const std::filesystem::path path =
        std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : directory / file;
    return read_file(path.string(), where + ": " + key);
}

}  // namespace

std::string KubeEndpoint::bearer_token() const {
    if (token_file.empty()) return token;
    std::string value = read_file(token_file, "the token file");
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) value.pop_back();
    return value;
}

std::string decode_base64(const std::string& text) {
    std::string out;
    uint32_t group = 0;
    int bits = 0;
    bool padding = false;
    for (const char c : text) {
        int value;
        if (c >= 'A' && c <= 'Z')
            value = c - 'A';
        else if (c >= 'a' && c <= 'z')
            value = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            value = c - '0' + 52;
        else if (c == '+')
            value = 62;
        else if (c == '/')
            value = 63;
        else if (c == '=') {
            padding = true;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        else
            throw std::runtime_error("not base64 (character '" + std::string(1, c) + "')");
        if (padding) throw std::runtime_error("not base64 (data after '=')");
        group = (group << 6) | static_cast<uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((group >> bits) & 0xFF);
        }
    }
    return out;
}

KubeEndpoint load_kubeconfig(const std::string& path, const std::string& context) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        throw std::runtime_error("cannot read the kubeconfig " + path);
    } catch (const YAML::Exception& error) {
        throw std::runtime_error("kubeconfig " + path + ": " + error.what());
    }
    if (!root.IsMap()) throw std::runtime_error("kubeconfig " + path + ": not a kubeconfig (no mapping at the top)");
    const std::string chosen = context.empty() ? text(root, "current-context") : context;
    if (chosen.empty()) {
        throw std::runtime_error("kubeconfig " + path + ": no current-context; name one with --kube-context");
    }
    const std::string where = "kubeconfig " + path + ", context " + chosen;
    try {
        const YAML::Node context_node = named(root, "contexts", chosen, "context", "kubeconfig " + path);
        const std::string cluster_name = text(context_node, "cluster");
        const std::string user_name = text(context_node, "user");
        if (cluster_name.empty()) throw std::runtime_error(where + ": the context names no cluster");
        const YAML::Node cluster = named(root, "clusters", cluster_name, "cluster", where);
        const std::filesystem::path directory = std::filesystem::absolute(path).parent_path();
        KubeEndpoint endpoint;
        endpoint.description = "kubeconfig " + path + ", context " + chosen;
        endpoint.server = text(cluster, "server");
        if (endpoint.server.empty()) throw std::runtime_error(where + ": cluster '" + cluster_name + "' has no server");
        while (endpoint.server.back() == '/') endpoint.server.pop_back();
        endpoint.ca_pem = pem(cluster, "certificate-authority", directory, where);
        endpoint.insecure_skip_tls_verify = text(cluster, "insecure-skip-tls-verify") == "true";
        if (!user_name.empty()) {
            const YAML::Node user = named(root, "users", user_name, "user", where);
            endpoint.client_cert_pem = pem(user, "client-certificate", directory, where);
            endpoint.client_key_pem = pem(user, "client-key", directory, where);
            if (endpoint.client_cert_pem.empty() != endpoint.client_key_pem.empty()) {
                throw std::runtime_error(
                    where + ": user '" + user_name +
                    "' has a client certificate without its key, or a key without its certificate");
            }
            endpoint.token = text(user, "token");
            const std::string token_file = text(user, "tokenFile");
            if (!token_file.empty()) {
                endpoint.token_file =
                    std::filesystem::path(token_file).is_absolute() ? token_file : (directory / token_file).string();
            }
            if (user["exec"] || user["auth-provider"]) {
                throw std::runtime_error(where + ": user '" + user_name +
                                         "' authenticates with an exec or auth-provider plugin, which vipgate does "
                                         "not run; give it a client certificate or a token");
            }
        }
        return endpoint;
    } catch (const YAML::Exception& error) {
        throw std::runtime_error(where + ": " + error.what());
    }
}

KubeEndpoint in_cluster_endpoint(const std::string& root) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
        throw std::runtime_error(
            "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
            "(use --kubeconfig outside a pod)");
    }
    KubeEndpoint endpoint;
    const std::string host_text = host;
    const bool ipv6 = host_text.find(':') != std::string::npos;
    endpoint.server = "https://";
    endpoint.server += ipv6 ? "[" : "";
    endpoint.server += host_text;
    endpoint.server += ipv6 ? "]:" : ":";
    endpoint.server += port;
    endpoint.ca_pem = read_file(root + "/ca.crt", "the service account's CA");
    endpoint.token_file = root + "/token";
    endpoint.bearer_token();  // fails now, not at the first connection, when it is missing
    endpoint.description = "in-cluster service account";
    return endpoint;
}

}  // namespace vipgate
