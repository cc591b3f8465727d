// The robust futex list of a thread (set_robust_list(2)): the lock words of the robust
// mutexes it holds, which the kernel marks FUTEX_OWNER_DIED when the thread exits, if a
// word still holds the thread's tid.
//
//   for (uint64_t word : robust_futex_words(tid, mem)) ...
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "tracee/target_memory.h"

namespace rwd {

inline constexpr uint32_t kFutexWaiters = 0x80000000u;
inline constexpr uint32_t kFutexOwnerDied = 0x40000000u;
inline constexpr uint32_t kFutexTidMask = 0x3fffffffu;

// The addresses of the lock words on thread `tid`'s robust list, walked as the kernel does
// at exit (entries with bit 0 marking PI mutexes, at most ROBUST_LIST_LIMIT of them, then
// the one an operation was pending on), read through `mem`. Empty without a list.
std::vector<uint64_t> robust_futex_words(pid_t tid, TargetMemory& mem);

}  // namespace rwd
