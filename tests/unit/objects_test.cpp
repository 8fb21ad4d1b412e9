// Object documents: TOML object files and Kubernetes manifests decode to the same structs under
// the same rules, errors point at the manifest's own fields and lines, and the manifests of the
// Kubernetes docs load unmodified (tests/unit/manifests).
#include "config/objects.h"
#include "tests/support/source_files.h"
#include "tests/unit/config_test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace vipgate::config {
namespace {

uint32_t ip(std::string_view text) {
    return parse_ipv4(text).value();
}

ObjectSet valid(const ObjectsResult& result) {
    EXPECT_TRUE(result.errors.empty()) << describe(result.errors);
    return result.objects.value_or(ObjectSet{});
}

ObjectsResult yaml(std::string_view text) {
    return load_kubernetes_yaml(std::string(text), "test.yaml");
}

#define LOAD_MANIFEST(var, name) ObjectSet var = valid(load_kubernetes_yaml(test::manifest_text(name), name))

// One error, for `field`, whose message contains `part`, at line:column.
testing::AssertionResult single_error(const ObjectsResult& result, std::string_view field, std::string_view part,
                                      uint32_t line, uint32_t column) {
    if (result.errors.size() != 1)
        return testing::AssertionFailure() << "expected one error, got:" << describe(result.errors);
    const ConfigError& error = result.errors[0];
    if (error.field != field || error.message.find(part) == std::string::npos || error.line != line ||
        error.column != column) {
        return testing::AssertionFailure() << "expected " << line << ":" << column << ": " << field << ": ..." << part
                                           << "..., got:" << describe(result.errors);
    }
    return testing::AssertionSuccess();
}

// --- the Kubernetes docs' manifests ---------------------------------------------------------

TEST(KubernetesManifests, ServiceDocsExample) {
    LOAD_MANIFEST(objects, "service-docs-example.yaml");
    ASSERT_EQ(objects.services.size(), 1u);
    ServiceConfig expected;
    expected.name = "my-service";
    expected.selector = Labels{{"app.kubernetes.io/name", "MyApp"}};
    expected.ports = {{"", Protocol::Tcp, 80, 9376, ""}};
    EXPECT_EQ(objects.services[0], expected);
    EXPECT_TRUE(objects.pods.empty());
}

TEST(KubernetesManifests, NamedTargetPort) {
    LOAD_MANIFEST(objects, "named-target-port.yaml");
    ASSERT_EQ(objects.pods.size(), 1u);
    PodConfig pod;
    pod.name = "nginx";
    pod.labels = {{"app.kubernetes.io/name", "proxy"}};
    pod.ports = {{"http-web-svc", Protocol::Tcp, 80}};
    EXPECT_EQ(objects.pods[0], pod);  // no status: no address yet, ready
    ASSERT_EQ(objects.services.size(), 1u);
    EXPECT_EQ(objects.services[0].ports,
              (std::vector<ServicePortConfig>{{"name-of-service-port", Protocol::Tcp, 80, 0, "http-web-svc"}}));
}

TEST(KubernetesManifests, EndpointSliceExample) {
    LOAD_MANIFEST(objects, "endpoint-slice-example.yaml");
    ASSERT_EQ(objects.endpoint_slices.size(), 1u);
    EndpointSliceConfig expected;
    expected.name = "example-abc";
    expected.service_name = "example";
    expected.ports = {{"http", Protocol::Tcp, 80}};
    expected.endpoints = {{ip("10.1.2.3"), 0, true, false, 1, {}, "pod-1"}};
    EXPECT_EQ(objects.endpoint_slices[0], expected);
}

TEST(KubernetesManifests, ServiceWithoutSelectorAndItsSlice) {
    LOAD_MANIFEST(objects, "service-without-selector.yaml");
    ASSERT_EQ(objects.services.size(), 1u);
    EXPECT_FALSE(objects.services[0].selector.has_value());
    ASSERT_EQ(objects.endpoint_slices.size(), 1u);
    const EndpointSliceConfig& slice = objects.endpoint_slices[0];
    EXPECT_EQ(slice.service_name, "my-service");
    EXPECT_EQ(slice.ports, (std::vector<NamedPort>{{"http", Protocol::Tcp, 9376}}));
    ASSERT_EQ(slice.endpoints.size(), 2u);
    EXPECT_EQ(slice.endpoints[0].address, ip("10.4.5.6"));
    EXPECT_TRUE(slice.endpoints[1].ready);  // no conditions: ready
}

TEST(KubernetesManifests, SeedBackendApi) {
    LOAD_MANIFEST(objects, "seed-backend-api.yaml");
    ASSERT_EQ(objects.services.size(), 1u);
    const ServiceConfig& service = objects.services[0];
    EXPECT_EQ(service.name, "my-internal-backend-api");
    EXPECT_EQ(service.namespace_name, "default");
    EXPECT_EQ(service.cluster_ip, 0u);  // allocated by the daemon
    EXPECT_FALSE(service.headless);
    EXPECT_EQ(service.selector, (Labels{{"app", "my-fancy-app"}, {"tier", "backend"}}));
    EXPECT_EQ(service.ports, (std::vector<ServicePortConfig>{{"", Protocol::Tcp, 80, 8080, ""}}));
}

TEST(KubernetesManifests, KubectlListWithStatus) {
    LOAD_MANIFEST(objects, "kubectl-get-list.yaml");
    ASSERT_EQ(objects.services.size(), 1u);
    const ServiceConfig& web = objects.services[0];
    EXPECT_EQ(web.namespace_name, "shop");
    EXPECT_EQ(web.cluster_ip, ip("10.96.12.34"));
    EXPECT_EQ(web.session_affinity, SessionAffinity::ClientIp);
    EXPECT_EQ(web.affinity_timeout_s, 600u);
    EXPECT_EQ(web.ports[0].target_port_name, "http");
    EXPECT_EQ(web.ports[1].target_port, 9090);
    ASSERT_EQ(objects.pods.size(), 3u);
    const PodConfig& running = objects.pods[0];
    EXPECT_EQ(running.address, ip("10.244.1.7"));
    EXPECT_FALSE(running.ready);
    EXPECT_TRUE(running.terminating);
    EXPECT_EQ(running.weight, 3u);
    EXPECT_EQ(running.ports, (std::vector<NamedPort>{{"http", Protocol::Tcp, 8080}, {"", Protocol::Tcp, 9090}}));
    EXPECT_EQ(objects.pods[1].address, ip("10.244.2.9"));  // from the vipgate.io/pod-ip annotation
    EXPECT_TRUE(objects.pods[1].ready);
    EXPECT_EQ(objects.pods[2].address, 0u);  // no address anywhere: accepted, not an endpoint
}

// --- Kubernetes semantics -------------------------------------------------------------------

TEST(KubernetesYaml, ClusterIpForms) {
    ObjectSet objects = valid(yaml(R"(
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty-ip}
spec: {clusterIP: "", ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: node-port}
spec: {type: NodePort, clusterIP: 10.96.0.20, ports: [{port: 80, nodePort: 30080, protocol: UDP}]}
)"));
    ASSERT_EQ(objects.services.size(), 3u);
    EXPECT_TRUE(objects.services[0].headless);
    EXPECT_EQ(objects.services[1].cluster_ip, 0u);
    EXPECT_FALSE(objects.services[1].headless);
    EXPECT_EQ(objects.services[2].cluster_ip, ip("10.96.0.20"));  // served as a ClusterIP
    EXPECT_EQ(objects.services[2].ports[0].protocol, Protocol::Udp);
}

TEST(KubernetesYaml, SliceConditions) {
    ObjectSet objects = valid(yaml(R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, namespace: ns, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: "", port: 80}]
endpoints:
- {addresses: [10.0.0.1], conditions: {ready: false}}
- {addresses: [10.0.0.2], conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.0.0.3], conditions: {}}
)"));
    const auto& endpoints = objects.endpoint_slices.at(0).endpoints;
    ASSERT_EQ(endpoints.size(), 3u);
    EXPECT_FALSE(endpoints[0].ready);  // serving absent: follows ready
    EXPECT_TRUE(endpoints[1].ready && endpoints[1].terminating);
    EXPECT_TRUE(endpoints[2].ready && !endpoints[2].terminating);
    EXPECT_EQ(objects.endpoint_slices[0].namespace_name, "ns");
    EXPECT_EQ(objects.endpoint_slices[0].ports[0].name, "");
}

