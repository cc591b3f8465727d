// Test support (header-only, used by unit tests only): forks a child of the test binary
// that stops by design inside a known call stack and traces it like the recorder does.
// Tests that need its ELF core write it with record/core_collector.h.
//
// The child starts `extra_threads` threads, each parked in
// crash_a -> crash_b -> crash_c_wait (blocked in read), then itself calls
// crash_a -> crash_b -> crash_c, which raises SIGSTOP or dereferences address 0x10
// (SIGSEGV). The parent PTRACE_SEIZEs every thread first, so the signal stops the
// crashing thread in signal-delivery-stop, then interrupts the others.
//
//   auto child = StoppedChild::start(CrashKind::kSegv, 3);
//   ASSERT_TRUE(child) << child.error().message;
//   ASSERT_TRUE(write_process_core_file(dir / "core", child->pid(), child->tids(),
//                                       &child->siginfo()));
//   // child->pid(), child->exe(); the child is killed when `child` dies.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "tracee/wait_status.h"

// The child's call stack, extern "C" so debuggers print the plain names.
extern "C" {
// Read back by the tests through the core: gdb `print/x global_marker`.
inline volatile uint64_t global_marker = 0x5eedf00dcafe1234ull;
inline volatile int crash_sink = 0;
inline std::atomic<int> threads_parked{0};
inline int park_fd = -1;
// Where crash_c writes; a variable, so the compiler cannot see the bad address.
inline volatile uintptr_t crash_address = 0x10;

__attribute__((noipa)) inline int crash_c_wait(int) {
  threads_parked.fetch_add(1);
  char c;
  // Blocks for ever: nobody writes to the park pipe.
  return static_cast<int>(::read(park_fd, &c, 1));
}

__attribute__((noipa, no_sanitize("address", "undefined"))) inline int crash_c(int kind) {
  if (kind == 0) {
    ::raise(SIGSTOP);
  } else if (kind == 1) {
    *reinterpret_cast<volatile int*>(crash_address) = kind;
  } else {
    return crash_c_wait(kind);
  }
  return kind + 1;
}

__attribute__((noipa)) inline int crash_b(int kind) {
  int r = crash_c(kind);
  crash_sink = crash_sink + r;  // keeps the call from becoming a tail call
  return r + 1;
}

__attribute__((noipa)) inline int crash_a(int kind) {
  int r = crash_b(kind);
  crash_sink = crash_sink + r;
  return r + 1;
}
}

namespace rwd::testing {

enum class CrashKind { kStop = 0, kSegv = 1 };

class StoppedChild {
 public:
  static Result<StoppedChild> start(CrashKind kind, int extra_threads) {
    int ready[2], go[2], park[2];
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0 ||
        ::pipe2(park, O_CLOEXEC) != 0) {
      return fail_errno(errno, "pipe");
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      return fail_errno(errno, "fork");
    }
    if (pid == 0) {
      park_fd = park[0];
      std::vector<std::thread> threads;
      for (int i = 0; i < extra_threads; ++i) {
        threads.emplace_back([] { crash_a(2); });
      }
      while (threads_parked.load() < extra_threads) {
        ::usleep(1000);
      }
      char c = 'r';
      (void)!::write(ready[1], &c, 1);
      (void)!::read(go[0], &c, 1);
      crash_a(static_cast<int>(kind));
      ::_exit(0);
    }
    StoppedChild child(pid);
    UniqueFd ready_r(ready[0]), go_w(go[1]);
    for (int fd : {ready[1], go[0], park[0], park[1]}) {
      ::close(fd);
    }
    char c;
    if (::read(ready_r.get(), &c, 1) != 1) {
      return fail("child {} did not get ready", pid);
    }
    std::vector<pid_t> others;
    for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
      pid_t tid = std::stoi(e.path().filename().string());
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        return fail_errno(errno, "PTRACE_SEIZE {}", tid);
      }
      if (tid != pid) {
        others.push_back(tid);
      }
    }
    if (::write(go_w.get(), &c, 1) != 1) {
      return fail_errno(errno, "write go");
    }
    int status = 0;
    if (::waitpid(pid, &status, __WALL) != pid || !WaitStatus(status).stopped()) {
      return fail("child {} did not stop ({})", pid, WaitStatus(status).describe());
    }
    child.signo_ = WaitStatus(status).stop_signal();
    if (::ptrace(PTRACE_GETSIGINFO, pid, nullptr, &child.siginfo_) != 0) {
      return fail_errno(errno, "PTRACE_GETSIGINFO");
    }
    child.tids_.push_back(pid);
    for (pid_t tid : others) {
      if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 ||
          ::waitpid(tid, &status, __WALL) != tid || !WaitStatus(status).stopped()) {
        return fail("thread {} did not stop", tid);
      }
      child.tids_.push_back(tid);
    }
    return child;
  }

  StoppedChild(StoppedChild&& o) noexcept
      : pid_(std::exchange(o.pid_, 0)), signo_(o.signo_), siginfo_(o.siginfo_),
        tids_(std::move(o.tids_)) {}
  StoppedChild& operator=(StoppedChild&&) = delete;
  ~StoppedChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      // Traced threads report their exit to us and must be reaped before the leader.
      int status;
      for (;;) {
        pid_t r = ::waitpid(-1, &status, __WALL);
        if ((r < 0 && errno != EINTR) || r == pid_) {
          break;
        }
      }
    }
  }

  pid_t pid() const { return pid_; }
  int stop_signal() const { return signo_; }
  const std::vector<pid_t>& tids() const { return tids_; }
  // What PTRACE_GETSIGINFO said about the stop of the first thread.
  const siginfo_t& siginfo() const { return siginfo_; }
  static std::filesystem::path exe() { return std::filesystem::read_symlink("/proc/self/exe"); }

 private:
  explicit StoppedChild(pid_t pid) : pid_(pid) {}
  pid_t pid_ = 0;
  int signo_ = 0;
  siginfo_t siginfo_{};
  std::vector<pid_t> tids_;
};

}  // namespace rwd::testing
