// write_elf_core: writes a standard x86-64 Linux ELF core file (the kind the kernel
// writes on a crash) from state the recorder collected from a ptrace-stopped process.
// gdb, libdw/eu-stack and lldb load the result like a kernel core.
//
// Layout, as the kernel's: ELF header, program headers (one PT_NOTE, then one PT_LOAD
// per mapping), the notes, then page-aligned segment contents. Notes: per thread
// NT_PRSTATUS followed by that thread's NT_PRFPREG and NT_X86_XSTATE; after the first
// thread's NT_PRSTATUS come the process-wide NT_PRPSINFO, NT_SIGINFO (first thread),
// NT_AUXV and NT_FILE. The first thread is the one debuggers select, so put the
// crashing thread first.
//
// The output is written strictly sequentially (no seeks), so `fd` may be a pipe.
// Memory is fetched through `read`; a page that cannot be read is written as zeros, and
// a mapping whose first page cannot be read gets p_filesz 0 (as the kernel does for
// [vvar]). Which bytes of a mapping are stored is the mapping's `dump` policy, which
// read_core_mappings (core_collector.h) sets the way the kernel's default
// coredump_filter does.
//
//   auto proc = collect_core_process(pid);                 // core_collector.h
//   std::vector<CoreThread> threads;
//   threads.push_back(*collect_core_thread(crashing_tid, &siginfo));
//   for (pid_t t : others) threads.push_back(*collect_core_thread(t, nullptr));
//   auto maps = read_core_mappings(pid);
//   auto mem = proc_mem_reader(pid);
//   Status s = write_elf_core(fd, *proc, threads, *maps, *mem);
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/error.h"

namespace rwd {

// Process-wide facts for NT_PRPSINFO, NT_AUXV and the NT_PRSTATUS id fields.
struct CoreProcess {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t sid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  char state = 'R';      // /proc/PID/stat state letter
  int nice = 0;
  unsigned long flags = 0;  // /proc/PID/stat flags (PF_*)
  std::string comm;      // at most 15 bytes are stored
  std::string args;      // command line, arguments separated by spaces; 79 bytes stored
  std::string auxv;      // raw /proc/PID/auxv
};

// One thread's registers and signal state, as PTRACE_GETREGS/GETFPREGS/GETREGSET give.
struct CoreThread {
  pid_t tid = 0;
  int cursig = 0;                    // signal the thread stopped for (0: none)
  std::optional<siginfo_t> siginfo;  // written as NT_SIGINFO for the first thread only
  uint64_t sigpend = 0;              // pending signal mask
  uint64_t sighold = 0;              // blocked signal mask
  user_regs_struct regs{};
  std::optional<user_fpregs_struct> fpregs;
  std::string xstate;                // NT_X86_XSTATE bytes; empty when unavailable
};

// Which bytes of a mapping go into the core.
enum class CoreDump {
  kNone,       // PT_LOAD with p_filesz 0: debuggers read such memory from the file
  kElfHeader,  // only the first page, when it starts with an ELF header (build-id)
  kAll,        // every byte
};

// One line of /proc/PID/maps.
struct CoreMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  bool readable = false;
  bool writable = false;
  bool executable = false;
  bool shared = false;
  uint64_t inode = 0;
  std::string path;  // file path, "[vdso]", "[stack]", ... or empty
  CoreDump dump = CoreDump::kAll;

  uint64_t size() const { return end - start; }
  // Listed in NT_FILE: mapped from a file the debugger can open.
  bool file_backed() const { return inode != 0 && path.starts_with("/"); }
};

// Reads target memory at `addr` into `out`; returns the number of bytes read (0 when
// the address is unreadable). Short reads are allowed.
using CoreMemoryReader = std::function<size_t(uint64_t addr, std::span<uint8_t> out)>;

// Writes the core file to `fd`. `threads` must not be empty; threads[0] is the thread
// debuggers show first (the crashing one).
Status write_elf_core(int fd, const CoreProcess& proc, std::span<const CoreThread> threads,
                      std::span<const CoreMapping> maps, const CoreMemoryReader& read);

}  // namespace rwd
