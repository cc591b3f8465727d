// Request bodies rewind sends to the API: the JSON merge patch that changes a pod's
// annotations, and an events.k8s.io/v1 Event about a pod. Pure functions, so what goes
// on the wire is pinned by unit tests.
//
//   auto patch = annotation_merge_patch({{"rewind.dev/status", "idle"},
//                                        {"rewind.dev/error", std::nullopt}});
//   // {"metadata":{"annotations":{"rewind.dev/error":null,"rewind.dev/status":"idle"}}}
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace rwd::k8s {

// Key -> new value; std::nullopt removes the key (JSON null in a merge patch).
using AnnotationChanges = std::map<std::string, std::optional<std::string>>;

nlohmann::json annotation_merge_patch(const AnnotationChanges& changes);

struct EventSpec {
  std::string type = "Normal";  // "Normal" or "Warning"
  std::string reason;           // UpperCamelCase, e.g. "RecordingStarted"
  std::string action;           // what was done, e.g. "Record"; defaults to reason
  std::string note;             // human text, at most 1 kB (longer is cut)
  std::string reporting_controller = "rewind.dev/sidecar";
  std::string reporting_instance;  // e.g. the pod name; defaults to the regarding pod
  // The pod the event is about.
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;  // optional
};

// The Event object to POST to /apis/events.k8s.io/v1/namespaces/NS/events.
nlohmann::json event_object(const EventSpec& spec, std::chrono::system_clock::time_point now);

// RFC 3339 with microseconds in UTC, as a MicroTime: "2026-11-27T18:04:21.123456Z".
std::string micro_time(std::chrono::system_clock::time_point t);

}  // namespace rwd::k8s
