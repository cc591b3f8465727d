#include "tracee/ptrace_ops.h"

#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

constexpr int64_t kERestartSys = 512;
constexpr int64_t kERestartNoIntr = 513;
constexpr int64_t kERestartNoHand = 514;
constexpr int64_t kERestartRestartBlock = 516;
constexpr uint64_t kSysRestartSyscall = 219;

UniqueFd open_mem(pid_t pid, int flags) {
  return UniqueFd(::open(fmt::format("/proc/{}/mem", pid).c_str(), flags | O_CLOEXEC));
}

}  // namespace

Result<user_regs_struct> get_regs(pid_t tid) {
  user_regs_struct r{};
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) {
    return fail_errno(errno, "cannot read the registers of thread {}", tid);
  }
  return r;
}

Status set_regs(pid_t tid, const user_regs_struct& regs) {
  if (::ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0) {
    return fail_errno(errno, "cannot set the registers of thread {}", tid);
  }
  return ok();
}

std::string regs_bytes(const user_regs_struct& regs) {
  return std::string(reinterpret_cast<const char*>(&regs), sizeof regs);
}

Result<user_regs_struct> regs_from_bytes(std::string_view bytes) {
  user_regs_struct r{};
  if (bytes.size() != sizeof r) {
    return fail("saved registers are {} bytes, expected {}", bytes.size(), sizeof r);
  }
  std::memcpy(&r, bytes.data(), sizeof r);
  return r;
}

namespace {

// Writes through ptrace a word at a time, for when /proc/PID/mem cannot be opened: a
// tracer with CAP_SYS_PTRACE but not CAP_DAC_OVERRIDE, next to a target of another uid
// (the sidecar's case), may trace the process but not open that file, mode 0600. Like
// /proc/PID/mem it writes read-only pages too. `pid` must be a ptrace-stopped thread.
Status poke_memory(pid_t pid, uint64_t addr, std::string_view bytes) {
  uint64_t end = addr + bytes.size();
  for (uint64_t word = addr & ~uint64_t{7}; word < end; word += 8) {
    uint64_t value = 0;
    if (word < addr || word + 8 > end) {  // a partial word: keep the bytes around it
      errno = 0;
      long got = ::ptrace(PTRACE_PEEKDATA, pid, reinterpret_cast<void*>(word), nullptr);
      if (errno != 0) {
        return fail_errno(errno, "cannot read the word at {:#x} in pid {}", word, pid);
      }
      value = static_cast<uint64_t>(got);
    }
    for (uint64_t b = std::max(word, addr); b < std::min(word + 8, end); ++b) {
      reinterpret_cast<unsigned char*>(&value)[b - word] =
          static_cast<unsigned char>(bytes[b - addr]);
    }
    if (::ptrace(PTRACE_POKEDATA, pid, reinterpret_cast<void*>(word),
                 reinterpret_cast<void*>(value)) != 0) {
      return fail_errno(errno, "cannot write {} bytes at {:#x} in pid {}", bytes.size(), addr,
                        pid);
    }
  }
  return ok();
}

}  // namespace

Status write_memory(pid_t pid, uint64_t addr, std::string_view bytes) {
  auto fd = open_mem(pid, O_RDWR);
  if (!fd) {
    if (errno == EACCES) {
      return poke_memory(pid, addr, bytes);
    }
    return fail_errno(errno, "cannot open the memory of pid {}", pid);
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd.get(), bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail_errno(n < 0 ? errno : EIO, "cannot write {} bytes at {:#x} in pid {}",
                        bytes.size(), addr + done, pid);
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Status with_stack_scratch(pid_t tid, size_t len, const std::function<void(uint64_t)>& use) {
  auto regs = get_regs(tid);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  uint64_t scratch = (regs->rsp - 512) & ~uint64_t{15};
  std::string saved;
  if (!TargetMemory(tid).read(scratch, len, saved) || saved.size() != len) {
    return fail("thread {} has no memory below its stack pointer {:#x}", tid, regs->rsp);
  }
  use(scratch);
  return write_memory(tid, scratch, saved);
}

uint64_t stack_hash(pid_t pid, uint64_t rsp) {
  constexpr size_t kWindow = 256;
  char buf[kWindow];
  struct iovec local{buf, kWindow};
  struct iovec remote{reinterpret_cast<void*>(rsp), kWindow};
  ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n <= 0) {
    // The window may cross the end of the stack mapping: hash what is readable.
    remote.iov_len = local.iov_len = 4096 - (rsp & 4095);
    n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
      return 0;
    }
  }
  // FNV-1a over the bytes read.
  uint64_t h = 0xcbf29ce484222325ull;
  for (ssize_t i = 0; i < n; ++i) {
    h = (h ^ static_cast<uint8_t>(buf[i])) * 0x100000001b3ull;
  }
  return h;
}

