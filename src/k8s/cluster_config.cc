#include "k8s/cluster_config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdlib>
#include <optional>

#include "common/files.h"

namespace rwd::k8s {
namespace {

namespace fs = std::filesystem;

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts).
std::optional<YAML::Node> find_named(const YAML::Node& list, const std::string& name,
                                     const char* field) {
  if (!list || !list.IsSequence()) {
    return std::nullopt;
  }
  for (const auto& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name && entry[field]) {
      return entry[field];
    }
  }
  return std::nullopt;
}

std::string str(const YAML::Node& map, const char* key) {
  const auto& v = map[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

// Reads "<key>-data" (base64) or "<key>" (a file path) from a kubeconfig map.
Result<std::string> data_or_file(const YAML::Node& map, const std::string& key,
                                 const fs::path& base_dir, std::string_view what,
                                 std::string* source) {
  std::string data = str(map, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) {
      return fail("{}-data is not valid base64 ({})", key, decoded.error().message);
    }
    if (source) {
      *source = key + "-data";
    }
    return decoded;
  }
  std::string file = str(map, key.c_str());
  if (file.empty()) {
    return std::string();
  }
  fs::path path = fs::path(file).is_absolute() ? fs::path(file) : base_dir / file;
  auto text = read_file(path);
  if (!text) {
    return fail("cannot read the {} {}: {}", what, path.string(), text.error().message);
  }
  if (source) {
    *source = path.string();
  }
  return text;
}

Result<ClusterConfig> parse_kubeconfig_yaml(const YAML::Node& root, const fs::path& base_dir,
                                            const std::string& context_name) {
  ClusterConfig config;
  std::string ctx_name = context_name.empty() ? str(root, "current-context") : context_name;
  if (ctx_name.empty()) {
    return fail("no current-context is set (pass --context or run 'kubectl config use-context')");
  }
  auto ctx = find_named(root["contexts"], ctx_name, "context");
  if (!ctx) {
    return fail("context \"{}\" is not defined", ctx_name);
  }
  std::string cluster_name = str(*ctx, "cluster");
  std::string user_name = str(*ctx, "user");
  config.namespace_ = str(*ctx, "namespace");

  auto cluster = find_named(root["clusters"], cluster_name, "cluster");
  if (!cluster) {
    return fail("cluster \"{}\" (from context \"{}\") is not defined", cluster_name, ctx_name);
  }
  config.server = str(*cluster, "server");
  if (config.server.empty()) {
    return fail("cluster \"{}\" has no server", cluster_name);
  }
  if ((*cluster)["insecure-skip-tls-verify"] && (*cluster)["insecure-skip-tls-verify"].as<bool>()) {
    return fail(
        "cluster \"{}\" sets insecure-skip-tls-verify, which rewind refuses (give it "
        "certificate-authority or certificate-authority-data instead)",
        cluster_name);
  }
  auto ca = data_or_file(*cluster, "certificate-authority", base_dir, "certificate authority",
                         &config.ca_source);
  if (!ca) {
    return fail("cluster \"{}\": {}", cluster_name, ca.error().message);
  }
  config.ca_pem = std::move(*ca);
  if (config.ca_pem.empty()) {
    config.ca_source = "the system's trusted CAs";
  }

  if (!user_name.empty()) {
    auto user = find_named(root["users"], user_name, "user");
    if (!user) {
      return fail("user \"{}\" (from context \"{}\") is not defined", user_name, ctx_name);
    }
    if ((*user)["exec"] || (*user)["auth-provider"]) {
      return fail(
          "user \"{}\" authenticates with an exec or auth-provider plugin, which rewind "
          "does not run (use a token, a client certificate, or run in-cluster)",
          user_name);
    }
    auto cert = data_or_file(*user, "client-certificate", base_dir, "client certificate", nullptr);
    if (!cert) {
      return fail("user \"{}\": {}", user_name, cert.error().message);
    }
    auto key = data_or_file(*user, "client-key", base_dir, "client key", nullptr);
    if (!key) {
      return fail("user \"{}\": {}", user_name, key.error().message);
    }
    if (cert->empty() != key->empty()) {
      return fail("user \"{}\" has a client certificate without a key, or a key without a "
                  "certificate",
                  user_name);
    }
    config.client_cert_pem = std::move(*cert);
    config.client_key_pem = std::move(*key);
    config.token = str(*user, "token");
    std::string token_file = str(*user, "tokenFile");
    if (config.token.empty() && !token_file.empty()) {
      config.token_file = fs::path(token_file).is_absolute() ? fs::path(token_file)
                                                             : base_dir / token_file;
    }
  }
  config.source = fmt::format("context \"{}\"", ctx_name);
  return config;
}

}  // namespace

