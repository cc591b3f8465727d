// ClockReading: the answer to a vDSO clock call that the target made, read by rewind in
// its own process, so that the call costs the target one ptrace stop (its stub's trapped
// rdtsc, see tracee/vdso_patch.h) instead of a syscall's two.
//
// Only clocks that read the same in rewind as in the target are answered: the
// system-wide ones (realtime, monotonic, boottime, TAI and their coarse and raw
// variants) when both share a time namespace, and the target's process CPU-time clock,
// read by pid. Anything else (a thread's CPU time, a clock id the kernel would refuse,
// a NULL output pointer) gets std::nullopt: the call then goes to the kernel as a
// traced syscall, which answers it exactly.
//
//   std::array<uint64_t, 6> args = {CLOCK_MONOTONIC, tp_addr};
//   if (auto r = read_clock_for(SYS_clock_gettime, args, pid)) {
//     write r->outputs into the target, return r->result;
//   }
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "format/event.h"

namespace rwd {

struct ClockReading {
  int64_t result = 0;                // what the syscall returns
  std::vector<MemoryBytes> outputs;  // what it writes into the target
};

std::optional<ClockReading> read_clock_for(int64_t sysno, const std::array<uint64_t, 6>& args,
                                           pid_t pid);

}  // namespace rwd
