// PodWatcher: follows one pod's state through the API server for as long as the caller
// wants, surviving dropped connections, API server restarts and expired resource
// versions, with nothing more than the "get" and "watch" verbs on pods (the sidecar's
// Role grants no "list").
//
// Sync: GET the pod (report it, or its absence), then watch with
// fieldSelector=metadata.name=POD and bookmarks from the most recent state (the server
// opens with a synthetic ADDED for the pod). Every event and bookmark moves the tracked
// resourceVersion forward, so a reconnect after a dropped connection or a server
// restart resumes exactly where the last watch ended. A 410 Gone / Expired (as an HTTP
// status or an ERROR event) means that version is too old: sync again. Failures back
// off exponentially (with jitter) up to max_backoff; any event resets the backoff.
//
//   PodWatcher watcher(client, {.namespace_ = "shop", .name = "web-0"});
//   Cancel stop;
//   std::jthread t([&] {
//     watcher.run(stop, [](const PodUpdate& u) {
//       if (u.pod) handle(u.pod->annotations); else handle_gone();
//     });
//   });
//   ...
//   stop.cancel();  // run() returns promptly
//
// run() blocks on the caller's thread and invokes the callbacks there; the same update
// may be reported twice (after a sync), so handlers must be idempotent. One run() at a
// time per PodWatcher; the client may be shared with other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "k8s/api_error.h"
#include "k8s/cancel.h"
#include "k8s/kube_client.h"
#include "k8s/pod.h"

namespace rwd::k8s {

struct PodWatchOptions {
  std::string namespace_;
  std::string name;
  std::chrono::milliseconds min_backoff{250};
  std::chrono::milliseconds max_backoff{30'000};
  int watch_timeout_seconds = 300;  // server ends each watch after about this long
};

struct PodUpdate {
  enum class Reason { kSynced, kChanged, kDeleted };
  Reason reason = Reason::kSynced;
  std::optional<Pod> pod;  // empty when the pod does not exist (or was deleted)
};

struct PodWatchStats {
  uint64_t syncs = 0;      // successful syncs (GET): the first one and every re-sync
  uint64_t expired = 0;    // re-syncs forced by a 410 (resource version too old)
  uint64_t watches = 0;    // watch requests started
  uint64_t resumes = 0;    // watches resumed from a tracked resourceVersion
  uint64_t errors = 0;     // failed requests
  uint64_t bookmarks = 0;
};

class PodWatcher {
 public:
  PodWatcher(const KubeClient& client, PodWatchOptions options)
      : client_(client), options_(std::move(options)) {}

  // Runs until cancel. on_update gets the pod after each sync and each change; on_error
  // (optional) gets each failure before the backoff, for logging. Returns when
  // cancelled; the only error it returns is for a bad configuration (empty name).
  Status run(const Cancel& cancel, const std::function<void(const PodUpdate&)>& on_update,
             const std::function<void(const ApiError&)>& on_error = {});

  // Read only from inside a callback or when run() is not running.
  const PodWatchStats& stats() const { return stats_; }
  const std::string& resource_version() const { return resource_version_; }

 private:
  std::chrono::milliseconds next_backoff();

  const KubeClient& client_;
  PodWatchOptions options_;
  PodWatchStats stats_;
  std::string resource_version_;
  std::chrono::milliseconds backoff_{0};
};

}  // namespace rwd::k8s
