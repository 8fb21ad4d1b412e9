// Kubeconfig reading (contexts, inline and file credentials, the errors an operator sees) and
// the in-cluster service account.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "control/kube_config.h"

namespace vipgate {
namespace {

class KubeConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ = std::filesystem::temp_directory_path() /
                     ("vipgate-kubeconfig-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }

    std::string write(const std::string& name, const std::string& text) {
        const std::string path = (directory_ / name).string();
        std::ofstream(path) << text;
        return path;
    }

    std::string error_of(const std::string& path, const std::string& context) {
        try {
            load_kubeconfig(path, context);
        } catch (const std::runtime_error& error) {
            return error.what();
        }
        return "";
    }

    std::filesystem::path directory_;
};

constexpr const char* kConfig = R"(apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://198.18.0.10:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDQS0tLS0tCg==  # "-----BEGIN CA-----\n"
- name: other
  cluster:
    server: https://198.18.0.11:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate: certs/admin.pem
    client-key-data: a2V5
- name: robot
  user:
    token: abc.def
- name: plugin
  user:
    exec: {command: aws}
contexts:
- name: lab
  context: {cluster: lab, user: admin}
- name: robot
  context: {cluster: other, user: robot}
- name: plugin
  context: {cluster: lab, user: plugin}
current-context: lab
)";

TEST_F(KubeConfigTest, CurrentContextWithInlineAndFileCredentials) {
    std::filesystem::create_directories(directory_ / "certs");
    write("certs/admin.pem", "CERT");
    const std::string path = write("config", kConfig);
    const KubeEndpoint endpoint = load_kubeconfig(path, "");
    EXPECT_EQ(endpoint.server, "https://198.18.0.10:6443");
    EXPECT_EQ(endpoint.ca_pem, "-----BEGIN CA-----\n");
    EXPECT_EQ(endpoint.client_cert_pem, "CERT");  // relative to the kubeconfig's directory
    EXPECT_EQ(endpoint.client_key_pem, "key");
    EXPECT_FALSE(endpoint.insecure_skip_tls_verify);
    EXPECT_EQ(endpoint.bearer_token(), "");
}

TEST_F(KubeConfigTest, NamedContextWithToken) {
    const KubeEndpoint endpoint = load_kubeconfig(write("config", kConfig), "robot");
    EXPECT_EQ(endpoint.server, "https://198.18.0.11:6443");
    EXPECT_TRUE(endpoint.insecure_skip_tls_verify);
    EXPECT_EQ(endpoint.bearer_token(), "abc.def");
    EXPECT_TRUE(endpoint.client_cert_pem.empty());
}

TEST_F(KubeConfigTest, ErrorsNameWhatToFix) {
    const std::string path = write("config", kConfig);
    EXPECT_NE(error_of(path, "nope").find("no context named 'nope'"), std::string::npos) << error_of(path, "nope");
    EXPECT_NE(error_of(path, "plugin").find("exec or auth-provider plugin"), std::string::npos);
    EXPECT_NE(error_of(path, "lab").find("cannot read"), std::string::npos);  // certs/admin.pem is missing
    EXPECT_NE(error_of((directory_ / "absent").string(), "").find("cannot read the kubeconfig"), std::string::npos);
    EXPECT_NE(error_of(write("list", "- a\n- b\n"), "").find("not a kubeconfig"), std::string::npos);
    EXPECT_NE(error_of(write("nocontext", "clusters: []\n"), "").find("--kube-context"), std::string::npos);
}

TEST_F(KubeConfigTest, InClusterReadsTheServiceAccount) {
    write("token", "rotating-token\n");
    write("ca.crt", "CA");
    ::setenv("KUBERNETES_SERVICE_HOST", "198.18.0.1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    const KubeEndpoint endpoint = in_cluster_endpoint(directory_.string());
    EXPECT_EQ(endpoint.server, "https://198.18.0.1:443");
    EXPECT_EQ(endpoint.ca_pem, "CA");
    EXPECT_EQ(endpoint.bearer_token(), "rotating-token");
    write("token", "next-token");  // a projected token is replaced: read at each connection
    EXPECT_EQ(endpoint.bearer_token(), "next-token");
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    EXPECT_THROW(in_cluster_endpoint(directory_.string()), std::runtime_error);
}

TEST(Base64, DecodesAndRefusesGarbage) {
    EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
    EXPECT_EQ(decode_base64("aGVs\nbG8h"), "hello!");
    EXPECT_THROW(decode_base64("a*b"), std::runtime_error);
    EXPECT_THROW(decode_base64("aA==aA"), std::runtime_error);
}

}  // namespace
}  // namespace vipgate
