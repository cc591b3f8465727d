#include "tracee/wait_status.h"

#include <fmt/format.h>
#include <sys/ptrace.h>

#include "tracee/signals.h"

namespace rwd {

namespace {

std::string event_name(int event) {
  switch (event) {
    case PTRACE_EVENT_FORK:
      return "fork";
    case PTRACE_EVENT_VFORK:
      return "vfork";
    case PTRACE_EVENT_CLONE:
      return "clone";
    case PTRACE_EVENT_EXEC:
      return "exec";
    case PTRACE_EVENT_VFORK_DONE:
      return "vfork-done";
    case PTRACE_EVENT_EXIT:
      return "exit";
    case PTRACE_EVENT_SECCOMP:
      return "seccomp";
    case PTRACE_EVENT_STOP:
      return "stop";
    default:
      return std::to_string(event);
  }
}

}  // namespace

std::string WaitStatus::describe() const {
  if (exited()) {
    return fmt::format("exited with status {}", exit_code());
  }
  if (signaled()) {
    return fmt::format("killed by {}", signal_name(term_signal()));
  }
  if (stopped()) {
    if (is_syscall_stop()) {
      return "syscall stop";
    }
    if (ptrace_event() != 0) {
      return fmt::format("ptrace event {}", event_name(ptrace_event()));
    }
    return fmt::format("stopped by {}", signal_name(stop_signal()));
  }
  if (WIFCONTINUED(raw_)) {
    return "continued";
  }
  return fmt::format("wait status {:#x}", raw_);
}

}  // namespace rwd
