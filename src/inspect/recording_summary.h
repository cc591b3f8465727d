// summarize_recording: what `rewind info` reports about a recording, as one JSON object
// (its --json output), and the human-readable rendering of that object.
//
// The manifest is hostile input like every other byte of the file: values of an
// unexpected type are reported as null, never trusted. The backtrace comes from the
// final core with only the recording's own files (extracted to a temporary sysroot,
// removed before returning), so it works on a machine without the program.
//
//   auto r = RecordingReader::open(path);
//   auto s = summarize_recording(*r, {.all_threads = true});
//   fmt::print("{}", json ? s->dump(2) : format_summary(*s));
//
// Keys: file, size_bytes, complete, truncation, mode, target{pid, exe, cmdline, cwd,
// comm}, host, start_time, stop_time, duration_ns, stop_reason, exit_status, threads,
// event_counts, top_syscalls[{name, count}], counted_from_log (true when the recording
// has no trailer and threads, events and syscalls were counted from the event log
// instead), warnings, bundled_files, has_core,
// final_state, crash{signal, signal_name, code, code_name, fault_addr, sender_pid, tid}
// (the signal the recording stopped on), first_fault{signal, signal_name, code,
// code_name, fault_addr, sender_pid, tid, time_ns, fatal, count} (the first fault an
// instruction caused, handled or not: crash_evidence.h), stderr_tail{text, total_bytes,
// cut, max_bytes, max_lines}, backtrace{tid, wanted_tid (the thread of the first fault,
// else of the crash), frames[{index, pc, function, module, file, line}], error},
// thread_backtraces[...]. The event log is read once for the fault and the stderr tail.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

struct SummaryOptions {
  bool backtrace = true;     // unwind the final core
  bool all_threads = false;  // every thread's backtrace, not only the crashing one
  size_t max_frames = 64;
  size_t top_syscalls = 10;
};

Result<nlohmann::json> summarize_recording(const RecordingReader& reader,
                                           const SummaryOptions& options);

std::string format_summary(const nlohmann::json& summary);

}  // namespace rwd
