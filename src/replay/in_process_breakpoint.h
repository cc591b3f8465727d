// InProcessBreakpoint: a breakpoint that stops a replayed thread at one instruction only
// when its general registers equal a recorded set, checked inside the tracee.
//
// Replay finds a recorded preemption or async-signal point (thread, rip, registers,
// stack hash) by stopping at the recorded rip and comparing registers. With a debug
// register that costs one ptrace stop per pass (~90 us), and a signal that landed in a
// compute loop after millions of passes takes minutes. This component instead patches
// a 5-byte `jmp rel32` at the address into a trampoline page of its own (mapped within
// +-2 GiB); the trampoline compares rax..r15 and rsp with the recorded values and goes
// on with the displaced original instructions (relocated) when they differ, so a pass
// costs a few nanoseconds; on a match it executes int3, so the tracer sees a SIGTRAP.
//
// What it changes in the tracee, and why that is invisible to the program:
//  - the 5+ patched bytes at the address (restored by remove() / the destructor);
//  - one private page of its own, mapped away from the program's mappings, 1 MiB
//    clear of its neighbours (unmapped by remove()). rax and the flags are saved in
//    the page, never on the program's stack: replay compares memory byte for byte
//    with the recorded final state, and a dead stack slot can later become part of a
//    frame. One slot each suffices because replay runs one thread at a time and
//    delivers no signal inside the trampoline.
// Flags are saved and restored exactly (lahf/seto, then sahf and an add that recreates
// OF); the trampoline touches no other register state.
//
// It refuses (an error naming the reason; the caller falls back to its hardware
// breakpoint loop) when the displaced instructions hold a call, loop/jrcxz, xbegin, a
// syscall or trap, or rdtsc/cpuid (replay finds those by their address); when the
// patch would run past the end of the address's mapping; when a linear disassembly of
// the surrounding code (4 KiB either side, within the mapping) finds a direct jump or
// call into the middle of the patched bytes; when no free page lies within range. The stopped thread may sit on one of the displaced
// instructions (a signal came there): it is moved to that instruction's copy.
// Direct jmp/jcc among the displaced instructions are re-encoded with 32-bit offsets to
// the same targets, and rip-relative operands are re-based. Not seen by the check:
// indirect jumps (jump tables) into the patched bytes. A fault in a displaced
// instruction reports a rip in the page.
//
// Threads and ownership: one tracer thread owns the object. install() and remove() run
// syscalls (mmap, munmap) inside a thread that is in a ptrace-stop of that tracer,
// traced with PTRACE_O_TRACESYSGOOD (as inject_syscall needs).
//  - Other threads of the process may run through the patch: a match in them stops
//    them with the same SIGTRAP (is_hit() tells it apart by rip).
//  - Remove only when no thread of the process is running and none is stopped inside
//    the trampoline page other than at a hit: at a hit, or when the caller knows every
//    thread is stopped elsewhere. remove() moves the given thread from the hit address
//    (or the start of any copied instruction) back to the original address first: the
//    same state. Other threads stopped in the page are the caller's to know about.
//  - install() and remove() leave the stopped thread in the syscall-exit stop of the
//    syscall they ran (its registers restored): a caller that tracks the stop kind
//    (to inject signals from a signal-delivery-stop) must know.
//  - The destructor of an object not removed restores the original bytes only (writing
//    through /proc/PID/mem needs no stopped thread) and leaves the page mapped: it
//    cannot run munmap without a stopped thread, and a thread might still be inside
//    the page. Same rule: no thread may be running while it runs.
//
// Usage (thread `tid` is in a ptrace-stop, `want` are the recorded registers):
//   auto bp = InProcessBreakpoint::install(pid, tid, want.rip, want);
//   if (!bp) { /* log bp.error().message; use the hardware breakpoint loop */ }
//   for (;;) {
//     ptrace(PTRACE_CONT, tid, 0, 0); waitpid(tid, &status, __WALL);
//     auto regs = get_regs(tid);
//     if (!(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && bp->is_hit(*regs))) {
//       /* something else happened: a divergence */
//     }
//     if (stack_hash(pid, regs->rsp) != recorded_hash) {
//       continue;  // registers equal, stack not: resuming as is runs the original code
//     }
//     bp->finish_hit(tid, *regs);   // rip = want.rip, nothing else changed
//     bp->remove(tid);              // before resuming, or the next pass here stops again
//     break;
//   }
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace rwd {

class InProcessBreakpoint {
 public:
  // Patches `addr` in process `pid`; `stopped_tid` is a thread of it in a ptrace-stop
  // (not at a syscall-entry stop), used to run mmap. Its registers are left unchanged.
  // A pass is a hit only when, besides the registers, the two words at each address in
  // `equal_pairs` and 8 bytes after it are equal (a stub ring's `next` and `limit`).
  static Result<InProcessBreakpoint> install(pid_t pid, pid_t stopped_tid, uint64_t addr,
                                             const user_regs_struct& want,
                                             const std::vector<uint64_t>& equal_pairs = {});

  InProcessBreakpoint(InProcessBreakpoint&& other) noexcept;
  InProcessBreakpoint& operator=(InProcessBreakpoint&& other) noexcept;
  InProcessBreakpoint(const InProcessBreakpoint&) = delete;
  InProcessBreakpoint& operator=(const InProcessBreakpoint&) = delete;
  ~InProcessBreakpoint();

  // True when `regs` are those of a thread stopped (SIGTRAP) at the trampoline's int3.
  // Its registers are then exactly those it had at `addr`, except rip. Resuming it as
  // it is runs the displaced original instructions and goes on after the patch.
  bool is_hit(const user_regs_struct& regs) const;

  // Moves a thread at a hit back to `addr`, its instruction not yet executed: all its
  // registers are then the ones it had there. `regs` is updated to match.
  Status finish_hit(pid_t tid, user_regs_struct& regs);

  // Restores the original bytes and unmaps the page, running munmap in `stopped_tid`
  // (in a ptrace-stop, not inside the page unless at a hit). See the rules above.
  Status remove(pid_t stopped_tid);

  uint64_t addr() const { return addr_; }
  uint64_t page() const { return page_; }
  // How many bytes at addr the patch covers (5 or more: whole instructions).
  size_t patched_len() const { return original_.size(); }
  // A signal that arrived while install() or remove() ran a syscall in the stopped
  // thread (0 if none), for the caller to deliver; reading it clears it.
  int take_deferred_signal() { return std::exchange(deferred_signal_, 0); }

 private:
  InProcessBreakpoint() = default;
  // Restores the original bytes; the page stays.
  Status restore_bytes();

  pid_t pid_ = 0;
  uint64_t addr_ = 0;
  uint64_t page_ = 0;         // 0 once removed (or moved from)
  uint64_t hit_rip_ = 0;      // rip of a thread stopped at the int3 (the byte after it)
  uint64_t syscall_site_ = 0; // a `syscall` instruction in the page, for munmap
  // Where each displaced instruction's copy starts in the page -> its original address.
  std::vector<std::pair<uint64_t, uint64_t>> copies_;
  std::string original_;      // the bytes the patch replaced
  bool patched_ = false;
  int deferred_signal_ = 0;
};

}  // namespace rwd
