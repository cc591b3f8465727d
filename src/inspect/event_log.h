// EventLog: what `rewind log` prints — every event of a recording in order, one line
// each (relative time, tid, the formatted event) or one JSON object per line, with
// optional filters by thread and syscall.
//
//   auto filter = EventFilter::parse(tid, "read,write");
//   auto r = RecordingReader::open(path);
//   auto printed = print_event_log(*r, *filter, /*json=*/false, stdout);
//   if (!printed) { ...damaged chunk: printed->error().message... }
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "format/event.h"
#include "format/recording_reader.h"

namespace rwd {

struct EventFilter {
  std::optional<uint32_t> tid;
  std::vector<int64_t> syscalls;  // empty: every event; else only these syscalls

  // `names` is a comma-separated list of syscall names ("" for all); unknown names are
  // an error that lists them.
  static Result<EventFilter> parse(std::optional<uint32_t> tid, std::string_view names);
  bool matches(const Event& e) const;
};

// One line without newline: "   0.001234  4242  read(3, ...) = 5", or the JSON object.
std::string format_log_line(const Event& e, bool json);

// Prints the matching events of `r` to `out`. Returns how many were printed; on a
// damaged event chunk, the events before it have been printed and the error says where.
// kLogged: the order events were written, which is replay's order (a syscall appears
// when it returned). kTime: the order they began (a syscall at its entry), across threads.
enum class LogOrder { kLogged, kTime };

Result<uint64_t> print_event_log(const RecordingReader& r, const EventFilter& filter, bool json,
                                 std::FILE* out, LogOrder order = LogOrder::kLogged);

}  // namespace rwd
