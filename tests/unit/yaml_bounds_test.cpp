// Hostile YAML is refused with an error, quickly and in bounded memory: alias cycles, aliases
// expanding a small document into millions of objects or gigabytes of text ("billion laughs"),
// and nesting without end. Each hostile load runs in a child process bounded in time, so a
// regression fails the test instead of crashing or hanging it. A legitimate bulk apply of
// 10,000 Services and 10,000 EndpointSlices still fits the bounds; so does deep TOML that is
// not, and TOML dotted keys are bounded too (toml++ recurses once per key part).
#include "config/config.h"
#include "config/config_internal.h"
#include "config/objects.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

namespace vipgate::config {
namespace {

constexpr unsigned kTimeLimitS = 10;
constexpr long kMemoryGrowthLimitKiB = 256 * 1024;

std::string describe(const std::vector<ConfigError>& errors) {
    std::string text;
    for (const auto& error : errors) text += error.to_string() + "\n";
    return text.empty() ? "(no errors)\n" : text;
}

long resident_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return 0;
}

// What a load did in a child process: its errors as text when it returned.
struct Bounded {
    bool returned = false;
    std::string errors;
    std::string death;    // how the child ended when it did not return
    long growth_kib = 0;  // peak RSS above the parent's at the fork
};

Bounded run_bounded(const std::function<std::vector<ConfigError>()>& load) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return {false, "", "pipe failed"};
    const long parent_kib = resident_kib();
    const pid_t child = fork();
    if (child == 0) {
        close(pipe_fds[0]);
        alarm(kTimeLimitS);
        const std::string text = describe(load());
        for (size_t done = 0; done < text.size();) {
            ssize_t written = write(pipe_fds[1], text.data() + done, text.size() - done);
            if (written <= 0) _exit(2);
            done += static_cast<size_t>(written);
        }
        _exit(0);
    }
    close(pipe_fds[1]);
    Bounded result;
    char chunk[4096];
    for (ssize_t got; (got = read(pipe_fds[0], chunk, sizeof chunk)) != 0;) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        result.errors.append(chunk, static_cast<size_t>(got));
    }
    close(pipe_fds[0]);
    int status = 0;
    rusage usage{};
    while (wait4(child, &status, 0, &usage) < 0 && errno == EINTR) {}
    result.growth_kib = usage.ru_maxrss - parent_kib;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result.returned = true;
    } else if (WIFSIGNALED(status)) {
        result.death = WTERMSIG(status) == SIGALRM ? "still running after " + std::to_string(kTimeLimitS) + " s"
                                                   : std::string("killed by ") + strsignal(WTERMSIG(status));
    } else {
        result.death = "exit status " + std::to_string(WEXITSTATUS(status));
    }
    return result;
}

// The load returns one error at line:column whose message contains every part, quickly and
// without growing memory.
testing::AssertionResult refused(const std::function<std::vector<ConfigError>()>& load, uint32_t line, uint32_t column,
                                 std::initializer_list<std::string_view> parts) {
    const Bounded run = run_bounded(load);
    if (!run.returned) return testing::AssertionFailure() << "the load did not return: " << run.death;
    if (run.growth_kib > kMemoryGrowthLimitKiB)
        return testing::AssertionFailure() << "the load grew memory by " << run.growth_kib << " KiB";
    std::string expected = ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
    bool matches = run.errors.find(expected) != std::string::npos && run.errors.find('\n') == run.errors.size() - 1;
    for (std::string_view part : parts) matches = matches && run.errors.find(part) != std::string::npos;
    if (!matches) {
        testing::AssertionResult failure = testing::AssertionFailure();
        failure << "expected one error at " << line << ":" << column << " with";
        for (std::string_view part : parts) failure << " '" << part << "'";
        return failure << ", got:\n" << run.errors;
    }
    return testing::AssertionSuccess() << run.errors;
}

