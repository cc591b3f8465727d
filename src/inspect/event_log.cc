#include "inspect/event_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "inspect/syscall_formatter.h"
#include "tracee/syscall_table.h"

namespace rwd {

Result<EventFilter> EventFilter::parse(std::optional<uint32_t> tid, std::string_view names) {
  EventFilter f;
  f.tid = tid;
  std::vector<std::string> unknown;
  while (!names.empty()) {
    size_t comma = names.find(',');
    std::string_view name = names.substr(0, comma);
    names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    if (name.empty()) {
      continue;
    }
    if (const SyscallInfo* info = syscall_info_by_name(name)) {
      f.syscalls.push_back(info->nr);
    } else {
      unknown.emplace_back(name);
    }
  }
  if (!unknown.empty()) {
    return fail("unknown syscall name{} {} (names as in strace, e.g. openat,read)",
                unknown.size() > 1 ? "s" : "", fmt::join(unknown, ", "));
  }
  return f;
}

bool EventFilter::matches(const Event& e) const {
  if (tid && e.tid != *tid) {
    return false;
  }
  if (syscalls.empty()) {
    return true;
  }
  if (e.type != EventType::kSyscall) {
    return false;
  }
  for (int64_t nr : syscalls) {
    if (nr == e.sysno) {
      return true;
    }
  }
  return false;
}

std::string format_log_line(const Event& e, bool json) {
  if (json) {
    return event_to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  uint64_t us = e.time_ns / 1000;
  return fmt::format("{:4}.{:06} {:>7} {}", us / 1000000, us % 1000000, e.tid, format_event(e));
}

Result<uint64_t> print_event_log(const RecordingReader& r, const EventFilter& filter, bool json,
                                 std::FILE* out, LogOrder order) {
  uint64_t printed = 0;
  // In time order every line is held until the end: a syscall that blocked for seconds
  // is logged when it returned, behind everything that ran meanwhile.
  std::vector<std::pair<uint64_t, std::string>> held;
  auto s = r.for_each_event([&](const Event& e) {
    if (filter.matches(e)) {
      if (order == LogOrder::kTime) {
        held.emplace_back(e.time_ns, format_log_line(e, json));
      } else {
        fmt::print(out, "{}\n", format_log_line(e, json));
      }
      ++printed;
    }
    return true;
  });
  std::stable_sort(held.begin(), held.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [time, line] : held) {
    fmt::print(out, "{}\n", line);
  }
  if (!s) {
    return std::unexpected(s.error());
  }
  return printed;
}

}  // namespace rwd
