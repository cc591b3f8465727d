#include "cli/k8s_options.h"

#include <fmt/format.h>

#include <cstdlib>

namespace rwd::cli {

void K8sOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--kubeconfig", kubeconfig,
                  "kubeconfig file (default: in-cluster service account when in a pod, else "
                  "$KUBECONFIG or ~/.kube/config)");
  cmd->add_option("--context", context, "kubeconfig context (default: current-context)");
  cmd->add_option("-n,--namespace", namespace_, "the pod's namespace (default: $POD_NAMESPACE)");
  cmd->add_option("--pod", pod, "the pod's name (default: $POD_NAME)");
}

std::optional<k8s::KubeClient> K8sOptions::connect() {
  auto config = k8s::load_cluster_config({.kubeconfig = kubeconfig, .context = context});
  if (!config) {
    fmt::print(stderr, "rewind: {}\n", config.error().message);
    return std::nullopt;
  }
  if (namespace_.empty()) {
    const char* env = std::getenv("POD_NAMESPACE");
    namespace_ = env && *env ? env : config->namespace_;
  }
  if (pod.empty()) {
    const char* env = std::getenv("POD_NAME");
    pod = env ? env : "";
  }
  auto client = k8s::KubeClient::create(std::move(*config));
  if (!client) {
    fmt::print(stderr, "rewind: {}\n", client.error().message);
    return std::nullopt;
  }
  return std::move(*client);
}

}  // namespace rwd::cli
