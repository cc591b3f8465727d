// RecordSession's handling of ptrace stops: syscalls, signals, clone/exec/exit events.
// The session's setup, loop and teardown are in record_session.cc.
#include <signal.h>
#include <asm/prctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.h"
#include "record/record_session.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/signals.h"
#include "tracee/syscall_table.h"
#include "tracee/target_memory.h"
#include "tracee/vdso_patch.h"

namespace rwd {

namespace {

// Largest capture of one syscall's output; larger writes are cut and warned about.
constexpr uint64_t kMaxCapture = 64ull << 20;
// What a sleeping call interrupted by a signal (or a ptrace stop) returns when it is to be
// continued by restart_syscall.
constexpr int64_t kErestartRestartblock = -516;

// The syscall that thread `tid` is entering does not run (it returns -ENOSYS, unless
// rewind sets a result at its exit).
bool skip_syscall(pid_t tid) {
  auto regs = get_regs(tid);
  if (!regs) {
    return false;
  }
  regs->orig_rax = static_cast<uint64_t>(-1);
  return static_cast<bool>(set_regs(tid, *regs));
}

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

void RecordSession::process_stop(pid_t tid, WaitStatus status) {
  if (status.exited() || status.signaled()) {
    if (auto it = threads_.find(tid); it != threads_.end()) {
      note_resumed_after_step(*it->second);
      release_new_child(*it->second);
    }
    threads_.erase(tid);
    shared_watch_.owner_gone(tid);
    if (tid == owner_) {
      owner_ = 0;
      owner_in_syscall_ = false;
    }
    if (tid == pid_) {
      process_gone_ = true;
      Event e;
      e.type = EventType::kProcessExit;
      e.tid = static_cast<uint32_t>(tid);
      e.time_ns = now_ns();
      e.value = status.shell_status();
      result_.exit_status = static_cast<int>(e.value);
      if (mode_ != Mode::kPreExec && writer_) {
        record(e);
      }
    }
    return;
  }
  if (!status.stopped()) {
    return;
  }
  auto it = threads_.find(tid);
  if (it == threads_.end()) {
    if (auto st = read_status(tid); st && st->tgid != pid_) {
      // A child process whose first stop arrived before its parent's fork event: it
      // waits, stopped, for that event to let it go (release_child_process).
      early_children_.insert(tid);
      return;
    }
    // A new thread whose stop arrived before its parent's clone event.
    auto t = std::make_unique<Thread>();
    t->tid = tid;
    t->awaits_clone_return = true;
    it = threads_.emplace(tid, std::move(t)).first;
    seen_threads_.insert(tid);
  }
  Thread& t = *it->second;
  t.stopped = true;
  t.at_entry = false;
  if (status.ptrace_event() == PTRACE_EVENT_EXEC) {
    // The old image, its rdtsc stubs with it, is gone (their values were logged at the
    // execve's entry stop); their addresses may hold the new image's memory.
    rdtsc_patches_.clear();
    clock_feed_.stop();
    clock_stubs_.reset();
    clock_stubs_tried_ = false;
  } else if (tid == owner_) {
    drain_stubs(t);
  }
  if (status.is_syscall_stop() || status.ptrace_event() != 0) {
    t.delivering.reset();
  }
  note_resumed_after_step(t);
  if (t.tsc_fault_passed && orphan_guard_) {
    t.tsc_fault_passed = false;
    (void)orphan_guard_->pass_rdtsc_faults(pid_, false);
  }
  int sig = status.stop_signal();
  int event = status.ptrace_event();
  if (t.new_child != 0) {
    // The call's syscall-exit stop, then the stop after it (see hold_new_child).
    t.new_child_returned = ++t.new_child_stops >= 2;
  }
  if (status.is_syscall_stop()) {
    on_syscall_stop(t);
  } else if (event != 0) {
    on_event_stop(t, event, sig);
  } else {
    on_signal_stop(t, sig);
  }
}

void RecordSession::on_syscall_stop(Thread& t) {
  if (mode_ == Mode::kPreExec) {
    return;
  }
  __ptrace_syscall_info info{};
  long n = ::ptrace(PTRACE_GET_SYSCALL_INFO, t.tid, reinterpret_cast<void*>(sizeof info), &info);
  if (n <= 0) {
    return;
  }
  if (!mem_) {
    mem_ = std::make_unique<TargetMemory>(pid_);
  }
  TargetMemory& mem = *mem_;
  auto peek = [&mem](uint64_t addr, void* out, size_t len) {
    return mem.read_into(addr, out, len);
  };
  if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
    t.at_entry = true;
    if (t.interrupt_pending && t.tid == owner_) {
      // A preemption is on its way: skip this syscall so that the preemption stop comes
      // first, with the thread set back onto its syscall instruction to make the call
      // again when it next gets the CPU (or by itself, should rewind die meanwhile).
      if (auto regs = get_regs(t.tid)) {
        t.entry_regs = *regs;
        if (set_regs(t.tid, rerun_syscall(*regs))) {
          t.preempt_skip = true;
          return;
        }
      }
    }
    Event& e = t.syscall;
    e = Event{};
    e.type = EventType::kSyscall;
    e.tid = static_cast<uint32_t>(t.tid);
    e.time_ns = now_ns();
    e.sysno = static_cast<int64_t>(info.entry.nr);
    for (int i = 0; i < 6; ++i) {
      e.args[i] = info.entry.args[i];
    }
    t.in_syscall = true;
    if (e.sysno == SYS_rseq && (e.args[2] & 1) == 0 && !vdso_patches_.empty() &&
        !rseq_in_use_) {
      // Restartable sequences let the kernel write CPU numbers into the process at any
      // time, which replay cannot reproduce: fail the registration (as rr does); glibc
      // then reads the CPU number through getcpu, which is recorded.
      (void)skip_syscall(t.tid);
    }
    on_program_tsc_entry(t, e);
    if (e.sysno == SYS_execve || e.sysno == SYS_execveat) {
      clock_feed_.stop();  // the stubs' page may be the new image's memory next
    }
    t.kills_group = kill_of_own_group(e);
    if (t.kills_group != 0 && !skip_syscall(t.tid)) {
      t.kills_group = 0;  // not skipped: the kernel sends it
    }
    if (shares_stack_until_exec(e)) {
      t.before_vfork = read_data_mappings();
    }
    watch_shared_memory_at_entry(e);
    on_owner_syscall_entry(t);
    const SyscallInfo* si = syscall_info(e.sysno);
    if (si == nullptr) {
      warn_once(fmt::format("sys{}", e.sysno),
                fmt::format("syscall {} is not in rewind's syscall table: its memory effects "
                            "are not recorded",
                            e.sysno));
      return;
    }
    if (si->flags & kSysUnsupported) {
      warn_once(std::string(si->name),
                fmt::format("the target uses {}, which rewind cannot record faithfully",
                            si->name));
    }
    for (auto r : syscall_input_ranges(*si, e.args, peek)) {
      std::string bytes;
      if (mem.read(r.addr, std::min(r.len, kMaxCapture), bytes)) {
        e.inputs.push_back({r.addr, std::move(bytes)});
      }
    }
    if (e.sysno == SYS_exit_group) {
      // The last moment the whole process is intact: save the final state here.
      // The other threads stay stopped; exit_group's SIGKILL ends them.
      capture_final_core("exit", nullptr);
    }
    return;
  }
  if (t.preempt_skip) {
    return;  // the exit of a skipped syscall: the preemption stop follows
  }
  if (info.op != PTRACE_SYSCALL_INFO_EXIT) {
    return;
  }
  if (t.new_thread != 0) {
    // The child runs once this clone's return is in the log, as replay needs. (Also
    // when the clone began while rewind attached and is not in the log at all.)
    release_new_thread(t);
  }
  if (t.exec_pending) {
    t.exec_pending = false;
    take_exec_snapshot(t);
    return;
  }
  if (!t.in_syscall) {
    return;
  }
  t.in_syscall = false;
  if (t.tid == owner_) {
    owner_in_syscall_ = false;
  }
  Event& e = t.syscall;
  e.result = info.exit.rval;
  if (e.result == -EINTR) {
    if (auto regs = get_regs(t.tid); regs && restart_if_woken_by_tracing(t, *regs)) {
      e.result = static_cast<int64_t>(regs->rax);
    }
  }
  pid_t killed_group = std::exchange(t.kills_group, 0);
  if (killed_group != 0) {
    if (auto regs = get_regs(t.tid)) {
      e.result = kill_own_group(killed_group);  // the target itself dies of it later
      regs->rax = static_cast<uint64_t>(e.result);
      set_regs(t.tid, *regs);
    }
  }
  const SyscallInfo* si = syscall_info(e.sysno);
  ++syscall_counts_[e.sysno];
  if (si != nullptr) {
    if (si->special == "unknown-output" && e.result >= 0) {
      warn_once(fmt::format("out-{}", si->name),
                fmt::format("the output buffers of {} are not described in rewind's syscall "
                            "table: what the kernel wrote is not recorded",
                            si->name));
    }
  }
  if (e.sysno == SYS_rt_sigaction && e.result == 0) {
    keep_orphan_guard(t, e);  // before the outputs are read: oldact is rewritten
  }
  on_program_tsc_exit(t, e);  // before the outputs are read too
  note_signal_mask(t);
  // restart_syscall writes what the call it continues writes.
  const SyscallInfo* outputs_of = si;
  std::array<uint64_t, 6> output_args = e.args;
  if (e.sysno == SYS_restart_syscall) {
    outputs_of = t.interrupted ? syscall_info(t.interrupted->first) : nullptr;
    if (outputs_of != nullptr) {
      output_args = t.interrupted->second;
    } else if (e.result >= 0) {
      warn_once("restart_syscall",
                "a restart_syscall continued a call rewind did not see start: what it wrote "
                "is not recorded");
    }
  }
  if (e.result == kErestartRestartblock) {
    t.interrupted.emplace(e.sysno == SYS_restart_syscall && t.interrupted
                              ? *t.interrupted
                              : std::pair{e.sysno, e.args});
  } else if (e.sysno == SYS_restart_syscall) {
    t.interrupted.reset();
  }
  if (outputs_of != nullptr) {
    for (auto r : syscall_output_ranges(*outputs_of, output_args, e.result, peek)) {
      if (r.len > kMaxCapture) {
        warn_once(fmt::format("big-{}", si->name),
                  fmt::format("a {} wrote {} bytes; only the first {} are recorded", si->name,
                              r.len, kMaxCapture));
        r.len = kMaxCapture;
      }
      std::string bytes;
      if (mem.read(r.addr, r.len, bytes)) {
        e.outputs.push_back({r.addr, std::move(bytes)});
      }
    }
  }
  if (e.sysno == SYS_mmap) {
    capture_mapped_file(e);
  }
  capture_kernel_changes(e);
  collect_shared_memory(e);
  if (e.sysno == SYS_rseq && e.result == 0 && (e.args[2] & 1) == 0 && rseq_in_use_) {
    // glibc aborts a new thread whose rseq registration fails once the process uses
    // rseq, so let it succeed, then unregister at once and keep the area as it is left.
    int deferred = 0;
    auto un = inject_syscall(t.tid, injection_site_, SYS_rseq, {e.args[0], e.args[1], 1, e.args[3]},
                             &deferred);
    keep_deferred(t, deferred);
    std::string area;
    if (un && *un == 0 && mem.read(e.args[0], e.args[1], area)) {
      e.outputs.push_back({e.args[0], std::move(area)});
    }
  }
  record(e);
  if ((e.sysno == SYS_execve || e.sysno == SYS_execveat) && e.result < 0 && clock_stubs_) {
    clock_feed_.start(pid_, clock_stubs_->header());  // the same image goes on
  }
  install_clock_stubs(t, e);
  if (e.sysno == SYS_sched_yield && t.tid == owner_ && !run_queue_.empty()) {
    // It asked to let the others run. Those whose stops had not reached rewind yet as it
    // entered (on another CPU, say) are waiting now: they go first.
    yield_cpu(t);
  }
}

// A signal that arrived while rewind ran syscalls in thread `t`: the kernel dequeued it
// then, so it is gone unless rewind delivers it. It becomes the thread's pending signal;
// when the thread has one already (it stood at that signal's delivery at attach, say),
// it is sent again (tkill) and arrives after it, as it would have. Before, one of the
// two was dropped: attaching to a program with two signals pending lost one.
void RecordSession::keep_deferred(Thread& t, int sig) {
  if (sig == 0 || sig == t.pending_signal) {
    return;  // the same standard signal twice is one
  }
  if (t.pending_signal == 0) {
    t.pending_signal = sig;
  } else if (::syscall(SYS_tkill, t.tid, sig) != 0) {
    spdlog::warn("thread {} of pid {}: {} arrived while rewind ran a syscall in it and could "
                 "not be sent again ({}): the program does not get it",
                 t.tid, pid_, signal_name(sig), errno_text(errno));
  }
}

// A kill() of the process group that rewind is in too, with SIGKILL: a program that
// kills its own group (kill(0, SIGKILL), killpg) when rewind launched it would kill rewind
// with it, and the recording would be lost. Such a call is skipped, and rewind sends the
// signal to the group's members but itself, the target among them: it dies of it as it
// would have, and the recording ends with that death. Returns the group (0: another call).
pid_t RecordSession::kill_of_own_group(const Event& e) const {
  if (e.sysno != SYS_kill || static_cast<int>(e.args[1]) != SIGKILL) {
    return 0;
  }
  auto target = static_cast<pid_t>(e.args[0]);
  pid_t group = target == 0 ? ::getpgid(static_cast<pid_t>(e.tid))
                            : (target < -1 ? -target : 0);
  return group > 0 && group == ::getpgrp() ? group : 0;
}

// What kill(-group, SIGKILL) returns, having sent it to every member of the group but
// rewind.
int64_t RecordSession::kill_own_group(pid_t group) const {
  int sent = 0;
  for (pid_t pid : read_pids().value_or(std::vector<pid_t>{})) {
    if (pid != ::getpid() && ::getpgid(pid) == group && ::kill(pid, SIGKILL) == 0) {
      ++sent;
    }
  }
  spdlog::info("the target sent SIGKILL to its process group, which rewind is in too: "
               "rewind sent it to the group's {} other members instead",
               sent);
  return sent > 0 ? 0 : -ESRCH;
}

// The program's own rt_sigaction for a signal the orphan guard handles: it sees its own
// actions (oldact is rewritten to the program's previous one, before the outputs are
// recorded), and the guard goes back in front of an action it set.
void RecordSession::keep_orphan_guard(Thread& t, const Event& e) {
  int sig = static_cast<int>(e.args[0]);
  const KernelSigaction* program = orphan_guard_ ? orphan_guard_->program_action(sig) : nullptr;
  if (program == nullptr) {
    return;
  }
  KernelSigaction previous = *program;
  auto regs = get_regs(t.tid);
  if (regs && orphan_guard_->owns_code_at(regs->rip - 2)) {
    return;  // the guard handing a fault to the program's SIG_IGN or SIG_DFL: it stays so
  }
  if (e.args[1] != 0) {
    int deferred = 0;
    auto s = orphan_guard_->rewrap(t.tid, sig, &deferred);
    keep_deferred(t, deferred);
    if (!s) {
      warn_once("guard-rewrap",
                fmt::format("the target replaced its {} handler and rewind could not put its "
                            "orphan guard back in front ({}): if rewind is killed now, the "
                            "target can die at its next rdtsc",
                            signal_name(sig), s.error().message));
    }
  }
  if (e.args[2] != 0) {
    std::string_view bytes(reinterpret_cast<const char*>(&previous), sizeof previous);
    (void)write_memory(t.tid, e.args[2], bytes);
  }
}

// Some waits end with EINTR when a ptrace stop interrupts them, and the kernel does not
// restart them: epoll_wait and epoll_pwait, sigtimedwait, semop, io_getevents, a socket
// call with a timeout (signal(7)). Tracing stops a thread twice that the program knows
// nothing of: as rewind attaches and as the recording ends. And a traced thread gets the
// signals that its action ignores (SIGCHLD at its default, say), which wake a wait too;
// untraced, the kernel would have dropped them. Either way the program would see an
// error that nothing it did explains, and a program that does not expect EINTR there
// fails. So when no signal that acts is pending (or held by rewind), such a call is
// restarted instead, as the kernel restarts read(): it waits again, with its whole
// timeout. True when `regs` (thread `t` stopped after the call) were changed so.
bool RecordSession::restart_if_woken_by_tracing(Thread& t, user_regs_struct& regs) {
  if (t.pending_signal != 0) {
    return false;
  }
  auto st = read_thread_status(pid_, t.tid);
  if (!st || signals_that_act(*st) != 0) {
    return false;
  }
  user_regs_struct restarted = regs;
  if (!restart_instead_of_eintr(restarted) || !set_regs(t.tid, restarted)) {
    return false;
  }
  regs = restarted;
  ++waits_restarted_;
  return true;
}

namespace {

// The waits that replace the thread's signal mask while they wait.
bool is_masked_wait(int64_t nr) {
  return nr == SYS_rt_sigsuspend || nr == SYS_ppoll || nr == SYS_pselect6 ||
         nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2;
}

}  // namespace

// A thread whose masked wait (sigsuspend, ppoll, pselect6, epoll_pwait) a signal ended
// as rewind attached (or as the recording ended) stands between the wait's return and
// the signal's handler, with the wait's mask still in force. The first syscall rewind
// runs in it would return it to user space without the handler, and the kernel would
// put the thread's own mask back there: the signal, unblocked only by the wait's mask,
// would then stay pending, and the
// program would see the wait fail with EINTR and no handler run (or, once the signal
// was sent again, replay would meet it where the recording had not). So before anything
// runs in such a thread, the signal goes to its handler: one step with the signal, which
// the kernel ends at the handler's first instruction, having saved the thread's own mask
// in the signal frame. At attach this happens before the recording starts (the initial
// snapshot finds the thread in its handler); at detach, after the final state is saved.
// Signals without a handler are left as they were.
void RecordSession::deliver_signals_ending_masked_waits() {
  std::vector<pid_t> tids;
  for (auto& [tid, t] : threads_) {
    tids.push_back(tid);
  }
  for (pid_t tid : tids) {
    auto it = threads_.find(tid);
    if (it == threads_.end() || !it->second->stopped || it->second->group_stop) {
      continue;
    }
    Thread& t = *it->second;
    auto regs = get_regs(tid);
    if (!regs || !is_masked_wait(static_cast<int64_t>(regs->orig_rax)) ||
        (!restart_pending(*regs) && static_cast<int64_t>(regs->rax) != -EINTR)) {
      continue;
    }
    auto st = read_thread_status(pid_, tid);
    if (!st) {
      continue;
    }
    int sig = t.pending_signal;
    bool early = sig != 0;  // stopped at its delivery: in early_events_ already
    if (!early) {
      uint64_t acting = signals_that_act(*st) & st->sig_caught;
      if (acting == 0) {
        continue;
      }
      // At the interrupt's stop or the wait's exit: let the kernel take the signal off
      // the queue.
      if (::ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) {
        continue;
      }
      auto ws = wait_thread(tid, std::chrono::seconds(2));
      if (!ws) {
        t.stopped = false;  // still running: its stop is collected by the main loop
        continue;
      }
      if (!ws->stopped()) {
        process_stop(tid, *ws);
        continue;
      }
      if (ws->is_syscall_stop() || ws->ptrace_event() != 0) {
        continue;  // stopped again, but not for a signal: nothing to deliver
      }
      sig = ws->stop_signal();
    }
    // Another signal that came first is delivered as any other.
    auto take_as_any_other = [&](int other) {
      if (finished_) {
        t.pending_signal = other;  // the recording is over: only delivered at detach
      } else {
        on_signal_stop(t, other);
      }
    };
    if ((st->sig_caught & signal_bit(sig)) == 0 || is_stop_signal(sig)) {
      if (!early) {
        take_as_any_other(sig);
      }
      continue;
    }
    auto step = reinterpret_cast<void*>(static_cast<long>(sig));
    if (::ptrace(PTRACE_SINGLESTEP, tid, nullptr, step) != 0) {
      continue;
    }
    auto ws = wait_thread(tid, std::chrono::seconds(2));
    if (!ws || !ws->stopped()) {
      if (ws) {
        process_stop(tid, *ws);
      } else {
        t.stopped = false;
      }
      continue;
    }
    t.pending_signal = 0;
    t.delivering.reset();
    if (ws->stop_signal() != SIGTRAP && !ws->is_syscall_stop() && ws->ptrace_event() == 0) {
      take_as_any_other(ws->stop_signal());  // arrived on the way into the handler
    }
    t.segv_mask = Thread::SegvMask::kUnknown;
    if (early) {
      // Its point and signal event: the delivery is now part of the initial state.
      std::erase_if(early_events_, [&](const Event& e) {
        return e.tid == static_cast<uint32_t>(tid) &&
               ((e.type == EventType::kSignal && e.signo == sig) ||
                (e.type == EventType::kPoint && e.reason == PointReason::kSignal));
      });
    }
    spdlog::debug("thread {}: {} that ended its {} went to its handler before rewind ran "
                  "anything in the thread",
                  tid, signal_name(sig), syscall_name(static_cast<int64_t>(regs->orig_rax)));
  }
}

void RecordSession::note_interrupted_calls() {
  for (auto& [tid, t] : threads_) {
    auto regs = t->stopped ? get_regs(tid) : Result<user_regs_struct>(fail("running"));
    if (regs && static_cast<int64_t>(regs->rax) == -EINTR) {
      (void)restart_if_woken_by_tracing(*t, *regs);  // the attach stop ended its wait
    }
    if (regs && static_cast<int64_t>(regs->rax) == kErestartRestartblock) {
      int64_t nr = static_cast<int64_t>(regs->orig_rax);
      if (nr == SYS_restart_syscall) {
        nr = restarted_call(*regs);
      }
      if (nr == SYS_restart_syscall) {
        continue;  // not known: its restart is warned about as unseen
      }
      t->interrupted.emplace(nr, std::array<uint64_t, 6>{regs->rdi, regs->rsi, regs->rdx,
                                                         regs->r10, regs->r8, regs->r9});
    }
  }
}

// A thread that was already continuing an interrupted call with restart_syscall when
// rewind attached (a signal, a stop or an earlier tracer interrupted it before): the
// kernel keeps which call that is to itself, but the wrapper that made it (glibc's
// poll, nanosleep, ...) loaded the number just before its `syscall` instruction, and the
// arguments are still in their registers. restart_syscall when that cannot be told.
int64_t RecordSession::restarted_call(const user_regs_struct& regs) {
  unsigned char code[7] = {};  // mov $NR, %eax; syscall (rip is past it)
  TargetMemory mem(pid_);
  if (regs.rip < sizeof code ||
      mem.read_into(regs.rip - sizeof code, code, sizeof code) != sizeof code ||
      code[0] != 0xb8 || code[5] != 0x0f || code[6] != 0x05) {
    return SYS_restart_syscall;
  }
  uint32_t nr = 0;
  std::memcpy(&nr, code + 1, sizeof nr);
  switch (nr) {
    case SYS_poll:
    case SYS_nanosleep:
    case SYS_clock_nanosleep:
    case SYS_futex:
      return nr;  // the calls the kernel continues with restart_syscall
    default:
      return SYS_restart_syscall;
  }
}

void RecordSession::on_event_stop(Thread& t, int event, int sig) {
  unsigned long msg = 0;
  switch (event) {
    case PTRACE_EVENT_CLONE: {
      ::ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
      pid_t child = static_cast<pid_t>(msg);
      auto st = read_status(child);
      if (st && st->tgid != pid_) {
        // A process created with clone() rather than a thread: not ours to record.
        warn_once(fmt::format("child-{}", child),
                  fmt::format("the target created process {} with clone(); child processes "
                              "are not recorded",
                              child));
        threads_.erase(child);
        hold_new_child(t, child, !clone_shares_memory(t.tid));
        return;
      }
      if (!threads_.count(child)) {
        auto nt = std::make_unique<Thread>();
        nt->tid = child;
        nt->awaits_clone_return = true;
        threads_[child] = std::move(nt);
      }
      threads_[child]->program_traps_tsc = t.program_traps_tsc;  // clone inherits it
      t.new_thread = child;
      seen_threads_.insert(child);
      Event e;
      e.type = EventType::kThreadStart;
      e.tid = static_cast<uint32_t>(t.tid);
      e.time_ns = now_ns();
      e.value = child;
      if (mode_ != Mode::kPreExec) {
        record(e);
      }
      return;
    }
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
      // Child processes are not recorded (their fork returns the recorded pid in
      // replay); they are traced only for as long as it takes to undo what they
      // inherited from rewind.
      ::ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
      if (event == PTRACE_EVENT_VFORK) {
        // The parent waits for its vfork child to exec or exit: the child goes now.
        release_child_process(static_cast<pid_t>(msg), false, t.program_traps_tsc);
      } else {
        // A fork event is also a clone(CLONE_VM | SIGCHLD), whose child shares memory.
        hold_new_child(t, static_cast<pid_t>(msg), !clone_shares_memory(t.tid));
      }
      return;
    case PTRACE_EVENT_EXEC: {
      // The thread that called exec, under its old tid (the leader's tid from now on):
      // replay runs that thread to its execve.
      ::ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
      Event e;
      e.type = EventType::kExec;
      e.tid = static_cast<uint32_t>(msg != 0 ? msg : static_cast<unsigned long>(t.tid));
      e.time_ns = now_ns();
      auto exe = read_link(pid_, "exe");
      e.text = exe ? *exe : "";
      // After exec, only the thread group leader survives, under the leader's tid.
      for (auto it = threads_.begin(); it != threads_.end();) {
        it = it->first == t.tid || it->first == pid_ ? std::next(it) : threads_.erase(it);
      }
      if (t.tid != static_cast<pid_t>(e.tid)) {
        // Another thread exec'd and took the leader's tid: nothing of the old leader's
        // state (its exit, a syscall it was in) is this thread's.
        bool queued = t.queued;
        t = Thread{};
        t.tid = pid_;
        t.stopped = true;
        t.queued = queued;
      }
      t.in_syscall = false;
      shared_watch_ = {};  // a new address space
      mem_.reset();  // /proc/PID/mem follows the old address space after exec
      if (mode_ == Mode::kRecording) {
        record(e);
        // The new image gets its snapshot at execve's syscall-exit stop, on its first
        // instruction, as the initial snapshot of a launch does.
        t.exec_pending = true;
        owner_ = t.tid;
        owner_in_syscall_ = true;
      }
      return;
    }
    case PTRACE_EVENT_EXIT: {
      ::ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
      t.exiting = true;
      if (t.tid == owner_ && t.tid == pid_ && threads_.size() > 1) {
        // The leader's exit completes only when the last thread goes: do not wait for it.
        owner_ = 0;
        owner_in_syscall_ = false;
      }
      // Other threads keep the CPU until they are gone: the kernel clears their tid
      // (CLONE_CHILD_CLEARTID) after this stop, and pthread_join must not see it halfway.
      Event e;
      e.type = EventType::kThreadExit;
      e.tid = static_cast<uint32_t>(t.tid);
      e.time_ns = now_ns();
      e.value = static_cast<int64_t>(msg);
      if (t.in_syscall) {
        // exit/exit_group never return: record the call itself now.
        t.in_syscall = false;
        t.syscall.completed = false;
        ++syscall_counts_[t.syscall.sysno];
        if (mode_ != Mode::kPreExec) {
          record(t.syscall);
        }
      }
      if (mode_ != Mode::kPreExec) {
        record(e);
        watch_robust_futexes(t);
      }
      return;
    }
    case PTRACE_EVENT_STOP:
      if (t.interrupt_pending) {
        // The preemption asked for by the scheduler: save exactly where it landed.
        t.interrupt_pending = false;
        user_regs_struct regs{};
        PointReason reason = PointReason::kPreempt;
        if (t.preempt_skip) {
          regs = rerun_syscall(t.entry_regs);
          set_regs(t.tid, regs);
          t.preempt_skip = false;
          reason = PointReason::kPreemptAtSyscall;
        } else if (auto got = get_regs(t.tid)) {
          regs = *got;
        }
        if (mode_ == Mode::kRecording) {
          record_point(t, reason, nullptr, &regs);
        }
        ++preemptions_;
        if (owner_ == t.tid) {
          owner_ = 0;
          owner_in_syscall_ = false;
        }
        return;
      }
      t.group_stop = is_stop_signal(sig);
      return;
    default:
      return;
  }
}

bool RecordSession::handled(int sig) const {
  auto st = read_status(pid_);
  return st && (st->sig_caught & signal_bit(sig)) != 0;
}

bool RecordSession::signal_is_fatal(int sig) const {
  if (sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH ||
      is_stop_signal(sig)) {
    return false;
  }
  auto st = read_status(pid_);
  if (!st) {
    return false;
  }
  uint64_t bit = signal_bit(sig);
  const KernelSigaction* a = orphan_guard_ ? orphan_guard_->program_action(sig) : nullptr;
  if (a != nullptr && (st->sig_caught & bit) != 0) {
    return a->handler == reinterpret_cast<uint64_t>(SIG_DFL);  // the guard passes it on
  }
  // Otherwise the kernel's own action decides, also for a guarded signal whose guard is
  // not in front any more: a fault that was blocked or ignored, which the kernel forced
  // through by resetting the action to the default, or one the guard handed to the
  // program's SIG_IGN (which the kernel then forces through the same way).
  return !(st->sig_caught & bit) && !(st->sig_ignored & bit);
}

void RecordSession::on_signal_stop(Thread& t, int sig) {
  if (mode_ == Mode::kPreExec) {
    t.pending_signal = sig;
    return;
  }
  siginfo_t si{};
  ::ptrace(PTRACE_GETSIGINFO, t.tid, nullptr, &si);
  if (sig == SIGSEGV && emulate_rdtsc(t, si)) {
    t.pending_signal = 0;
    return;
  }
  auto same_place = [&] {
    auto regs = get_regs(t.tid);
    return regs && regs->rip == t.delivering_rip;
  };
  if (t.delivering && t.delivering->si_signo == sig && si.si_code == SI_KERNEL &&
      (t.delivering->si_code != SI_KERNEL || same_place())) {
    // The signal recorded at this thread's last stop, which rewind ran syscalls in (at
    // attach, say) before letting the signal through: the kernel sends a signal resumed
    // with from a syscall stop anew, as a plain SI_KERNEL one. The same signal: it gets
    // its own siginfo back and is not recorded twice. One that was SI_KERNEL already
    // (an rdtsc fault of a program that traps rdtsc itself) is told from a new one by
    // the thread not having moved.
    ::ptrace(PTRACE_SETSIGINFO, t.tid, nullptr, &*t.delivering);
    t.delivering.reset();
    t.pending_signal = sig;
    return;
  }
  bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
  // Job control (a stop signal, SIGCONT) is no part of the program's computation, unless
  // the program handles it.
  bool job_control = (is_stop_signal(sig) || sig == SIGCONT) && !handled(sig);
  if (job_control && !rdtsc_patches_.empty()) {
    // The thread may wait, stopped, while others run the same rdtsc stub, whose scratch
    // words they would overwrite: out of it first (no point is recorded for a stop, and
    // the move changes nothing that replay, running straight through, would see).
    if (auto regs = get_regs(t.tid)) {
      settle_in_stub(t.tid, *regs);
    }
  }
  if (!fault && !job_control && mode_ == Mode::kRecording) {
    // Ignored (SIGCHLD at its default, say): the kernel discards it as it is delivered,
    // and it is no part of the program's computation. Only a traced thread stops for it;
    // recording it would make replay stop there too.
    auto st = read_status(pid_);
    if (st && (ignored_signals(*st) & signal_bit(sig)) != 0) {
      t.pending_signal = sig;
      return;
    }
  }
  if (mode_ == Mode::kRecording && !(fault && si.si_code > 0) && !job_control) {
    // Sent, not caused by the instruction: replay must deliver it at this very point.
    record_point(t, PointReason::kSignal, &si);
  }
  Event e;
  e.type = EventType::kSignal;
  e.tid = static_cast<uint32_t>(t.tid);
  e.time_ns = now_ns();
  e.signo = sig;
  e.signal_code = si.si_code;
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP) {
    e.fault_addr = reinterpret_cast<uint64_t>(si.si_addr);
  }
  e.fatal = mode_ == Mode::kRecording && signal_is_fatal(sig);
  t.pending_signal = sig;
  t.delivering = si;
  if (si.si_code == SI_KERNEL) {
    auto regs = get_regs(t.tid);
    t.delivering_rip = regs ? regs->rip : 0;
  }
  record(e);
  if (e.fatal) {
    t.fatal_siginfo = si;
    crash_ = {{"signal", sig},
              {"signal_name", signal_name(sig)},
              {"code", si.si_code},
              {"fault_addr", fmt::format("{:#x}", e.fault_addr)},
              {"tid", t.tid}};
    result_.crash_signal = sig;
    spdlog::info("pid {} thread {} received fatal {} (fault address {:#x}); saving the final "
                 "state",
                 pid_, t.tid, signal_name(sig), e.fault_addr);
    capture_final_core("crash", &t);
    finish("crash");
  }
}

