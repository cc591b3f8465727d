#include "replay/replay_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
#include "tracee/code_relocation.h"
#include "tracee/signals.h"
#include "tracee/proc_info.h"
#include "tracee/robust_list.h"
#include "tracee/orphan_guard.h"
#include "tracee/ptrace_ops.h"
#include "tracee/syscall_table.h"
#include "tracee/target_memory.h"
#include "replay/in_process_breakpoint.h"
#include "replay/process_builder.h"
#include "replay/register_diff.h"
#include "replay/replay_session_internal.h"
#include "replay/syscall_policy.h"


namespace rwd {

using namespace replay_detail;

// ReplaySession: applying each kind of event once its thread has reached it.

// --- applying events -------------------------------------------------------------

namespace {

// Only a hole in the range (ENOMEM) is found part-way; other errors (EINVAL on locked
// pages, say, which replay does not lock) are found before anything changed.
bool partial_on_failure(const Event& e) {
  return (e.sysno == SYS_madvise || e.sysno == SYS_mprotect || e.sysno == SYS_pkey_mprotect) &&
         e.result == -ENOMEM;
}

}  // namespace

Result<user_regs_struct> ReplaySession::check_syscall_entry(Thread& t, const Event& e) {
  auto regs = get_regs(t.real);
  if (!regs) {
    return regs;
  }
  std::array<uint64_t, 6> args = {regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9};
  if (static_cast<int64_t>(regs->orig_rax) != e.sysno || args != e.args) {
    Event got = e;
    got.sysno = static_cast<int64_t>(regs->orig_rax);
    got.args = args;
    got.completed = false;
    return std::unexpected(diverge(e, "syscall " + format_event(got), &*regs));
  }
  return regs;
}

Status ReplaySession::write_outputs(const Event& e) {
  for (const auto& m : e.outputs) {
    if (auto s = write_memory(mem_pid_, m.addr, m.bytes); !s) {
      return fail("writing the recorded result of {} into the replay: {}", format_event(e),
                  s.error().message);
    }
  }
  return ok();
}

Status ReplaySession::emulate(Thread& t, const Event& e, const user_regs_struct& entry) {
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.result);
  ++stats_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Result<ReplaySession::Performed> ReplaySession::perform(Thread& t, const Event& e,
                                                        user_regs_struct regs) {
  // Back onto the syscall instruction and run it for real this time.
  regs.rip -= 2;
  regs.orig_rax = static_cast<uint64_t>(-1);
  if (auto s = set_regs(t.real, regs); !s) {
    return std::unexpected(s.error());
  }
  Performed p;
  bool entered = false;
  for (int guard = 0; guard < 16; ++guard) {
    auto st = resume(t, PTRACE_SYSCALL, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st)) {
      p.exited = true;
      return p;
    }
    int event = *st >> 16;
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long msg = 0;
      ::ptrace(PTRACE_GETEVENTMSG, t.real, nullptr, &msg);
      p.new_thread = static_cast<pid_t>(msg);
      continue;
    }
    if (event == PTRACE_EVENT_EXIT) {
      if (t.real == pid_ && others_alive(t)) {
        if (auto s = let_leader_go(t, e); !s) {
          return std::unexpected(s.error());
        }
        p.exited = true;
        return p;
      }
      continue;
    }
    if (WSTOPSIG(*st) != (SIGTRAP | 0x80)) {
      auto r = get_regs(t.real);
      return std::unexpected(diverge(e, "while performing it: " + describe_stop(t, *st),
                                     r ? &*r : nullptr));
    }
    __ptrace_syscall_info info{};
    ::ptrace(PTRACE_GET_SYSCALL_INFO, t.real, reinterpret_cast<void*>(sizeof info), &info);
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      entered = true;
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && entered) {
      auto r = get_regs(t.real);
      if (!r) {
        return std::unexpected(r.error());
      }
      p.rax = info.exit.rval;
      p.regs = *r;
      ++stats_.syscalls_performed;
      return p;
    }
  }
  return std::unexpected(diverge(e, "the syscall could not be performed in the replay"));
}

// The thread's registers after a performed syscall: as the kernel left them (fs_base
// may have changed), with the caller's arguments and the recorded result.
Status ReplaySession::finish_performed(Thread& t, const Performed& p,
                                       const user_regs_struct& entry, int64_t result) {
  user_regs_struct regs = p.regs;
  regs.rdi = entry.rdi;
  regs.rsi = entry.rsi;
  regs.rdx = entry.rdx;
  regs.r10 = entry.r10;
  regs.r8 = entry.r8;
  regs.r9 = entry.r9;
  regs.rip = entry.rip;
  regs.orig_rax = entry.orig_rax;
  regs.rax = static_cast<uint64_t>(result);
  return set_regs(t.real, regs);
}

namespace {
user_regs_struct call_of(const user_regs_struct& entry, const Event& e) {
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.sysno);
  return regs;
}
}  // namespace

