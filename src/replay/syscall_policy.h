// How replay treats each syscall: almost all are emulated (the recorded result and the
// bytes the kernel wrote are put back; nothing touches files, sockets or other
// processes); the few that change the process itself — its memory map, its break, its
// threads, its signal state, its thread-local storage — are really performed, at the
// recorded addresses, so that the replay process is the recorded one.
//
//   switch (syscall_policy(SYS_mmap)) { case SyscallPolicy::kMemoryMap: ... }
#pragma once

#include <cstdint>

namespace rwd {

enum class SyscallPolicy {
  kEmulate,    // results written back, nothing run
  kMemoryMap,  // mmap, munmap, mprotect, mremap, madvise...: performed at the recorded address
  kBreak,      // brk: the recorded break moved with fixed mappings
  kClone,      // a new thread is really created (child processes are not replayed)
  kExit,       // the thread really exits
  kSigreturn,  // performed: restores the interrupted registers
  kProcessState,  // performed when it succeeded: signal actions and masks, alternate
                  // stacks, robust lists, clear_child_tid
  kArchPrctl,  // performed for ARCH_SET_FS / ARCH_SET_GS (thread pointer), else emulated
  kExec,       // emulated: an exec that happened is an exec event (snapshot exec-N)
};

SyscallPolicy syscall_policy(int64_t sysno);

}  // namespace rwd