bool restart_pending(const user_regs_struct& regs) {
  auto orig = static_cast<int64_t>(regs.orig_rax);
  auto rax = -static_cast<int64_t>(regs.rax);
  return orig >= 0 && (rax == kERestartSys || rax == kERestartNoIntr ||
                       rax == kERestartNoHand || rax == kERestartRestartBlock);
}

void apply_restart(user_regs_struct& regs) {
  if (!restart_pending(regs)) {
    return;
  }
  bool block = -static_cast<int64_t>(regs.rax) == kERestartRestartBlock;
  regs.rax = block ? kSysRestartSyscall : regs.orig_rax;
  regs.rip -= 2;
  regs.orig_rax = static_cast<uint64_t>(-1);
}

bool restart_instead_of_eintr(user_regs_struct& regs) {
  if (static_cast<int64_t>(regs.orig_rax) < 0 || static_cast<int64_t>(regs.rax) != -EINTR) {
    return false;
  }
  regs.rax = static_cast<uint64_t>(-kERestartNoIntr);
  return true;
}

user_regs_struct rerun_syscall(const user_regs_struct& entry) {
  user_regs_struct regs = entry;
  regs.rip -= 2;
  regs.rax = regs.orig_rax;
  regs.orig_rax = static_cast<uint64_t>(-1);
  return regs;
}

user_regs_struct past_syscall_instruction(user_regs_struct regs, uint64_t syscall_at) {
  regs.rip = syscall_at + 2;
  regs.rcx = regs.rip;
  regs.r11 = regs.eflags & ~kResumeFlag;
  return regs;
}

stack_t altstack_to_set(const stack_t& reported) {
  stack_t ss = reported;
  ss.ss_flags &= ~SS_ONSTACK;
  return ss;
}

Result<WaitStatus> wait_thread(pid_t tid, std::optional<std::chrono::milliseconds> timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  useconds_t nap = 50;
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(tid, &status, __WALL | (timeout ? WNOHANG : 0));
    if (w == tid) {
      return WaitStatus(status);
    }
    if (w == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return fail("thread {} did not stop within {} ms (is its process being killed?)", tid,
                    timeout->count());
      }
      ::usleep(nap);
      nap = std::min<useconds_t>(nap * 2, 5000);
      continue;
    }
    if (w < 0 && errno == EINTR) {
      continue;
    }
    return fail_errno(w < 0 ? errno : ECHILD, "waiting for thread {}", tid);
  }
}

Result<int64_t> inject_syscall(pid_t tid, uint64_t site, int64_t nr,
                               std::array<uint64_t, 6> args, int* deferred_signal) {
  return inject_syscall(tid, InjectionSite{site, 0}, nr, args, deferred_signal);
}

namespace {

// Whether the signal at this signal-delivery stop is a fault of the instruction the
// thread stands on (a SIGSEGV, SIGBUS, SIGILL or SIGFPE the kernel raised with its fault
// code): such a signal is dropped rather than kept for later, because the instruction
// raises it again, with the same siginfo, once the thread runs. Injected later instead,
// from a stop that is not a signal-delivery stop, it would arrive as a plain SI_KERNEL
// signal without its code and address.
bool refaults(pid_t tid, int sig) {
  if (sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE) {
    return false;
  }
  siginfo_t si{};
  return ::ptrace(PTRACE_GETSIGINFO, tid, nullptr, &si) == 0 && si.si_code > 0 &&
         si.si_code != SI_KERNEL;
}

// Signals that arrived while rewind ran something in a thread, which the kernel
// dequeued then: the first is kept in *deferred_signal for the caller to deliver; any
// other (every one, for a caller that keeps none) is sent to the thread again (tkill)
// when the injection is over, so one deferred signal does not push out another (sent at
// once, it would arrive again mid-way). It then comes as SI_TKILL from rewind.
class ArrivedSignals {
 public:
  ArrivedSignals(pid_t tid, int* deferred_signal) : tid_(tid), deferred_(deferred_signal) {}
  ArrivedSignals(const ArrivedSignals&) = delete;
  ArrivedSignals& operator=(const ArrivedSignals&) = delete;
  ~ArrivedSignals() {
    for (int sig : again_) {
      ::syscall(SYS_tkill, tid_, sig);
    }
  }

