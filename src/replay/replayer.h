// Replayer: re-executes a recording deterministically and, with verify, checks that it
// arrives at exactly the recorded final state.
//
// The process is rebuilt from the initial snapshot (process_builder.h) and run under
// ptrace with PTRACE_SYSEMU, one thread at a time in the recorded order:
//   - every syscall is checked against the log (number and arguments) and its recorded
//     effects written back instead of being executed: replay never touches files,
//     sockets or other processes;
//   - memory management, signal state and thread creation/exit are really performed,
//     at the recorded addresses;
//   - rdtsc (trapped) returns the recorded value;
//   - recorded preemptions and async signals are reached again with a breakpoint at the
//     recorded instruction plus a register and stack comparison;
//   - synchronous faults (the crash) happen by themselves.
// The first event that does not match stops the replay with a Divergence naming both
// sides.
//
//   ReplayOptions opt{.verify = true};
//   auto r = replay_recording("app.rwd", opt);
//   if (r && r->verified) fmt::print("verified: identical final state\n");
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd {

struct ReplayOptions {
  bool verify = false;
  std::optional<uint64_t> until;  // replay only the first N events
  // A thread that runs this long without reaching its next event is reported as a
  // divergence instead of hanging (a damaged log can ask for the impossible).
  std::chrono::seconds stall_timeout{60};
};

struct Divergence {
  uint64_t event_index = 0;  // from 1
  uint32_t tid = 0;
  std::string expected;
  std::string actual;
  std::string registers;
};

struct ReplayResult {
  uint64_t events = 0;        // events replayed
  uint64_t total_events = 0;  // events in the log
  bool reached_end = false;   // the log's end (or its final exit/crash) was reached
  std::string end;            // how it ended: "exit_group", "crash", "end of log", "--until"
  std::optional<int> end_signal;
  uint64_t end_fault_addr = 0;
  std::optional<Divergence> divergence;
  bool verified = false;
  std::string difference;  // first difference from the final state, when not verified
  uint64_t breakpoint_hits = 0;
  uint64_t fast_forwards = 0;
  uint64_t dead_stack_bytes = 0;  // below stack pointers, not compared by --verify  // loops skipped ahead to a point (see replayer.cc)
  uint64_t syscalls_emulated = 0;
  uint64_t syscalls_performed = 0;
  double seconds = 0;
  std::vector<std::string> warnings;
};

Result<ReplayResult> replay_recording(const std::filesystem::path& path,
                                      const ReplayOptions& options);

}  // namespace rwd
