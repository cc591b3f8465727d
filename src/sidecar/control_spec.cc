#include "sidecar/control_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace rwd::sidecar {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<bool> parse_record_value(std::string_view value) {
  std::string v = lower(trim(value));
  if (v == "on" || v == "start") {
    return true;
  }
  if (v == "off" || v == "stop") {
    return false;
  }
  return fail("'{}' is not a recording state (use \"on\" or \"off\"; \"start\" and \"stop\" "
              "work too)",
              value);
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) {
    return fail("empty duration (write it like 30s, 15m, 6h, 1d or 1h30m)");
  }
  int64_t total = 0;
  while (!s.empty()) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p == s.data()) {
      return fail("'{}' is not a duration (write it like 30s, 15m, 6h, 1d or 1h30m)", text);
    }
    s.remove_prefix(static_cast<size_t>(p - s.data()));
    if (s.empty()) {
      return fail("'{}' is not a duration: the number needs a unit (s, m, h or d)", text);
    }
    int64_t unit = 0;
    switch (s.front()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return fail("'{}' is not a duration: unknown unit '{}' (use s, m, h or d)", text,
                    s.front());
    }
    s.remove_prefix(1);
    if (n > (int64_t{1} << 40) / unit) {
      return fail("'{}' is too long a duration", text);
    }
    total += n * unit;
  }
  if (total < 1) {
    return fail("'{}' is too short a duration (at least 1s)", text);
  }
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  int64_t s = d.count();
  std::string out;
  for (auto [unit, name] : {std::pair<int64_t, char>{86400, 'd'}, {3600, 'h'}, {60, 'm'}}) {
    if (s >= unit) {
      out += fmt::format("{}{}", s / unit, name);
      s %= unit;
    }
  }
  if (s > 0 || out.empty()) {
    out += fmt::format("{}s", s);
  }
  return out;
}

ParsedControl parse_control_spec(const std::map<std::string, std::string>& annotations,
                                 const std::string& prefix, const ControlSpec& previous) {
  ParsedControl out;
  out.spec = ControlSpec{};
  auto get = [&](const char* name) -> std::optional<std::pair<std::string, std::string>> {
    std::string key = prefix + "/" + name;
    auto it = annotations.find(key);
    if (it == annotations.end()) {
      return std::nullopt;
    }
    return std::pair{key, it->second};
  };
  auto error = [&](const std::string& key, const std::string& value, std::string message) {
    out.errors.push_back({key, value, std::move(message)});
  };

  if (auto kv = get("record")) {
    if (auto v = parse_record_value(kv->second)) {
      out.spec.record = *v;
    } else {
      out.spec.record = previous.record;
      error(kv->first, kv->second, v.error().message);
    }
  }
  if (auto kv = get("record-on-log")) {
    if (trim(kv->second).empty()) {
      // An empty value switches the trigger off, like removing the key.
    } else if (kv->second == previous.log_pattern && previous.log_regex) {
      out.spec.log_pattern = previous.log_pattern;
      out.spec.log_regex = previous.log_regex;
    } else {
      try {
        out.spec.log_regex = std::make_shared<const std::regex>(kv->second, std::regex::ECMAScript);
        out.spec.log_pattern = kv->second;
      } catch (const std::regex_error& e) {
        out.spec.log_pattern = previous.log_pattern;
        out.spec.log_regex = previous.log_regex;
        error(kv->first, kv->second,
              fmt::format("'{}' is not a valid regular expression (ECMAScript syntax): {}",
                          kv->second, e.what()));
      }
    }
  }
  if (auto kv = get("rotate")) {
    if (auto d = parse_duration(kv->second)) {
      out.spec.rotate = *d;
    } else {
      out.spec.rotate = previous.rotate;
      error(kv->first, kv->second, d.error().message);
    }
  }
  if (auto kv = get("keep")) {
    std::string_view v = trim(kv->second);
    int n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 10000) {
      out.spec.keep = previous.keep;
      error(kv->first, kv->second,
            fmt::format("'{}' is not a number of recordings to keep (a whole number from 1 to "
                        "10000)",
                        kv->second));
    } else {
      out.spec.keep = n;
    }
  }
  return out;
}

}  // namespace rwd::sidecar
