#include "replay/replayer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <map>

#include "common/log.h"
#include "common/unique_fd.h"
#include "format/recording_reader.h"
#include "inspect/syscall_formatter.h"
#include "inspect/value_names.h"
#include "replay/process_builder.h"
#include "replay/replay_image.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/signals.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kResumeFlag = 0x10000;
constexpr uint64_t kRflagsIgnored = kResumeFlag | 0x100;  // RF and TF: set by stepping

// Debug registers through the `struct user` area.
constexpr size_t debugreg_offset(int i) {
  return offsetof(struct user, u_debugreg) + static_cast<size_t>(i) * sizeof(long);
}

Status set_hw_breakpoint(pid_t tid, uint64_t addr) {
  if (::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(debugreg_offset(0)),
               reinterpret_cast<void*>(addr)) != 0 ||
      ::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(debugreg_offset(7)),
               reinterpret_cast<void*>(1)) != 0) {  // L0, execute, length 1
    return fail_errno(errno, "cannot set a hardware breakpoint at {:#x}", addr);
  }
  return ok();
}

void clear_hw_breakpoint(pid_t tid) {
  ::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(debugreg_offset(7)), nullptr);
}

uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

bool is_error(int64_t result) { return result < 0 && result > -4096; }

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU || sig == SIGCONT;
}

bool is_fault(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
}

std::string describe_regs(const user_regs_struct& r) {
  return fmt::format("rip={:#x} rsp={:#x} rax={:#x} rdi={:#x} rsi={:#x} rdx={:#x} r10={:#x}",
                     r.rip, r.rsp, r.rax, r.rdi, r.rsi, r.rdx, r.r10);
}

// The first general register that differs, or empty.
std::string regs_difference(const user_regs_struct& want, const user_regs_struct& got,
                            bool ignore_rcx_r11) {
  struct Field {
    const char* name;
    unsigned long long user_regs_struct::*member;
  };
  static constexpr Field kFields[] = {
      {"rip", &user_regs_struct::rip},         {"rsp", &user_regs_struct::rsp},
      {"rax", &user_regs_struct::rax},         {"rbx", &user_regs_struct::rbx},
      {"rcx", &user_regs_struct::rcx},         {"rdx", &user_regs_struct::rdx},
      {"rsi", &user_regs_struct::rsi},         {"rdi", &user_regs_struct::rdi},
      {"rbp", &user_regs_struct::rbp},         {"r8", &user_regs_struct::r8},
      {"r9", &user_regs_struct::r9},           {"r10", &user_regs_struct::r10},
      {"r11", &user_regs_struct::r11},         {"r12", &user_regs_struct::r12},
      {"r13", &user_regs_struct::r13},         {"r14", &user_regs_struct::r14},
      {"r15", &user_regs_struct::r15},         {"fs_base", &user_regs_struct::fs_base},
      {"gs_base", &user_regs_struct::gs_base}, {"eflags", &user_regs_struct::eflags},
  };
  for (const auto& f : kFields) {
    if (ignore_rcx_r11 && (f.member == &user_regs_struct::rcx || f.member == &user_regs_struct::r11)) {
      continue;
    }
    uint64_t a = want.*f.member, b = got.*f.member;
    if (f.member == &user_regs_struct::eflags) {
      a &= ~kRflagsIgnored;
      b &= ~kRflagsIgnored;
    }
    if (a != b) {
      return fmt::format("{} is {:#x}, recorded {:#x}", f.name, b, a);
    }
  }
  return {};
}

struct RThread {
  pid_t real = 0;
  uint32_t tid = 0;            // as recorded
  bool pending_entry = false;  // stopped at the entry of the syscall the log is on
  bool at_syscall_stop = true; // current stop is a syscall stop (else a signal stop)
  int resume_sig = 0;
  bool alive = true;
};

