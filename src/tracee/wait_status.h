// WaitStatus: the status word waitpid() reports for a traced thread, with named queries
// instead of the W* macros, so that every reader decodes it the same way.
//
// A value type; it only interprets the int, it never waits.
//
//   auto st = wait_thread(tid);
//   if (st && st->is_syscall_stop()) ...           // SIGTRAP|0x80 (PTRACE_O_TRACESYSGOOD)
//   else if (st && st->ptrace_event() == PTRACE_EVENT_CLONE) ...
//   log("thread {} {}", tid, st->describe());      // "exited with status 2"
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <string>

namespace rwd {

class WaitStatus {
 public:
  constexpr WaitStatus() = default;
  constexpr explicit WaitStatus(int raw) : raw_(raw) {}

  // The int as waitpid() stored it.
  constexpr int raw() const { return raw_; }

  // Ended by _exit/exit_group; exit_code() is its status (0..255).
  constexpr bool exited() const { return WIFEXITED(raw_); }
  constexpr int exit_code() const { return WEXITSTATUS(raw_); }
  // Killed by a signal; term_signal() is that signal.
  constexpr bool signaled() const { return WIFSIGNALED(raw_); }
  constexpr int term_signal() const { return WTERMSIG(raw_); }
  // How a shell reports the end: the exit code, or 128 + the signal.
  constexpr int shell_status() const { return exited() ? exit_code() : 128 + term_signal(); }

  // In a ptrace-stop (or a plain stop for an untraced child waited with WUNTRACED).
  // stop_signal() keeps the 0x80 bit of a syscall stop.
  constexpr bool stopped() const { return WIFSTOPPED(raw_); }
  constexpr int stop_signal() const { return WSTOPSIG(raw_); }
  // A syscall-entry or -exit stop (needs PTRACE_O_TRACESYSGOOD).
  constexpr bool is_syscall_stop() const { return stopped() && stop_signal() == (SIGTRAP | 0x80); }
  // The PTRACE_EVENT_* of an event stop, 0 for any other status.
  constexpr int ptrace_event() const { return raw_ >> 16; }

  // "exited with status 2", "killed by SIGKILL", "stopped by SIGSEGV", "syscall stop",
  // "ptrace event clone".
  std::string describe() const;

  constexpr bool operator==(const WaitStatus&) const = default;

 private:
  int raw_ = 0;
};

}  // namespace rwd
