// Helpers shared by the files that implement ReplaySession (replay_session*.cc); not
// part of its interface.
#pragma once

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "format/event.h"
#include "replay/replay_session.h"

namespace rwd::replay_detail {


constexpr uint64_t kPage = 4096;

// Debug registers through the `struct user` area.
constexpr size_t debugreg_offset(int i) {
  return offsetof(struct user, u_debugreg) + static_cast<size_t>(i) * sizeof(long);
}

inline Status set_debugreg(pid_t tid, int i, uint64_t value) {
  if (::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(debugreg_offset(i)),
               reinterpret_cast<void*>(value)) != 0) {
    return fail_errno(errno, "cannot set debug register {} of thread {} to {:#x}", i, tid, value);
  }
  return ok();
}

inline uint64_t get_debugreg(pid_t tid, int i) {
  errno = 0;
  long v = ::ptrace(PTRACE_PEEKUSER, tid, reinterpret_cast<void*>(debugreg_offset(i)), nullptr);
  return errno == 0 ? static_cast<uint64_t>(v) : 0;
}

constexpr uint64_t kDr6Step = 1u << 14;  // BS: the trap came from single-stepping

// A point still not reached after this many passes through its instruction is looked
// for by the in-process breakpoint (in_process_breakpoint.h): it changes the code the
// thread runs, so short loops (the common case) keep the plain debug-register stops.
constexpr uint64_t kPassesBeforeInProcess = 100;

inline uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

using rwd::is_error;

inline bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU || sig == SIGCONT;
}

inline bool is_fault(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
}



// A synchronous fault that the recorded instruction causes again by itself.
inline bool is_sync_fault(const Event& e) {
  return e.type == EventType::kSignal && !is_stop_signal(e.signo) && is_fault(e.signo) &&
         e.signal_code > 0;
}

inline bool needs_thread(const Event& e) {
  switch (e.type) {
    case EventType::kSyscall:
    case EventType::kSyscallEntry:
    case EventType::kPoint:
    case EventType::kSignal:
    case EventType::kRdtsc:
    case EventType::kCpuid:
    case EventType::kRdtscPatch:  // its thread maps the stub's page
    case EventType::kClockPatch:
    case EventType::kExec:        // its thread runs to its execve
      return true;
    default:
      return false;
  }
}

// DR7 bits for watchpoint slot i (1..3): local enable, R/W and length.
inline uint64_t dr7_bits(int i, const Watchpoint& w) {
  uint64_t rw = w.type == WatchType::kWrite ? 1 : 3;
  uint64_t len = w.len == 1 ? 0 : w.len == 2 ? 1 : w.len == 8 ? 2 : 3;
  return (uint64_t{1} << (2 * i)) | (rw << (16 + 4 * i)) | (len << (18 + 4 * i));
}


}  // namespace rwd::replay_detail
