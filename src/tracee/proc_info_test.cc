#include "tracee/proc_info.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracee/signals.h"

namespace rwd {
namespace {

TEST(ProcInfo, OwnProcessSharesItsTimeNamespace) {
  EXPECT_TRUE(shares_time_namespace(::getpid()));
}

TEST(ProcInfo, StatusShowsThreadAndProcessPendingSignals) {
  sigset_t both, old;
  sigemptyset(&both);
  sigaddset(&both, SIGUSR1);
  sigaddset(&both, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &both, &old), 0);
  pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  ASSERT_EQ(::syscall(SYS_tgkill, ::getpid(), tid, SIGUSR1), 0);  // to this thread
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);                       // to the process
  auto st = read_thread_status(::getpid(), tid);
  // Take both before any assertion can return.
  struct timespec zero{};
  while (::sigtimedwait(&both, nullptr, &zero) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->sig_pending & (signal_bit(SIGUSR1) | signal_bit(SIGUSR2)), signal_bit(SIGUSR1));
  EXPECT_EQ(st->shared_pending & (signal_bit(SIGUSR1) | signal_bit(SIGUSR2)),
            signal_bit(SIGUSR2));
  // Blocked, they do not act; once unblocked (with their default action), they would.
  EXPECT_EQ(signals_that_act(*st) & (signal_bit(SIGUSR1) | signal_bit(SIGUSR2)), 0u);
  ProcStatus unblocked = *st;
  unblocked.sig_blocked = 0;
  EXPECT_EQ(signals_that_act(unblocked) & (signal_bit(SIGUSR1) | signal_bit(SIGUSR2)),
            signal_bit(SIGUSR1) | signal_bit(SIGUSR2));
}

// What the kernel queues only for a traced thread: a signal whose action ignores it.
TEST(ProcInfo, SignalsThatAreIgnoredDoNotAct) {
  ProcStatus st;
  st.sig_pending = signal_bit(SIGCHLD) | signal_bit(SIGPIPE);
  st.sig_ignored = signal_bit(SIGPIPE);
  EXPECT_EQ(signals_that_act(st), 0u);  // SIGCHLD at its default, SIGPIPE ignored
  st.sig_caught = signal_bit(SIGCHLD);
  EXPECT_EQ(signals_that_act(st), signal_bit(SIGCHLD));  // a handler runs
  st.sig_blocked = signal_bit(SIGCHLD);
  EXPECT_EQ(signals_that_act(st), 0u);
}

}  // namespace
}  // namespace rwd
