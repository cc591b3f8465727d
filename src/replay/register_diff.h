// Comparing and showing general registers, for divergence reports and the final-state
// check: the flags that single-stepping sets (RF, TF) are not part of a thread's state.
//
//   if (auto d = regs_difference(recorded, replayed, false); !d.empty()) report(d);
#pragma once

#include <sys/user.h>

#include <cstdint>
#include <string>

#include "tracee/ptrace_ops.h"

namespace rwd {
inline constexpr uint64_t kRflagsIgnored = kResumeFlag | 0x100;  // RF and TF

// rip, rsp and the syscall argument registers, for a divergence report.
std::string describe_regs(const user_regs_struct& r);

// The first general register that differs ("rax is 0x1, recorded 0x2"), or empty.
// With ignore_rcx_r11, rcx and r11 (clobbered by the syscall instruction) are skipped.
std::string regs_difference(const user_regs_struct& want, const user_regs_struct& got,
                            bool ignore_rcx_r11);

}  // namespace rwd
