// Sidecar: the controller behind `rewind sidecar` (issue #4). It reconciles the
// recording a user asks for through the pod's annotations with what runs, and reports
// what it sees back into the pod's annotations and Events.
//
// Threads, each with one job:
//   controller  (the caller of run())  target discovery, recorder processes, rotation;
//               the only thread that starts or stops a recorder
//   watcher     PodWatcher on the pod (watch + bookmarks, re-list on 410): desired state
//   reporter    StatusReporter: annotation patches and Events, in order
//   uploader    Uploader: ready/ -> UploadQueue -> store, retried with backoff
//   log trigger LogTrigger, while <prefix>/record-on-log is set
//   health      HealthServer: /healthz /readyz /metrics
// They meet in a mutex-guarded desired state and a wake flag; nothing polls the API.
//
// Status (<prefix>/status): recording while a recorder is attached; saving while a
// recording is being finished or moved into the upload queue; uploading while the queue
// is not empty; error while recording is wanted but impossible (target not found,
// recorder failed); idle otherwise. See docs/kubernetes.md for the full protocol.
//
//   auto sidecar = Sidecar::create(options, std::move(client));
//   std::jthread signals([&] { wait_for_sigterm(); (*sidecar)->request_stop(); });
//   auto s = (*sidecar)->run();   // returns after SIGTERM, saving and uploading first
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "k8s/cancel.h"
#include "k8s/kube_client.h"
#include "sidecar/control_spec.h"
#include "sidecar/health_server.h"
#include "sidecar/log_trigger.h"
#include "sidecar/recorder_process.h"
#include "sidecar/recordings_dir.h"
#include "sidecar/sidecar_metrics.h"
#include "sidecar/status_reporter.h"
#include "sidecar/target_finder.h"
#include "sidecar/uploader.h"
#include "store/store.h"

namespace rwd::sidecar {

struct SidecarOptions {
  std::string namespace_;  // POD_NAMESPACE
  std::string pod;         // POD_NAME
  TargetSelector target;
  std::string log_container;  // for record-on-log; "" = the --target-container
  std::string store = "file:///recordings/uploaded";
  StoreOptions store_options;
  std::filesystem::path recordings_dir = "/recordings";
  std::string prefix = "rewind.dev";
  std::string listen = "127.0.0.1:9090";
  // How often /proc is scanned while recording is wanted and no target is attached.
  std::chrono::milliseconds scan_interval{20};
  // How long recording may be wanted with no target before the status turns error.
  std::chrono::milliseconds target_grace{2000};
  std::chrono::milliseconds shutdown_timeout{25000};
  std::vector<std::string> recorder_args;  // extra `rewind record` flags
};

class Sidecar {
 public:
  static Result<std::unique_ptr<Sidecar>> create(SidecarOptions options, k8s::KubeClient client);
  ~Sidecar();

  // Runs until request_stop(), then stops and saves any recording, and uploads (or
  // leaves queued on disk) within options.shutdown_timeout.
  Status run();
  // Thread-safe.
  void request_stop();
  int health_port() const { return health_port_; }

 private:
  enum class RecState { kNone, kStarting, kRecording, kStopping };

  Sidecar(SidecarOptions options, k8s::KubeClient client, TargetFinder finder, RecordingsDir dir);
  Status start_threads();
  void wake();
  void on_pod_update(const std::optional<k8s::Pod>& pod);

  // Controller thread.
  void reconcile();
  void spawn_recorder(const TargetProcess& target);
  void stop_recorder(std::string reason, std::string note);
  void handle_recorder_exit();
  void manage_log_trigger(const ControlSpec& spec);
  std::chrono::milliseconds next_tick() const;
  void shutdown();

  // Any thread: recompute the status from the controller's and uploader's state and
  // publish a transition (annotation patch + Event) when it changed.
  void refresh_status(std::string note = {});
  void set_error(std::string reason, std::string message);
  void clear_error();
  void event(std::string type, std::string reason, std::string note);
  std::string key(std::string_view name) const {
    return options_.prefix + "/" + std::string(name);
  }
  std::string describe_target(const TargetProcess& t) const;

  SidecarOptions options_;
  k8s::KubeClient client_;
  TargetFinder finder_;
  RecordingsDir dir_;
  SidecarMetrics metrics_;
  std::unique_ptr<StatusReporter> reporter_;
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<HealthServer> health_;
  int health_port_ = 0;
  k8s::Cancel watch_cancel_;
  std::thread watcher_;

  // Shared with the watcher and trigger threads.
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stop_ = false;
  ControlSpec desired_;
  bool pod_synced_ = false;
  std::string container_id_;
  std::string watch_error_;
  bool watch_error_reported_ = false;
  std::map<std::string, std::string> bad_values_;  // key -> value already warned about
  bool log_triggered_ = false;
  // The pod has a deletionTimestamp: nothing is recorded any more, so that the app's
  // preStop hook (rewind wait-idle) sees idle once the last recording is uploaded.
  bool pod_deleting_ = false;
  std::string log_match_;
  std::atomic<int64_t> loop_heartbeat_{0};

  // Status (status_mu_).
  mutable std::mutex status_mu_;
  std::string status_;
  RecState rec_state_ = RecState::kNone;
  bool saving_ = false;
  std::string error_reason_;
  std::string error_message_;
  std::string pending_note_;

  // Controller thread only.
  std::unique_ptr<RecorderProcess> recorder_;
  TargetProcess target_;
  // The process whose recording ended with its death (crash or exit): between the
  // recorder's exit and the process's reaping it can still look alive, and is no target.
  TargetProcess ended_target_;
  std::chrono::steady_clock::time_point recorder_started_;
  bool recorder_attached_ = false;
  std::string stop_reason_;
  std::string trigger_;
  bool wanted_ = false;
  std::chrono::steady_clock::time_point want_since_;
  bool attached_this_period_ = false;
  std::chrono::steady_clock::time_point retry_after_;
  int spawn_failures_ = 0;
  std::chrono::steady_clock::time_point next_recover_;
  ControlSpec applied_;
  std::unique_ptr<LogTrigger> log_trigger_;
};

}  // namespace rwd::sidecar