// Found by tests/fuzz (fuzz_kubernetes_yaml): yaml-cpp passes any bytes through, so a name
// that is not UTF-8 was accepted, and `vipctl dump` then wrote a file no TOML parser reads.
TEST(KubernetesYaml, TextThatIsNotUtf8IsRefused) {
    EXPECT_TRUE(single_error(yaml("apiVersion: v1\nkind: Service\nmetadata:\n  name: back\xff\xff"
                                  "end\n"
                                  "spec: {ports: [{port: 80}]}\n"),
                             "metadata.name", "is not valid UTF-8 text", 4, 9));
    EXPECT_TRUE(single_error(yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: \"a\xed\xa0\x80\"}\n"),
                             "metadata.namespace", "is not valid UTF-8 text", 3, 34));
    ObjectSet objects = valid(yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xc3\xa9}\n"));
    EXPECT_EQ(objects.pods.at(0).name, "caf\xc3\xa9");  // UTF-8 beyond ASCII is fine
}

TEST(KubernetesYaml, ErrorsNameTheManifestField) {
    EXPECT_TRUE(single_error(yaml("apiVersion: apps/v1\nkind: Deployment\n"), "kind",
                             "unsupported kind 'Deployment'; vipgate reads Service (v1)", 2, 7));
    EXPECT_TRUE(single_error(yaml("apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\n"), "apiVersion",
                             "EndpointSlice needs apiVersion discovery.k8s.io/v1, found "
                             "'discovery.k8s.io/v1beta1'",
                             1, 13));
    EXPECT_TRUE(single_error(yaml("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: ExternalName\n"),
                             "spec.externalName", "an ExternalName service needs the DNS name it aliases", 5, 3));
    EXPECT_TRUE(single_error(yaml("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: Headless\n"),
                             "spec.type", "unknown service type 'Headless'", 5, 9));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, labels: {kubernetes.io/service-name: svc}}
