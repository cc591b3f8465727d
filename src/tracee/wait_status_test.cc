#include "tracee/wait_status.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <unistd.h>

namespace rwd {
namespace {

// Status words as the kernel builds them.
constexpr int exited(int code) { return (code & 0xff) << 8; }
constexpr int stopped(int sig) { return (sig << 8) | 0x7f; }
constexpr int event_stop(int sig, int event) { return (event << 16) | stopped(sig); }

TEST(WaitStatus, Exited) {
  WaitStatus s(exited(2));
  EXPECT_TRUE(s.exited());
  EXPECT_FALSE(s.signaled());
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.exit_code(), 2);
  EXPECT_EQ(s.shell_status(), 2);
  EXPECT_EQ(s.describe(), "exited with status 2");
}

TEST(WaitStatus, Signaled) {
  WaitStatus s(SIGKILL);
  EXPECT_TRUE(s.signaled());
  EXPECT_FALSE(s.exited());
  EXPECT_EQ(s.term_signal(), SIGKILL);
  EXPECT_EQ(s.shell_status(), 128 + SIGKILL);
  EXPECT_EQ(s.describe(), "killed by SIGKILL");
  EXPECT_EQ(WaitStatus(SIGSEGV | 0x80).term_signal(), SIGSEGV);  // core dumped
}

TEST(WaitStatus, Stops) {
  WaitStatus seg(stopped(SIGSEGV));
  EXPECT_TRUE(seg.stopped());
  EXPECT_EQ(seg.stop_signal(), SIGSEGV);
  EXPECT_FALSE(seg.is_syscall_stop());
  EXPECT_EQ(seg.ptrace_event(), 0);
  EXPECT_EQ(seg.describe(), "stopped by SIGSEGV");

  WaitStatus sys(stopped(SIGTRAP | 0x80));
  EXPECT_TRUE(sys.is_syscall_stop());
  EXPECT_EQ(sys.describe(), "syscall stop");

  WaitStatus clone(event_stop(SIGTRAP, PTRACE_EVENT_CLONE));
  EXPECT_EQ(clone.ptrace_event(), PTRACE_EVENT_CLONE);
  EXPECT_EQ(clone.stop_signal(), SIGTRAP);
  EXPECT_FALSE(clone.is_syscall_stop());
  EXPECT_EQ(clone.describe(), "ptrace event clone");
  EXPECT_EQ(WaitStatus(event_stop(SIGSTOP, PTRACE_EVENT_STOP)).describe(), "ptrace event stop");
}

TEST(WaitStatus, AgreesWithTheKernel) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::_exit(3);
  }
  int raw = 0;
  ASSERT_EQ(::waitpid(pid, &raw, 0), pid);
  EXPECT_EQ(WaitStatus(raw).describe(), "exited with status 3");
}

}  // namespace
}  // namespace rwd
