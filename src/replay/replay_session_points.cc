#include "replay/replay_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <elf.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "common/log.h"
#include "inspect/syscall_formatter.h"
#include "tracee/signals.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"
#include "replay/in_process_breakpoint.h"
#include "replay/process_builder.h"
#include "replay/register_diff.h"
#include "replay/replay_session_internal.h"
#include "replay/syscall_policy.h"


namespace rwd {

using namespace replay_detail;

// ReplaySession: reaching recorded points (preemptions, async signals) fast.

// it cannot be installed there (the caller then takes the debug-register loop).
Result<bool> ReplaySession::run_to_point_in_process(Thread& t, const Event& e,
                                                    const user_regs_struct& want) {
  // glibc's hand-written assembly jumps into the middle of instruction runs more than
  // compiled code does, in ways a linear disassembly cannot see: leave it alone.
  for (const auto& r : image_->regions) {
    if (want.rip >= r.start && want.rip < r.end &&
        (r.path.find("/libc.so") != std::string::npos ||
         r.path.find("/ld-linux") != std::string::npos)) {
      return false;
    }
  }
  std::vector<uint64_t> rings;  // each stub's next and limit: equal at the point
  for (auto [page, end] : stub_pages()) {
    rings.push_back(page + RdtscPatch::kHeader + RdtscPatch::kNext);
  }
  static_assert(RdtscPatch::kLimit == RdtscPatch::kNext + 8);
  auto bp = InProcessBreakpoint::install(mem_pid_, t.real, want.rip, want, rings);
  if (!bp) {
    spdlog::debug("point of event {} by debug register: {}", events_done_ + 1, bp.error().message);
    return false;
  }
  // install() ran its syscalls in the thread, which now sits at a syscall-exit stop.
  t.at_syscall_stop = true;
  auto started = std::chrono::steady_clock::now();
  for (;;) {
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    bool trap = WIFSTOPPED(*st) && WSTOPSIG(*st) == SIGTRAP && (*st >> 16) == 0;
    if (!trap || !regs || !bp->is_hit(*regs)) {
      if (t.alive) {
        (void)bp->remove(t.real);  // the divergence is the news; the patch goes anyway
      }
      return std::unexpected(diverge(e, "before reaching the point: " + describe_stop(t, *st),
                                     regs ? &*regs : nullptr));
    }
    ++stats_.breakpoint_hits;
    user_regs_struct at = *regs;
    at.rip = want.rip;  // where the thread stands for the program
    if (point_matches(e, want, at)) {
      user_regs_struct hit = *regs;
      if (auto s = bp->finish_hit(t.real, hit); !s) {
        return std::unexpected(s.error());
      }
      if (auto s = bp->remove(t.real); !s) {
        return std::unexpected(s.error());
      }
      t.at_syscall_stop = true;
      return true;
    }
    // Registers equal but not the stack: resumed from the trampoline's trap, the thread
    // goes on through the displaced original code.
    if (std::chrono::steady_clock::now() - started > options_.stall_timeout) {
      (void)bp->remove(t.real);
      return std::unexpected(diverge(e, fmt::format("the point was not reached in {} s",
                                                    options_.stall_timeout.count()),
                                     &at));
    }
  }
}

uint64_t ReplaySession::writable_memory_hash() {
  auto maps = read_maps(mem_pid_);
  if (!maps) {
    return 0;
  }
  uint64_t h = 0;
  std::string buf;
  for (const auto& m : *maps) {
    if (!m.writable()) {
      continue;
    }
    constexpr uint64_t kChunk = 1 << 20;
    for (uint64_t at = m.start; at < m.end; at += kChunk) {
      if (mem_->read(at, std::min(kChunk, m.end - at), buf)) {
        h = h * 31 + std::hash<std::string_view>{}(buf);
      }
    }
  }
  return h;
}

// A loop that revisits the point with registers that step by a constant amount and
// leaves memory untouched can be skipped ahead: when the recorded registers lie on that
// line, k more passes would arrive exactly at them. Replay sets them directly instead
// of taking each pass (without a branch counter, every pass otherwise costs a trap).
bool ReplaySession::fast_forward(const user_regs_struct& first, const user_regs_struct& second,
                            const user_regs_struct& want, uint64_t first_memory) {
  constexpr unsigned long long user_regs_struct::*kGprs[] = {
      &user_regs_struct::rax, &user_regs_struct::rbx, &user_regs_struct::rcx,
      &user_regs_struct::rdx, &user_regs_struct::rsi, &user_regs_struct::rdi,
      &user_regs_struct::rbp, &user_regs_struct::rsp, &user_regs_struct::r8,
      &user_regs_struct::r9,  &user_regs_struct::r10, &user_regs_struct::r11,
      &user_regs_struct::r12, &user_regs_struct::r13, &user_regs_struct::r14,
      &user_regs_struct::r15, &user_regs_struct::fs_base, &user_regs_struct::gs_base};
  std::optional<int64_t> passes;
  for (auto reg : kGprs) {
    auto step = static_cast<int64_t>(second.*reg - first.*reg);
    auto left = static_cast<int64_t>(want.*reg - second.*reg);
    if (step == 0) {
      if (left != 0) {
        return false;
      }
      continue;
    }
    if (left % step != 0 || left / step < 0 || (passes && *passes != left / step)) {
      return false;
    }
    passes = left / step;
  }
  if (!passes || second.rip != want.rip) {
    return false;
  }
  // Memory must not change from pass to pass, or skipping passes would skip writes.
  return first_memory != 0 && writable_memory_hash() == first_memory;
}

}  // namespace rwd
