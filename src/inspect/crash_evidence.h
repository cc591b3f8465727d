// CrashEvidence: what a recording's event log tells about how the program died, beyond
// the fatal signal the recorder stopped on. Programs often handle the fault that kills
// them: the Go runtime turns a SIGSEGV into a panic and exits with status 2, redis logs
// the fault and re-raises it with kill(). So the evidence is the first fault an
// instruction caused (si_code > 0) even when it was handled, who sent the fatal signal
// when it was sent rather than caused, and the tail of what the program wrote to stderr
// (fd 2), reassembled from its recorded write()/writev() calls.
//
// Fed the events in log order; its memory stays bounded however long the log is.
//
//   CrashEvidence ev;
//   auto read = reader.for_each_event([&](const Event& e) { ev.add(e); return true; });
//   if (ev.first_fault()) { ...ev.first_fault()->tid... }
//   fmt::print("{}", ev.stderr_tail().text);
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "format/event.h"

namespace rwd {

// The stderr tail keeps at most this much: the last bytes, then of those the last lines.
inline constexpr size_t kStderrTailBytes = 4096;
inline constexpr size_t kStderrTailLines = 30;

// One delivered signal, as recorded.
struct SignalRecord {
  int signo = 0;
  int code = 0;             // si_code: > 0 caused by an instruction, <= 0 sent
  uint64_t fault_addr = 0;  // si_addr, for a caused fault
  uint32_t tid = 0;         // the thread it was delivered to
  uint64_t time_ns = 0;
  bool fatal = false;                   // the recorder stopped on it
  std::optional<pid_t> sender_pid;      // si_pid, for a sent signal whose siginfo was recorded
};

struct StderrTail {
  std::string text;          // the tail, control bytes other than \n and \t shown as '?'
  uint64_t total_bytes = 0;  // everything the program wrote to fd 2
  bool cut = false;          // text is less than all of it
};

class CrashEvidence {
 public:
  void add(const Event& e);

  // The first SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT an instruction caused.
  const std::optional<SignalRecord>& first_fault() const { return first_fault_; }
  uint64_t fault_count() const { return fault_count_; }
  // The signal the recorder stopped the recording on.
  const std::optional<SignalRecord>& fatal_signal() const { return fatal_signal_; }
  StderrTail stderr_tail() const;

 private:
  void add_signal(const Event& e);
  void add_stderr(const std::string& bytes);

  std::optional<SignalRecord> first_fault_;
  uint64_t fault_count_ = 0;
  std::optional<SignalRecord> fatal_signal_;
  // The raw siginfo of the signal each thread is about to receive (a kPoint event
  // precedes every sent signal).
  std::map<uint32_t, std::string> pending_siginfo_;
  std::string stderr_;  // the last bytes written to fd 2, at most 2 * kStderrTailBytes
  uint64_t stderr_total_ = 0;
};

// True for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT: the signals that kill a
// program when an instruction goes wrong.
bool is_fault_signal(int signo);

}  // namespace rwd
