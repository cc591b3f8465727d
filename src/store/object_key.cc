#include "store/object_key.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/utsname.h>

#include <charconv>
#include <ctime>

#include "common/version.h"
#include "store/store_uri.h"

namespace rwd {

std::string sanitize_key_component(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
    out += keep ? c : '_';
  }
  // "." and ".." would be path traversal in a file store.
  if (out.empty() || out == "." || out == "..") {
    return "unknown";
  }
  return out;
}

std::string utc_stamp(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string recording_key(std::string_view prefix, const RecordingOrigin& o) {
  std::string dir;
  if (!o.namespace_name.empty() && !o.pod.empty()) {
    dir = fmt::format("{}/{}/{}", sanitize_key_component(o.namespace_name),
                      sanitize_key_component(o.pod), sanitize_key_component(o.container));
  } else {
    dir = fmt::format("{}/{}", sanitize_key_component(o.hostname), sanitize_key_component(o.exe));
  }
  std::string name = fmt::format("{}-{}-{}.rwd", utc_stamp(o.time), o.pid,
                                 sanitize_key_component(o.reason));
  return join_key(prefix, dir + "/" + name);
}

Metadata recording_metadata(const RecordingOrigin& o, std::string_view sha256_hex,
                            uint64_t size) {
  Metadata m;
  m["sha256"] = std::string(sha256_hex);
  m["size"] = std::to_string(size);
  m["reason"] = sanitize_key_component(o.reason);
  m["node"] = sanitize_key_component(o.node.empty() ? o.hostname : o.node);
  m["rewind-version"] = std::string(kVersion);
  return m;
}

RecordingOrigin local_origin(std::string_view exe, int pid, std::string_view reason) {
  RecordingOrigin o;
  struct utsname u {};
  if (uname(&u) == 0) {
    o.hostname = u.nodename;
  }
  o.node = o.hostname;
  o.exe = std::string(exe);
  o.pid = pid;
  o.reason = std::string(reason);
  o.time = std::chrono::system_clock::now();
  return o;
}

std::optional<RecordingName> parse_recording_name(std::string_view key) {
  auto slash = key.rfind('/');
  std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  if (!name.ends_with(".rwd") || name.size() < 16 + 1 + 1 + 1 + 4) {
    return std::nullopt;
  }
  name.remove_suffix(4);
  std::string_view stamp = name.substr(0, 16);
  if (stamp[8] != 'T' || stamp[15] != 'Z' || name[16] != '-') {
    return std::nullopt;
  }
  auto num = [&](size_t at, size_t len, int& out) {
    auto r = std::from_chars(stamp.data() + at, stamp.data() + at + len, out);
    return r.ec == std::errc() && r.ptr == stamp.data() + at + len;
  };
  std::tm tm{};
  int year, mon, day, hour, min, sec;
  if (!num(0, 4, year) || !num(4, 2, mon) || !num(6, 2, day) || !num(9, 2, hour) ||
      !num(11, 2, min) || !num(13, 2, sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::string_view rest = name.substr(17);
  auto dash = rest.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 >= rest.size()) {
    return std::nullopt;
  }
  RecordingName out;
  auto r = std::from_chars(rest.data(), rest.data() + dash, out.pid);
  if (r.ec != std::errc() || r.ptr != rest.data() + dash) {
    return std::nullopt;
  }
  out.reason = std::string(rest.substr(dash + 1));
  out.time = std::chrono::system_clock::from_time_t(timegm(&tm));
  return out;
}

}  // namespace rwd
