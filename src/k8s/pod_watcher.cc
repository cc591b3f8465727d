#include "k8s/pod_watcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace rwd::k8s {

std::chrono::milliseconds PodWatcher::next_backoff() {
  backoff_ = backoff_.count() == 0 ? options_.min_backoff
                                   : std::min(backoff_ * 2, options_.max_backoff);
  // Up to 25% jitter so that many sidecars restarted together do not reconnect together.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  auto jitter = std::uniform_int_distribution<int64_t>(0, backoff_.count() / 4)(rng);
  return backoff_ + std::chrono::milliseconds(jitter);
}

Status PodWatcher::run(const Cancel& cancel, const std::function<void(const PodUpdate&)>& on_update,
                       const std::function<void(const ApiError&)>& on_error) {
  if (options_.name.empty() || options_.namespace_.empty()) {
    return fail("cannot watch a pod without a namespace and a name (set POD_NAME and "
                "POD_NAMESPACE from the downward API)");
  }
  const std::string& ns = options_.namespace_;
  const std::string& name = options_.name;
  bool need_sync = true;
  resource_version_.clear();

  auto failed = [&](const ApiError& e) {
    ++stats_.errors;
    if (on_error) {
      on_error(e);
    }
    cancel.sleep_for(next_backoff());
  };

  while (!cancel.cancelled()) {
    if (need_sync) {
      auto pod = client_.get_pod(ns, name, &cancel);
      bool absent = !pod && pod.error().kind == ApiError::Kind::kHttp &&
                    pod.error().http_status == 404;
      if (!pod && !absent) {
        if (pod.error().kind != ApiError::Kind::kCancelled) {
          failed(pod.error());
        }
        continue;
      }
      ++stats_.syncs;
      need_sync = false;
      // Watch from "now": the server opens with the pod's current state.
      resource_version_.clear();
      on_update(PodUpdate{PodUpdate::Reason::kSynced,
                          absent ? std::nullopt : std::optional<Pod>(std::move(*pod))});
    }

    bool expired = false;
    bool got_events = false;
    std::optional<ApiError> error_event;
    ++stats_.watches;
    if (!resource_version_.empty()) {
      ++stats_.resumes;
    }
    auto status = client_.watch_pod(
        ns, name, resource_version_, options_.watch_timeout_seconds,
        [&](const WatchEvent& ev) {
          got_events = true;
          switch (ev.type) {
            case WatchEvent::Type::kBookmark:
              ++stats_.bookmarks;
              resource_version_ = ev.resource_version;
              return true;
            case WatchEvent::Type::kError:
              if (ev.expired()) {
                expired = true;
              } else {
                error_event = ApiError{
                    ApiError::Kind::kHttp, ev.error_code,
                    fmt::format("watch of pod {}/{} ended with an error {}: {} (will retry)", ns,
                                name, ev.error_code, ev.error_message)};
              }
              return false;
            case WatchEvent::Type::kDeleted:
              resource_version_ = ev.resource_version;
              on_update(PodUpdate{PodUpdate::Reason::kDeleted, std::nullopt});
              return true;
            case WatchEvent::Type::kAdded:
            case WatchEvent::Type::kModified: {
              resource_version_ = ev.resource_version;
              auto pod = parse_pod(ev.object);
              if (!pod) {
                spdlog::warn("watch of pod {}/{}: ignoring an event: {}", ns, name,
                             pod.error().message);
                return true;
              }
              if (pod->name == name) {
                on_update(PodUpdate{PodUpdate::Reason::kChanged, std::move(*pod)});
              }
              return true;
            }
          }
          return true;
        },
        cancel);
    if (got_events) {
      backoff_ = std::chrono::milliseconds(0);
    }
    if (!status && status.error().kind == ApiError::Kind::kCancelled) {
      break;
    }
    if (expired || (!status && status.error().expired())) {
      spdlog::info("watch of pod {}/{}: resource version {} is too old (410 Expired); "
                   "syncing again",
                   ns, name, resource_version_);
      ++stats_.expired;
      need_sync = true;
      continue;
    }
    if (!status) {
      failed(status.error());
      continue;
    }
    if (error_event) {
      failed(*error_event);
      continue;
    }
    // The server ended the watch (its timeout): resume from the last version seen.
  }
  return {};
}

}  // namespace rwd::k8s
