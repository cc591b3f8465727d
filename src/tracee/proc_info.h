// ProcInfo: what /proc says about a process — identity, memory map, threads, signals.
//
// Reads go through /proc/PID, so they work for a process in another container of the
// same pod (shared process namespace). Nothing here stops or changes the process.
//
//   auto maps = read_maps(pid);
//   for (const auto& m : *maps) if (m.is_file()) ...
//   auto st = read_status(pid); if (st->tracer_pid) ...
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd {

struct MapEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;  // "r-xp"
  uint64_t offset = 0;
  std::string dev;    // "fd:01"
  uint64_t inode = 0;
  std::string path;   // file path, "[heap]", "[stack]", "[vdso]", "" for anonymous

  bool readable() const { return perms.size() > 0 && perms[0] == 'r'; }
  bool writable() const { return perms.size() > 1 && perms[1] == 'w'; }
  bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
  bool shared() const { return perms.size() > 3 && perms[3] == 's'; }
  bool is_file() const { return !path.empty() && path[0] == '/'; }
  bool deleted() const { return path.ends_with(" (deleted)"); }
  uint64_t size() const { return end - start; }
};

Result<std::vector<MapEntry>> read_maps(pid_t pid);
// Parses one line of /proc/PID/maps.
Result<MapEntry> parse_map_line(std::string_view line);

struct ProcStatus {
  std::string name;
  pid_t tgid = 0;
  pid_t ppid = 0;
  pid_t tracer_pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t sig_pending = 0;     // SigPnd (per thread: sent to this thread)
  uint64_t shared_pending = 0;  // ShdPnd (sent to the process)
  uint64_t sig_blocked = 0;  // SigBlk (per thread)
  uint64_t sig_ignored = 0;  // SigIgn
  uint64_t sig_caught = 0;   // SigCgt
  char state = '?';
};

Result<ProcStatus> read_status(pid_t pid);

// The signals pending for a thread (its status) that its next delivery acts on: not
// blocked, and neither ignored (SIG_IGN) nor left at a default that ignores them
// (SIGCHLD, SIGURG, SIGWINCH, SIGCONT). The kernel discards such signals as they are
// sent, except to a traced thread, where they still interrupt a wait.
uint64_t signals_that_act(const ProcStatus& thread);
// The signals whose delivery does nothing (the kernel discards them): SIG_IGN, or left at
// a default that ignores them.
uint64_t ignored_signals(const ProcStatus& process);
// Same for one thread of a process (/proc/PID/task/TID/status).
Result<ProcStatus> read_thread_status(pid_t pid, pid_t tid);

Result<std::vector<pid_t>> read_tasks(pid_t pid);
// Every process in /proc (its numeric entries), sorted.
Result<std::vector<pid_t>> read_pids();
// NUL-separated /proc files (cmdline, environ) as a list.
Result<std::vector<std::string>> read_nul_list(pid_t pid, std::string_view file);
Result<std::string> read_link(pid_t pid, std::string_view file);  // "exe", "cwd"
Result<std::string> read_auxv(pid_t pid);

bool process_exists(pid_t pid);

// Whether process `pid` reads the system-wide clocks as the caller does (the same time
// namespace; true on kernels without time namespaces).
bool shares_time_namespace(pid_t pid);

}  // namespace rwd
