// wait_idle: holds a pod's teardown until its rewind sidecar reports idle, for the app
// container's preStop hook (`rewind wait-idle`).
//
// Reads the pod's own `<prefix>/status` annotation (the sidecar writes idle, recording,
// saving, uploading or error). Idle or absent: return at once. Otherwise watch the pod
// (no polling) until the status becomes idle, the annotation or the pod goes away, or
// the timeout passes. Progress is logged while waiting, so `kubectl describe` and the
// kubelet's hook output explain a slow shutdown.
//
//   auto r = wait_idle(client, {.namespace_ = "shop", .pod = "web-0",
//                               .timeout = std::chrono::seconds(120)});
//   if (!r) -> error (bad credentials, RBAC, TLS): message says what to fix
//   *r == WaitIdleResult::kIdle or kTimedOut
#pragma once

#include <chrono>
#include <string>

#include "common/error.h"
#include "k8s/kube_client.h"

namespace rwd::k8s {

struct WaitIdleOptions {
  std::string namespace_;
  std::string pod;
  std::string annotation_prefix = "rewind.dev";
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds progress_interval{std::chrono::seconds(10)};
};

enum class WaitIdleResult { kIdle, kTimedOut };

Result<WaitIdleResult> wait_idle(const KubeClient& client, const WaitIdleOptions& options);

}  // namespace rwd::k8s
