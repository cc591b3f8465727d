// Object keys and user metadata for recordings in a store.
//
// Inside Kubernetes:  <prefix>/<namespace>/<pod>/<container>/<UTC yyyymmddThhmmssZ>-<pid>-<reason>.rwd
// Outside:            <prefix>/<hostname>/<exe>/<UTC yyyymmddThhmmssZ>-<pid>-<reason>.rwd
//
// Every component is reduced to [A-Za-z0-9._-] (anything else becomes '_') so keys are
// safe in URLs, shells and file systems. The sidecar fills a RecordingOrigin and calls
// recording_key(); `rewind ls` reads the time, pid and reason back with
// parse_recording_name().
//
//   RecordingOrigin o{.namespace_name = "shop", .pod = "cart-7d9", .container = "app",
//                     .pid = 1, .reason = "crash", .time = now};
//   std::string key = recording_key("prod", o);
//   // prod/shop/cart-7d9/app/20261127T180000Z-1-crash.rwd
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rwd {

struct RecordingOrigin {
  // Kubernetes identity; used when namespace_name and pod are both set.
  std::string namespace_name;
  std::string pod;
  std::string container;
  // Identity outside Kubernetes.
  std::string hostname;
  std::string exe;  // executable base name
  int pid = 0;
  std::string reason = "manual";  // crash, annotation, log-pattern, schedule, manual, ...
  std::string node;               // node (machine) name, for metadata
  std::chrono::system_clock::time_point time;
};

using Metadata = std::map<std::string, std::string>;

// The key for a recording, below `prefix` (which may be empty).
std::string recording_key(std::string_view prefix, const RecordingOrigin& origin);

// User metadata stored with the object: sha256, size, reason, node, rewind-version.
Metadata recording_metadata(const RecordingOrigin& origin, std::string_view sha256_hex,
                            uint64_t size);

// Fills hostname/node from uname and time from the clock; exe, pid and reason from args.
RecordingOrigin local_origin(std::string_view exe, int pid, std::string_view reason);

// "20261127T180000Z"
std::string utc_stamp(std::chrono::system_clock::time_point t);

struct RecordingName {
  std::chrono::system_clock::time_point time;
  int pid = 0;
  std::string reason;
};
// Reads time, pid and reason back from a key's last component; nullopt when the name
// does not follow the layout (objects not written by rewind).
std::optional<RecordingName> parse_recording_name(std::string_view key);

// Replaces every character outside [A-Za-z0-9._-] with '_'; empty becomes "unknown".
std::string sanitize_key_component(std::string_view s);

}  // namespace rwd