Result<std::string> base64_decode(std::string_view text) {
  static constexpr auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) {
      t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
  }();
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
      continue;
    }
    if (c == '=') {
      padding = true;
      continue;
    }
    int8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 0 || padding) {
      return fail("unexpected character '{}'", c);
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) {
    return fail("truncated input");
  }
  return out;
}

Result<ClusterConfig> parse_kubeconfig(std::string_view text, const fs::path& base_dir,
                                       const std::string& context, std::string_view origin) {
  Result<ClusterConfig> config = fail("unreachable");
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap()) {
      return fail("kubeconfig {} is not a YAML map", origin);
    }
    config = parse_kubeconfig_yaml(root, base_dir, context);
  } catch (const YAML::Exception& e) {
    return fail("kubeconfig {} is not valid YAML: {}", origin, e.what());
  }
  if (!config) {
    return std::unexpected(config.error().context(fmt::format("kubeconfig {}", origin)));
  }
  config->source = fmt::format("kubeconfig {} ({})", origin, config->source);
  return config;
}

Result<ClusterConfig> load_kubeconfig(const fs::path& path, const std::string& context) {
  auto text = read_file(path);
  if (!text) {
    return fail("cannot read kubeconfig {}: {}", path.string(), text.error().message);
  }
  return parse_kubeconfig(*text, path.parent_path(), context, path.string());
}

Result<ClusterConfig> load_in_cluster_config(const fs::path& sa_dir_arg) {
  std::string host = env_or_empty("KUBERNETES_SERVICE_HOST");
  std::string port = env_or_empty("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return fail(
        "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are "
        "not set (outside a cluster pass --kubeconfig)");
  }
  fs::path dir = sa_dir_arg;
  if (dir.empty()) {
    std::string env_dir = env_or_empty("REWIND_SERVICEACCOUNT_DIR");
    dir = env_dir.empty() ? fs::path(kServiceAccountDir) : fs::path(env_dir);
  }
  ClusterConfig config;
  bool ipv6 = host.find(':') != std::string::npos;
  config.server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
  auto ca = read_file(dir / "ca.crt");
  if (!ca) {
    return fail(
        "cannot read the service account's CA {}: {} (is automountServiceAccountToken "
        "disabled for this pod?)",
        (dir / "ca.crt").string(), ca.error().message);
  }
  config.ca_pem = std::move(*ca);
  config.ca_source = (dir / "ca.crt").string();
  config.token_file = dir / "token";
  if (!fs::exists(config.token_file)) {
    return fail(
        "the service account token {} does not exist (is automountServiceAccountToken "
        "disabled for this pod?)",
        config.token_file.string());
  }
  if (auto ns = read_file(dir / "namespace")) {
    config.namespace_ = trim(*ns);
  }
  config.source = fmt::format("in-cluster service account ({})", dir.string());
  return config;
}

Result<ClusterConfig> load_cluster_config(const ConfigOptions& options) {
  if (!options.kubeconfig.empty()) {
    return load_kubeconfig(options.kubeconfig, options.context);
  }
  if (!env_or_empty("KUBERNETES_SERVICE_HOST").empty()) {
    return load_in_cluster_config();
  }
  std::string env = env_or_empty("KUBECONFIG");
  size_t start = 0;
  while (start <= env.size() && !env.empty()) {
    size_t end = env.find(':', start);
    std::string one = env.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!one.empty() && fs::exists(one)) {
      return load_kubeconfig(one, options.context);
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  std::string home = env_or_empty("HOME");
  fs::path fallback = fs::path(home) / ".kube" / "config";
  if (!home.empty() && fs::exists(fallback)) {
    return load_kubeconfig(fallback, options.context);
  }
  return fail(
      "no Kubernetes configuration found: not in a pod (KUBERNETES_SERVICE_HOST unset), "
      "no --kubeconfig, no $KUBECONFIG file and no ~/.kube/config");
}

}  // namespace rwd::k8s