class Replayer {
 public:
  Replayer(const RecordingReader& reader, const ReplayImage& image, ReplayOptions options)
      : reader_(reader), image_(image), options_(options) {}
  ~Replayer() {
    if (pid_ > 0) {
      // Traced with PTRACE_O_EXITKILL, so it dies with rewind at the latest; reap it here
      // when it goes quietly.
      ::kill(pid_, SIGKILL);
      for (auto& [tid, t] : threads_) {
        ::ptrace(PTRACE_CONT, t.real, nullptr, nullptr);
      }
      for (int i = 0; i < 50; ++i) {
        int status = 0;
        pid_t w = ::waitpid(-1, &status, __WALL | WNOHANG);
        if (w < 0) {
          break;
        }
        if (w == 0) {
          ::usleep(2000);
        }
      }
    }
  }

  Result<ReplayResult> run();

 private:
  // Records a divergence and returns the error that unwinds the replay.
  Error diverge(const Event& e, std::string actual, const user_regs_struct* regs = nullptr) {
    Divergence d;
    d.event_index = index_ + 1;  // events are numbered from 1, as `rewind log` counts
    d.tid = e.tid;
    d.expected = format_event(e);
    d.actual = std::move(actual);
    if (regs != nullptr) {
      d.registers = describe_regs(*regs);
    }
    result_.divergence = std::move(d);
    return Error{"divergence"};
  }
  Result<RThread*> thread_of(const Event& e) {
    auto it = threads_.find(e.tid);
    if (it == threads_.end() || !it->second.alive) {
      return std::unexpected(diverge(e, fmt::format("thread {} does not exist in the replay", e.tid)));
    }
    return &it->second;
  }

  Result<int> wait_stop(RThread& t, const Event& e);
  Result<int> resume(RThread& t, __ptrace_request how, const Event& e);
  std::string describe_stop(RThread& t, int status);

