#include "k8s/cluster_config.h"

#include <gtest/gtest.h>

#include "common/files.h"

namespace rwd::k8s {
namespace {

// "-----BEGIN CERTIFICATE-----\nCA\n" and friends, base64-encoded, as kubectl writes them.
constexpr const char* kCaData = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";
constexpr const char* kCertData = "Q0VSVA==";  // "CERT"
constexpr const char* kKeyData = "S0VZ";       // "KEY"

std::string kubeconfig(std::string_view extra_user = "", std::string_view extra_cluster = "") {
  return fmt::format(R"(apiVersion: v1
kind: Config
current-context: admin@test
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {}
{}
- name: other
  cluster:
    server: https://other.example:443
    certificate-authority: other-ca.crt
contexts:
- name: admin@test
  context:
    cluster: test
    user: admin
    namespace: shop
- name: reader@other
  context:
    cluster: other
    user: reader
users:
- name: admin
  user:
    client-certificate-data: {}
    client-key-data: {}
{}
- name: reader
  user:
    token: s3cret
)",
                     kCaData, extra_cluster, kCertData, kKeyData, extra_user);
}

TEST(Base64Test, DecodesStandardAlphabetWithAndWithoutPadding) {
  EXPECT_EQ(base64_decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(base64_decode("aGVsbG8").value(), "hello");
  EXPECT_EQ(base64_decode("aGVs\nbG8=").value(), "hello");
  EXPECT_EQ(base64_decode("").value(), "");
  EXPECT_FALSE(base64_decode("aGV*bG8=").has_value());
  EXPECT_FALSE(base64_decode("a").has_value());
}

TEST(KubeconfigTest, CurrentContextWithEmbeddedCertificates) {
  auto c = parse_kubeconfig(kubeconfig(), "/nowhere", "", "test.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n");
  EXPECT_EQ(c->ca_source, "certificate-authority-data");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->token, "");
  EXPECT_EQ(c->namespace_, "shop");
  EXPECT_NE(c->source.find("admin@test"), std::string::npos);
}

TEST(KubeconfigTest, NamedContextWithCaFileRelativeToKubeconfigAndToken) {
  auto dir = TempDir::create("kubeconfig-test");
  ASSERT_TRUE(dir.has_value());
  ASSERT_TRUE(write_file_atomic(dir->path() / "other-ca.crt", "OTHER CA").has_value());
  auto c = parse_kubeconfig(kubeconfig(), dir->path(), "reader@other", "test.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://other.example:443");
  EXPECT_EQ(c->ca_pem, "OTHER CA");
  EXPECT_EQ(c->ca_source, (dir->path() / "other-ca.crt").string());
  EXPECT_EQ(c->token, "s3cret");
  EXPECT_TRUE(c->client_cert_pem.empty());
  EXPECT_EQ(c->namespace_, "");
}

TEST(KubeconfigTest, MissingCaFileIsNamed) {
  auto c = parse_kubeconfig(kubeconfig(), "/nonexistent-dir", "reader@other", "test.yaml");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("/nonexistent-dir/other-ca.crt"), std::string::npos)
      << c.error().message;
}

TEST(KubeconfigTest, TokenFileIsKeptAsAPath) {
  auto c = parse_kubeconfig(kubeconfig("    tokenFile: tok"), "/base", "", "test.yaml");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->token_file, std::filesystem::path("/base/tok"));
}

TEST(KubeconfigTest, RefusesToSkipTlsVerification) {
  auto c = parse_kubeconfig(kubeconfig("", "    insecure-skip-tls-verify: true"), "/", "", "k");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("insecure-skip-tls-verify"), std::string::npos);
}

TEST(KubeconfigTest, RefusesExecPlugins) {
  auto c = parse_kubeconfig(kubeconfig("    exec:\n      command: aws"), "/", "", "k");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("exec"), std::string::npos);
}

TEST(KubeconfigTest, UnknownContextAndBadYamlAreExplained) {
  auto c = parse_kubeconfig(kubeconfig(), "/", "nope", "my.yaml");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("context \"nope\" is not defined"), std::string::npos);
  EXPECT_NE(c.error().message.find("my.yaml"), std::string::npos);

  auto bad = parse_kubeconfig("clusters: [", "/", "", "bad.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("not valid YAML"), std::string::npos);

  auto none = parse_kubeconfig("apiVersion: v1\nkind: Config\n", "/", "", "empty.yaml");
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message.find("current-context"), std::string::npos);
}

TEST(InClusterConfigTest, ReadsServiceAccountDirectoryAndEnvironment) {
  auto dir = TempDir::create("sa-test");
  ASSERT_TRUE(dir.has_value());
  ASSERT_TRUE(write_file_atomic(dir->path() / "ca.crt", "CA PEM").has_value());
  ASSERT_TRUE(write_file_atomic(dir->path() / "token", "tok\n").has_value());
  ASSERT_TRUE(write_file_atomic(dir->path() / "namespace", "shop\n").has_value());
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = load_in_cluster_config(dir->path());
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->ca_pem, "CA PEM");
  EXPECT_EQ(c->token_file, dir->path() / "token");
  EXPECT_EQ(c->namespace_, "shop");

  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  c = load_in_cluster_config(dir->path());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->server, "https://[fd00::1]:443");

  unsetenv("KUBERNETES_SERVICE_HOST");
  c = load_in_cluster_config(dir->path());
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace rwd::k8s
