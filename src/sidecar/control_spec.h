// ControlSpec: the desired state a user writes into the pod's annotations, parsed and
// validated. Pure functions; the sidecar keeps the last valid value of each key, so a
// typo never changes what the sidecar does (it becomes a Warning Event instead).
//
//   <prefix>/record          on | off            (start | stop accepted as synonyms)
//   <prefix>/record-on-log   ECMAScript regex    start recording when a log line matches
//   <prefix>/rotate          duration: 90s, 15m, 6h, 1d, 1h30m
//   <prefix>/keep            N >= 1              rotated recordings kept (see docs)
//
//   auto parsed = parse_control_spec(pod.annotations, "rewind.dev", previous);
//   for (const auto& e : parsed.errors) warn(e.key, e.value, e.message);
//   use(parsed.spec);   // previous values where a key was invalid
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd::sidecar {

struct ControlSpec {
  bool record = false;
  std::string log_pattern;               // "" = no log trigger
  std::shared_ptr<const std::regex> log_regex;  // compiled log_pattern
  std::chrono::seconds rotate{0};        // 0 = no rotation
  int keep = 0;                          // 0 = upload every rotated recording

  bool operator==(const ControlSpec& o) const {
    return record == o.record && log_pattern == o.log_pattern && rotate == o.rotate &&
           keep == o.keep;
  }
};

struct ControlError {
  std::string key;    // full annotation key
  std::string value;  // what the user wrote
  std::string message;
};

struct ParsedControl {
  ControlSpec spec;
  std::vector<ControlError> errors;
};

// Reads the control annotations under `prefix` ("rewind.dev" -> "rewind.dev/record").
// An absent key takes its default (record off, no trigger, no rotation); an invalid
// value keeps the value from `previous` and adds an error.
ParsedControl parse_control_spec(const std::map<std::string, std::string>& annotations,
                                 const std::string& prefix, const ControlSpec& previous);

// "on"/"start" -> true, "off"/"stop" -> false (case-insensitive, surrounding blanks
// ignored); anything else is an error naming the accepted values.
Result<bool> parse_record_value(std::string_view value);

// Durations like Go's time.ParseDuration limited to whole seconds: "90s", "15m",
// "1h30m", "1d" (days), at least 1s. No bare numbers: a unit is required.
Result<std::chrono::seconds> parse_duration(std::string_view text);

// "2h30m" style text for a duration, for messages.
std::string format_duration(std::chrono::seconds d);

}  // namespace rwd::sidecar
