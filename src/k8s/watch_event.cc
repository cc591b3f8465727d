#include "k8s/watch_event.h"

namespace rwd::k8s {

std::string_view to_string(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "?";
}

Result<WatchEvent> parse_watch_event(std::string_view line) {
  std::string_view start = line.substr(0, 80);
  auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return fail("malformed watch event (not a JSON object): {}", start);
  }
  auto type = json.find("type");
  auto object = json.find("object");
  if (type == json.end() || !type->is_string() || object == json.end() || !object->is_object()) {
    return fail("malformed watch event (needs \"type\" and \"object\"): {}", start);
  }
  WatchEvent ev;
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return fail("unknown watch event type \"{}\"", t);
  }
  ev.object = std::move(*object);
  if (ev.type == WatchEvent::Type::kError) {
    ev.error_code = ev.object.value("code", 0);
    ev.error_message = ev.object.value("message", "");
    return ev;
  }
  auto meta = ev.object.find("metadata");
  if (meta != ev.object.end() && meta->is_object()) {
    ev.resource_version = meta->value("resourceVersion", "");
  }
  if (ev.resource_version.empty()) {
    return fail("watch event {} has no metadata.resourceVersion", t);
  }
  return ev;
}

}  // namespace rwd::k8s
