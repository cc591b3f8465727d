#include "sidecar/status_reporter.h"

#include "common/log.h"

namespace rwd::sidecar {

StatusReporter::StatusReporter(const k8s::KubeClient& client, std::string ns, std::string pod,
                               SidecarMetrics& metrics)
    : client_(client), ns_(std::move(ns)), pod_(std::move(pod)), metrics_(metrics) {}

StatusReporter::~StatusReporter() { stop(); }

void StatusReporter::start() {
  thread_ = std::thread([this] { loop(); });
}

void StatusReporter::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cancel_.cancel();
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void StatusReporter::set_pod_uid(std::string uid) {
  std::lock_guard lock(mu_);
  pod_uid_ = std::move(uid);
}

void StatusReporter::patch(k8s::AnnotationChanges changes) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= kMaxBacklog) {
    // Far behind: merge every queued patch into one and drop queued events.
    k8s::AnnotationChanges merged;
    for (auto& item : queue_) {
      if (auto* p = std::get_if<k8s::AnnotationChanges>(&item)) {
        for (auto& [k, v] : *p) {
          merged[k] = v;
        }
      } else {
        ++dropped_events_;
      }
    }
    queue_.clear();
    queue_.emplace_back(std::move(merged));
    ++generation_;
  }
  if (!queue_.empty()) {
    if (auto* last = std::get_if<k8s::AnnotationChanges>(&queue_.back())) {
      // Same keys with the same values as the one already waiting: nothing new.
      bool same = true;
      for (auto& [k, v] : changes) {
        auto it = last->find(k);
        same = same && it != last->end() && it->second == v;
      }
      if (same) {
        return;
      }
    }
  }
  queue_.emplace_back(std::move(changes));
  cv_.notify_all();
}

void StatusReporter::event(k8s::EventSpec spec) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= kMaxBacklog) {
    ++dropped_events_;
    return;
  }
  queue_.emplace_back(std::move(spec));
  cv_.notify_all();
}

bool StatusReporter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return (queue_.empty() && !busy_) || stop_; });
}

std::string StatusReporter::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

bool StatusReporter::send(const Item& item, int attempt) {
  if (const auto* changes = std::get_if<k8s::AnnotationChanges>(&item)) {
    auto r = client_.patch_pod_annotations(ns_, pod_, *changes);
    if (r) {
      std::lock_guard lock(mu_);
      last_error_.clear();
      patch_failure_reported_ = false;
      return true;
    }
    ++metrics_.api_errors;
    if (r.error().retryable()) {
      spdlog::warn("{} (retrying)", r.error().message);
      return false;
    }
    spdlog::error("{}", r.error().message);
    bool report = false;
    {
      std::lock_guard lock(mu_);
      last_error_ = r.error().message;
      report = !patch_failure_reported_;
      patch_failure_reported_ = true;
    }
    if (report) {
      // Events may still be allowed when patches are not: say why status is stale.
      k8s::EventSpec e;
      e.type = "Warning";
      e.reason = "StatusUpdateFailed";
      e.action = "PatchPod";
      e.note = r.error().message;
      e.pod_namespace = ns_;
      e.pod_name = pod_;
      if (auto ev = client_.create_event(e); !ev) {
        spdlog::error("{}", ev.error().message);
      }
    }
    return true;
  }
  k8s::EventSpec spec = std::get<k8s::EventSpec>(item);
  spec.pod_namespace = ns_;
  spec.pod_name = pod_;
  {
    std::lock_guard lock(mu_);
    spec.pod_uid = pod_uid_;
  }
  auto r = client_.create_event(spec);
  if (r) {
    return true;
  }
  ++metrics_.api_errors;
  if (r.error().retryable() && attempt < 5) {
    spdlog::warn("{} (retrying)", r.error().message);
    return false;
  }
  spdlog::error("{}; event was: {}: {}", r.error().message, spec.reason, spec.note);
  return true;
}

void StatusReporter::loop() {
  int attempt = 0;
  for (;;) {
    Item item;
    uint64_t generation = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) {
        return;
      }
      item = queue_.front();
      generation = generation_;
      busy_ = true;
      if (dropped_events_ > 0) {
        spdlog::warn("the API server is far behind: dropped {} events", dropped_events_);
        dropped_events_ = 0;
      }
    }
    bool done = send(item, attempt);
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      // patch() may have merged the queue meanwhile (the merge includes our item, so it
      // is sent again); otherwise the front is still ours.
      if (done && !queue_.empty() && generation == generation_) {
        queue_.pop_front();
      }
      if (queue_.empty()) {
        idle_cv_.notify_all();
      }
    }
    if (done) {
      attempt = 0;
    } else {
      ++attempt;
      auto backoff = std::chrono::milliseconds(std::min(200 << std::min(attempt, 7), 15000));
      cancel_.sleep_for(backoff);
    }
  }
}

}  // namespace rwd::sidecar