addressType: FQDN
)"),
                             "addressType", "addressType 'FQDN' is not supported", 4, 14));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: s
  labels: {app: x}
addressType: IPv4
)"),
                             "metadata.labels", "missing label kubernetes.io/service-name", 5, 11));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports:
  - port: 80
    targetPort: "8080"
)"),
                             "spec.ports[0].targetPort", "needs at least one letter", 7, 17));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports:
  - port: 70000
)"),
                             "spec.ports[0].port", "70000 is out of range; allowed: 1..65535", 6, 11));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    ports:
    - name: http
)"),
                             "spec.containers[0].ports[0].containerPort", "missing required key 'containerPort'", 8,
                             7));
    EXPECT_TRUE(single_error(yaml("apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {app: x}\n"), "metadata.name",
                             "missing required key 'name'", 4, 3));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {app: -x}
)"),
                             "metadata.labels.app", "the label value '-x' is not valid", 5, 17));
    EXPECT_TRUE(single_error(yaml(R"(apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports: [{port: 80}]
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}
)"),
                             "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "allowed: 1..86400", 6, 54));
}

TEST(KubernetesYaml, RulesAcrossDocumentsReferToLines) {
    ObjectsResult result = yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: a}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
status: {podIP: 10.0.0.1}
)");
    EXPECT_TRUE(single_error(result, "status.podIP",
                             "10.0.0.1 is already the address of pod default/a (line 1); pod IPs "
                             "are unique in a cluster",
                             9, 17));
}

