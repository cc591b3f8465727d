#include "replay/replay_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <asm/prctl.h>
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

// ReplaySession::clone(): checkpoints as forks of the replay process.

// --- cloning ---------------------------------------------------------------------

namespace {

// The options process_builder.cc gives the replay process (inherited by its threads and
// forks); clone() adds fork tracing only while it forks.
constexpr long kTraceOptions =
    PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT;

Result<std::string> get_xstate(pid_t tid) {
  std::string buf(64 * 1024, '\0');
  struct iovec iov{buf.data(), buf.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0) {
    return fail_errno(errno, "cannot read the FPU/vector state of thread {}", tid);
  }
  buf.resize(iov.iov_len);
  return buf;
}

Status set_xstate(pid_t tid, std::string xstate) {
  struct iovec iov{xstate.data(), xstate.size()};
  if (::ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0) {
    return fail_errno(errno, "cannot set the FPU/vector state of thread {}", tid);
  }
  return ok();
}

// An injected syscall that must succeed.
Result<int64_t> must_inject(pid_t tid, uint64_t site, const char* what, int64_t nr,
                            std::array<uint64_t, 6> args) {
  auto rc = inject_syscall(tid, site, nr, args);
  if (!rc) {
    return fail("cloning the replay: {}: {}", what, rc.error().message);
  }
  if (is_error(*rc)) {
    return fail("cloning the replay: {} failed: {}", what, errno_text(static_cast<int>(-*rc)));
  }
  return *rc;
}

void kill_and_reap(pid_t pid, const std::vector<pid_t>& threads) {
  ::kill(pid, SIGKILL);
  for (pid_t t : threads) {
    ::ptrace(PTRACE_CONT, t, nullptr, nullptr);
  }
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    pid_t w = ::waitpid(pid, &status, __WALL | WNOHANG);
    if (w < 0 || (w == pid && (WIFEXITED(status) || WIFSIGNALED(status)))) {
      break;
    }
    if (w == 0) {
      ::usleep(1000);
    }
  }
  for (pid_t t : threads) {
    int status = 0;
    ::waitpid(t, &status, __WALL | WNOHANG);
  }
}

}  // namespace

Result<uint64_t> ReplaySession::find_syscall_site() {
  // The cached one while it is still there (the program may unmap code).
  if (syscall_site_ != 0) {
    std::string bytes;
    if (mem_->read(syscall_site_, 2, bytes) && bytes == std::string("\x0f\x05", 2)) {
      auto maps = read_maps(mem_pid_);
      if (maps) {
        for (const auto& m : *maps) {
          if (m.executable() && syscall_site_ >= m.start && syscall_site_ + 2 <= m.end) {
            return syscall_site_;
          }
        }
      }
    }
    syscall_site_ = 0;
  }
  auto maps = read_maps(mem_pid_);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  // The vDSO first: small and always has its fallback syscalls.
  std::vector<MapEntry> exec;
  for (const auto& m : *maps) {
    if (m.executable() && m.path != "[vsyscall]" && m.start < 0x800000000000ull) {
      if (m.path == "[vdso]") {
        exec.insert(exec.begin(), m);
      } else {
        exec.push_back(m);
      }
    }
  }
  constexpr uint64_t kChunk = 64 * 1024;
  for (const auto& m : exec) {
    for (uint64_t at = m.start; at < m.end; at += kChunk) {
      std::string bytes;
      // One byte of overlap so that a pair split across chunks is found too.
      uint64_t len = std::min(kChunk + 1, m.end - at);
      if (!mem_->read(at, len, bytes)) {
        break;
      }
      if (auto pos = bytes.find(std::string("\x0f\x05", 2)); pos != std::string::npos) {
        syscall_site_ = at + pos;
        return syscall_site_;
      }
    }
  }
  return fail("cloning the replay: no syscall instruction in its executable memory");
}