Status ReplaySession::perform_mm(Thread& t, const Event& e, const user_regs_struct& entry) {
  user_regs_struct run = entry;
  run.rax = static_cast<uint64_t>(e.sysno);
  auto result = static_cast<uint64_t>(e.result);
  if (e.sysno == SYS_mmap) {
    // At the recorded address; a file's pages come from the recording, not the file.
    uint64_t flags = e.args[3];
    flags &= ~uint64_t{MAP_SHARED | MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE};
    flags |= MAP_PRIVATE | MAP_FIXED;
    if (!(e.args[3] & MAP_ANONYMOUS)) {
      flags |= MAP_ANONYMOUS;
      run.r8 = static_cast<uint64_t>(-1);
      run.r9 = 0;
    }
    run.rdi = result;
    run.r10 = flags;
  } else if (e.sysno == SYS_mremap && result != e.args[0]) {
    run.r10 = e.args[3] | MREMAP_MAYMOVE | MREMAP_FIXED;
    run.r8 = result;
  }
  auto p = perform(t, e, run);
  if (!p) {
    return std::unexpected(p.error());
  }
  if (p->rax != e.result) {
    return std::unexpected(diverge(e, fmt::format("performed in the replay it returned {:#x}",
                                                  static_cast<uint64_t>(p->rax))));
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status ReplaySession::perform_brk(Thread& t, const Event& e, const user_regs_struct& entry) {
  // The replay process's own brk area is elsewhere: grow and shrink the recorded one with
  // fixed anonymous mappings instead.
  uint64_t end = page_up(static_cast<uint64_t>(e.result));
  if (heap_end_ == 0) {
    heap_end_ = end;
  } else if (end != heap_end_) {
    user_regs_struct run = entry;
    if (end > heap_end_) {
      run.rax = SYS_mmap;
      run.rdi = heap_end_;
      run.rsi = end - heap_end_;
      run.rdx = PROT_READ | PROT_WRITE;
      run.r10 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      run.r8 = static_cast<uint64_t>(-1);
      run.r9 = 0;
    } else {
      run.rax = SYS_munmap;
      run.rdi = end;
      run.rsi = heap_end_ - end;
    }
    auto p = perform(t, e, run);
    if (!p) {
      return std::unexpected(p.error());
    }
    if (is_error(p->rax)) {
      return std::unexpected(diverge(e, fmt::format("moving the break failed in the replay: {}",
                                                    errno_text(static_cast<int>(-p->rax)))));
    }
    heap_end_ = end;
  }
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.result);
  ++stats_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Status ReplaySession::perform_clone(Thread& t, const Event& e, const user_regs_struct& entry) {
  uint64_t flags = e.args[0];
  uint64_t parent_tid_at = e.args[2], child_tid_at = e.args[3];
  if (e.sysno == SYS_clone3) {
    std::string args;
    if (!mem_->read(e.args[0], 32, args) || args.size() != 32) {
      return fail("cannot read the clone3 arguments at {:#x} in the replay", e.args[0]);
    }
    std::memcpy(&flags, args.data(), 8);
    std::memcpy(&child_tid_at, args.data() + 16, 8);
    std::memcpy(&parent_tid_at, args.data() + 24, 8);
  }
  if (!(flags & CLONE_THREAD) || is_error(e.result)) {
    return emulate(t, e, entry);  // child processes are not replayed
  }
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (p->new_thread <= 0) {
    return std::unexpected(diverge(e, fmt::format("no thread was created ({})",
                                                  errno_text(static_cast<int>(-p->rax)))));
  }
  Thread child;
  child.real = p->new_thread;
  child.tid = static_cast<uint32_t>(e.result);
  child.at_syscall_stop = false;
  auto first = wait_stop(child, e);
  if (!first) {
    return std::unexpected(first.error());
  }
  child.at_syscall_stop = false;
  child.resume_sig = 0;  // its initial SIGSTOP is not part of the program
  threads_[child.tid] = child;
  order_.push_back(child.tid);
  // The kernel wrote the replay's thread id where the recorded one belongs.
  uint32_t tid32 = child.tid;
  std::string_view tid_bytes(reinterpret_cast<const char*>(&tid32), 4);
  if (flags & CLONE_PARENT_SETTID) {
    (void)write_memory(mem_pid_, parent_tid_at, tid_bytes);  // best effort, as the kernel's
  }
  if (flags & CLONE_CHILD_SETTID) {
    (void)write_memory(mem_pid_, child_tid_at, tid_bytes);
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

// A thread that exits holding robust mutexes: the kernel marks each lock word that holds
// the thread's tid FUTEX_OWNER_DIED (keeping FUTEX_WAITERS). The words hold the recorded
// tid, which replay's thread does not have, so replay does it for the kernel.
Status ReplaySession::release_robust_mutexes(const Thread& t,
                                             const std::vector<uint64_t>& words) {
  for (uint64_t at : words) {
    uint32_t word = 0;
    if (mem_->read_into(at, &word, sizeof word) != sizeof word ||
        (word & kFutexTidMask) != t.tid) {
      continue;
    }
    uint32_t released = (word & kFutexWaiters) | kFutexOwnerDied;
    std::string_view bytes(reinterpret_cast<const char*>(&released), sizeof released);
    if (auto s = write_memory(mem_pid_, at, bytes); !s) {
      return s;
    }
  }
  return ok();
}

Status ReplaySession::perform_exit(Thread& t, const Event& e, const user_regs_struct& entry) {
  exited_stack_pointers_.push_back(entry.rsp);
  // Read before the exit: the list goes with the thread. exit_group ends every thread
  // at once, and nothing is left to see the words.
  std::vector<uint64_t> robust;
  if (e.sysno == SYS_exit) {
    robust = robust_futex_words(t.real, *mem_);
  }
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (!p->exited) {
    return std::unexpected(diverge(e, "the thread did not exit"));
  }
  thread_gone(t);
  if (!robust.empty() && others_alive(t)) {
    return release_robust_mutexes(t, robust);
  }
  return ok();
}

bool ReplaySession::others_alive(const Thread& t) const {
  for (const auto& [tid, other] : threads_) {
    if (other.alive && &other != &t) {
      return true;
    }
  }
  return false;
}

Status ReplaySession::let_leader_go(Thread& t, const Event& e) {
  if (::ptrace(PTRACE_CONT, t.real, nullptr, nullptr) != 0) {
    return std::unexpected(diverge(e, fmt::format("thread {} cannot be let go past its exit: {}",
                                                  t.tid, errno_text(errno))));
  }
  // Its exit is done once it is a zombie: the kernel has cleared its tid word and woken
  // the futex there, as in the recording, before other threads go on.
  auto deadline = std::chrono::steady_clock::now() + options_.stall_timeout;
  for (;;) {
    auto st = read_thread_status(pid_, t.real);
    if (!st || st->state == 'Z' || st->state == 'X') {
      return ok();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return std::unexpected(diverge(e, fmt::format("thread {} did not finish exiting in {} s",
                                                    t.tid, options_.stall_timeout.count())));
    }
    ::usleep(200);
  }
}

void ReplaySession::thread_gone(Thread& t) {
  t.alive = false;
  if (t.real != mem_pid_) {
    return;
  }
  for (uint32_t tid : order_) {
    const Thread& other = threads_.at(tid);
    if (other.alive) {
      mem_pid_ = other.real;
      mem_ = std::make_unique<TargetMemory>(mem_pid_);
      return;
    }
  }
}

// The recorder put its orphan guard back in front of the program's SIGSEGV and SIGTRAP
// actions whenever the program set one (record_session_stops.cc, keep_orphan_guard),
// with syscalls of its own that the log does not hold: replay does the same after the
// program's rt_sigaction, so that the kernel sets up those signals' frames as it did.
Status ReplaySession::keep_orphan_guard_in_front(Thread& t, const Event& e) {
  int sig = static_cast<int>(e.args[0]);
  if (e.sysno != SYS_rt_sigaction || e.args[1] == 0 || image().orphan_guard == 0 ||
      (sig != SIGSEGV && sig != SIGTRAP)) {
    return ok();
  }
  int deferred = 0;
  auto guard = OrphanGuard::adopt(image().orphan_guard, image().orphan_guard_layout);
  if (auto regs = get_regs(t.real); !regs || guard.owns_code_at(regs->rip - 2)) {
    return ok();  // the guard's own call (see RecordSession::keep_orphan_guard)
  }
  if (auto s = guard.rewrap(t.real, sig, &deferred); !s) {
    return fail("putting rewind's orphan guard back in front of the {} action at event {}: {}",
                signal_name(sig), events_done_ + 1, s.error().message);
  }
  return ok();
}

Status ReplaySession::perform_plain(Thread& t, const Event& e, const user_regs_struct& entry) {
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status ReplaySession::on_syscall(Thread& t, const Event& e) {
  auto entry = check_syscall_entry(t, e);
  if (!entry) {
    return std::unexpected(entry.error());
  }
  if (!e.completed) {
    if (e.sysno == SYS_exit) {
      return perform_exit(t, e, *entry);
    }
    if (e.sysno == SYS_exit_group) {
      stats_.end = "exit_group";
      stats_.reached_end = true;
      done_ = true;
    }
    return ok();  // still in the kernel when the recording stopped
  }
  t.pending_entry = false;
  bool ok_result = !is_error(e.result);
  switch (syscall_policy(e.sysno)) {
    case SyscallPolicy::kMemoryMap:
      // A madvise or mprotect that fails part-way (a hole in its range: ENOMEM) has
      // still changed the pages before the hole: performed again, it fails the same way.
      return ok_result || partial_on_failure(e) ? perform_mm(t, e, *entry)
                                                       : emulate(t, e, *entry);
    case SyscallPolicy::kBreak:
      return perform_brk(t, e, *entry);
    case SyscallPolicy::kClone:
      return perform_clone(t, e, *entry);
    case SyscallPolicy::kExit:
      return perform_exit(t, e, *entry);
    case SyscallPolicy::kSigreturn: {
      auto p = perform(t, e, call_of(*entry, e));
      return p ? ok() : Status(std::unexpected(p.error()));
    }
    case SyscallPolicy::kArchPrctl:
      if (!(ok_result && (e.args[0] == 0x1001 || e.args[0] == 0x1002))) {  // SET_GS, SET_FS
        return emulate(t, e, *entry);
      }
      return perform_plain(t, e, *entry);
    case SyscallPolicy::kProcessState: {
      if (!ok_result) {
        return emulate(t, e, *entry);
      }
      if (auto s = perform_plain(t, e, *entry); !s) {
        return s;
      }
      return keep_orphan_guard_in_front(t, e);
    }
    case SyscallPolicy::kExec:
      // An exec that happened is an exec event (on_exec), never a syscall event: this
      // one failed, or "succeeded" without running anything (a seccomp filter that
      // answers exec with 0).
      return emulate(t, e, *entry);
    case SyscallPolicy::kEmulate:
      if (auto s = emulate(t, e, *entry); !s) {
        return s;
      }
      return follow_stack_limit(t, e);
  }
  return emulate(t, e, *entry);
}

// The program lowered its stack limit (setrlimit or prlimit64 of RLIMIT_STACK): the kernel
// grows the stack no further than the limit below its top, and the program's next
// overflow faults there, as the recording did. Replay's stack is a plain mapping with room
// below it (process_builder.cc), so the room beyond the limit goes, down from the pages
// the program has touched already (which a kernel does not take back either).
Status ReplaySession::follow_stack_limit(Thread& t, const Event& e) {
  uint64_t resource = 0, limit_at = 0;
  if (e.sysno == SYS_setrlimit) {
    resource = e.args[0];
    limit_at = e.args[1];
  } else if (e.sysno == SYS_prlimit64 && e.args[0] == 0) {
    resource = e.args[1];
    limit_at = e.args[2];
  }
  uint64_t limit = 0;
  if (resource != RLIMIT_STACK || limit_at == 0 || is_error(e.result) ||
      mem_->read_into(limit_at, &limit, sizeof limit) != sizeof limit) {
    return ok();
  }
  const ReplayImage& image = exec_image_ ? *exec_image_ : *image_;
  auto stack = std::ranges::find(image.regions, std::string("[stack]"), &ReplayRegion::path);
  auto maps = read_maps(mem_pid_);
  if (stack == image.regions.end() || !maps) {
    return ok();
  }
  auto room = std::ranges::find_if(
      *maps, [&](const MapEntry& m) { return m.start < stack->start && stack->start <= m.end; });
  if (room == maps->end() || limit >= stack->end) {
    return ok();
  }
  uint64_t lowest = page_up(stack->end - limit);  // the deepest the kernel lets it grow
  uint64_t cut = std::min(lowest, stack->start);
  // Pages the program has touched stay (pagemap: present or swapped).
  if (cut > room->start) {
    std::vector<uint64_t> entries((cut - room->start) / kPage);
    size_t bytes = entries.size() * sizeof(uint64_t);
    UniqueFd pagemap(::open(fmt::format("/proc/{}/pagemap", mem_pid_).c_str(), O_RDONLY));
    bool read = pagemap && ::pread(pagemap.get(), entries.data(), bytes,
                                   static_cast<off_t>(room->start / kPage * 8)) ==
                               static_cast<ssize_t>(bytes);
    auto touched = std::ranges::find_if(entries, [](uint64_t e) { return (e >> 62) != 0; });
    cut = !read ? room->start : room->start + (touched - entries.begin()) * kPage;
  }
  if (cut <= room->start) {
    return ok();
  }
  auto site = find_syscall_site();
  if (!site) {
    return std::unexpected(site.error());
  }
  auto rc = inject_syscall(t.real, *site, SYS_munmap, {room->start, cut - room->start});
  if (!rc || is_error(*rc)) {
    return std::unexpected(diverge(e, "the stack's room beyond the program's new limit could "
                                      "not be taken away in the replay"));
  }
  return ok();
}

Status ReplaySession::on_signal(Thread& t, const Event& e) {
  if (is_stop_signal(e.signo)) {
    auto st = read_status(t.real);
    if (!st || (st->sig_caught & signal_bit(e.signo)) == 0) {
      return ok();  // job control: not part of the program's computation
    }
    // Handled: the recording has the point where it arrived, and its handler ran.
  }
  if (is_sync_fault(e)) {
    // run_segment() left the thread at the fault, caused again by the instruction.
    auto regs = get_regs(t.real);
    siginfo_t si{};
    ::ptrace(PTRACE_GETSIGINFO, t.real, nullptr, &si);
    uint64_t addr = reinterpret_cast<uint64_t>(si.si_addr);
    if (si.si_signo != e.signo || si.si_code != e.signal_code || addr != e.fault_addr) {
      return std::unexpected(diverge(
          e, fmt::format("{} (code {}, address {:#x})", signal_name(si.si_signo), si.si_code, addr),
          regs ? &*regs : nullptr));
    }
    if (e.fatal) {
      stats_.end = "crash";
      stats_.end_signal = e.signo;
      stats_.end_fault_addr = addr;
      stats_.end_tid = t.tid;
      stats_.reached_end = true;
      done_ = true;
      return ok();
    }
    if (e.signo == SIGSEGV && e.signal_code == SI_KERNEL && image().orphan_guard != 0) {
      // A fault of the program's own (it trapped rdtsc itself, say): the recorder had the
      // guard pass rdtsc faults on to the program instead of untrapping rdtsc, and the
      // replay's guard must too.
      auto guard = OrphanGuard::adopt(image().orphan_guard, image().orphan_guard_layout);
      if (auto s = guard.pass_rdtsc_faults(mem_pid_, true); !s) {
        return s;
      }
    }
    t.resume_sig = e.signo;
    return ok();
  }
  if (e.fatal) {
    // Sent and fatal (an unhandled SIGTERM, say): the recording ended here.
    stats_.end = "crash";
    stats_.end_signal = e.signo;
    stats_.end_fault_addr = e.fault_addr;
    stats_.end_tid = t.tid;
    stats_.reached_end = true;
    done_ = true;
    return ok();
  }
  auto waited = t.at_syscall_stop ? deliver_in_masked_wait(t, e) : Result<bool>(false);
  if (!waited) {
    return std::unexpected(waited.error());
  }
  if ((t.at_syscall_stop && !*waited) || t.at_handler_entry) {
    // Signals can only be injected from a signal-delivery-stop with their siginfo:
    // have the kernel queue it here, then catch its delivery. At a handler's entry
    // reached by a single step, the kernel ignores a signal given with the resume, so
    // it is sent; the thread takes it before running anything.
    if (t.at_handler_entry) {
      if (auto s = queue_signal(t, e.signo); !s) {
        return s;
      }
    } else {
      t.resume_sig = e.signo;
    }
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != e.signo || (*st >> 16) != 0) {
      auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
  }
  // The handler sees the recorded siginfo, not one the kernel makes up for an injected
  // signal: Go's tells a SIGURG sent by tgkill (SI_TKILL) from others by it.
  if (t.signal_siginfo.size() == sizeof(siginfo_t)) {
    siginfo_t si{};
    std::memcpy(&si, t.signal_siginfo.data(), sizeof si);
    if (si.si_signo == e.signo) {
      ::ptrace(PTRACE_SETSIGINFO, t.real, nullptr, &si);
    }
  }
  t.signal_siginfo.clear();
  t.resume_sig = e.signo;
  return ok();
}

// Makes `sig` pending in the replayed thread (tgkill), for the kernel to deliver when it
// next can; its recorded siginfo is set at the delivery-stop.
Status ReplaySession::queue_signal(Thread& t, int sig) {
  if (::syscall(SYS_tgkill, pid_, t.real, sig) != 0) {
    return fail("cannot queue {} for thread {} at event {}: {}", signal_name(sig), t.tid,
                events_done_ + 1, errno_text(errno));
  }
  return ok();
}

// Where the signal mask that a waiting call puts in place while it waits is (0: none):
// rt_sigsuspend, ppoll, pselect6 (through its struct of pointer and size), epoll_pwait.
uint64_t ReplaySession::wait_mask_address(const user_regs_struct& r) {
  switch (static_cast<int64_t>(r.orig_rax)) {
    case SYS_rt_sigsuspend:
      return r.rdi;
    case SYS_ppoll:
      return r.r10;
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2:
      return r.r8;
    case SYS_pselect6: {
      uint64_t ss = 0;
      return r.r9 != 0 && mem_->read_into(r.r9, &ss, sizeof ss) == sizeof ss ? ss : 0;
    }
    default:
      return 0;
  }
}

// A signal that the thread blocks, recorded as ending a call that waits under a mask of
// its own (sigsuspend, ppoll, pselect6, epoll_pwait): the kernel delivered it under the
// call's mask and wrote the thread's own mask into the signal frame, for the handler's
// return to put back. Replay emulated the call, so the signal stays blocked and the
// kernel restarts the call instead. Here the kernel does what it did: the thread makes
// a real rt_sigsuspend with the call's mask, from the same instruction, with the signal
// queued; it returns at once and leaves the signal's delivery-stop to come. False when
// the signal is not blocked or the call has no mask (the plain injection is right).
Result<bool> ReplaySession::deliver_in_masked_wait(Thread& t, const Event& e) {
  uint64_t blocked = 0;
  auto regs = get_regs(t.real);
  if (!regs || ::ptrace(PTRACE_GETSIGMASK, t.real, sizeof blocked, &blocked) != 0 ||
      (blocked & signal_bit(e.signo)) == 0) {
    return false;
  }
  uint64_t mask_addr = wait_mask_address(*regs);
  uint64_t wait_mask = 0;
  if (mask_addr == 0 || mem_->read_into(mask_addr, &wait_mask, sizeof wait_mask) != sizeof wait_mask ||
      (wait_mask & signal_bit(e.signo)) != 0) {
    return false;
  }
  const user_regs_struct after = *regs;  // the call as replay left it: emulated
  user_regs_struct call = after;
  call.rip -= 2;  // the syscall instruction
  call.rax = SYS_rt_sigsuspend;
  call.rdi = mask_addr;
  call.rsi = sizeof wait_mask;
  if (auto s = set_regs(t.real, call); !s) {
    return std::unexpected(s.error());
  }
  if (auto s = queue_signal(t, e.signo); !s) {
    return std::unexpected(s.error());
  }
  // To the exit of the real rt_sigsuspend: past the exit stop of the emulated call that
  // resuming with PTRACE_SYSCALL reports first, and the new call's entry stop.
  bool entered = false;
  bool returned = false;
  for (int stop = 0; stop < 3 && !returned; ++stop) {
    auto st = resume(t, PTRACE_SYSCALL, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    __ptrace_syscall_info info{};
    if (!t.at_syscall_stop ||
        ::ptrace(PTRACE_GET_SYSCALL_INFO, t.real, reinterpret_cast<void*>(sizeof info), &info) <= 0) {
      auto now = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
      return std::unexpected(diverge(e, "on the way into the wait it interrupted: " +
                                            describe_stop(t, *st),
                                     now ? &*now : nullptr));
    }
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      entered = info.entry.nr == SYS_rt_sigsuspend;
    } else {
      returned = info.op == PTRACE_SYSCALL_INFO_EXIT && entered;
    }
  }
  if (!returned) {
    return fail("thread {} did not make the rt_sigsuspend that delivers {} at event {}", t.tid,
                signal_name(e.signo), events_done_ + 1);
  }
  // The recorded registers of the call, and the kernel's saved mask with the signal due.
  if (auto s = set_regs(t.real, after); !s) {
    return std::unexpected(s.error());
  }
  if (::ptrace(PTRACE_SYSEMU, t.real, nullptr, nullptr) != 0) {
    return fail("cannot resume thread {}: {}", t.tid, errno_text(errno));
  }
  auto st = wait_stop(t, e);
  if (!st) {
    return std::unexpected(st.error());
  }
  if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != e.signo || (*st >> 16) != 0) {
    auto now = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    return std::unexpected(diverge(e, describe_stop(t, *st), now ? &*now : nullptr));
  }
  return true;
}

Status ReplaySession::on_rdtsc(Thread& t, const Event& e) {
  // run_segment() left the thread at the trapped rdtsc.
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  regs->rax = e.tsc & 0xffffffffu;
  regs->rdx = e.tsc >> 32;
  if (e.rdtscp) {
    regs->rcx = e.tsc_aux;
  }
  regs->rip += e.rdtscp ? 3 : 2;
  t.resume_sig = 0;
  return set_regs(t.real, *regs);
}

// Maps a stub page (the rdtsc and clock stubs share their layout) at the address of
// `image`, its first bytes, running mmap in `t`, and writes them in replay mode with
// nothing to hand out yet.
Status ReplaySession::map_stub_page(Thread& t, const MemoryBytes& image, std::string_view whose) {
  static_assert(ClockStubs::kSpan == RdtscPatch::kSpan && ClockStubs::kMode == RdtscPatch::kMode &&
                ClockStubs::kLimit == RdtscPatch::kLimit);
  auto sys = find_syscall_site();
  if (!sys) {
    return std::unexpected(sys.error());
  }
  auto rc = inject_syscall(t.real, *sys, SYS_mmap,
                           {image.addr, RdtscPatch::kSpan, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                            static_cast<uint64_t>(-1), 0});
  t.at_syscall_stop = true;
  if (!rc || static_cast<uint64_t>(*rc) != image.addr) {
    return fail("event {}: cannot map the {} page at {:#x}: {}", events_done_, whose,
                image.addr, rc ? errno_text(static_cast<int>(-*rc)) : rc.error().message);
  }
  std::string page = image.bytes;
  uint64_t mode = 1, limit = 0;
  std::memcpy(page.data() + RdtscPatch::kHeader + RdtscPatch::kMode, &mode, 8);
  std::memcpy(page.data() + RdtscPatch::kHeader + RdtscPatch::kLimit, &limit, 8);
  return write_memory(mem_pid_, image.addr, page);
}

// The recorder patched the rdtsc the thread has just executed (tracee/rdtsc_patch.h):
// the same page at the same address, in replay mode and with nothing to hand out until
// the log gives it values.
Status ReplaySession::on_rdtsc_patch(Thread& t, const Event& e) {
  if (e.outputs.size() != 2 || e.outputs[0].bytes.size() < RdtscPatch::kHeader + RdtscPatch::kHeaderSize) {
    return fail("event {}: a malformed rdtsc-patch event", events_done_);
  }
  const MemoryBytes& image = e.outputs[0];
  const MemoryBytes& site = e.outputs[1];
  auto word = [&image](uint64_t off) {
    uint64_t v = 0;
    std::memcpy(&v, image.bytes.data() + RdtscPatch::kHeader + off, 8);
    return v;
  };
  // The stub again, from the code as it stands here, to move threads off the bytes it
  // replaces as the recorder did.
  auto maps = read_maps(mem_pid_);
  auto window = maps ? read_code_around(*mem_, *maps, site.addr)
                     : Result<CodeWindow>(std::unexpected(maps.error()));
  std::optional<RdtscPatch> rebuilt;
  if (window) {
    if (auto p = RdtscPatch::build(window->bytes, window->start, site.addr, image.addr,
                                   word(RdtscPatch::kClock), word(RdtscPatch::kLast),
                                   static_cast<uint32_t>(word(RdtscPatch::kAux)))) {
      rebuilt.emplace(std::move(*p));
    }
  }
  if (!rebuilt || rebuilt->site_bytes() != site.bytes) {
    return std::unexpected(diverge(e, "the rdtsc there cannot be patched as it was in the "
                                      "recording (the code differs)",
                                   nullptr));
  }
  if (auto s = map_stub_page(t, image, "rdtsc stub's"); !s) {
    return s;
  }
  if (auto s = write_memory(mem_pid_, site.addr, site.bytes); !s) {
    return s;
  }
  for (auto& [tid, other] : threads_) {
    if (!other.alive) {
      continue;
    }
    if (auto regs = get_regs(other.real); regs && rebuilt->relocate(*regs)) {
      if (auto s = set_regs(other.real, *regs); !s) {
        return s;
      }
    }
  }
  rdtsc_patches_.push_back(std::move(*rebuilt));
  return ok();
}

// What a stub handed out in the recording, for it to hand out again.
Status ReplaySession::on_stub_values(const Event& e) {
  auto page = static_cast<uint64_t>(e.value);
  if (e.outputs.size() != 1 || e.outputs[0].bytes.size() % 8 != 0 ||
      e.outputs[0].bytes.size() > RdtscPatch::kSlots * 8 ||
      e.outputs[0].addr != page + RdtscPatch::kRing) {
    return fail("event {}: a malformed rdtsc-values event", events_done_);
  }
  uint64_t words[2] = {0, e.outputs[0].bytes.size() / 8};  // next, limit
  if (auto s = write_memory(mem_pid_, e.outputs[0].addr, e.outputs[0].bytes); !s) {
    return s;
  }
  return write_memory(mem_pid_, page + RdtscPatch::kHeader + RdtscPatch::kNext,
                      std::string_view(reinterpret_cast<const char*>(words), sizeof words));
}

// The recorder pointed the vDSO clock functions at its stubs (tracee/clock_stubs.h)
// after the clock read the thread has just made: the same page at the same address, in
// replay mode and with nothing to hand out until the log gives it values.
Status ReplaySession::on_clock_patch(Thread& t, const Event& e) {
  if (e.outputs.size() < 2 ||
      e.outputs[0].bytes.size() < ClockStubs::kHeader + ClockStubs::kHeaderSize ||
      e.outputs[0].addr != static_cast<uint64_t>(e.value)) {
    return fail("event {}: a malformed clock-patch event", events_done_);
  }
  const MemoryBytes& image = e.outputs[0];
  if (auto s = map_stub_page(t, image, "clock stubs'"); !s) {
    return s;
  }
  for (size_t i = 1; i < e.outputs.size(); ++i) {
    if (auto s = write_memory(mem_pid_, e.outputs[i].addr, e.outputs[i].bytes); !s) {
      return s;
    }
  }
  clock_stub_page_ = image.addr;
  return ok();
}

std::vector<std::pair<uint64_t, uint64_t>> ReplaySession::stub_pages() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& p : rdtsc_patches_) {
    out.emplace_back(p.page(), p.page() + RdtscPatch::kSpan);
  }
  if (clock_stub_page_ != 0) {
    out.emplace_back(clock_stub_page_, clock_stub_page_ + ClockStubs::kSpan);
  }
  return out;
}

Status ReplaySession::on_cpuid(Thread& t, const Event& e) {
  // run_segment() left the thread at the trapped cpuid.
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  if (static_cast<uint32_t>(regs->rax) != e.args[0] ||
      static_cast<uint32_t>(regs->rcx) != e.args[1]) {
    return std::unexpected(diverge(e, fmt::format("cpuid({:#x}, {:#x})",
                                                  static_cast<uint32_t>(regs->rax),
                                                  static_cast<uint32_t>(regs->rcx)),
                                   &*regs));
  }
  regs->rax = e.args[2];
  regs->rbx = e.args[3];
  regs->rcx = e.args[4];
  regs->rdx = e.args[5];
  regs->rip += 2;
  t.resume_sig = 0;
  return set_regs(t.real, *regs);
}

Status ReplaySession::apply(const Event& e) {
  if (!needs_thread(e)) {
    switch (e.type) {
      case EventType::kProcessExit:
        stats_.end = "exit";
        stats_.reached_end = true;
        done_ = true;
        return ok();
      case EventType::kRdtscValues:
      case EventType::kClockValues:
        return on_stub_values(e);
      default:
        return ok();  // thread start and exit: the clone and exit syscalls do the work
    }
  }
  auto t = thread_of(e);
  if (!t) {
    return std::unexpected(t.error());
  }
  switch (e.type) {
    case EventType::kSyscall:
      return on_syscall(**t, e);
    case EventType::kSyscallEntry: {
      auto entry = check_syscall_entry(**t, e);
      return entry ? ok() : Status(std::unexpected(entry.error()));
    }
    case EventType::kSignal:
      return on_signal(**t, e);
    case EventType::kRdtsc:
      return on_rdtsc(**t, e);
    case EventType::kCpuid:
      return on_cpuid(**t, e);
    case EventType::kRdtscPatch:
      return on_rdtsc_patch(**t, e);
    case EventType::kClockPatch:
      return on_clock_patch(**t, e);
    case EventType::kExec:
      return on_exec(**t, e);
    case EventType::kPoint:
      // Reaching it was the work; a signal's point holds the signal's siginfo.
      (*t)->signal_siginfo = e.reason == PointReason::kSignal ? e.siginfo : std::string();
      return ok();
    default:
      return ok();
  }
}

Status ReplaySession::on_exec(Thread& t, const Event& e) {
  // run_segment() left the thread at the entry of its next syscall: the exec.
  auto entry = get_regs(t.real);
  if (!entry) {
    return std::unexpected(entry.error());
  }
  auto nr = static_cast<int64_t>(entry->orig_rax);
  if (!t.pending_entry || (nr != SYS_execve && nr != SYS_execveat)) {
    return std::unexpected(diverge(e, fmt::format("syscall {} at {:#x}", syscall_name(nr),
                                                  entry->rip - 2),
                                   &*entry));
  }
  auto name = fmt::format("exec-{}", execs_done_ + 1);
  auto loaded = ReplayImage::load(reader_, name);
  if (!loaded) {
    return fail("cannot replay past the exec of {} at event {}: {}", e.text, events_done_ + 1,
                loaded.error().message);
  }
  auto image = std::make_shared<const ReplayImage>(std::move(*loaded));
  auto built = build_replay_process(reader_, *image);
  if (!built) {
    return fail("cannot replay past the exec of {} at event {}: {}", e.text, events_done_ + 1,
                built.error().message);
  }
  // The kernel ended every thread of the old image and kept nothing of its memory: the
  // new process replaces it whole, as the snapshot was taken on its first instruction.
  kill_process();
  pid_ = built->pid;
  mem_pid_ = pid_;
  mem_ = std::make_unique<TargetMemory>(mem_pid_);
  threads_.clear();
  order_.clear();
  for (size_t i = 0; i < image->threads.size(); ++i) {
    Thread nt;
    nt.real = built->threads[i];
    nt.tid = static_cast<uint32_t>(image->threads[i].tid);
    nt.at_syscall_stop = true;  // at the exit of a syscall run by the builder
    threads_[nt.tid] = nt;
    order_.push_back(nt.tid);
  }
  heap_end_ = 0;
  for (const auto& r : image->regions) {
    if (r.path == "[heap]") {
      heap_end_ = r.end;
    }
  }
  exited_stack_pointers_.clear();
  syscall_site_ = 0;
  inserted_.clear();
  last_armed_.clear();
  armed_watch_.clear();
  for (auto& w : built->warnings) {
    stats_.warnings.push_back(std::move(w));
  }
  exec_image_ = std::move(image);
  image_ = exec_image_.get();
  ++execs_done_;
  return ok();
}

// The final state was saved after the end (crash or exit), and saving it stopped the
// threads that were waiting in the kernel: their interrupted syscalls come last.
void ReplaySession::finish_tail() {
  while (!tail_closed_) {
    auto next = cursor_.peek();
    if (!next || *next == nullptr) {
      tail_closed_ = true;
      return;
    }
    const Event& e = **next;
    auto it = threads_.find(e.tid);
    if (e.type == EventType::kSyscall && e.completed && it != threads_.end() &&
        it->second.alive && it->second.pending_entry) {
      auto entry = get_regs(it->second.real);
      if (entry && static_cast<int64_t>(entry->orig_rax) == e.sysno) {
        it->second.pending_entry = false;
        if (auto s = emulate(it->second, e, *entry); !s) {
          tail_closed_ = true;
          return;
        }
        cursor_.next();
        stats_.events = ++events_done_;
        continue;
      }
    }
    if (e.type == EventType::kThreadExit || e.type == EventType::kProcessExit ||
        (e.type == EventType::kSignal && e.fatal) ||
        (e.type == EventType::kSyscall && !e.completed)) {
      cursor_.next();
      stats_.events = ++events_done_;  // the process ending as recorded: nothing to run
      continue;
    }
    tail_closed_ = true;
  }
}

}  // namespace rwd
