// WatchEvent: one line of a Kubernetes watch stream (?watch=1), parsed.
//
// A watch answers with one JSON object per line: {"type": "ADDED"|"MODIFIED"|"DELETED"|
// "BOOKMARK"|"ERROR", "object": ...}. BOOKMARK carries only a newer resourceVersion;
// ERROR carries a Status, whose code 410 means the watch's resourceVersion expired and
// the watcher must re-list.
//
//   auto ev = parse_watch_event(line);
//   if (ev && ev->type == WatchEvent::Type::kError && ev->expired()) relist();
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd::k8s {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kError;
  std::string resource_version;  // the object's metadata.resourceVersion
  nlohmann::json object;
  // For kError: the Status's code and message.
  int error_code = 0;
  std::string error_message;

  bool expired() const { return type == Type::kError && error_code == 410; }
};

// Fails on malformed JSON or an unknown type; the message quotes the start of the line.
Result<WatchEvent> parse_watch_event(std::string_view line);

std::string_view to_string(WatchEvent::Type type);

}  // namespace rwd::k8s