Status ReplaySession::copy_into_fork(pid_t child, uint64_t site, uint64_t scratch,
                                     std::vector<ThreadCopy>& copies) {
  // copies[0] is the thread that forked: the fork's only thread stands for it.
  copies[0].child = child;
  // rdtsc trapping is inherited, but say it again rather than rely on it.
  if (auto rc = must_inject(child, site, "trapping rdtsc", SYS_prctl, {PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0, 0});
      !rc) {
    return std::unexpected(rc.error());
  }
  if ((exec_image_ ? *exec_image_ : *image_).cpuid_trapped) {
    if (auto rc = must_inject(child, site, "trapping cpuid", SYS_arch_prctl,
                              {ARCH_SET_CPUID, 0, 0, 0, 0, 0});
        !rc) {
      return std::unexpected(rc.error());
    }
  }
  for (size_t i = 1; i < copies.size(); ++i) {
    constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                      CLONE_THREAD | CLONE_SYSVSEM;
    auto tid = must_inject(child, site, "creating a thread", SYS_clone, {kThreadFlags, 0, 0, 0, 0, 0});
    if (!tid) {
      return std::unexpected(tid.error());
    }
    copies[i].child = static_cast<pid_t>(*tid);
    auto first = wait_thread(copies[i].child, std::chrono::seconds(5));  // its first stop
    if (!first || !first->stopped()) {
      return fail("cloning the replay: a new thread did not start");
    }
  }
  TargetMemory memory(child);
  for (size_t i = 0; i < copies.size(); ++i) {
    auto& c = copies[i];
    if (auto s = write_memory(child, scratch, std::string_view(reinterpret_cast<const char*>(&c.sigmask), 8));
        !s) {
      return s;
    }
    if (auto rc = must_inject(c.child, site, "restoring a signal mask", SYS_rt_sigprocmask,
                              {SIG_SETMASK, scratch, 0, 8, 0, 0});
        !rc) {
      return std::unexpected(rc.error());
    }
    // New threads start without an alternate signal stack; the fork's thread has its
    // parent's already (and setting it fails while running on it).
    if (i > 0 && c.altstack.size() == sizeof(stack_t)) {
      stack_t reported{};
      std::memcpy(&reported, c.altstack.data(), sizeof reported);
      if (!(reported.ss_flags & SS_DISABLE)) {
        stack_t ss = altstack_to_set(reported);
        if (auto s = write_memory(child, scratch, std::string_view(reinterpret_cast<const char*>(&ss), sizeof ss));
            !s) {
          return s;
        }
        if (auto rc = must_inject(c.child, site, "restoring an alternate signal stack",
                                  SYS_sigaltstack, {scratch, 0, 0, 0, 0, 0});
            !rc) {
          return std::unexpected(rc.error());
        }
      }
    }
    // As process_builder.cc: glibc threads have the kernel clear their tid on exit.
    uint64_t tid_addr = c.regs.fs_base + kGlibcTidOffset;
    uint32_t word = 0;
    if (c.regs.fs_base != 0 && memory.read_into(tid_addr, &word, 4) == 4 && word == c.tid) {
      if (auto rc = must_inject(c.child, site, "restoring the tid address", SYS_set_tid_address,
                                {tid_addr, 0, 0, 0, 0, 0});
          !rc) {
        return std::unexpected(rc.error());
      }
    }
  }
  if (auto rc = must_inject(child, site, "removing the scratch page", SYS_munmap, {scratch, kPage, 0, 0, 0, 0});
      !rc) {
    return std::unexpected(rc.error());
  }
  for (auto& c : copies) {
    if (auto s = set_regs(c.child, c.regs); !s) {
      return s;
    }
    if (!c.xstate.empty()) {
      if (auto s = set_xstate(c.child, c.xstate); !s) {
        return s;
      }
    }
  }
  return ok();
}

