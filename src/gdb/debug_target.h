// DebugTarget: what the GDB remote-protocol server (gdb_server.h) needs from the thing
// it debugs. The replay (replay/replay_session.h, through gdb/replay_target.h) is the
// one real implementation; the server knows nothing of recordings or events.
//
// Threading: the server calls a target from one thread only. resume() may run for a
// long time; it polls `interrupted` between units of work and stops early (returning a
// SIGINT stop) when it returns true, which is how Ctrl-C in gdb reaches the target.
//
//   class MyTarget : public DebugTarget { ... };
//   MyTarget t;
//   GdbServer server(t);
//   server.serve(fd);   // one gdb connection, until it detaches or kills
#pragma once

#include <sys/user.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd {

struct TargetRegisters {
  user_regs_struct gp{};
  user_fpregs_struct fp{};
};

enum class StopKind {
  kSignal,        // stopped with `signo` (SIGTRAP for breakpoints, steps and watchpoints)
  kExited,        // the process exited with `exit_code`
  kKilled,        // the process was killed by `signo`
  kHistoryBegin,  // going backwards, the start of the recording was reached
  kHistoryEnd,    // going forwards, the end of the recording was reached
};

enum class WatchKind { kWrite, kRead, kAccess };

struct StopReason {
  StopKind kind = StopKind::kSignal;
  int signo = 0;
  int exit_code = 0;
  uint32_t tid = 0;                     // the thread that stopped (recorded tid)
  bool software_breakpoint = false;     // stopped at a Z0 breakpoint
  bool hardware_breakpoint = false;     // stopped at a Z1 breakpoint
  std::optional<uint64_t> watch_addr;   // stopped by a watchpoint on this address
  WatchKind watch_kind = WatchKind::kWrite;
};

enum class BreakpointType { kSoftware, kHardware, kWriteWatch, kReadWatch, kAccessWatch };

struct ResumeRequest {
  bool backward = false;
  // Step: one instruction of thread `tid`, other threads free to run meanwhile.
  // Continue: until a breakpoint, watchpoint, signal or the end of history.
  bool step = false;
  uint32_t tid = 0;
};

struct ThreadInfo {
  uint32_t tid = 0;
  std::string name;   // e.g. the thread's comm, may be empty
  std::string state;  // a few words for `info threads`, e.g. "running", "in futex"
};

class DebugTarget {
 public:
  virtual ~DebugTarget() = default;

  virtual uint32_t pid() const = 0;
  // Where the target stands before the first resume (gdb's `?`): a trap by default.
  virtual StopReason initial_stop() {
    StopReason r;
    r.signo = 5;  // SIGTRAP
    r.tid = current_thread();
    return r;
  }
  virtual std::vector<ThreadInfo> threads() = 0;
  // The thread that the last stop belongs to.
  virtual uint32_t current_thread() = 0;

  virtual Result<TargetRegisters> registers(uint32_t tid) = 0;
  // Up to `len` bytes at `addr`; fewer (or none) where memory ends. Breakpoints the
  // target inserted are not visible.
  virtual Result<std::string> read_memory(uint64_t addr, size_t len) = 0;
  // A recording cannot be changed: targets may refuse with a message for the user.
  virtual Status write_memory(uint64_t addr, std::string_view bytes) = 0;
  virtual Status write_registers(uint32_t tid, const TargetRegisters& regs) = 0;

  virtual Status insert_breakpoint(BreakpointType type, uint64_t addr, size_t len) = 0;
  virtual Status remove_breakpoint(BreakpointType type, uint64_t addr, size_t len) = 0;

  virtual Result<StopReason> resume(const ResumeRequest& request,
                                    const std::function<bool()>& interrupted) = 0;

  // Files gdb asks for with qXfer: the auxiliary vector and the executable's path.
  virtual std::string auxv() = 0;
  virtual std::string exec_file() = 0;
  // `monitor CMD` in gdb: the text to show, or an error to show.
  virtual Result<std::string> monitor(const std::string& command) = 0;
};

}  // namespace rwd