// A process the target created inherits rewind's changes to it: rdtsc trapped in its
// thread (PR_SET_TSC survives fork and exec, and after an exec no guard catches the
// fault, so the new program would die at its first rdtsc), the orphan guard as its
// SIGSEGV and SIGTRAP action, and the vDSO clock functions turned into syscalls. Its
// first stop (ptrace follows forks so that there is one) is where rewind takes those
// back before detaching: all of them in a child with its own copy of memory, only the
// trapping (per thread) in one that shares the target's memory (vfork, clone with
// CLONE_VM), where the rest is still the target's.
void RecordSession::release_child_process(pid_t child, bool own_memory,
                                          bool program_traps_tsc) {
  if (child <= 0) {
    return;
  }
  if (!early_children_.erase(child)) {
    auto st = wait_thread(child, std::chrono::seconds(2));
    if (!st || !st->stopped()) {
      // Gone already (killed, say), or never reported: nothing of rewind's is left in it
      // that its own exit does not clear.
      spdlog::debug("child process {} of pid {} did not stop after its creation", child,
                    pid_);
      return;
    }
  }
  int deferred = 0;
  std::vector<std::string> left;
  if (cpuid_trapped_) {
    auto rc = inject_syscall(child, injection_site_, SYS_arch_prctl, {ARCH_SET_CPUID, 1},
                             &deferred);
    if (!rc || *rc != 0) {
      left.push_back("cpuid trapped");
    }
  }
  if (tsc_trapped_ && !program_traps_tsc) {  // else the child keeps the program's own
    auto rc = inject_syscall(child, injection_site_, SYS_prctl, {PR_SET_TSC, PR_TSC_ENABLE},
                             &deferred);
    if (!rc || *rc != 0) {
      left.push_back("rdtsc trapped");
    }
  }
  if (pinned_cpu_ >= 0 && !restore_child_affinity(child)) {
    left.push_back("rewind's one CPU as its affinity");
  }
  if (own_memory) {
    turn_off_rdtsc_stubs(child, false);
    turn_off_clock_stubs(child, false);
    if (!vdso_patches_.empty() && !revert_patches(child, vdso_patches_)) {
      left.push_back("the vDSO clock functions patched");
    }
    if (orphan_guard_) {
      int guard_deferred = 0;
      if (!orphan_guard_->remove(child, &guard_deferred)) {
        left.push_back("the orphan guard installed");
      }
      deferred = deferred != 0 ? deferred : guard_deferred;
    }
  }
  if (!left.empty()) {
    warn_once(fmt::format("child-left-{}", child),
              fmt::format("child process {} of the target keeps {} (rewind could not take "
                          "it back before letting the child go)",
                          child, fmt::join(left, ", ")));
  }
  ::ptrace(PTRACE_DETACH, child, nullptr, reinterpret_cast<void*>(static_cast<long>(deferred)));
}

