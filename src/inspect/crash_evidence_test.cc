#include "inspect/crash_evidence.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>

#include <cstring>

namespace rwd {
namespace {

Event signal_event(uint32_t tid, int signo, int code, uint64_t addr, bool fatal = false) {
  Event e;
  e.type = EventType::kSignal;
  e.tid = tid;
  e.signo = signo;
  e.signal_code = code;
  e.fault_addr = addr;
  e.fatal = fatal;
  return e;
}

// The kPoint the recorder stores before a sent signal, with its siginfo.
Event sent_point(uint32_t tid, int signo, int code, pid_t sender) {
  siginfo_t si{};
  si.si_signo = signo;
  si.si_code = code;
  si.si_pid = sender;
  Event e;
  e.type = EventType::kPoint;
  e.tid = tid;
  e.reason = PointReason::kSignal;
  e.siginfo.assign(reinterpret_cast<const char*>(&si), sizeof si);
  return e;
}

Event write_event(int fd, std::string_view text) {
  Event e;
  e.type = EventType::kSyscall;
  e.sysno = SYS_write;
  e.args = {static_cast<uint64_t>(fd), 0x1000, text.size()};
  e.result = static_cast<int64_t>(text.size());
  e.inputs.push_back({0x1000, std::string(text)});
  return e;
}

TEST(CrashEvidenceTest, FirstCausedFaultLeadsAndASentSignalNamesItsSender) {
  CrashEvidence ev;
  ev.add(sent_point(7, SIGSEGV, SI_USER, 7));
  ev.add(signal_event(7, SIGSEGV, SI_USER, 7));  // sent first: not a fault
  ev.add(signal_event(8, SIGSEGV, SEGV_MAPERR, 0x10));
  ev.add(signal_event(8, SIGBUS, BUS_ADRERR, 0x20));
  ev.add(sent_point(8, SIGABRT, SI_TKILL, 7));
  ev.add(signal_event(8, SIGABRT, SI_TKILL, 0, /*fatal=*/true));
  ASSERT_TRUE(ev.first_fault());
  EXPECT_EQ(ev.first_fault()->signo, SIGSEGV);
  EXPECT_EQ(ev.first_fault()->fault_addr, 0x10u);
  EXPECT_EQ(ev.first_fault()->tid, 8u);
  EXPECT_FALSE(ev.first_fault()->sender_pid);
  EXPECT_EQ(ev.fault_count(), 2u);
  ASSERT_TRUE(ev.fatal_signal());
  EXPECT_EQ(ev.fatal_signal()->signo, SIGABRT);
  EXPECT_EQ(ev.fatal_signal()->sender_pid, 7);
}

TEST(CrashEvidenceTest, StderrTailKeepsTheLastLinesOfFdTwoOnly) {
  CrashEvidence ev;
  ev.add(write_event(1, "stdout is not stderr\n"));
  for (int i = 0; i < 100; ++i) {
    ev.add(write_event(2, "line " + std::to_string(i) + "\n"));
  }
  ev.add(write_event(2, "bell\a\n"));
  StderrTail t = ev.stderr_tail();
  EXPECT_TRUE(t.cut);
  EXPECT_EQ(t.text.rfind("line 71\n", 0), 0u) << t.text;
  EXPECT_NE(t.text.find("bell?\n"), std::string::npos) << t.text;
  EXPECT_EQ(t.text.find("stdout"), std::string::npos);
  EXPECT_EQ(std::count(t.text.begin(), t.text.end(), '\n'), static_cast<long>(kStderrTailLines));
}

TEST(CrashEvidenceTest, StderrTailIsBoundedInBytes) {
  CrashEvidence ev;
  for (int i = 0; i < 10; ++i) {
    ev.add(write_event(2, std::string(3000, 'x')));
  }
  StderrTail t = ev.stderr_tail();
  EXPECT_EQ(t.text.size(), kStderrTailBytes);
  EXPECT_EQ(t.total_bytes, 30000u);
  EXPECT_TRUE(t.cut);
}

}  // namespace
}  // namespace rwd
