// ClusterConfig: where the Kubernetes API is and how to authenticate to it, loaded
// either in-cluster (the pod's service account) or from a kubeconfig file.
//
// In a pod: KUBERNETES_SERVICE_HOST/PORT name the server; the service account's
// directory (default /var/run/secrets/kubernetes.io/serviceaccount, or
// $REWIND_SERVICEACCOUNT_DIR) holds `token`, `ca.crt` and `namespace`. The token file
// is kept as a path and re-read when it changes, because projected tokens rotate.
//
// Outside a pod: a kubeconfig (current-context or a named one): server, CA data or
// file, client certificate/key data or file, token or tokenFile. Relative file paths
// are relative to the kubeconfig's directory. insecure-skip-tls-verify and exec/auth
// plugins are refused with a clear error: rewind always verifies the server.
//
//   auto config = load_cluster_config({.kubeconfig = flag_value});
//   if (!config) { spdlog::error("{}", config.error().message); return 1; }
#pragma once

#include <filesystem>
#include <string>

#include "common/error.h"

namespace rwd::k8s {

struct ClusterConfig {
  std::string server;            // "https://10.96.0.1:443"
  std::string ca_pem;            // CA bundle that must sign the server's certificate
  std::string ca_source;         // where ca_pem came from, for error messages
  std::string client_cert_pem;   // client certificate authentication, both or neither
  std::string client_key_pem;
  std::string token;             // a fixed bearer token, or
  std::filesystem::path token_file;  // a token file re-read when it changes
  std::string namespace_;        // the default namespace ("" when unknown)
  std::string source;            // "in-cluster service account" or "kubeconfig PATH (context C)"
};

struct ConfigOptions {
  std::filesystem::path kubeconfig;  // explicit file; empty: see load_cluster_config
  std::string context;               // kubeconfig context; empty: current-context
};

// Picks the configuration the way kubectl would for a program that can also run in a
// pod: an explicit kubeconfig; else in-cluster when KUBERNETES_SERVICE_HOST is set;
// else $KUBECONFIG (its first existing file); else ~/.kube/config.
Result<ClusterConfig> load_cluster_config(const ConfigOptions& options);

// The pod's own service account. `sa_dir` empty: $REWIND_SERVICEACCOUNT_DIR or the
// standard mount.
Result<ClusterConfig> load_in_cluster_config(const std::filesystem::path& sa_dir = {});

Result<ClusterConfig> load_kubeconfig(const std::filesystem::path& path,
                                      const std::string& context = {});

// Parses kubeconfig text; `base_dir` resolves relative file paths, `origin` names the
// file in messages.
Result<ClusterConfig> parse_kubeconfig(std::string_view text, const std::filesystem::path& base_dir,
                                       const std::string& context, std::string_view origin);

// Standard base64 (padding optional); fails on any other character.
Result<std::string> base64_decode(std::string_view text);

}  // namespace rwd::k8s
