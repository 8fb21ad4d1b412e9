// Where the Kubernetes API server is and how to authenticate to it: from a kubeconfig file (the
// way kubectl reads it) or from inside a pod (the service account's token and CA).
//
// Design note: credentials are read into memory once (the PEM blocks go to libcurl as blobs,
// so "-data" and file forms take one path); only a token file is read again for each
// connection, because a projected service-account token is rotated under our feet.
#pragma once

#include <string>

namespace vipgate {

struct KubeEndpoint {
    std::string server;           // "https://host:port", no trailing slash
    std::string ca_pem;           // empty: the system's CAs
    std::string client_cert_pem;  // with client_key_pem: TLS client authentication
    std::string client_key_pem;
    std::string token;       // bearer token
    std::string token_file;  // read at each connection when set (rotated tokens)
    bool insecure_skip_tls_verify = false;
    std::string description;           // "kubeconfig FILE, context NAME" or "in-cluster": for the logs
    std::string bearer_token() const;  // token_file's content, else token; throws when unreadable
};

// `context` empty: the file's current-context. Throws std::runtime_error naming the file, the
// context and the field that is missing or unreadable.
KubeEndpoint load_kubeconfig(const std::string& path, const std::string& context);

// KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}.
// `root` replaces "/var/run/secrets/kubernetes.io/serviceaccount" (tests). Throws when absent.
KubeEndpoint in_cluster_endpoint(const std::string& root = "/var/run/secrets/kubernetes.io/serviceaccount");

// RFC 4648 base64 (kubeconfig "-data" fields); whitespace ignored. Throws on anything else.
std::string decode_base64(const std::string& text);

}  // namespace vipgate
