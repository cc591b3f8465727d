// KubeClient: the few Kubernetes API calls rewind makes, on one ApiConnection.
//
//   auto config = load_cluster_config({});
//   auto client = KubeClient::create(*config);
//   auto pod = client->get_pod("shop", "web-0");
//   client->patch_pod_annotations("shop", "web-0", {{"rewind.dev/status", "idle"}});
//   client->create_event({.type = "Normal", .reason = "RecordingStarted", .note = "...",
//                         .pod_namespace = "shop", .pod_name = "web-0"});
//   Cancel stop;
//   client->follow_pod_log("shop", "web-0", "app", {}, on_line, stop);
//
// Watching one pod lives in PodWatcher (pod_watcher.h), on top of get_pod/watch_pod.
// Thread-safe: calls may run concurrently from several threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "k8s/api_connection.h"
#include "k8s/api_error.h"
#include "k8s/api_objects.h"
#include "k8s/cancel.h"
#include "k8s/cluster_config.h"
#include "k8s/pod.h"
#include "k8s/watch_event.h"

namespace rwd::k8s {

struct LogOptions {
  std::optional<int64_t> tail_lines;     // start this many lines back
  std::optional<int64_t> since_seconds;  // or only lines this recent
  bool follow = true;                    // keep streaming new lines
};

class KubeClient {
 public:
  static ApiResult<KubeClient> create(ClusterConfig config);

  const ClusterConfig& config() const { return conn_->config(); }

  ApiResult<Pod> get_pod(const std::string& ns, const std::string& name,
                         const Cancel* cancel = nullptr) const;

  // JSON merge patch of metadata.annotations; returns the patched pod.
  ApiResult<Pod> patch_pod_annotations(const std::string& ns, const std::string& name,
                                       const AnnotationChanges& changes) const;

  // Creates an events.k8s.io/v1 Event; returns the created event's name.
  ApiResult<std::string> create_event(const EventSpec& spec) const;

  // Watches pods with fieldSelector=metadata.name=NAME from `resource_version`, with
  // bookmarks, calling on_event for each event until the server ends the watch (after
  // about timeout_seconds), on_event returns false, or cancel. An empty
  // resource_version starts at the most recent state, which the server first sends as
  // a synthetic ADDED event: a list and a watch in one request, needing only the
  // "watch" verb. A 410 answer comes back as an ApiError with expired().
  ApiStatus watch_pod(const std::string& ns, const std::string& name,
                      const std::string& resource_version, int timeout_seconds,
                      const std::function<bool(const WatchEvent&)>& on_event,
                      const Cancel& cancel) const;

  // Streams a container's log (pods/log), one line per call, until the container's log
  // ends, on_line returns false, or cancel.
  ApiStatus follow_pod_log(const std::string& ns, const std::string& name,
                           const std::string& container, const LogOptions& options,
                           const std::function<bool(std::string_view)>& on_line,
                           const Cancel& cancel) const;

 private:
  explicit KubeClient(std::shared_ptr<ApiConnection> conn) : conn_(std::move(conn)) {}
  std::shared_ptr<ApiConnection> conn_;
};

}  // namespace rwd::k8s
