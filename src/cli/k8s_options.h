// Flags shared by the subcommands that talk to the Kubernetes API (wait-idle, k8s):
// where the API is (--kubeconfig/--context, else in-cluster) and which pod
// (--namespace/--pod, else POD_NAMESPACE/POD_NAME from the downward API, else the
// service account's or kubeconfig's namespace).
//
//   K8sOptions k8s;
//   k8s.add_to(cmd);
//   auto client = k8s.connect();      // logs the error itself on failure
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "k8s/kube_client.h"

namespace rwd::cli {

struct K8sOptions {
  std::string kubeconfig;
  std::string context;
  std::string namespace_;
  std::string pod;

  void add_to(CLI::App* cmd);
  // Loads the config and fills namespace_/pod defaults; prints the error and returns
  // nullopt on failure.
  std::optional<k8s::KubeClient> connect();
};

}  // namespace rwd::cli
