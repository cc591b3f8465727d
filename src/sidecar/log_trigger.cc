#include "sidecar/log_trigger.h"

#include "common/log.h"

namespace rwd::sidecar {

LogTrigger::LogTrigger(const k8s::KubeClient& client, LogTriggerSpec spec,
                       std::function<void(std::string_view)> on_match,
                       std::function<void(const std::string&, bool)> on_error)
    : client_(client),
      spec_(std::move(spec)),
      on_match_(std::move(on_match)),
      on_error_(std::move(on_error)) {
  thread_ = std::thread([this] { loop(); });
}

LogTrigger::~LogTrigger() { stop(); }

void LogTrigger::stop() {
  cancel_.cancel();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void LogTrigger::loop() {
  int failures = 0;
  auto last_seen = std::chrono::steady_clock::now();
  bool first_connect = true;
  while (!cancel_.cancelled()) {
    k8s::LogOptions opts;
    opts.follow = true;
    if (first_connect) {
      opts.tail_lines = 0;  // only lines written from now on
    } else {
      // Lines written while reconnecting, with a second of overlap.
      auto gap = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::steady_clock::now() - last_seen);
      opts.since_seconds = std::max<int64_t>(1, gap.count() + 1);
    }
    auto r = client_.follow_pod_log(
        spec_.namespace_, spec_.pod, spec_.container, opts,
        [&](std::string_view line) {
          last_seen = std::chrono::steady_clock::now();
          failures = 0;
          if (std::regex_search(line.begin(), line.end(), *spec_.regex)) {
            on_match_(line);
          }
          return !cancel_.cancelled();
        },
        cancel_);
    if (cancel_.cancelled()) {
      return;
    }
    first_connect = false;
    if (!r) {
      ++failures;
      spdlog::warn("following the log of {}/{} container {}: {}", spec_.namespace_, spec_.pod,
                   spec_.container, r.error().message);
      if (on_error_) {
        on_error_(r.error().message, failures == 1);
      }
    } else {
      last_seen = std::chrono::steady_clock::now();
    }
    auto backoff = std::chrono::seconds(std::min(1 << std::min(failures, 5), 30));
    cancel_.sleep_for(failures == 0 ? std::chrono::milliseconds(1000) : backoff);
  }
}

}  // namespace rwd::sidecar
