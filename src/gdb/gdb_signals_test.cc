#include "gdb/gdb_signals.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace rwd {
namespace {

// Numbers from gdb's include/gdb/signals.def, written out so a table error shows.
TEST(GdbSignalsTest, ClassicSignalsUseGdbNumbers) {
  EXPECT_EQ(gdb_signal_from_linux(0), 0);
  EXPECT_EQ(gdb_signal_from_linux(SIGHUP), 1);
  EXPECT_EQ(gdb_signal_from_linux(SIGINT), 2);
  EXPECT_EQ(gdb_signal_from_linux(SIGQUIT), 3);
  EXPECT_EQ(gdb_signal_from_linux(SIGILL), 4);
  EXPECT_EQ(gdb_signal_from_linux(SIGTRAP), 5);
  EXPECT_EQ(gdb_signal_from_linux(SIGABRT), 6);
  EXPECT_EQ(gdb_signal_from_linux(SIGBUS), 10);
  EXPECT_EQ(gdb_signal_from_linux(SIGFPE), 8);
  EXPECT_EQ(gdb_signal_from_linux(SIGKILL), 9);
  EXPECT_EQ(gdb_signal_from_linux(SIGUSR1), 30);
  EXPECT_EQ(gdb_signal_from_linux(SIGSEGV), 11);
  EXPECT_EQ(gdb_signal_from_linux(SIGUSR2), 31);
  EXPECT_EQ(gdb_signal_from_linux(SIGPIPE), 13);
  EXPECT_EQ(gdb_signal_from_linux(SIGALRM), 14);
  EXPECT_EQ(gdb_signal_from_linux(SIGTERM), 15);
  EXPECT_EQ(gdb_signal_from_linux(SIGSTKFLT), kGdbSignalUnknown);
  EXPECT_EQ(gdb_signal_from_linux(SIGCHLD), 20);
  EXPECT_EQ(gdb_signal_from_linux(SIGCONT), 19);
  EXPECT_EQ(gdb_signal_from_linux(SIGSTOP), 17);
  EXPECT_EQ(gdb_signal_from_linux(SIGTSTP), 18);
  EXPECT_EQ(gdb_signal_from_linux(SIGTTIN), 21);
  EXPECT_EQ(gdb_signal_from_linux(SIGTTOU), 22);
  EXPECT_EQ(gdb_signal_from_linux(SIGURG), 16);
  EXPECT_EQ(gdb_signal_from_linux(SIGXCPU), 24);
  EXPECT_EQ(gdb_signal_from_linux(SIGXFSZ), 25);
  EXPECT_EQ(gdb_signal_from_linux(SIGVTALRM), 26);
  EXPECT_EQ(gdb_signal_from_linux(SIGPROF), 27);
  EXPECT_EQ(gdb_signal_from_linux(SIGWINCH), 28);
  EXPECT_EQ(gdb_signal_from_linux(SIGIO), 23);
  EXPECT_EQ(gdb_signal_from_linux(SIGPWR), 32);
  EXPECT_EQ(gdb_signal_from_linux(SIGSYS), 12);
}

TEST(GdbSignalsTest, RealtimeSignalsFollowGdbsHoles) {
  EXPECT_EQ(gdb_signal_from_linux(32), 77);
  EXPECT_EQ(gdb_signal_from_linux(33), 45);
  EXPECT_EQ(gdb_signal_from_linux(34), 46);
  EXPECT_EQ(gdb_signal_from_linux(63), 75);
  EXPECT_EQ(gdb_signal_from_linux(64), 78);
  EXPECT_EQ(gdb_signal_from_linux(65), kGdbSignalUnknown);
  EXPECT_EQ(gdb_signal_from_linux(-1), kGdbSignalUnknown);
}

TEST(GdbSignalsTest, EveryLinuxSignalRoundTrips) {
  for (int signo = 1; signo <= 64; ++signo) {
    if (signo == SIGSTKFLT) {
      continue;  // gdb has no number for it
    }
    EXPECT_EQ(linux_signal_from_gdb(gdb_signal_from_linux(signo)), signo) << signo;
  }
  EXPECT_EQ(linux_signal_from_gdb(7), 0);  // SIGEMT: not on Linux
}

}  // namespace
}  // namespace rwd