Result<std::unique_ptr<ReplaySession>> ReplaySession::clone() {
  if (broken_ || pid_ <= 0) {
    return fail("cannot clone a replay session that failed");
  }
  // The fork's only thread becomes its leader. It stands for our leader while that
  // lives, so that the copy's threads exit in the same roles; once the leader has exited
  // (pthread_exit in main), for the first live thread, whose exit the copy then handles
  // as a leader's (perform_exit).
  std::vector<uint32_t> live;
  for (uint32_t tid : order_) {
    auto it = threads_.find(tid);
    if (it == threads_.end() || !it->second.alive) {
      continue;
    }
    if (it->second.real == pid_) {
      live.insert(live.begin(), tid);
    } else {
      live.push_back(tid);
    }
  }
  if (live.empty()) {
    return fail("cannot clone a replay session without a live thread");
  }
  uint32_t leader = live.front();
  auto site = find_syscall_site();
  if (!site) {
    return std::unexpected(site.error());
  }

  std::vector<ThreadCopy> copies;
  for (uint32_t tid : live) {
    const Thread& t = threads_.at(tid);
    ThreadCopy c;
    c.tid = tid;
    auto regs = get_regs(t.real);
    if (!regs) {
      return std::unexpected(regs.error());
    }
    c.regs = *regs;
    if (auto xs = get_xstate(t.real)) {
      c.xstate = std::move(*xs);
    }
    auto st = read_thread_status(pid_, t.real);
    if (!st) {
      return std::unexpected(st.error());
    }
    c.sigmask = st->sig_blocked;
    copies.push_back(std::move(c));
  }
  pid_t x = threads_.at(leader).real;

  // Injections leave a thread at a syscall-exit stop with its registers put back: from
  // there the session's emulate (set_regs, resume) and perform (back onto the syscall,
  // PTRACE_SYSCALL) work as from the entry stop, and a signal to deliver is still sent
  // on resume. Threads keep pending_entry; they are now at a syscall stop.
  auto put_back = [&]() {
    for (const auto& c : copies) {
      Thread& t = threads_.at(c.tid);
      set_regs(t.real, c.regs);
      t.at_syscall_stop = true;
    }
  };
  // A scratch page, made before the fork so that the fork has it at the same address.
  auto scratch_rc = must_inject(x, *site, "a scratch page", SYS_mmap,
                                {0, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                 static_cast<uint64_t>(-1), 0});
  if (!scratch_rc) {
    put_back();
    return std::unexpected(scratch_rc.error());
  }
  uint64_t scratch = static_cast<uint64_t>(*scratch_rc);
  auto drop_scratch = [&]() {
    (void)inject_syscall(x, *site, SYS_munmap, {scratch, kPage, 0, 0, 0, 0});
    put_back();
  };
  for (auto& c : copies) {
    pid_t real = threads_.at(c.tid).real;
    if (auto rc = must_inject(real, *site, "reading an alternate signal stack", SYS_sigaltstack,
                              {0, scratch, 0, 0, 0, 0});
        !rc) {
      drop_scratch();
      return std::unexpected(rc.error());
    }
    if (!mem_->read(scratch, sizeof(stack_t), c.altstack)) {
      c.altstack.clear();
    }
  }

  // Fork with CLONE_PARENT: the copy is rewind's child rather than the replay's, so its
  // end signals rewind (which reaps it) instead of reaching the replay as a SIGCHLD the
  // recording never had.
  ::ptrace(PTRACE_SETOPTIONS, x, nullptr, reinterpret_cast<void*>(kTraceOptions | PTRACE_O_TRACEFORK));
  auto forked = must_inject(x, *site, "forking", SYS_clone,
                            {static_cast<uint64_t>(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0, 0});
  ::ptrace(PTRACE_SETOPTIONS, x, nullptr, reinterpret_cast<void*>(kTraceOptions));
  if (!forked) {
    drop_scratch();
    return std::unexpected(forked.error());
  }
  pid_t child = static_cast<pid_t>(*forked);
  auto first = wait_thread(child, std::chrono::seconds(5));  // its SIGSTOP
  if (!first || !first->stopped()) {
    drop_scratch();
    kill_and_reap(child, {});
    return fail("cloning the replay: the fork did not start");
  }
  ::ptrace(PTRACE_SETOPTIONS, child, nullptr, reinterpret_cast<void*>(kTraceOptions));
  drop_scratch();

  auto copied = copy_into_fork(child, *site, scratch, copies);
  if (!copied) {
    std::vector<pid_t> made;
    for (const auto& c : copies) {
      if (c.child != 0 && c.child != child) {
        made.push_back(c.child);
      }
    }
    kill_and_reap(child, made);
    return std::unexpected(copied.error());
  }

  std::unique_ptr<ReplaySession> s(new ReplaySession(reader_, *image_, options_));
  s->exec_image_ = exec_image_;
  s->execs_done_ = execs_done_;
  s->stats_ = stats_;
  s->cursor_ = cursor_;
  s->pid_ = child;
  s->mem_pid_ = child;
  s->syscall_site_ = syscall_site_;
  s->rdtsc_patches_ = rdtsc_patches_;
  s->clock_stub_page_ = clock_stub_page_;
  s->order_ = order_;
  s->threads_ = threads_;
  for (const auto& c : copies) {
    Thread& t = s->threads_.at(c.tid);
    t.real = c.child;
    t.at_syscall_stop = true;  // every copy ends at the exit of an injected syscall
  }
  s->events_done_ = events_done_;
  s->heap_end_ = heap_end_;
  s->exited_stack_pointers_ = exited_stack_pointers_;
  s->done_ = done_;
  s->tail_closed_ = tail_closed_;
  s->mem_ = std::make_unique<TargetMemory>(child);
  s->history_ = history_;
  s->last_armed_ = last_armed_;
  return s;
}

}  // namespace rwd
