// StatusReporter: publishes the sidecar's observed state to the API server — merge
// patches of the pod's annotations and events.k8s.io/v1 Events — from its own thread, so
// a slow or unreachable API server never delays attaching or saving a recording.
//
// Order is kept: patches and events go out in the order they were queued, so a watcher
// sees every status transition (recording -> saving -> uploading -> idle). Only when the
// API server falls far behind (more than kMaxBacklog items) are queued patches merged
// into one (the latest values win) and surplus events dropped (counted in the log).
//
// A retryable failure (connection refused, 5xx, throttling) is retried with backoff and
// nothing is lost; a permanent one (403 Forbidden by RBAC, 404) is logged with the API
// client's message, counted, kept for /readyz and reported once as a Warning Event
// (when events may still be created).
//
//   StatusReporter reporter(client, "shop", "web-0", metrics);
//   reporter.start();
//   reporter.patch({{"rewind.dev/status", "recording"}});
//   reporter.event({.reason = "RecordingStarted", .note = "attached to pid 42"});
//   reporter.flush(std::chrono::seconds(5));
//   reporter.stop();
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "k8s/api_objects.h"
#include "k8s/kube_client.h"
#include "sidecar/sidecar_metrics.h"

namespace rwd::sidecar {

class StatusReporter {
 public:
  static constexpr size_t kMaxBacklog = 128;

  StatusReporter(const k8s::KubeClient& client, std::string ns, std::string pod,
                 SidecarMetrics& metrics);
  ~StatusReporter();

  void start();
  // Stops the thread (after at most one more API call).
  void stop();
  void set_pod_uid(std::string uid);

  void patch(k8s::AnnotationChanges changes);
  // pod_namespace, pod_name and pod_uid are filled in.
  void event(k8s::EventSpec spec);
  // Waits until everything queued has been sent (or given up); false on timeout.
  bool flush(std::chrono::milliseconds timeout);

  // The last permanent failure, "" when the last call succeeded.
  std::string last_error() const;

 private:
  using Item = std::variant<k8s::AnnotationChanges, k8s::EventSpec>;
  void loop();
  // true when done with the item (sent or given up), false to retry it.
  bool send(const Item& item, int attempt);

  const k8s::KubeClient& client_;
  std::string ns_;
  std::string pod_;
  SidecarMetrics& metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Item> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::string pod_uid_;
  std::string last_error_;
  bool patch_failure_reported_ = false;
  uint64_t dropped_events_ = 0;
  uint64_t generation_ = 0;  // bumped when patch() merges the queue
  k8s::Cancel cancel_;
  std::thread thread_;
};

}  // namespace rwd::sidecar