  // Unless it is one the thread raises again by itself.
  void keep(const WaitStatus& st) {
    int sig = st.stop_signal();
    if (st.ptrace_event() != 0 || sig == SIGTRAP || sig == SIGSTOP || refaults(tid_, sig)) {
      return;
    }
    if (deferred_ != nullptr && (*deferred_ == 0 || *deferred_ == sig)) {
      *deferred_ = sig;
    } else if (std::find(again_.begin(), again_.end(), sig) == again_.end()) {
      again_.push_back(sig);
    }
  }

 private:
  pid_t tid_;
  int* deferred_;
  std::vector<int> again_;
};

// At a fork, vfork or clone event stop the call is still under way, and its return
// value would replace an injected call's number on the way out to user space. Such a
// call is run to its syscall-exit stop first (its child exists already). True when it
// was.
Result<bool> finish_process_creation(pid_t tid, const user_regs_struct& r,
                                     ArrivedSignals& arrived) {
  int64_t nr = static_cast<int64_t>(r.orig_rax);
  bool creating = nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone || nr == SYS_clone3;
  if (!creating || r.rax != static_cast<uint64_t>(-ENOSYS)) {
    return false;
  }
  __ptrace_syscall_info info{};
  if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof info), &info) <= 0 ||
      info.op != PTRACE_SYSCALL_INFO_NONE) {
    return false;  // a syscall stop: not inside the call's event
  }
  for (int tries = 0; tries < 16; ++tries) {
    if (::ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0) {
      return fail_errno(errno, "cannot finish the fork in thread {}", tid);
    }
    auto st = wait_thread(tid, std::chrono::seconds(2));
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!st->stopped()) {
      return fail("thread {} ended in a fork", tid);
    }
    if (st->is_syscall_stop()) {
      return true;
    }
    arrived.keep(*st);
  }
  return fail("thread {} did not finish its fork", tid);
}

}  // namespace

Result<int64_t> inject_syscall(pid_t tid, const InjectionSite& site, int64_t nr,
                               std::array<uint64_t, 6> args, int* deferred_signal) {
  auto saved = get_regs(tid);
  if (!saved) {
    return std::unexpected(saved.error());
  }
  ArrivedSignals arrived(tid, deferred_signal);
  auto finished = finish_process_creation(tid, *saved, arrived);
  if (!finished) {
    return std::unexpected(finished.error());
  }
  if (*finished && !(saved = get_regs(tid))) {
    return std::unexpected(saved.error());
  }
  user_regs_struct restore = *saved;
  apply_restart(restore);
  if (site.save_area != 0) {
    std::string_view bytes(reinterpret_cast<const char*>(&restore), sizeof restore);
    if (auto s = write_memory(tid, site.save_area, bytes); !s) {
      return std::unexpected(s.error());
    }
  }
  user_regs_struct r = restore;
  r.rip = site.syscall_insn;
  r.rax = static_cast<uint64_t>(nr);
  r.orig_rax = static_cast<uint64_t>(-1);
  r.rdi = args[0];
  r.rsi = args[1];
  r.rdx = args[2];
  r.r10 = args[3];
  r.r8 = args[4];
  r.r9 = args[5];
  if (auto s = set_regs(tid, r); !s) {
    return std::unexpected(s.error());
  }
  bool entered = false;
  int64_t result = 0;
  for (int guard = 0; guard < 64; ++guard) {
    if (::ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0) {
      return fail_errno(errno, "cannot run an injected syscall in thread {}", tid);
    }
    auto st = wait_thread(tid, std::chrono::seconds(2));
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!st->stopped()) {
      return fail("thread {} ended while rewind ran a syscall in it", tid);
    }
    if (st->is_syscall_stop()) {
      __ptrace_syscall_info info{};
      ::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof info), &info);
      if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        entered = true;
      } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && entered) {
        result = info.exit.rval;
        if (auto s = set_regs(tid, restore); !s) {
          return std::unexpected(s.error());
        }
        return result;
      }
      continue;
    }
    arrived.keep(*st);  // resumed without it
  }
  set_regs(tid, restore);
  return fail("thread {} did not run the injected syscall {}", tid, nr);
}

}  // namespace rwd