// The child that `parent`'s fork or process clone made waits, stopped, until the parent
// has run on from the call's return to its next stop (its next syscall, mostly) and is
// resumed from there (resume() lets the child go then). Natively the parent is back in
// its own code, storing the child's pid and going on, while the child is still starting
// up. Let go at the fork's event stop, the child ran while rewind held the parent for a
// few ptrace round-trips, and a child that signalled its parent at once ran the parent's
// handler with the pid still unset before the call even returned: an rr test's handler
// did kill(child_pid, SIGKILL), which became kill(0, SIGKILL). Let go at the resume from
// the call's return, it still ran ahead while rewind handled the parent's next syscall:
// rr's x86/ptrace, whose parent seizes the child right after fork, found it already
// stopped by its own SIGSTOP. A vfork child is let go at once: its parent waits for it.
void RecordSession::hold_new_child(Thread& parent, pid_t child, bool own_memory) {
  release_new_child(parent);
  parent.new_child = child;
  parent.new_child_own_memory = own_memory;
  parent.new_child_stops = 0;
  parent.new_child_returned = false;
}

void RecordSession::release_new_child(Thread& parent) {
  if (parent.new_child != 0) {
    release_child_process(std::exchange(parent.new_child, 0), parent.new_child_own_memory,
                          parent.program_traps_tsc);
  }
}

// Whether the clone() that thread `tid` stands in (at its clone event stop) shares the
// caller's memory; true when that cannot be told, which leaves the memory alone.
bool RecordSession::clone_shares_memory(pid_t tid) {
  auto regs = get_regs(tid);
  auto flags = regs ? clone_flags(static_cast<int64_t>(regs->orig_rax), regs->rdi)
                    : std::nullopt;
  return !flags || (*flags & CLONE_VM) != 0;
}

}  // namespace rwd
