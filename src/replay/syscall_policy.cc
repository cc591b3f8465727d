#include "replay/syscall_policy.h"

#include <sys/syscall.h>

#include <utility>

namespace rwd {

namespace {

// Everything not listed is emulated.
constexpr std::pair<int64_t, SyscallPolicy> kPolicies[] = {
    {SYS_mmap, SyscallPolicy::kMemoryMap},
    {SYS_munmap, SyscallPolicy::kMemoryMap},
    {SYS_mprotect, SyscallPolicy::kMemoryMap},
    {SYS_mremap, SyscallPolicy::kMemoryMap},
    {SYS_madvise, SyscallPolicy::kMemoryMap},
    {SYS_pkey_mprotect, SyscallPolicy::kMemoryMap},
    {SYS_brk, SyscallPolicy::kBreak},
    {SYS_clone, SyscallPolicy::kClone},
    {SYS_clone3, SyscallPolicy::kClone},
    {SYS_exit, SyscallPolicy::kExit},
    {SYS_rt_sigreturn, SyscallPolicy::kSigreturn},
    {SYS_rt_sigaction, SyscallPolicy::kProcessState},
    {SYS_rt_sigprocmask, SyscallPolicy::kProcessState},
    {SYS_sigaltstack, SyscallPolicy::kProcessState},
    {SYS_set_robust_list, SyscallPolicy::kProcessState},
    {SYS_set_tid_address, SyscallPolicy::kProcessState},
    {SYS_arch_prctl, SyscallPolicy::kArchPrctl},
    {SYS_execve, SyscallPolicy::kExec},
    {SYS_execveat, SyscallPolicy::kExec},
};

}  // namespace

SyscallPolicy syscall_policy(int64_t sysno) {
  for (const auto& [nr, policy] : kPolicies) {
    if (nr == sysno) {
      return policy;
    }
  }
  return SyscallPolicy::kEmulate;
}

}  // namespace rwd