  Status on_event(const Event& e);
  Status to_syscall_entry(RThread& t, const Event& e);
  Status on_syscall(RThread& t, const Event& e);
  Status emulate(RThread& t, const Event& e, const user_regs_struct& entry);
  struct Performed {
    int64_t rax = 0;
    user_regs_struct regs{};
    pid_t new_thread = 0;
    bool exited = false;
  };
  Result<Performed> perform(RThread& t, const Event& e, user_regs_struct regs);
  // The thread's registers after a performed syscall: as the kernel left them (fs_base
  // may have changed), with the caller's arguments and the recorded result.
  Status finish_performed(RThread& t, const Performed& p, const user_regs_struct& entry,
                          int64_t result) {
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
  static user_regs_struct call_of(const user_regs_struct& entry, const Event& e) {
    user_regs_struct regs = entry;
    regs.rax = static_cast<uint64_t>(e.sysno);
    return regs;
  }
  Status perform_mm(RThread& t, const Event& e, const user_regs_struct& entry);
  Status perform_brk(RThread& t, const Event& e, const user_regs_struct& entry);
  Status perform_clone(RThread& t, const Event& e, const user_regs_struct& entry);
  Status perform_exit(RThread& t, const Event& e, const user_regs_struct& entry);
  Status write_outputs(const Event& e);
  Status on_point(RThread& t, const Event& e);
  Status on_signal(RThread& t, const Event& e);
  uint64_t writable_memory_hash();
  bool fast_forward(const user_regs_struct& first, const user_regs_struct& second,
                    const user_regs_struct& want, uint64_t first_memory);
  Status on_rdtsc(RThread& t, const Event& e);
  void verify();

  const RecordingReader& reader_;
  const ReplayImage& image_;
  ReplayOptions options_;
  ReplayResult result_;
  pid_t pid_ = 0;
  std::map<uint32_t, RThread> threads_;
  uint64_t index_ = 0;
  uint64_t heap_end_ = 0;  // page-aligned end of the brk area mapped so far
  bool done_ = false;
  bool tail_closed_ = false;
  std::unique_ptr<TargetMemory> mem_;  // reads from the replay process
  sigset_t chld_{};
};

Result<int> Replayer::wait_stop(RThread& t, const Event& e) {
  auto deadline = std::chrono::steady_clock::now() + options_.stall_timeout;
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(t.real, &status, __WALL | WNOHANG);
    if (w == t.real) {
      if (WIFSTOPPED(status)) {
        t.at_syscall_stop = WSTOPSIG(status) == (SIGTRAP | 0x80);
      } else {
        t.alive = false;
      }
      return status;
    }
    if (w < 0 && errno != EINTR) {
      t.alive = false;
      return std::unexpected(diverge(e, fmt::format("thread {} is gone ({})", t.tid, errno_text(errno))));
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) {
      ::kill(pid_, SIGKILL);
      return std::unexpected(diverge(
          e, fmt::format("thread {} ran for {} s without reaching this event",
                         t.tid, options_.stall_timeout.count())));
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    struct timespec ts{};
    ts.tv_sec = std::min<int64_t>(ns / 1000000000, 1);
    ts.tv_nsec = ns >= 1000000000 ? 0 : ns % 1000000000;
    ::sigtimedwait(&chld_, nullptr, &ts);
  }
}

Result<int> Replayer::resume(RThread& t, __ptrace_request how, const Event& e) {
  if (t.resume_sig == 0 && t.at_syscall_stop) {
    // A syscall interrupted with no handler to run is restarted by the kernel only on
    // the way to a signal; here none comes, so restart it as the recorded kernel did.
    if (auto regs = get_regs(t.real); regs && restart_pending(*regs)) {
      apply_restart(*regs);
      set_regs(t.real, *regs);
    }
  }
  int sig = t.resume_sig;
  t.resume_sig = 0;
  t.pending_entry = false;
  if (::ptrace(how, t.real, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0) {
    return std::unexpected(diverge(e, fmt::format("thread {} cannot be resumed: {}", t.tid,
                                                  errno_text(errno))));
  }
  return wait_stop(t, e);
}

std::string Replayer::describe_stop(RThread& t, int status) {
  if (WIFEXITED(status)) {
    return fmt::format("the thread exited with status {}", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("the process was killed by {}", signal_name(WTERMSIG(status)));
  }
  auto regs = get_regs(t.real);
  int sig = WSTOPSIG(status);
  if (sig == (SIGTRAP | 0x80) && regs) {
    return fmt::format("syscall {} ({:#x}, {:#x}, {:#x}, ...) at {:#x}", regs->orig_rax, regs->rdi,
                       regs->rsi, regs->rdx, regs->rip - 2);
  }
  if ((status >> 16) != 0) {
    return fmt::format("ptrace event {}", status >> 16);
  }
  siginfo_t si{};
  ::ptrace(PTRACE_GETSIGINFO, t.real, nullptr, &si);
  return fmt::format("{} (code {}, address {:#x}) at {:#x}", signal_name(sig), si.si_code,
                     reinterpret_cast<uint64_t>(si.si_addr), regs ? regs->rip : 0);
}

Status Replayer::to_syscall_entry(RThread& t, const Event& e) {
  if (!t.pending_entry) {
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != (SIGTRAP | 0x80)) {
      auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
    t.pending_entry = true;
  }
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  std::array<uint64_t, 6> args = {regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9};
  if (static_cast<int64_t>(regs->orig_rax) != e.sysno || args != e.args) {
    Event got = e;
    got.sysno = static_cast<int64_t>(regs->orig_rax);
    got.args = args;
    got.completed = false;
    return std::unexpected(diverge(e, "syscall " + format_event(got), &*regs));
  }
  return ok();
}

Status Replayer::write_outputs(const Event& e) {
  for (const auto& m : e.outputs) {
    if (auto s = write_memory(pid_, m.addr, m.bytes); !s) {
      return fail("writing the recorded result of {} into the replay: {}", format_event(e),
                  s.error().message);
    }
  }
  return ok();
}

Status Replayer::emulate(RThread& t, const Event& e, const user_regs_struct& entry) {
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.result);
  ++result_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Result<Replayer::Performed> Replayer::perform(RThread& t, const Event& e, user_regs_struct regs) {
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
      ++result_.syscalls_performed;
      return p;
    }
  }
  return std::unexpected(diverge(e, "the syscall could not be performed in the replay"));
}

Status Replayer::perform_mm(RThread& t, const Event& e, const user_regs_struct& entry) {
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

Status Replayer::perform_brk(RThread& t, const Event& e, const user_regs_struct& entry) {
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
  ++result_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Status Replayer::perform_clone(RThread& t, const Event& e, const user_regs_struct& entry) {
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
  RThread child;
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
  // The kernel wrote the replay's thread id where the recorded one belongs.
  uint32_t tid32 = child.tid;
  std::string_view tid_bytes(reinterpret_cast<const char*>(&tid32), 4);
  if (flags & CLONE_PARENT_SETTID) {
    write_memory(pid_, parent_tid_at, tid_bytes);
  }
  if (flags & CLONE_CHILD_SETTID) {
    write_memory(pid_, child_tid_at, tid_bytes);
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status Replayer::perform_exit(RThread& t, const Event& e, const user_regs_struct& entry) {
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (!p->exited) {
    return std::unexpected(diverge(e, "the thread did not exit"));
  }
  t.alive = false;
  return ok();
}

Status Replayer::on_syscall(RThread& t, const Event& e) {
  if (auto s = to_syscall_entry(t, e); !s) {
    return s;
  }
  if (!e.completed) {
    if (e.sysno == SYS_exit) {
      auto entry = get_regs(t.real);
      return entry ? perform_exit(t, e, *entry) : Status(std::unexpected(entry.error()));
    }
    if (e.sysno == SYS_exit_group) {
      result_.end = "exit_group";
      result_.reached_end = true;
      done_ = true;
    }
    return ok();  // still in the kernel when the recording stopped
  }
  auto entry = get_regs(t.real);
  if (!entry) {
    return std::unexpected(entry.error());
  }
  t.pending_entry = false;
  bool ok_result = !is_error(e.result);
  switch (e.sysno) {
    case SYS_mmap:
    case SYS_munmap:
    case SYS_mprotect:
    case SYS_mremap:
    case SYS_madvise:
    case SYS_pkey_mprotect:
      return ok_result ? perform_mm(t, e, *entry) : emulate(t, e, *entry);
    case SYS_brk:
      return perform_brk(t, e, *entry);
    case SYS_clone:
    case SYS_clone3:
      return perform_clone(t, e, *entry);
    case SYS_rt_sigreturn: {
      auto p = perform(t, e, call_of(*entry, e));
      return p ? ok() : Status(std::unexpected(p.error()));
    }
    case SYS_arch_prctl:
      if (!(ok_result && (e.args[0] == 0x1001 || e.args[0] == 0x1002))) {  // SET_GS, SET_FS
        return emulate(t, e, *entry);
      }
      [[fallthrough]];
    case SYS_rt_sigaction:
    case SYS_rt_sigprocmask:
    case SYS_sigaltstack:
    case SYS_set_robust_list:
    case SYS_set_tid_address: {
      if (!ok_result) {
        return emulate(t, e, *entry);
      }
      auto p = perform(t, e, call_of(*entry, e));
      if (!p) {
        return std::unexpected(p.error());
      }
      if (auto s = write_outputs(e); !s) {
        return s;
      }
      return finish_performed(t, *p, *entry, e.result);
    }
    case SYS_execve:
    case SYS_execveat:
      if (ok_result) {
        return fail("the target called exec during the recording; replay of exec is not "
                    "supported");
      }
      return emulate(t, e, *entry);
    default:
      return emulate(t, e, *entry);
  }
}

Status Replayer::on_point(RThread& t, const Event& e) {
  auto want = regs_from_bytes(e.regs);
  if (!want) {
    return std::unexpected(diverge(e, "the point's saved registers are damaged"));
  }
  bool loose = e.reason == PointReason::kPreemptAtSyscall;
  auto matches = [&](const user_regs_struct& r) {
    return regs_difference(*want, r, loose).empty() && stack_hash(pid_, r.rsp) == e.stack_hash;
  };
  auto cur = get_regs(t.real);
  if (!cur) {
    return std::unexpected(cur.error());
  }
  if (matches(*cur)) {
    return ok();
  }
  // A hardware breakpoint (DR0) at the recorded instruction: every pass through it
  // stops the thread before the instruction runs, and the resume flag (RF) lets it
  // run the instruction on resume without stopping again.
  uint64_t bp = want->rip;
  if (auto s = set_hw_breakpoint(t.real, bp); !s) {
    return std::unexpected(diverge(e, s.error().message));
  }
  auto started = std::chrono::steady_clock::now();
  std::optional<user_regs_struct> first_visit;
  uint64_t first_memory = 0;
  bool tried_fast_forward = false;
  uint64_t hits = 0;
  for (;;) {
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    bool trap = WIFSTOPPED(*st) && WSTOPSIG(*st) == SIGTRAP && (*st >> 16) == 0;
    if (!trap || !regs || regs->rip != bp) {
      clear_hw_breakpoint(t.real);
      return std::unexpected(diverge(e, "before reaching the point: " + describe_stop(t, *st),
                                     regs ? &*regs : nullptr));
    }
    ++result_.breakpoint_hits;
    if (matches(*regs)) {
      clear_hw_breakpoint(t.real);
      return ok();
    }
    if (!first_visit) {
      first_visit = *regs;
      first_memory = writable_memory_hash();
    } else if (!tried_fast_forward) {
      tried_fast_forward = true;
      if (fast_forward(*first_visit, *regs, *want, first_memory)) {
        clear_hw_breakpoint(t.real);
        want->orig_rax = regs->orig_rax;
        set_regs(t.real, *want);
        ++result_.fast_forwards;
        return ok();
      }
    }
    if (std::chrono::steady_clock::now() - started > options_.stall_timeout) {
      clear_hw_breakpoint(t.real);
      return std::unexpected(diverge(
          e, fmt::format("the point was not reached in {} s ({} passes through {:#x})",
                         options_.stall_timeout.count(), hits, bp),
          &*regs));
    }
    ++hits;
    regs->eflags |= kResumeFlag;  // another pass: run this instruction and go on
    set_regs(t.real, *regs);
  }
}

uint64_t Replayer::writable_memory_hash() {
  auto maps = read_maps(pid_);
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
bool Replayer::fast_forward(const user_regs_struct& first, const user_regs_struct& second,
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

Status Replayer::on_signal(RThread& t, const Event& e) {
  if (is_stop_signal(e.signo)) {
    return ok();  // job control: not part of the program's computation
  }
  bool sync = is_fault(e.signo) && e.signal_code > 0;
  if (sync) {
    // A fault: the instruction causes it again by itself.
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != e.signo || (*st >> 16) != 0) {
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
    siginfo_t si{};
    ::ptrace(PTRACE_GETSIGINFO, t.real, nullptr, &si);
    uint64_t addr = reinterpret_cast<uint64_t>(si.si_addr);
    if (si.si_code != e.signal_code || addr != e.fault_addr) {
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
    if (e.fatal) {
      result_.end = "crash";
      result_.end_signal = e.signo;
      result_.end_fault_addr = addr;
      result_.reached_end = true;
      done_ = true;
      return ok();
    }
    t.resume_sig = e.signo;
    return ok();
  }
  if (e.fatal) {
    // Sent and fatal (an unhandled SIGTERM, say): the recording ended here.
    result_.end = "crash";
    result_.end_signal = e.signo;
    result_.end_fault_addr = e.fault_addr;
    result_.reached_end = true;
    done_ = true;
    return ok();
  }
  if (t.at_syscall_stop) {
    // Signals can only be injected from a signal-delivery-stop with their siginfo:
    // have the kernel queue it here, then catch its delivery.
    t.resume_sig = e.signo;
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != e.signo || (*st >> 16) != 0) {
      auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
  }
  if (e.siginfo.size() == sizeof(siginfo_t)) {
    siginfo_t si{};
    std::memcpy(&si, e.siginfo.data(), sizeof si);
    ::ptrace(PTRACE_SETSIGINFO, t.real, nullptr, &si);
  }
  t.resume_sig = e.signo;
  return ok();
}

Status Replayer::on_rdtsc(RThread& t, const Event& e) {
  auto st = resume(t, PTRACE_SYSEMU, e);
  if (!st) {
    return std::unexpected(st.error());
  }
  auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
  if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != SIGSEGV || !regs ||
      regs->rip != static_cast<uint64_t>(e.value)) {
    return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
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

Status Replayer::on_event(const Event& e) {
  switch (e.type) {
    case EventType::kSyscall:
    case EventType::kSyscallEntry:
    case EventType::kPoint:
    case EventType::kSignal:
    case EventType::kRdtsc: {
      auto t = thread_of(e);
      if (!t) {
        return std::unexpected(t.error());
      }
      switch (e.type) {
        case EventType::kSyscall:
          return on_syscall(**t, e);
        case EventType::kSyscallEntry:
          return to_syscall_entry(**t, e);
        case EventType::kPoint:
          return on_point(**t, e);
        case EventType::kSignal:
          return on_signal(**t, e);
        default:
          return on_rdtsc(**t, e);
      }
    }
    case EventType::kThreadStart:
    case EventType::kThreadExit:
      return ok();  // the clone and exit syscalls around them do the work
    case EventType::kProcessExit:
      result_.end = "exit";
      result_.reached_end = true;
      done_ = true;
      return ok();
    case EventType::kExec:
      return fail("the target called exec during the recording; replay of exec is not "
                  "supported");
  }
  return ok();
}

void Replayer::verify() {
  if (!image_.final_state) {
    result_.difference = "the recording has no final state to compare with";
    return;
  }
  const FinalState& fs = *image_.final_state;
  for (const auto& ft : fs.threads) {
    auto it = threads_.find(static_cast<uint32_t>(ft.tid));
    if (it == threads_.end() || !it->second.alive) {
      result_.difference = fmt::format("thread {} exists in the recorded final state but not in "
                                       "the replay",
                                       ft.tid);
      return;
    }
    auto regs = get_regs(it->second.real);
    if (!regs) {
      result_.difference = regs.error().message;
      return;
    }
    if (auto d = regs_difference(ft.regs, *regs, false); !d.empty()) {
      result_.difference = fmt::format("thread {}: {}", ft.tid, d);
      return;
    }
  }
  // The stack below each thread's stack pointer and its red zone is dead by the ABI:
  // a signal frame may be written there at any time, and the frames left there hold
  // the CPU's record of which vector registers were in use (XSTATE_BV), which is not
  // part of the program's state. It is not compared.
  std::vector<std::pair<uint64_t, uint64_t>> dead;
  for (const auto& ft : fs.threads) {
    for (const auto& seg : fs.segments) {
      if (ft.regs.rsp > seg.vaddr && ft.regs.rsp <= seg.vaddr + seg.size) {
        dead.emplace_back(seg.vaddr, ft.regs.rsp > 128 ? ft.regs.rsp - 128 : 0);
      }
    }
  }
  auto hex = [](std::string_view b) {
    std::string out;
    for (char c : b.substr(0, 16)) {
      out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    }
    return out;
  };
  std::string mine;
  for (const auto& seg : fs.segments) {
    if (!seg.writable || seg.size == 0) {
      continue;
    }
    // The parts of the segment to compare: all of it but dead stack.
    std::vector<std::pair<uint64_t, uint64_t>> parts = {{seg.vaddr, seg.vaddr + seg.size}};
    for (auto [lo, hi] : dead) {
      std::vector<std::pair<uint64_t, uint64_t>> next;
      for (auto [a, b] : parts) {
        if (hi <= a || lo >= b) {
          next.emplace_back(a, b);
          continue;
        }
        if (a < lo) next.emplace_back(a, lo);
        if (hi < b) next.emplace_back(hi, b);
        result_.dead_stack_bytes += std::min(b, hi) - std::max(a, lo);
      }
      parts = std::move(next);
    }
    constexpr uint64_t kChunk = 1 << 20;
    for (auto [from, to] : parts) {
      for (uint64_t addr = from; addr < to; addr += kChunk) {
        uint64_t n = std::min(kChunk, to - addr);
        if (!mem_->read(addr, n, mine) || mine.size() != n) {
          result_.difference = fmt::format("memory at {:#x} ({} bytes) is not readable in the "
                                           "replay",
                                           addr, n);
          return;
        }
        std::string_view want(fs.core.data() + seg.file_offset + (addr - seg.vaddr), n);
        if (want != mine) {
          size_t i = 0;
          while (want[i] == mine[i]) {
            ++i;
          }
          result_.difference = fmt::format("memory differs at {:#x}: recorded {} replayed {}",
                                           addr + i, hex(want.substr(i)),
                                           hex(std::string_view(mine).substr(i)));
          return;
        }
      }
    }
  }
  result_.verified = true;
}

Result<ReplayResult> Replayer::run() {
  auto t0 = std::chrono::steady_clock::now();
  sigemptyset(&chld_);
  sigaddset(&chld_, SIGCHLD);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &chld_, &old);
  auto built = build_replay_process(reader_, image_);
  if (!built) {
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return std::unexpected(built.error());
  }
  pid_ = built->pid;
  mem_ = std::make_unique<TargetMemory>(pid_);
  result_.warnings = built->warnings;
  for (size_t i = 0; i < image_.threads.size(); ++i) {
    RThread t;
    t.real = built->threads[i];
    t.tid = static_cast<uint32_t>(image_.threads[i].tid);
    t.at_syscall_stop = true;  // each sits at the exit of a syscall run by the builder
    threads_[t.tid] = t;
  }
  for (const auto& r : image_.regions) {
    if (r.path == "[heap]") {
      heap_end_ = r.end;
    }
  }
  Status failure = ok();
  auto walked = reader_.for_each_event([&](const Event& e) {
    ++result_.total_events;
    if (done_ && failure && !tail_closed_) {
      // The final state was saved after the end (crash or exit), and saving it stopped the
      // threads that were waiting in the kernel: their interrupted syscalls come last.
      auto it = threads_.find(e.tid);
      if (e.type == EventType::kSyscall && e.completed && it != threads_.end() &&
          it->second.alive && it->second.pending_entry) {
        if (auto entry = get_regs(it->second.real);
            entry && static_cast<int64_t>(entry->orig_rax) == e.sysno) {
          it->second.pending_entry = false;
          failure = emulate(it->second, e, *entry);
          result_.events = ++index_;
          return true;
        }
      }
      if (e.type == EventType::kThreadExit || e.type == EventType::kProcessExit ||
          (e.type == EventType::kSignal && e.fatal) ||
          (e.type == EventType::kSyscall && !e.completed)) {
        result_.events = ++index_;  // the process ending as recorded: nothing to run
        return true;
      }
      tail_closed_ = true;
    }
    if (done_ || !failure) {
      return true;  // keep counting
    }
    if (options_.until && index_ >= *options_.until) {
      result_.end = "--until";
      done_ = true;
      return true;
    }
    failure = on_event(e);
    ++index_;
    result_.events = index_;
    return true;
  });
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!walked && !result_.divergence) {
    return fail("the event log is damaged after event {}: {}", index_, walked.error().message);
  }
  if (!failure && !result_.divergence) {
    return std::unexpected(failure.error());
  }
  if (!result_.divergence && !done_) {
    result_.end = "end of log";
    result_.reached_end = true;
  }
  if (options_.verify && !result_.divergence && result_.end != "--until") {
    verify();
  }
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result_;
}

}  // namespace

Result<ReplayResult> replay_recording(const std::filesystem::path& path,
                                      const ReplayOptions& options) {
  auto reader = RecordingReader::open(path);
  if (!reader) {
    return std::unexpected(reader.error());
  }
  if (reader->truncation() && options.verify) {
    return fail("{}; without its final state it cannot be verified (replay it without "
                "--verify to re-run what it holds)",
                *reader->truncation());
  }
  auto image = ReplayImage::load(*reader);
  if (!image) {
    return std::unexpected(image.error());
  }
  Replayer replayer(*reader, *image, options);
  return replayer.run();
}

}  // namespace rwd
