// The built vipctl binary against a real ApiServer with a fake handler: what an operator types,
// what the daemon receives, what the operator sees, and the exit status.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string_view>
#include <vector>

#include "control/api_server.h"
#include "tests/unit/api_test_support.h"

extern char** environ;

namespace vipgate {
namespace {

using nlohmann::json;

struct Outcome {
    int status = -1;
    std::string out;
    std::string err;
};

std::string read_file(const std::string& path) {
    std::ifstream stream(path);
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

class VipctlEndToEnd : public ::testing::Test {
protected:
    void SetUp() override {
        const char* binary = std::getenv("VIPCTL");
        if (binary == nullptr) GTEST_SKIP() << "VIPCTL (the vipctl binary) not set; run through meson test";
        binary_ = binary;
        socket_path_ = directory_.path() + "/api.sock";
        server_ = std::make_unique<ApiServer>(socket_path_, [this](const json& request) {
            std::lock_guard lock(mutex_);
            requests_.push_back(request);
            return answer_;
        });
        server_->start();
    }

    // Runs vipctl with VIPGATE_SOCKET set to the test server, stdin from input.
    Outcome vipctl(std::vector<std::string> args, const std::string& input = "",
                   const std::string& socket_environment = "") {
        const std::string in = directory_.path() + "/stdin", out = directory_.path() + "/stdout",
                          err = directory_.path() + "/stderr";
        std::ofstream(in) << input;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        args.insert(args.begin(), binary_);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        std::string socket_variable =
            "VIPGATE_SOCKET=" + (socket_environment.empty() ? socket_path_ : socket_environment);
        // The test's own environment (sanitizer options reach vipctl too) with VIPGATE_SOCKET replaced.
        std::vector<char*> environment = {socket_variable.data()};
        for (char** variable = environ; *variable != nullptr; ++variable) {
            if (std::string_view(*variable).rfind("VIPGATE_SOCKET=", 0) != 0) environment.push_back(*variable);
        }
        environment.push_back(nullptr);
        pid_t pid = 0;
        Outcome run;
        if (posix_spawn(&pid, binary_.c_str(), &actions, nullptr, argv.data(), environment.data()) != 0) {
            ADD_FAILURE() << "cannot run " << binary_;
            return run;
        }
        posix_spawn_file_actions_destroy(&actions);
        int status = 0;
        waitpid(pid, &status, 0);
        run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        run.out = read_file(out);
        run.err = read_file(err);
        return run;
    }

    json last_request() {
        std::lock_guard lock(mutex_);
        return requests_.empty() ? json() : requests_.back();
    }

    api_test::TemporaryDirectory directory_;
    std::string binary_;
    std::string socket_path_;
    std::unique_ptr<ApiServer> server_;
    std::mutex mutex_;
    std::vector<json> requests_;
    json answer_ = {{"ok", true}};
};

TEST_F(VipctlEndToEnd, GetServicesPrintsATable) {
    answer_ = {{"ok", true},
               {"items",
                {{{"namespace", "default"},
                  {"name", "web"},
                  {"cluster_ip", "198.18.128.10"},
                  {"ports", {{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}, {"target_port", "8080"}}}},
                  {"selector", {{"app", "web"}}},
                  {"session_affinity", "None"},
                  {"affinity_timeout_s", 10800},
                  {"endpoints_ready", 2},
                  {"endpoints_total", 2},
                  {"source", "kubernetes"}}}}};
    const Outcome run = vipctl({"get", "svc"});
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.out,
              "NAME   TYPE        CLUSTER-IP      PORT(S)   ENDPOINTS   SELECTOR   AFFINITY   SOURCE\n"
              "web    ClusterIP   198.18.128.10   80/TCP    2/2         app=web    None       kubernetes\n");
    EXPECT_EQ(last_request(), json({{"op", "get"}, {"resource", "services"}, {"namespace", "default"}}));

    const Outcome as_json = vipctl({"get", "svc", "-A", "-o", "json"});
    EXPECT_EQ(as_json.status, 0);
    EXPECT_EQ(json::parse(as_json.out), answer_);
}

TEST_F(VipctlEndToEnd, ApplySendsEveryFileAndStdin) {
    const std::string file = directory_.path() + "/web.yaml";
    std::ofstream(file) << "kind: Service\n";
    answer_ = {{"ok", true},
               {"results", {{{"kind", "service"}, {"namespace", "default"}, {"name", "web"}, {"action", "created"}}}},
               {"generation", 3},
               {"timing_us", {{"validate", 500}, {"build", 100}, {"publish", 20}}}};
    const Outcome run = vipctl({"apply", "-f", file, "-f", "-"}, "[dataplane]\n");
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.out,
              "service/web created\n(generation 3, validated in 0.50 ms, built in 0.10 ms, published in 0.02 ms)\n");
    EXPECT_EQ(last_request(), json({{"op", "apply"},
                                    {"documents",
                                     {{{"source", file}, {"text", "kind: Service\n"}},
                                      {{"source", "<stdin>"}, {"text", "[dataplane]\n"}}}}}));
}

TEST_F(VipctlEndToEnd, RefusedRequestPrintsEachErrorAndExitsOne) {
    answer_ = {{"ok", false},
               {"error", "1 error in web.yaml"},
               {"errors",
                {{{"source", "web.yaml"},
                  {"line", 3},
                  {"column", 5},
                  {"field", "spec.ports[0].port"},
                  {"message", "must be 1-65535"}}}}};
    const Outcome run = vipctl({"delete", "svc", "web"});
    EXPECT_EQ(run.status, 1);
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err, "web.yaml:3:5: spec.ports[0].port: must be 1-65535\nerror: 1 error in web.yaml\n");
}

TEST_F(VipctlEndToEnd, UsageErrorsExitTwoWithoutAsking) {
    const Outcome run = vipctl({"get", "nodes"});
    EXPECT_EQ(run.status, 2);
    EXPECT_NE(run.err.find("unknown resource 'nodes'"), std::string::npos) << run.err;
    EXPECT_EQ(vipctl({"apply", "-f", directory_.path() + "/missing.yaml"}).status, 2);
    EXPECT_TRUE(last_request().is_null());
    const Outcome help = vipctl({"--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("Usage:"), std::string::npos);
}

TEST_F(VipctlEndToEnd, UnreachableDaemonExitsThreeAndNamesTheSocket) {
    const std::string missing = directory_.path() + "/nobody.sock";
    const Outcome run = vipctl({"get", "pods"}, "", missing);
    EXPECT_EQ(run.status, 3);
    EXPECT_NE(run.err.find("cannot reach vipgate at " + missing), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("--socket"), std::string::npos) << run.err;
    // --socket wins over VIPGATE_SOCKET.
    EXPECT_EQ(vipctl({"--socket", socket_path_, "get", "pods"}, "", missing).status, 0);
}

}  // namespace
}  // namespace vipgate
