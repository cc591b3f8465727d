#include "k8s/wait_idle.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "k8s/pod_watcher.h"

namespace rwd::k8s {
namespace {

using Clock = std::chrono::steady_clock;

// The status a pod reports; nullopt when the annotation (or the pod) is absent.
std::optional<std::string> status_of(const std::optional<Pod>& pod, const std::string& key) {
  return pod ? pod->annotation(key) : std::nullopt;
}

bool is_idle(const std::optional<std::string>& status) { return !status || *status == "idle"; }

std::string describe(const std::optional<std::string>& status) {
  return status ? fmt::format("'{}'", *status) : std::string("absent");
}

}  // namespace

Result<WaitIdleResult> wait_idle(const KubeClient& client, const WaitIdleOptions& options) {
  const std::string key = options.annotation_prefix + "/status";
  const std::string who = fmt::format("pod {}/{}", options.namespace_, options.pod);
  if (options.namespace_.empty() || options.pod.empty()) {
    return fail("wait-idle needs the pod's namespace and name (set POD_NAMESPACE and POD_NAME "
                "from the downward API, or pass --namespace and --pod)");
  }
  const auto deadline = Clock::now() + options.timeout;

  // One GET first: credentials, RBAC and TLS problems fail here, at once, with their own
  // message, instead of turning into a silent wait for the whole timeout.
  auto first = client.get_pod(options.namespace_, options.pod);
  if (!first && !first.error().retryable()) {
    if (first.error().kind == ApiError::Kind::kHttp && first.error().http_status == 404) {
      spdlog::info("wait-idle: {} does not exist; nothing to wait for", who);
      return WaitIdleResult::kIdle;
    }
    return std::unexpected(first.error().to_error());
  }
  if (first) {
    auto status = status_of(*first, key);
    if (is_idle(status)) {
      spdlog::info("wait-idle: {} is idle ({} is {})", who, key, describe(status));
      return WaitIdleResult::kIdle;
    }
    spdlog::info("wait-idle: {} is {} ({}); waiting up to {}s for the sidecar to finish", who,
                 describe(status), key,
                 std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count());
  } else {
    spdlog::warn("wait-idle: {} (retrying until the timeout)", first.error().message);
  }

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::optional<std::string> last_status = first ? status_of(*first, key) : std::nullopt;
  std::optional<Error> fatal;
  Cancel stop;

  // The timer thread ends the watch at the deadline and logs progress meanwhile.
  std::jthread timer([&] {
    std::unique_lock lock(mu);
    while (!done) {
      auto now = Clock::now();
      if (now >= deadline) {
        break;
      }
      auto wake = std::min(deadline, now + options.progress_interval);
      if (cv.wait_until(lock, wake, [&] { return done; })) {
        break;
      }
      if (Clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
        spdlog::info("wait-idle: still waiting: {} is {} ({}s left)", who, describe(last_status),
                     left.count());
      }
    }
    lock.unlock();
    stop.cancel();
  });

  bool idle = false;
  PodWatcher watcher(client, {.namespace_ = options.namespace_, .name = options.pod});
  auto finish = [&] {
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    stop.cancel();
  };
  auto run = watcher.run(
      stop,
      [&](const PodUpdate& update) {
        auto status = status_of(update.pod, key);
        bool changed;
        {
          std::lock_guard lock(mu);
          changed = status != last_status;
          last_status = status;
        }
        if (!update.pod) {
          spdlog::info("wait-idle: {} is gone; nothing to wait for", who);
          idle = true;
          finish();
        } else if (is_idle(status)) {
          spdlog::info("wait-idle: {} is now idle ({} is {})", who, key, describe(status));
          idle = true;
          finish();
        } else if (changed) {
          spdlog::info("wait-idle: {} is now {}", who, describe(status));
        }
      },
      [&](const ApiError& e) {
        // The first GET proved the credentials and the Role; after that even a 401 or
        // 403 can be transient (an API server that is restarting answers 403 until its
        // RBAC cache is warm), so only a TLS or configuration failure ends the wait.
        if (e.kind == ApiError::Kind::kTls || e.kind == ApiError::Kind::kConfig) {
          fatal = e.to_error();
          finish();
          return;
        }
        spdlog::warn("wait-idle: {} (retrying)", e.message);
      });
  finish();
  timer.join();
  if (!run) {
    return std::unexpected(run.error());
  }
  if (idle) {
    return WaitIdleResult::kIdle;
  }
  if (fatal) {
    return std::unexpected(*fatal);
  }
  return WaitIdleResult::kTimedOut;
}

}  // namespace rwd::k8s
