#include "k8s/api_objects.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace rwd::k8s {

nlohmann::json annotation_merge_patch(const AnnotationChanges& changes) {
  nlohmann::json annotations = nlohmann::json::object();
  for (const auto& [key, value] : changes) {
    annotations[key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  }
  return {{"metadata", {{"annotations", annotations}}}};
}

std::string micro_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", tm, us % 1'000'000);
}

nlohmann::json event_object(const EventSpec& spec, std::chrono::system_clock::time_point now) {
  constexpr size_t kMaxNote = 1024;  // the API rejects longer notes
  std::string note = spec.note.size() > kMaxNote ? spec.note.substr(0, kMaxNote) : spec.note;
  nlohmann::json regarding = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"namespace", spec.pod_namespace},
      {"name", spec.pod_name},
  };
  if (!spec.pod_uid.empty()) {
    regarding["uid"] = spec.pod_uid;
  }
  return {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      // Named like client-go's recorder does (<object>.<hex nanoseconds>); the API
      // rejects a generateName ending in '.'.
      {"metadata",
       {{"name", fmt::format("{}.{:x}", spec.pod_name,
                             std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 now.time_since_epoch())
                                 .count())},
        {"namespace", spec.pod_namespace}}},
      {"eventTime", micro_time(now)},
      {"type", spec.type},
      {"reason", spec.reason},
      {"action", spec.action.empty() ? spec.reason : spec.action},
      {"note", note},
      {"reportingController", spec.reporting_controller},
      {"reportingInstance",
       spec.reporting_instance.empty() ? spec.pod_name : spec.reporting_instance},
      {"regarding", regarding},
  };
}

}  // namespace rwd::k8s
