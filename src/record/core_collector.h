// Collecting what write_elf_core (elf_core_writer.h) needs from a live process: the
// process facts from /proc/PID, one thread's registers through ptrace, the mappings
// from /proc/PID/smaps, and a memory reader over /proc/PID/mem.
//
// collect_core_thread needs `tid` to be in a ptrace-stop of the calling thread (the
// tracer). The other functions only read /proc and work on any process the caller may
// ptrace.
//
//   // All in one call: every thread ptrace-stopped, the crashing one first.
//   std::vector<pid_t> tids = {crashing_tid, other_tid};
//   Status s = write_process_core(fd, pid, tids, &siginfo);
//
//   // Or piece by piece, to reuse what the recorder already holds:
//   auto proc = collect_core_process(pid);
//   auto crashing = collect_core_thread(tid, &siginfo);  // siginfo from PTRACE_GETSIGINFO
//   auto maps = read_core_mappings(pid);
//   auto mem = proc_mem_reader(pid);
//   write_elf_core(fd, *proc, std::span(&*crashing, 1), *maps, *mem);
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <span>
#include <vector>

#include "common/error.h"
#include "record/elf_core_writer.h"

namespace rwd {

// pid, parent, group, session, ids, state, comm, command line and auxv of `pid`.
Result<CoreProcess> collect_core_process(pid_t pid);

// Registers (general, FXSAVE, XSAVE) and signal masks of a ptrace-stopped thread.
// `siginfo` is the signal it stopped for (PTRACE_GETSIGINFO at a signal-delivery stop),
// or nullptr for a thread that was merely interrupted.
Result<CoreThread> collect_core_thread(pid_t tid, const siginfo_t* siginfo);

// Every mapping of `pid`, with the kernel's default dump policy (coredump_filter 0x33):
// anonymous and written-to private memory in full, the vDSO in full, the first page of
// other file mappings when it is an ELF header, nothing for VM_DONTDUMP/VM_IO areas or
// shared file mappings.
Result<std::vector<CoreMapping>> read_core_mappings(pid_t pid);

// A CoreMemoryReader over /proc/PID/mem (the caller must be allowed to ptrace pid).
Result<CoreMemoryReader> proc_mem_reader(pid_t pid);

// Collects everything above and writes the core of `pid` to fd. `tids` are the threads
// to include, all ptrace-stopped by the caller, in note order: tids[0] is the thread
// debuggers select and gets `first_siginfo` (nullptr when it stopped for no signal).
// The process-wide facts are read through /proc/tids[0], which works when the leader
// has already exited.
Status write_process_core(int fd, pid_t pid, std::span<const pid_t> tids,
                          const siginfo_t* first_siginfo);
// The same, into a new file at `path` (replaced if it exists).
Status write_process_core_file(const std::filesystem::path& path, pid_t pid,
                               std::span<const pid_t> tids, const siginfo_t* first_siginfo);

}  // namespace rwd