std::function<std::vector<ConfigError>()> yaml(std::string text) {
    return [text = std::move(text)] { return load_kubernetes_yaml(text, "x.yaml").errors; };
}

std::function<std::vector<ConfigError>()> toml(std::string text) {
    return [text = std::move(text)] { return load_objects_toml(text, "x.toml").errors; };
}

// ten aliases of `anchor`: "[*a, *a, ...]"
std::string ten(std::string_view anchor) {
    std::string text = "[";
    for (int i = 0; i < 10; ++i) text.append(i ? ", *" : "*").append(anchor);
    return text + "]";
}

// --- cycles -----------------------------------------------------------------------------------

TEST(YamlBounds, SelfReferencingListIsACycle) {
    EXPECT_TRUE(refused(yaml("&a {apiVersion: v1, kind: List, items: [*a]}\n"), 1, 41,
                        {"alias cycle: *a refers to the node anchored &a at 1:1"}));
}

TEST(YamlBounds, ListItemsContainingThemselvesIndirectly) {
    EXPECT_TRUE(refused(yaml("apiVersion: v1\n"
                             "kind: List\n"
                             "items: &items\n"
                             "- apiVersion: v1\n"
                             "  kind: List\n"
                             "  items:\n"
                             "  - [*items]\n"),
                        7, 6, {"alias cycle: *items", "anchored &items at 3:8"}));
    EXPECT_TRUE(refused(yaml("kind: List\napiVersion: v1\nitems: &outer [&inner {kind: List, items: [*outer]}]\n"), 3,
                        44, {"alias cycle: *outer", "anchored &outer at 3:8"}));
}

// --- billion laughs ---------------------------------------------------------------------------

// 10^9 pods from a few hundred bytes: each List holds the previous one ten times.
TEST(YamlBounds, AliasesMultiplyingListItems) {
    std::string text =
        "apiVersion: v1\nkind: List\nitems:\n"
        "- &l0 {apiVersion: v1, kind: Pod, metadata: {name: p, labels: {app: web}}}\n";
    for (int level = 1; level <= 9; ++level) {
        text.append("- &l").append(std::to_string(level)).append(" {apiVersion: v1, kind: List, items: ");
        text.append(ten(std::string("l").append(std::to_string(level - 1)))).append("}\n");
    }
    // A pod is 13 nodes, l5 (10^5 of them) 1,377,777: the second alias of l5 crosses 4 Mi.
    EXPECT_TRUE(refused(yaml(text), 10, 49,
                        {"aliases expand this document to more than 4194304 nodes",
                         "*l5 repeats the node anchored at 9:3: 1377777 nodes"}));
}

// Label maps nested ten-fold over a 1 KiB value: gigabytes of label text.
TEST(YamlBounds, AliasesMultiplyingLabels) {
    std::string text =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        "    v0: &v0 \"" +
        std::string(1024, 'x') + "\"\n";
    for (int level = 1; level <= 9; ++level) {
        std::string previous = "*v" + std::to_string(level - 1);
        text += "    v" + std::to_string(level) + ": &v" + std::to_string(level) + " {";
        for (int key = 0; key < 10; ++key)
            text.append(key ? ", k" : "k").append(std::to_string(key)).append(": ").append(previous);
        text += "}\n";
    }
    text += "  labels: *v9\n";
    EXPECT_TRUE(
        refused(yaml(text), 11, 63,
                {"aliases expand this document to more than 64 MiB of text", "*v4 repeats the node anchored at 10:9"}));
}

// --- depth ------------------------------------------------------------------------------------

TEST(YamlBounds, DeepFlowSequences) {
    const size_t depth = 100'000;
    EXPECT_TRUE(refused(yaml(std::string(depth, '[') + std::string(depth, ']') + "\n"), 1, 65,
                        {"nesting deeper than 64 levels"}));
    std::string block;  // block mappings, each a level deeper
    for (size_t level = 0; level < 1000; ++level) block += std::string(level, ' ') + "k:\n";
    EXPECT_TRUE(refused(yaml(block), 64, 64, {"nesting deeper than 64 levels"}));
}

