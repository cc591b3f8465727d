#include "sidecar/sidecar.h"

#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "k8s/pod_watcher.h"
#include "store/store_uri.h"

namespace rwd::sidecar {
namespace {

using Clock = std::chrono::steady_clock;

std::string mib(uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

std::string container_id_of(const k8s::Pod& pod, const std::string& container) {
  const auto& status = pod.raw.value("status", nlohmann::json::object());
  for (const char* field : {"containerStatuses", "initContainerStatuses"}) {
    if (!status.contains(field) || !status[field].is_array()) {
      continue;
    }
    for (const auto& cs : status[field]) {
      if (cs.value("name", "") == container) {
        return strip_container_runtime(cs.value("containerID", ""));
      }
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Sidecar>> Sidecar::create(SidecarOptions options, k8s::KubeClient client) {
  if (options.namespace_.empty() || options.pod.empty()) {
    return fail("the sidecar needs its pod's name and namespace (set POD_NAME and POD_NAMESPACE "
                "from the downward API, or pass --pod and --namespace)");
  }
  auto finder = TargetFinder::create(options.target);
  if (!finder) {
    return std::unexpected(finder.error());
  }
  auto dir = RecordingsDir::open(options.recordings_dir);
  if (!dir) {
    return std::unexpected(dir.error());
  }
  std::unique_ptr<Sidecar> s(
      new Sidecar(std::move(options), std::move(client), std::move(*finder), std::move(*dir)));
  auto uri = parse_store_uri(s->options_.store);
  if (!uri) {
    return fail("--store: {}", uri.error().message);
  }
  auto store = open_store(*uri, s->options_.store_options);
  if (!store) {
    return fail("cannot open the store {}: {}", s->options_.store, store.error().message);
  }
  auto queue = UploadQueue::open(s->dir_.spool());
  if (!queue) {
    return std::unexpected(queue.error());
  }
  RecordingOrigin origin;
  origin.namespace_name = s->options_.namespace_;
  origin.pod = s->options_.pod;
  origin.container = s->options_.target.kind == TargetSelector::Kind::kExe
                         ? std::string("app")
                         : s->options_.target.value;
  if (const char* node = std::getenv("NODE_NAME")) {
    origin.node = node;
  }
  Sidecar* self = s.get();
  UploaderCallbacks cb;
  cb.changed = [self] { self->refresh_status(); };
  cb.uploaded = [self](const UploadedRecording& u) {
    nlohmann::json last = {{"uri", u.uri}, {"sha256", u.sha256}, {"size", u.size},
                           {"reason", u.reason}};
    self->reporter_->patch({{self->key("last-recording"), last.dump()}});
    self->event("Normal", "RecordingUploaded",
                fmt::format("uploaded {} ({}, sha256 {}, reason {})", u.uri, mib(u.size),
                            u.sha256, u.reason));
  };
  cb.failed = [self](const std::string& message, bool first) {
    if (first) {
      self->event("Warning", "UploadFailed",
                  fmt::format("{}; the recording stays queued in {} and is retried with backoff",
                              message, self->dir_.spool().string()));
    }
  };
  cb.recovered = [self] {
    self->event("Normal", "UploadRecovered", "uploads to the store work again");
  };
  s->uploader_ = std::make_unique<Uploader>(s->dir_, std::move(*store), std::move(*queue),
                                            std::move(origin), s->metrics_, std::move(cb));
  return s;
}

Sidecar::Sidecar(SidecarOptions options, k8s::KubeClient client, TargetFinder finder,
                 RecordingsDir dir)
    : options_(std::move(options)),
      client_(std::move(client)),
      finder_(std::move(finder)),
      dir_(std::move(dir)) {
  reporter_ = std::make_unique<StatusReporter>(client_, options_.namespace_, options_.pod,
                                               metrics_);
}

Sidecar::~Sidecar() {
  watch_cancel_.cancel();
  if (watcher_.joinable()) {
    watcher_.join();
  }
  log_trigger_.reset();
  if (health_) {
    health_->stop();
  }
}

void Sidecar::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Sidecar::request_stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Sidecar::event(std::string type, std::string reason, std::string note) {
  k8s::EventSpec e;
  e.type = std::move(type);
  e.reason = std::move(reason);
  e.note = std::move(note);
  if (e.type == "Warning") {
    spdlog::warn("{}: {}", e.reason, e.note);
  } else {
    spdlog::info("{}: {}", e.reason, e.note);
  }
  reporter_->event(std::move(e));
}

std::string Sidecar::describe_target(const TargetProcess& t) const {
  return fmt::format("pid {} ({})", t.pid, t.comm.empty() ? "?" : t.comm);
}

// -- status -----------------------------------------------------------------------------

void Sidecar::refresh_status(std::string note) {
  std::lock_guard lock(status_mu_);
  if (!note.empty()) {
    pending_note_ = std::move(note);
  }
  size_t ready = dir_.ready_files().size();
  size_t spooled = uploader_->spool_depth();
  std::string next;
  if (rec_state_ == RecState::kRecording) {
    next = "recording";
  } else if (rec_state_ == RecState::kStopping || saving_ || ready > 0 || uploader_->spooling()) {
    next = "saving";
  } else if (uploader_->uploading() || spooled > 0) {
    next = "uploading";
  } else if (!error_reason_.empty()) {
    next = "error";
  } else {
    next = "idle";
  }
  metrics_.recording = rec_state_ == RecState::kRecording ? 1 : 0;
  if (next == status_) {
    return;
  }
  std::string prev = std::exchange(status_, next);
  std::string note_text = std::exchange(pending_note_, {});
  k8s::AnnotationChanges changes{{key("status"), next}};
  changes[key("error")] = next == "error" ? std::optional(error_message_) : std::nullopt;
  reporter_->patch(std::move(changes));

  std::string type = "Normal";
  std::string reason;
  if (next == "recording") {
    reason = "RecordingStarted";
  } else if (next == "saving") {
    reason = "SavingRecording";
  } else if (next == "uploading") {
    reason = "UploadingRecordings";
    if (note_text.empty()) {
      note_text = fmt::format("uploading {} recording(s) to {}", std::max<size_t>(spooled, 1),
                              uploader_->store_uri());
    }
  } else if (next == "error") {
    type = "Warning";
    reason = error_reason_;
    note_text = error_message_;
  } else {
    reason = "Idle";
    if (note_text.empty()) {
      note_text = prev == "uploading" ? "every recording is uploaded; nothing left to do"
                                      : "not recording; nothing to upload";
    }
  }
  if (note_text.empty()) {
    note_text = fmt::format("status {} -> {}", prev.empty() ? "(none)" : prev, next);
  }
  event(type, reason, note_text);
}

void Sidecar::set_error(std::string reason, std::string message) {
  {
    std::lock_guard lock(status_mu_);
    if (error_reason_ == reason && error_message_ == message) {
      return;
    }
    error_reason_ = std::move(reason);
    error_message_ = std::move(message);
    if (status_ == "error") {
      // Already in error: the status does not change, so report the new cause here.
      status_.clear();
    }
  }
  refresh_status();
}

void Sidecar::clear_error() {
  {
    std::lock_guard lock(status_mu_);
    if (error_reason_.empty()) {
      return;
    }
    error_reason_.clear();
    error_message_.clear();
  }
  refresh_status();
}

// -- desired state ------------------------------------------------------------------------

void Sidecar::on_pod_update(const std::optional<k8s::Pod>& pod) {
  if (!pod) {
    spdlog::warn("pod {}/{} does not exist (deleted?); keeping the last desired state",
                 options_.namespace_, options_.pod);
    return;
  }
  std::vector<ControlError> new_errors;
  ControlSpec spec;
  bool deleting = false;
  {
    std::lock_guard lock(mu_);
    bool first = !pod_synced_;
    pod_synced_ = true;
    watch_error_.clear();
    watch_error_reported_ = false;
    if (first) {
      reporter_->set_pod_uid(pod->uid);
    }
    if (options_.target.kind == TargetSelector::Kind::kContainer) {
      container_id_ = container_id_of(*pod, options_.target.value);
    }
    auto parsed = parse_control_spec(pod->annotations, options_.prefix, desired_);
    std::map<std::string, std::string> bad;
    for (auto& e : parsed.errors) {
      auto it = bad_values_.find(e.key);
      if (it == bad_values_.end() || it->second != e.value) {
        new_errors.push_back(e);
      }
      bad[e.key] = e.value;
    }
    bad_values_ = std::move(bad);
    desired_ = parsed.spec;
    spec = desired_;
    deleting = !pod_deleting_ && pod->raw.contains("metadata") &&
               pod->raw["metadata"].contains("deletionTimestamp");
    pod_deleting_ = pod_deleting_ || deleting;
    wake_ = true;
  }
  cv_.notify_all();
  if (deleting) {
    event("Normal", "PodDeleting",
          "the pod is being deleted: no new recordings; a recording in progress is stopped "
          "and uploaded, then the status is idle and the app's preStop hook lets it go");
  }
  for (const auto& e : new_errors) {
    ++metrics_.annotation_errors;
    std::string kept;
    if (e.key == key("record")) {
      kept = spec.record ? "on" : "off";
    } else if (e.key == key("record-on-log")) {
      kept = spec.log_pattern.empty() ? "no log trigger" : "'" + spec.log_pattern + "'";
    } else if (e.key == key("rotate")) {
      kept = spec.rotate.count() ? format_duration(spec.rotate) : "no rotation";
    } else {
      kept = spec.keep ? std::to_string(spec.keep) : "unset";
    }
    event("Warning", "InvalidAnnotation",
          fmt::format("{}: {}; ignored, still using the previous value ({})", e.key, e.message,
                      kept));
  }
}

Status Sidecar::start_threads() {
  HealthHandlers handlers;
  handlers.healthy = [this] {
    auto beat = Clock::time_point(Clock::duration(loop_heartbeat_.load()));
    return Clock::now() - beat < std::chrono::seconds(30);
  };
  handlers.not_ready = [this]() -> std::optional<std::string> {
    std::lock_guard lock(mu_);
    if (!pod_synced_) {
      return fmt::format("pod {}/{} not read from the API server yet{}", options_.namespace_,
                         options_.pod, watch_error_.empty() ? "" : ": " + watch_error_);
    }
    if (auto e = reporter_->last_error(); !e.empty()) {
      return "cannot publish status: " + e;
    }
    return std::nullopt;
  };
  handlers.metrics = [this] {
    std::string status;
    {
      std::lock_guard lock(status_mu_);
      status = status_;
    }
    return metrics_.render(status);
  };
  health_ = std::make_unique<HealthServer>(std::move(handlers));
  auto port = health_->start(options_.listen);
  if (!port) {
    return std::unexpected(port.error());
  }
  health_port_ = *port;
  spdlog::info("health and metrics on http://{}:{}/ (healthz, readyz, metrics)",
               options_.listen.substr(0, options_.listen.rfind(':')), health_port_);

  reporter_->start();
  uploader_->start();
  watcher_ = std::thread([this] {
    k8s::PodWatcher watcher(client_, {.namespace_ = options_.namespace_, .name = options_.pod});
    (void)watcher.run(
        watch_cancel_, [this](const k8s::PodUpdate& u) { on_pod_update(u.pod); },
        [this](const k8s::ApiError& e) {
          ++metrics_.api_errors;
          spdlog::warn("watching pod {}/{}: {}", options_.namespace_, options_.pod, e.message);
          bool report = false;
          {
            std::lock_guard lock(mu_);
            watch_error_ = e.message;
            report = !e.retryable() && !watch_error_reported_;
            watch_error_reported_ = watch_error_reported_ || report;
          }
          if (report) {
            event("Warning", "WatchFailed",
                  fmt::format("{}; the sidecar keeps retrying with backoff", e.message));
          }
        });
  });
  return ok();
}

// -- the controller ----------------------------------------------------------------------

Status Sidecar::run() {
  spdlog::info("rewind sidecar for pod {}/{}: target {}, store {}, recordings in {}",
               options_.namespace_, options_.pod, finder_.describe(), options_.store,
               options_.recordings_dir.string());
  auto recovered = dir_.recover_incomplete(file_in_use);
  if (!recovered.empty()) {
    event("Warning", "RecordingRecovered",
          fmt::format("found {} recording(s) whose recorder was killed before finishing (first: "
                      "{}); they are readable up to their last complete chunk and are uploaded "
                      "with reason incomplete",
                      recovered.size(), recovered.front().filename().string()));
  }
  if (auto s = start_threads(); !s) {
    return s;
  }
  refresh_status();
  next_recover_ = Clock::now() + std::chrono::seconds(2);
  for (;;) {
    loop_heartbeat_ = Clock::now().time_since_epoch().count();
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, next_tick(), [this] { return wake_ || stop_; });
      wake_ = false;
      if (stop_) {
        break;
      }
    }
    reconcile();
  }
  shutdown();
  return ok();
}

std::chrono::milliseconds Sidecar::next_tick() const {
  using std::chrono::milliseconds;
  if (recorder_ && (!recorder_attached_ || !stop_reason_.empty())) {
    return milliseconds(5);
  }
  if (!recorder_ && wanted_) {
    return options_.scan_interval;
  }
  if (recorder_ && applied_.rotate.count() > 0) {
    auto left = std::chrono::duration_cast<milliseconds>(recorder_started_ + applied_.rotate -
                                                         Clock::now());
    return std::clamp(left, milliseconds(1), milliseconds(1000));
  }
  return milliseconds(1000);
}

void Sidecar::reconcile() {
  ControlSpec spec;
  bool triggered = false;
  bool deleting = false;
  std::string match;
  {
    std::lock_guard lock(mu_);
    spec = desired_;
    triggered = log_triggered_;
    deleting = pod_deleting_;
    match = std::exchange(log_match_, {});
    finder_.set_container_id(container_id_);
  }
  auto now = Clock::now();
  manage_log_trigger(spec);
  applied_ = spec;
  if (!match.empty()) {
    event("Normal", "LogPatternMatched",
          fmt::format("a log line of container {} matched '{}': {}", log_trigger_
                      ? log_trigger_->spec().container : "?", spec.log_pattern,
                      match.substr(0, 300)));
  }

  if (recorder_ && recorder_->exited()) {
    handle_recorder_exit();
    std::lock_guard lock(mu_);
    triggered = log_triggered_;
  }
  if (!recorder_ && now >= next_recover_) {
    // Recordings a recorder of a previous sidecar was still finishing at startup.
    next_recover_ = now + std::chrono::seconds(2);
    if (!dir_.recover_incomplete(file_in_use).empty()) {
      uploader_->wake();
      refresh_status();
    }
  }

  bool want = (spec.record || triggered) && !deleting;
  if (want && !wanted_) {
    wanted_ = true;
    want_since_ = now;
    attached_this_period_ = false;
  } else if (!want && wanted_) {
    wanted_ = false;
    clear_error();
  }

  if (recorder_) {
    if (!recorder_attached_ && recorder_->attached()) {
      recorder_attached_ = true;
      attached_this_period_ = true;
      spawn_failures_ = 0;
      ++metrics_.recordings_started;
      clear_error();
      {
        std::lock_guard lock(status_mu_);
        rec_state_ = RecState::kRecording;
      }
      refresh_status(fmt::format("recording {} ({}) into {}", describe_target(target_),
                                 trigger_, recorder_->spec().output.filename().string()));
    }
    if (!want && stop_reason_.empty()) {
      stop_recorder("stop", deleting
                                ? fmt::format("the pod is being deleted: stopping the "
                                              "recording of {} and saving it",
                                              describe_target(target_))
                                : fmt::format("{}=off: stopping the recording of {} and "
                                              "saving it",
                                              key("record"), describe_target(target_)));
    } else if (want && stop_reason_ == "stop" && !recorder_->stopping()) {
      stop_reason_.clear();  // turned back on before the stop was sent
    } else if (recorder_attached_ && stop_reason_.empty() && spec.rotate.count() > 0 &&
               now - recorder_started_ >= spec.rotate) {
      stop_recorder("rotate", fmt::format("rotating the recording of {} (every {})",
                                          describe_target(target_),
                                          format_duration(spec.rotate)));
    }
    if (!stop_reason_.empty() && !recorder_->stopping()) {
      if (recorder_attached_) {
        recorder_->stop();
        {
          std::lock_guard lock(status_mu_);
          rec_state_ = RecState::kStopping;
        }
        refresh_status();
      } else if (now - recorder_started_ > std::chrono::seconds(10)) {
        recorder_->stop();  // stuck attaching: interrupt it
      }
    }
    return;
  }

  if (!want || now < retry_after_) {
    return;
  }
  if (auto t = finder_.find()) {
    if (*t == ended_target_) {
      return;  // still dying; the next scan finds its successor
    }
    spawn_recorder(*t);
    return;
  }
  if (!attached_this_period_ && now - want_since_ >= options_.target_grace) {
    set_error("TargetNotFound",
              fmt::format("recording is wanted but no target process was found: searched /proc "
                          "for {}; still searching every {} ms",
                          finder_.describe(), options_.scan_interval.count()));
  }
}

void Sidecar::manage_log_trigger(const ControlSpec& spec) {
  if (log_trigger_ && log_trigger_->spec().pattern == spec.log_pattern) {
    return;
  }
  if (!log_trigger_ && spec.log_pattern.empty()) {
    return;
  }
  log_trigger_.reset();
  if (spec.log_pattern.empty()) {
    return;
  }
  std::string container = options_.log_container;
  if (container.empty() && options_.target.kind == TargetSelector::Kind::kContainer) {
    container = options_.target.value;
  }
  if (container.empty()) {
    if (applied_.log_pattern != spec.log_pattern) {
      event("Warning", "InvalidAnnotation",
            fmt::format("{} needs to know which container's log to follow: run the sidecar "
                        "with --target-container or --log-container",
                        key("record-on-log")));
    }
    return;
  }
  LogTriggerSpec ts{options_.namespace_, options_.pod, container, spec.log_pattern,
                    spec.log_regex};
  log_trigger_ = std::make_unique<LogTrigger>(
      client_, std::move(ts),
      [this](std::string_view line) {
        {
          std::lock_guard lock(mu_);
          if (log_triggered_) {
            return;
          }
          log_triggered_ = true;
          log_match_ = std::string(line);
          wake_ = true;
        }
        cv_.notify_all();
      },
      [this, container](const std::string& error, bool first) {
        ++metrics_.api_errors;
        if (first) {
          event("Warning", "LogFollowFailed",
                fmt::format("cannot follow the log of container {} for {}: {}; retrying with "
                            "backoff",
                            container, key("record-on-log"), error));
        }
      });
  spdlog::info("following the log of container {} for lines matching '{}'", container,
               spec.log_pattern);
}

void Sidecar::spawn_recorder(const TargetProcess& target) {
  RecorderSpec rs;
  rs.pid = target.pid;
  rs.output = dir_.incoming_path(target.pid, std::chrono::system_clock::now());
  rs.extra_args = options_.recorder_args;
  auto rec = RecorderProcess::start(std::move(rs), [this] { wake(); });
  auto now = Clock::now();
  if (!rec) {
    ++metrics_.recordings_failed;
    ++spawn_failures_;
    retry_after_ = now + std::chrono::seconds(std::min(1 << std::min(spawn_failures_, 5), 30));
    set_error("RecorderFailed", fmt::format("cannot start the recorder for {}: {}",
                                            describe_target(target), rec.error().message));
    return;
  }
  recorder_ = std::move(*rec);
  target_ = target;
  recorder_started_ = now;
  recorder_attached_ = false;
  stop_reason_.clear();
  {
    std::lock_guard lock(mu_);
    trigger_ = desired_.record ? fmt::format("{}=on", key("record"))
               : log_triggered_ ? fmt::format("log line matched {}", key("record-on-log"))
                                : "requested";
  }
  {
    std::lock_guard lock(status_mu_);
    rec_state_ = RecState::kStarting;
  }
  spdlog::info("attaching recorder {} to {}", recorder_->pid(), describe_target(target));
}

void Sidecar::stop_recorder(std::string reason, std::string note) {
  stop_reason_ = std::move(reason);
  std::lock_guard lock(status_mu_);
  pending_note_ = std::move(note);
}

void Sidecar::handle_recorder_exit() {
  RecorderResult res = recorder_->result();
  auto output = recorder_->spec().output;
  auto log = recorder_->spec().log;
  bool attached = recorder_attached_;
  std::string stop_reason = stop_reason_;
  std::error_code ec;
  uint64_t size = std::filesystem::exists(output, ec) ? std::filesystem::file_size(output, ec) : 0;
  {
    // "saving" only when there is a recording to save: a recorder that never got to write
    // one (its target died as it attached) has nothing to show.
    std::lock_guard lock(status_mu_);
    saving_ = size > 0;
    rec_state_ = RecState::kNone;
  }
  recorder_.reset();
  recorder_attached_ = false;
  stop_reason_.clear();

  std::string reason;
  if (res.ended_by == "crash") {
    reason = "crash";
  } else if (res.exit_code == 0 && !stop_reason.empty()) {
    reason = stop_reason;
  } else if (res.exit_code == 0) {
    reason = "exit";
  } else {
    reason = attached ? "incomplete" : "failed";
  }
  std::string target = describe_target(target_);
  std::string note;
  if (reason == "crash") {
    note = fmt::format("{} crashed with {}; its recording ({}) is saved and queued for upload",
                       target, res.crash_signal.empty() ? "a fatal signal" : res.crash_signal,
                       mib(size));
  } else if (reason == "exit") {
    note = fmt::format("{} exited; its recording ({}) is saved and queued for upload", target,
                       mib(size));
  } else if (reason == "failed" || reason == "incomplete") {
    note = fmt::format("the recorder of {} failed (exit {}): {}", target, res.exit_code,
                       res.summary);
  }
  if (!attached || res.exit_code != 0) {
    ++metrics_.recordings_failed;
    if (!attached) {
      ++spawn_failures_;
      retry_after_ = Clock::now() +
                     std::chrono::milliseconds(250 << std::min(spawn_failures_, 7));
      if (target_.pid != 0 && finder_.alive(target_)) {
        set_error("RecorderFailed",
                  fmt::format("cannot record {}: {} (exit {}; retrying with backoff)", target,
                              res.summary.empty() ? "no output" : res.summary, res.exit_code));
      }
    } else {
      event("Warning", "RecorderFailed", note);
    }
  }
  if (reason == "crash" || reason == "exit") {
    ended_target_ = target_;
    std::lock_guard lock(mu_);
    log_triggered_ = false;  // a triggered recording ends with its process
  }

  bool queued = false;
  if (size > 0) {
    ++metrics_.recordings_saved;
    metrics_.recorded_bytes += size;
    if (reason == "rotate" && applied_.keep > 0) {
      auto deleted = dir_.keep_rotated(output, applied_.keep);
      if (!deleted) {
        event("Warning", "SaveFailed", deleted.error().message);
      } else if (*deleted > 0) {
        spdlog::info("keep={}: deleted {} older rotated recording(s)", applied_.keep, *deleted);
      }
    } else {
      if (reason == "crash") {
        if (int n = dir_.release_kept(); n > 0) {
          note += fmt::format(", with the {} rotated recording(s) kept before it", n);
        }
      }
      auto ready = dir_.finish(output, reason);
      if (!ready) {
        event("Warning", "SaveFailed", ready.error().message);
      } else {
        queued = !ready->empty();
        spdlog::info("saved {} ({}, {})", ready->filename().string(), mib(size),
                     res.summary.empty() ? reason : res.summary);
      }
    }
  } else {
    std::filesystem::remove(output, ec);
  }
  if (attached || res.exit_code == 0) {
    std::filesystem::remove(log, ec);
  }
  refresh_status(note);
  {
    std::lock_guard lock(status_mu_);
    saving_ = false;
  }
  if (queued) {
    uploader_->wake();
  }
  refresh_status();
}

void Sidecar::shutdown() {
  auto deadline = Clock::now() + options_.shutdown_timeout;
  spdlog::info("stopping: saving any recording and uploading (at most {} s)",
               std::chrono::duration_cast<std::chrono::seconds>(options_.shutdown_timeout).count());
  log_trigger_.reset();
  if (recorder_) {
    stop_reason_ = "shutdown";
    recorder_->stop();
    {
      std::lock_guard lock(status_mu_);
      rec_state_ = RecState::kStopping;
      pending_note_ = fmt::format("the sidecar is stopping: saving the recording of {}",
                                  describe_target(target_));
    }
    refresh_status();
    // Half the budget for the recorder to finish its file, the rest for uploading.
    auto recorder_deadline = Clock::now() + options_.shutdown_timeout / 2;
    while (!recorder_->exited() && Clock::now() < recorder_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!recorder_->exited()) {
      spdlog::warn("the recorder did not finish in time; killing it (its file is kept as "
                   "incomplete)");
      recorder_->kill();
      while (!recorder_->exited()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    handle_recorder_exit();
  }
  auto margin = std::min<Clock::duration>(options_.shutdown_timeout / 5, std::chrono::seconds(2));
  bool empty = uploader_->drain(deadline - margin);
  refresh_status(empty ? "" : "the sidecar is stopping with recordings still queued; they are "
                              "uploaded when it starts again");
  reporter_->flush(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(100))));
  watch_cancel_.cancel();
  if (watcher_.joinable()) {
    watcher_.join();
  }
  reporter_->stop();
  if (health_) {
    health_->stop();
  }
  if (!uploader_->stop()) {
    spdlog::warn("exiting in the middle of an upload; the upload queue in {} keeps it for the "
                 "next start",
                 dir_.spool().string());
    std::fflush(nullptr);
    std::_Exit(0);
  }
  spdlog::info("stopped{}", empty ? "; nothing left to upload" : "; uploads remain queued");
}

}  // namespace rwd::sidecar