TEST(KubernetesYaml, SyntaxErrorHasAPosition) {
    ObjectsResult result = yaml("apiVersion: v1\nkind: [Service\n");
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_NE(result.errors[0].message.find("YAML syntax error"), std::string::npos);
    EXPECT_GT(result.errors[0].line, 0u);
}

TEST(KubernetesYaml, EmptyDocumentsAreSkipped) {
    ObjectSet objects = valid(yaml("---\n---\napiVersion: v1\nkind: List\nitems: []\n---\n"));
    EXPECT_EQ(objects, ObjectSet{});
}

// --- TOML object documents ------------------------------------------------------------------

TEST(ObjectsToml, ObjectsOnly) {
    std::string text = R"(
[[pods]]
name = "web-1"
address = "198.19.1.10"
labels = { app = "web", "app.kubernetes.io/name" = "web" }
ports = [{ name = "http", port = 8080 }]

[dataplane]
worker_lcores = [1]
)";
    ObjectsResult result = load_objects_toml(text, "objects.toml");
    EXPECT_TRUE(single_error(result, "dataplane", "'dataplane' can only be set in the daemon's config file", 8, 2));
    std::string good = text.substr(0, text.find("[dataplane]"));
    ObjectSet objects = valid(load_objects_toml(good, "objects.toml"));
    ASSERT_EQ(objects.pods.size(), 1u);
    EXPECT_EQ(objects.pods[0].labels.at("app.kubernetes.io/name"), "web");
    ObjectsResult typo = load_objects_toml("[[service]]\nname = \"a\"\n", "objects.toml");
    EXPECT_TRUE(single_error(typo, "service", "did you mean 'services'?", 1, 3));
}

TEST(ObjectsToml, SameRulesAsTheConfigFile) {
    ObjectsResult result = load_objects_toml(R"(
[[services]]
name = "web"
selector = { app = "web" }
ports = [{ port = 80 }]
endpoints = [{ address = "10.0.0.1" }]

[[endpoint_slices]]
name = "s"
service = "web"

[[endpoint_slices]]
name = "s"
service = "web"
)",
                                             "objects.toml");
    ASSERT_EQ(result.errors.size(), 2u) << describe(result.errors);
    EXPECT_EQ(result.errors[0].field, "services[0].endpoints");
    EXPECT_NE(result.errors[0].message.find("a service with a selector takes its endpoints"), std::string::npos);
    EXPECT_EQ(result.errors[1].message, "duplicate endpoint slice default/s (also endpoint_slices[0])");
}

TEST(DocumentFormat, ByNameThenByContent) {
    EXPECT_EQ(detect_format("a.toml", "apiVersion: v1"), DocumentFormat::Toml);
    EXPECT_EQ(detect_format("a.yaml", ""), DocumentFormat::Yaml);
    EXPECT_EQ(detect_format("a.yml", ""), DocumentFormat::Yaml);
    EXPECT_EQ(detect_format("-", "# x\napiVersion: v1\nkind: Pod\n"), DocumentFormat::Yaml);
    EXPECT_EQ(detect_format("-", "kind: Pod\n"), DocumentFormat::Yaml);
    EXPECT_EQ(detect_format("-", "# x\n[[services]]\n"), DocumentFormat::Toml);
    EXPECT_EQ(detect_format("-", "hello"), std::nullopt);
}

}  // namespace
}  // namespace vipgate::config

namespace vipgate::config {
namespace {

// Without a clusterIP (allocated later), one service still serves a port/protocol once: two
// entries would be one VIP key.
TEST(KubernetesManifests, DuplicatePortOfAnAllocatedServiceIsRefused) {
    const ObjectsResult result = yaml(R"(apiVersion: v1
kind: Service
metadata:
  name: twice
spec:
  selector:
    app: x
  ports:
  - name: a
    port: 80
  - name: b
    port: 80
)");
    EXPECT_TRUE(single_error(result, "spec.ports[1].port", "port 80/TCP is defined twice in this service", 12, 11));
}

}  // namespace
}  // namespace vipgate::config