TEST(YamlBounds, DepthThroughAnAlias) {
    // 60 levels anchored at depth 2, used at depth 6: 65 levels.
    std::string text = "deep: &d " + std::string(60, '[') + std::string(60, ']') + "\nuse: [[[[*d]]]]\n";
    EXPECT_TRUE(refused(yaml(text), 2, 10, {"nesting deeper than 64 levels", "*d repeats", "60 levels"}));
    // 59 levels fit: the document reaches 64.
    text = "deep: &d " + std::string(59, '[') + std::string(59, ']') + "\nuse: [[[[*d]]]]\n";
    EXPECT_TRUE(refused(yaml(text), 1, 1, {"missing kind"}));
}

TEST(YamlBounds, YamlCppErrorsArePositioned) {
    EXPECT_TRUE(refused(yaml("apiVersion: v1\nkind: Pod\nmetadata: *nowhere\n"), 3, 11,
                        {"YAML syntax error: the referenced anchor is not defined"}));
}

// --- what is legitimate still loads -----------------------------------------------------------

TEST(YamlBounds, AliasesWithinTheBoundsStillWork) {
    const ObjectsResult result = load_kubernetes_yaml(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Service, metadata: {name: a}, spec: &spec {selector: {app: x}, ports: [{port: "
        "80}]}}\n"
        "- {apiVersion: v1, kind: Service, metadata: {name: b}, spec: *spec}\n",
        "x.yaml");
    ASSERT_TRUE(result.errors.empty()) << describe(result.errors);
    ASSERT_EQ(result.objects->services.size(), 2u);
    EXPECT_EQ(result.objects->services[1].ports, result.objects->services[0].ports);
}

// `count` Services and as many EndpointSlices of 10 endpoints each, as kubectl writes them.
std::string bulk_manifest(int count) {
    std::string text;
    char buffer[1024];
    for (int i = 0; i < count; ++i) {
        std::snprintf(buffer, sizeof buffer,
                      "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n"
                      "  namespace: bulk\n  labels:\n    app.kubernetes.io/name: svc-%d\n"
                      "  resourceVersion: \"%d\"\n  uid: 00000000-0000-4000-8000-%012d\n"
                      "spec:\n  clusterIP: None\n  ipFamilies:\n  - IPv4\n"
                      "  ipFamilyPolicy: SingleStack\n  ports:\n  - name: http\n    port: 80\n"
                      "    protocol: TCP\n    targetPort: 8080\n  sessionAffinity: None\n"
                      "  type: ClusterIP\nstatus:\n  loadBalancer: {}\n",
                      i, i, i, i);
        text += buffer;
        std::snprintf(buffer, sizeof buffer,
                      "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
                      "metadata:\n  name: svc-%d-abcde\n  namespace: bulk\n  labels:\n"
                      "    kubernetes.io/service-name: svc-%d\n"
                      "    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n"
                      "ports:\n- name: http\n  port: 8080\n  protocol: TCP\nendpoints:\n",
                      i, i);
        text += buffer;
        for (int e = 0; e < 10; ++e) {
            const int host = i * 10 + e;
            std::snprintf(buffer, sizeof buffer,
                          "- addresses:\n  - 198.%d.%d.%d\n  conditions:\n    ready: true\n"
                          "    serving: true\n    terminating: false\n  nodeName: node-%d\n"
                          "  targetRef:\n    kind: Pod\n    name: svc-%d-pod-%d\n"
                          "    namespace: bulk\n    uid: 00000000-0000-4000-8000-%012d\n"
                          "  zone: zone-a\n",
                          18 + (host >> 16), (host >> 8) & 0xff, host & 0xff, e, i, e, host);
            text += buffer;
        }
    }
    return text;
}

// The largest apply the bounds are sized for passes them (3.4 million nodes, 32 MB; loading it
// whole takes some 20 s, so a tenth of it is loaded to the end).
TEST(YamlBounds, BulkApplyFitsTheBounds) {
    const std::string text = bulk_manifest(10'000);
    const auto started = std::chrono::steady_clock::now();
    const std::optional<ConfigError> error = detail::check_yaml_bounds(text, "bulk.yaml");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_FALSE(error.has_value()) << error->to_string();
    RecordProperty("bounds_check_ms", std::to_string(static_cast<int>(seconds * 1000)));

    const ObjectsResult result = load_kubernetes_yaml(bulk_manifest(1'000), "bulk.yaml");
    ASSERT_TRUE(result.errors.empty()) << describe(result.errors).substr(0, 2000);
    EXPECT_EQ(result.objects->services.size(), 1'000u);
    EXPECT_EQ(result.objects->endpoint_slices.size(), 1'000u);
    EXPECT_EQ(result.objects->endpoint_slices.back().endpoints.size(), 10u);
}

// --- TOML -------------------------------------------------------------------------------------

TEST(TomlBounds, DeepValuesAreRefusedByTheParser) {
    const size_t depth = 100'000;
    EXPECT_TRUE(refused(toml("x = " + std::string(depth, '[') + std::string(depth, ']') + "\n"), 1, 261,
                        {"TOML syntax error", "maximum nested value depth of 256"}));
    std::string tables = "x = ";
    for (size_t i = 0; i < depth; ++i) tables += "{a = ";
    EXPECT_TRUE(refused(toml(tables + "1" + std::string(depth, '}') + "\n"), 1, 1285,
                        {"TOML syntax error", "maximum nested value depth of 256"}));
}

TEST(TomlBounds, LongDottedKeysAreRefused) {
    std::string key = "a";
    for (int i = 0; i < 100'000; ++i) key += ".a";
    EXPECT_TRUE(refused(toml(key + " = 1\n"), 1, 33, {"a dotted key of more than 16 parts"}));
    EXPECT_TRUE(
        refused(toml("[[services]]\nname = \"x\"\n[" + key + "]\n"), 3, 34, {"a dotted key of more than 16 parts"}));
    // The same for the daemon's config file.
    const Bounded run = run_bounded([&] { return load_config_string(key + " = 1\n", "c.toml").errors; });
    ASSERT_TRUE(run.returned) << run.death;
    EXPECT_NE(run.errors.find("c.toml:1:33: a dotted key of more than 16 parts"), std::string::npos) << run.errors;
}

TEST(TomlBounds, OnlyKeyPartsCount) {
    // Dots in comments, strings, quoted keys and numbers are not key parts.
    const std::string dots = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r";
    const ObjectsResult result = load_objects_toml("# " + dots + "\n[[pods]]  # " + dots +
                                                       "\nname = \"p\"\naddress = \"198.18.0.1\"\n"
                                                       "labels = { \"" +
                                                       dots + "/s\" = '" + dots +
                                                       "' }\n"
                                                       "ports = [{ name = \"http\", port = 80 }]\nweight = \"\"\"\n" +
                                                       dots + "\"\"\"\n",
                                                   "x.toml");
    ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
    EXPECT_NE(result.errors[0].message.find("expected an integer"), std::string::npos) << describe(result.errors);
    // 16 parts are within the bound (and wrong for another reason), 17 are not.
    const std::string sixteen = "[[pods]]\nlabels.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p = 1\n";
    EXPECT_EQ(describe(load_objects_toml(sixteen, "x.toml").errors).find("dotted key"), std::string::npos);
    EXPECT_TRUE(refused(toml("[[pods]]\nlabels.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q = 1\n"), 2, 38,
                        {"a dotted key of more than 16 parts"}));
}

}  // namespace
}  // namespace vipgate::config
