// The orphan guard: what keeps a recorded process alive when its recorder dies abruptly
// (SIGKILL, the OOM killer) and cannot undo the rdtsc trapping it set up.
//
// rewind traps rdtsc with PR_SET_TSC so that it can record the values; a trapped rdtsc
// raises SIGSEGV. The guard is a few instructions and their data (1 KiB) written into the
// target and installed as its SIGSEGV handler (and SIGTRAP's, for a single-step cut
// short), wrapping the program's own actions. While the recorder lives it never sees an
// rdtsc fault (the recorder handles those under ptrace, and has the guard pass on the
// ones a program that traps rdtsc itself asked for) and hands every other SIGSEGV to the
// program's action unchanged. Once the recorder is gone, a trapped rdtsc reaches the
// guard, which turns trapping off for that thread and lets the instruction run again.
//
//   auto guard = OrphanGuard::install(tid, OrphanGuard::vdso_room(vdso, start), site);
//   ...                                             // record
//   inject_syscall(tid, guard->injection_site(), ...);
//   guard->remove(tid);                             // after untrapping every thread
//
// The guard goes into the unused tail of the vDSO's last page when there is room, which
// takes no syscall in the target: a recorder killed while it installs the guard leaves
// nothing half done. Otherwise it maps a page of its own, and that mmap, run on a syscall
// instruction of the vDSO, is the one moment a killed recorder can leave a thread on
// registers that are not its own. The snapshot saves the guard's bytes either way, so the
// replay runs the same handler.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "tracee/ptrace_ops.h"

namespace rwd {

// The kernel's struct sigaction on x86-64 (rt_sigaction's layout).
struct KernelSigaction {
  uint64_t handler = 0;  // 0 SIG_DFL, 1 SIG_IGN, else the handler's address
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

class OrphanGuard {
 public:
  // Where the guard's parts are, as offsets from its start: its SIGSEGV and SIGTRAP
  // handlers, its restorer, the syscall instruction injected syscalls run on, and its
  // data. They depend on the rewind that installed the guard, so a recording names them
  // for the replay, which may be another rewind's.
  struct Layout {
    uint64_t segv = 0;
    uint64_t trap = 0;
    uint64_t restorer = 0;
    uint64_t syscall = 0;
    uint64_t data = 0;
  };
  // This rewind's.
  static Layout current_layout();
  // The guard of recordings whose snapshot does not name its layout: the first one, with
  // its data a page after its code.
  static constexpr Layout kOriginalLayout{0, 0x3b, 0xec, 0xf3, 4096};

  // Where the guard fits into the vDSO (`image`, mapped at `vdso_start`) after all it
  // uses; 0 if it does not.
  static uint64_t vdso_room(std::string_view image, uint64_t vdso_start);

  // Puts the guard into the process of the stopped thread `tid`, at `place` (from
  // vdso_room) or, if that is 0, into a page it maps by running mmap on the syscall
  // instruction at `first_site` (see inject_syscall), and makes it the SIGSEGV and SIGTRAP
  // handler, keeping the program's actions for the guard to pass signals on to. Its other
  // syscalls run on the guard's own instruction; a signal that arrives meanwhile is
  // returned in *deferred_signal.
  static Result<OrphanGuard> install(pid_t tid, uint64_t place, uint64_t first_site,
                                     int* deferred_signal);

  // The guard that a recording's snapshot holds at `base`, as replay finds it in the
  // process it rebuilt: replay keeps it in front of the program's SIGSEGV and SIGTRAP
  // actions as the recorder did (rewrap), so that the kernel delivers those signals as
  // it did while recording (to a handler with SA_SIGINFO, which puts a siginfo in the
  // signal frame).
  // `layout` is the recording's (its snapshot names it; kOriginalLayout otherwise).
  static OrphanGuard adopt(uint64_t base, const Layout& layout) {
    return OrphanGuard(base, layout, false);
  }

  // Puts the program's actions back and takes the guard away (unmaps its page, or zeroes
  // its bytes in the vDSO). Only safe once no thread has rdtsc trapped any more.
  Status remove(pid_t tid, int* deferred_signal) const;

  // Where to inject syscalls while the guard is in place: a thread that rewind leaves
  // in the middle of one, by dying, resumes where it was.
  InjectionSite injection_site() const;

  // Set while rewind single-steps a thread: the single-step trap that follows rewind's
  // death is then ignored instead of passed on.
  Status set_stepping(pid_t pid, bool stepping) const;

  // Set while an rdtsc fault is the program's own (it trapped rdtsc with PR_SET_TSC): the
  // guard passes it on to the program's action instead of untrapping rdtsc.
  Status pass_rdtsc_faults(pid_t pid, bool pass) const;

  // After the program set its own action for `sig` (replacing the guard's): keeps that
  // action as the one the guard passes `sig` on to and puts the guard back in front.
  Status rewrap(pid_t tid, int sig, int* deferred_signal);

  // Puts the guard back in front of the program's action for `sig`, which the kernel
  // reset to the default (a fault forced through while the signal was blocked).
  Status reinstate(pid_t tid, int sig, int* deferred_signal) const;

  // The program's own action for SIGSEGV or SIGTRAP (nullptr for other signals): what
  // the program must see as its action, and what the guard passes the signal on to.
  const KernelSigaction* program_action(int sig) const;
  uint64_t base() const { return base_; }
  uint64_t data() const { return base_ + layout_.data; }
  const Layout& layout() const { return layout_; }
  // In a page it mapped (else in the vDSO's tail).
  bool in_own_page() const { return mapped_; }
  // Whether the instruction at `addr` is the guard's (its handler's own syscalls, such as
  // the rt_sigaction that hands a fault to the program's SIG_DFL or SIG_IGN).
  bool owns_code_at(uint64_t addr) const { return addr >= base_ && addr < base_ + kCodeSize; }

  // The guard's size in the target: its code, then its data.
  static constexpr uint64_t kCodeSize = 512;
  static constexpr uint64_t kSize = 1024;

 private:
  OrphanGuard(uint64_t base, const Layout& layout, bool mapped)
      : base_(base), layout_(layout), mapped_(mapped) {}
  KernelSigaction guard_action(size_t i, const KernelSigaction& program) const;
  Result<KernelSigaction> wrap(pid_t tid, size_t i, int* deferred_signal) const;
  Status take_away(pid_t tid, int* deferred_signal) const;

  uint64_t base_;
  Layout layout_;
  bool mapped_;  // in a page of its own (else in the vDSO's tail)
  // The program's own actions for SIGSEGV, then SIGTRAP.
  std::array<KernelSigaction, 2> program_{};
};

}  // namespace rwd
