// RecordSession's clock reads: trapped rdtsc and the vDSO clock functions.
//
// rdtsc is trapped (PR_SET_TSC), so each one stops the thread with a SIGSEGV that rewind
// answers with its own rdtsc and records. The vDSO clock functions are patched into
// stubs (tracee/vdso_patch.h); with --fast-clocks they start with a trapped rdtsc, and
// that single stop is where rewind answers the whole call: it reads the clock itself
// (clock_reading.h), writes the result where the call would have, and returns the thread
// to its caller with the registers that the stub's syscall would have left. The log gets
// what replay meets when it runs the same stub: the rdtsc, then the syscall.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <cpuid.h>
#include <x86intrin.h>

#include <utility>

#include "record/clock_reading.h"
#include "record/record_session.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"

namespace rwd {

namespace {

bool write_target(pid_t pid, const MemoryBytes& out) {
  // process_vm_writev, not /proc/PID/mem: it fails where the target's own write would
  // (read-only or unmapped memory), and the kernel then answers the call with EFAULT.
  iovec local{const_cast<char*>(out.bytes.data()), out.bytes.size()};
  iovec remote{reinterpret_cast<void*>(out.addr), out.bytes.size()};
  return ::process_vm_writev(pid, &local, 1, &remote, 1, 0) ==
         static_cast<ssize_t>(out.bytes.size());
}

}  // namespace

bool RecordSession::emulate_rdtsc(Thread& t, const siginfo_t& si) {
  if (!tsc_trapped_ || si.si_code != SI_KERNEL || !mem_) {
    return false;
  }
  auto regs = get_regs(t.tid);
  if (!regs) {
    return false;
  }
  unsigned char code[3] = {};
  if (mem_->read_into(regs->rip, code, sizeof code) < 2 || code[0] != 0x0f) {
    return false;
  }
  if (code[1] == 0xa2 && cpuid_trapped_) {
    if (!answer_cpuid(t, *regs)) {
      return false;
    }
    if (t.segv_mask != Thread::SegvMask::kUnblocked) {
      undo_forced_segv(t);
    }
    return true;
  }
  bool rdtscp = false;
  if (code[1] == 0x31) {
    rdtscp = false;
  } else if (code[1] == 0x01 && code[2] == 0xf9) {
    rdtscp = true;
  } else {
    return false;
  }
  if (t.program_traps_tsc && orphan_guard_ && orphan_guard_->pass_rdtsc_faults(pid_, true)) {
    // The program trapped rdtsc itself: the fault is its own, recorded and delivered as
    // a signal. The guard hands it over instead of untrapping rdtsc, which it does only
    // after rewind is gone, until the thread's next stop.
    t.tsc_fault_passed = true;
    return false;
  }
  if (stop_deadline_ && t.tid == owner_) {
    // Stopping: end here, before the instruction. Left to run on, a thread that makes
    // no syscall (its clock reads no longer are) would be interrupted anywhere in its
    // loop, a point that replay can only find by comparing registers and stack.
    t.held_at_end = true;
  } else if (!answer_rdtsc(t, *regs, rdtscp)) {
    return false;
  }
  if (t.segv_mask != Thread::SegvMask::kUnblocked) {
    undo_forced_segv(t);
  }
  return true;
}

// Executes the thread's trapped rdtsc (or rdtscp) for it, and at a clock stub the whole
// call when rewind can answer it.
bool RecordSession::answer_rdtsc(Thread& t, user_regs_struct& regs, bool rdtscp) {
  unsigned aux = 0;
  uint64_t tsc = rdtscp ? __rdtscp(&aux) : __rdtsc();
  Event e;
  e.type = EventType::kRdtsc;
  e.tid = static_cast<uint32_t>(t.tid);
  e.time_ns = now_ns();
  e.value = static_cast<int64_t>(regs.rip);
  e.tsc = tsc;
  e.tsc_aux = aux;
  e.rdtscp = rdtscp;
  const CodePatch* stub = rdtscp ? nullptr : trapped_stub_at(vdso_patches_, regs.rip);
  regs.rax = tsc & 0xffffffffu;
  regs.rdx = tsc >> 32;
  if (rdtscp) {
    regs.rcx = aux;
  }
  regs.rip += rdtscp ? 3 : 2;
  std::optional<Event> call = stub ? answer_clock_call(t, regs, *stub) : std::nullopt;
  if (!set_regs(t.tid, regs)) {
    return false;
  }
  record(e);
  if (call) {
    record(*call);
    ++clock_reads_;
  } else if (stub == nullptr) {
    ++rdtsc_count_;
    patch_rdtsc(t, e.value, tsc, aux);
  }
  return true;
}

// Executes the thread's trapped cpuid for it and records the answer. In a program that
// started under rewind (launched, or after an exec) the answer hides what replay could
// not reproduce: XSAVEC, whose init optimization leaves bytes in memory that depend on
// ptrace traffic (glibc's lazy binder saves registers with it), and RDRAND/RDSEED,
// whose values cannot be trapped. A program that was running when rewind attached has
// read the real answers already and keeps getting them.
bool RecordSession::answer_cpuid(Thread& t, user_regs_struct& regs) {
  auto leaf = static_cast<uint32_t>(regs.rax);
  auto subleaf = static_cast<uint32_t>(regs.rcx);
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid_count(leaf, subleaf, a, b, c, d);
  if (options_.pid == 0 || execs_ > 0) {
    if (leaf == 1) {
      c &= ~(1u << 30);  // RDRAND
    } else if (leaf == 7 && subleaf == 0) {
      b &= ~(1u << 18);  // RDSEED
    } else if (leaf == 0xd && subleaf == 1) {
      a &= ~(1u << 1);  // XSAVEC
    }
  }
  regs.rax = a;
  regs.rbx = b;
  regs.rcx = c;
  regs.rdx = d;
  regs.rip += 2;
  if (!set_regs(t.tid, regs)) {
    return false;
  }
  Event e;
  e.type = EventType::kCpuid;
  e.tid = static_cast<uint32_t>(t.tid);
  e.time_ns = now_ns();
  e.value = static_cast<int64_t>(regs.rip - 2);
  e.args = {leaf, subleaf, a, b, c, d};
  record(e);
  ++cpuid_count_;
  return true;
}

// `regs` stand past the stub's rdtsc. On success they are set to the caller's return
// from the call, and the syscall event is returned; otherwise nothing was changed that
// matters, and the thread goes on into the stub's syscall.
std::optional<Event> RecordSession::answer_clock_call(Thread& t, user_regs_struct& regs,
                                                      const CodePatch& stub) {
  std::array<uint64_t, 6> args = {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9};
  auto reading = read_clock_for(stub.sysno, args, pid_);
  uint64_t return_to = 0;
  if (!reading || mem_->read_into(regs.rsp, &return_to, sizeof return_to) != sizeof return_to) {
    return std::nullopt;
  }
  for (const auto& out : reading->outputs) {
    if (!write_target(pid_, out)) {
      return std::nullopt;
    }
  }
  Event e;
  e.type = EventType::kSyscall;
  e.tid = static_cast<uint32_t>(t.tid);
  e.time_ns = now_ns();
  e.sysno = stub.sysno;
  e.args = args;
  e.result = reading->result;
  e.outputs = std::move(reading->outputs);
  ++syscall_counts_[e.sysno];
  // As the stub's `syscall; ret` would leave them.
  regs = past_syscall_instruction(regs, stub.syscall_at);
  regs.rax = static_cast<uint64_t>(e.result);
  regs.rip = return_to;
  regs.rsp += sizeof return_to;
  return e;
}

// With --fast-clocks, once rdtsc traps in every thread: the clock stubs get their
// leading rdtsc, so that each call costs one stop. Where rewind does not see the
// target's clocks (another time namespace) the call would still go to the kernel after
// that stop, so the plain stubs stay.
//
// Not the default: if rewind dies, the first clock read of a thread that blocks SIGSEGV
// is a trapped rdtsc that the kernel forces through with SIGSEGV's default action, and
// the orphan guard never runs. Plain stubs make a syscall there. Making this safe needs
// the stub to see, in the target's memory, that rewind is gone.
void RecordSession::use_trapped_clock_stubs(std::string_view image, uint64_t base) {
  if (!options_.fast_clocks || !tsc_trapped_ || !shares_time_namespace(pid_)) {
    return;
  }
  auto trapped = vdso_patches(image, base, ClockStub::kTrapped);
  if (!trapped || !apply_patches(pid_, *trapped)) {
    (void)apply_patches(pid_, vdso_patches_);  // the plain stubs stay in force
    return;
  }
  vdso_patches_ = std::move(*trapped);
}

// A program's own PR_SET_TSC. rewind keeps rdtsc trapped whatever the program asks (its
// values are recorded), so the call becomes one that changes nothing, and rewind plays
// the setting the program asked for: PR_GET_TSC answers it, an rdtsc fault goes to the
// program while it asked for SIGSEGV (emulate_rdtsc), and its children keep it.
void RecordSession::on_program_tsc_entry(Thread& t, const Event& e) {
  t.program_tsc_request.reset();
  if (!tsc_trapped_ || e.sysno != SYS_prctl || e.args[0] != PR_SET_TSC ||
      (e.args[1] != PR_TSC_ENABLE && e.args[1] != PR_TSC_SIGSEGV)) {
    return;
  }
  auto regs = get_regs(t.tid);
  if (!regs) {
    return;
  }
  regs->rsi = PR_TSC_SIGSEGV;  // what the thread has already
  if (set_regs(t.tid, *regs)) {
    t.program_tsc_request = e.args[1];
  }
}

void RecordSession::on_program_tsc_exit(Thread& t, const Event& e) {
  if (auto asked = std::exchange(t.program_tsc_request, std::nullopt)) {
    if (e.result == 0) {
      t.program_traps_tsc = *asked == PR_TSC_SIGSEGV;
      if (t.program_traps_tsc && !rdtsc_patching_off_) {
        // Its rdtsc faults are its own from now on: the stubs end in the real rdtsc.
        rdtsc_patching_off_ = true;
        turn_off_rdtsc_stubs(pid_, false);
      }
    }
    if (auto regs = get_regs(t.tid)) {
      regs->rsi = *asked;  // the program's own argument register back
      (void)set_regs(t.tid, *regs);
    }
    return;
  }
  if (tsc_trapped_ && e.sysno == SYS_prctl && e.args[0] == PR_GET_TSC && e.result == 0) {
    int setting = t.program_traps_tsc ? PR_TSC_SIGSEGV : PR_TSC_ENABLE;
    (void)write_target(t.tid, {e.args[1], std::string(reinterpret_cast<const char*>(&setting),
                                                      sizeof setting)});
  }
}

// At attach, before rewind traps rdtsc: which threads trap it already, by the program's
// own PR_SET_TSC.
Status RecordSession::read_program_tsc_settings() {
  for (auto& [tid, t] : threads_) {
    if (t->exiting) {
      continue;
    }
    Thread& thread = *t;
    auto s = with_stack_scratch(tid, sizeof(int), [&](uint64_t scratch) {
      int deferred = 0;
      auto rc = inject_syscall(tid, injection_site_, SYS_prctl, {PR_GET_TSC, scratch},
                               &deferred);
      keep_deferred(thread, deferred);
      int setting = 0;
      thread.program_traps_tsc = rc && *rc == 0 &&
                                 mem_->read_into(scratch, &setting, sizeof setting) ==
                                     sizeof setting &&
                                 setting == PR_TSC_SIGSEGV;
    });
    if (!s) {
      return s;
    }
  }
  return ok();
}

}  // namespace rwd
