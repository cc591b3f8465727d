// Drives the real gdb (batch mode, over TCP) against GdbServer with TestDebugTarget
// standing in for the replay: proves that gdb accepts the target description and reads
// registers, memory and threads the way the server lays them out, and that stepping in
// both directions and `monitor` work end to end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/subprocess.h"
#include "gdb/gdb_server.h"
#include "gdb/test_debug_target.h"

namespace rwd {
namespace {

using testing::TestDebugTarget;

// Runs argv with stdout and stderr into one string: gdb reports most problems with
// the remote target on stderr.
// `started` runs with the child's pid while its output is being read.
std::string run_merged(const std::vector<std::string>& argv, int* exit_code,
                       const std::function<void(pid_t)>& started) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return "pipe failed";
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::thread side;
  if (started) {
    side = std::thread([&started, pid] { started(pid); });
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (side.joinable()) {
    side.join();
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// Serves one gdb session against `target` and returns gdb's output for `commands`
// (run after connecting). Fails the test when gdb or the server goes wrong.
std::string run_gdb_session(TestDebugTarget& target, const std::vector<std::string>& commands,
                            const std::function<void(pid_t)>& started = {}) {
  std::string gdb = find_in_path("gdb");
  EXPECT_FALSE(gdb.empty()) << "gdb is not installed (apt-get install gdb); this test "
                               "needs the real gdb to check the protocol end to end";
  std::string timeout = find_in_path("timeout");
  EXPECT_FALSE(timeout.empty()) << "coreutils' timeout is missing";
  if (gdb.empty() || timeout.empty()) {
    return {};
  }
  uint16_t port = 0;
  auto listener = listen_tcp("127.0.0.1:0", &port);
  EXPECT_TRUE(listener) << listener.error().message;
  if (!listener) {
    return {};
  }
  Status served = ok();
  std::thread server_thread([&] {
    auto conn = accept_connection(listener->get());
    if (!conn) {
      served = std::unexpected(conn.error());
      return;
    }
    GdbServer server(target);
    served = server.serve(conn->get());
  });
  // --foreground: without it, timeout passes a signal on to gdb twice (to gdb, then to
  // its whole process group), and a second Ctrl-C while the first is answered makes gdb
  // give up on the target ("The target is not responding to interrupt requests").
  std::vector<std::string> argv = {timeout, "--foreground", "60", gdb, "-nx", "-batch", "-ex",
                                   "set architecture i386:x86-64", "-ex",
                                   fmt::format("target remote 127.0.0.1:{}", port)};
  for (const std::string& cmd : commands) {
    argv.push_back("-ex");
    argv.push_back(cmd);
  }
  int exit_code = -1;
  std::string out = run_merged(argv, &exit_code, started);
  server_thread.join();
  EXPECT_TRUE(served) << served.error().message;
  EXPECT_NE(exit_code, 124) << "gdb timed out:\n" << out;
  // The test target names no executable, which gdb warns about; anything else it
  // warns about is a protocol problem.
  std::string warnings = out;
  std::string no_exec = "warning: No executable has been specified";
  if (size_t at = warnings.find(no_exec); at != std::string::npos) {
    warnings.erase(at, no_exec.size());
  }
  EXPECT_EQ(warnings.find("warning"), std::string::npos) << out;
  EXPECT_EQ(out.find("Truncated register"), std::string::npos) << out;
  EXPECT_EQ(out.find("too long"), std::string::npos) << out;
  EXPECT_EQ(out.find("Could not load XML"), std::string::npos) << out;
  EXPECT_NE(out.find("[Inferior 1 (Remote target) detached]"), std::string::npos) << out;
  return out;
}

TEST(GdbRealGdbTest, GdbDebugsTheTestTarget) {
  TestDebugTarget target;
  std::string out = run_gdb_session(target, {
                                                "info registers rip",
                                                "x/4xb 0x401000",
                                                "p/x $orig_rax",
                                                "p/x $fs_base",
                                                "p $st0",
                                                "p $xmm0.v16_int8[5]",
                                                "info registers eflags",
                                                "p/x $mxcsr",
                                                "info threads",
                                                "stepi",
                                                "p/x $pc",
                                                "reverse-stepi",
                                                "p/x $pc",
                                                "monitor hello",
                                                "set var $rax = 1",
                                            });
  SCOPED_TRACE("gdb output:\n" + out);
  EXPECT_NE(out.find("rip            0x401000            0x401000"), std::string::npos);
  EXPECT_NE(out.find("0x401000:\t0x55\t0x48\t0x89\t0xe5"), std::string::npos);
  EXPECT_NE(out.find("= 0xffffffffffffffff"), std::string::npos);  // orig_rax
  EXPECT_NE(out.find("= 0x7f0000001000"), std::string::npos);      // fs_base
  EXPECT_NE(out.find("= 1\n"), std::string::npos);                  // st0
  EXPECT_NE(out.find("= 5\n"), std::string::npos);                  // xmm0 byte 5
  EXPECT_NE(out.find("[ PF ZF IF ]"), std::string::npos);           // eflags type
  EXPECT_NE(out.find("= 0x1f80"), std::string::npos);               // mxcsr
  EXPECT_NE(out.find("Thread 4242 \"main\" (in main loop)"), std::string::npos);
  EXPECT_NE(out.find("\"worker <1>\" (blocked in futex)"), std::string::npos);
  EXPECT_NE(out.find("= 0x401001"), std::string::npos);  // after stepi
  EXPECT_NE(out.find("hello from the test target"), std::string::npos);
  EXPECT_NE(out.find("Could not write register \"rax\""), std::string::npos);
  // After reverse-stepi the pc is back at the start; it is printed after 0x401001.
  size_t after_step = out.find("= 0x401001");
  ASSERT_NE(after_step, std::string::npos);
  EXPECT_NE(out.find("= 0x401000", after_step), std::string::npos);
  ASSERT_GE(target.requests.size(), 2u);
  EXPECT_TRUE(target.requests.back().backward);
  EXPECT_TRUE(target.requests.back().step);
}

TEST(GdbRealGdbTest, BreakpointsAndReverseContinue) {
  TestDebugTarget target;
  std::string out = run_gdb_session(target, {
                                                "break *0x401004",
                                                "continue",
                                                "p/x $pc",
                                                "reverse-continue",
                                                "p/x $pc",
                                                "delete",
                                                "continue",
                                                "p/x $pc",
                                                "info all-registers",
                                                // gdb keeps orig_rax, fs_base and gs_base
                                                // out of "all" on amd64 GNU/Linux
                                                "info registers system",
                                            });
  SCOPED_TRACE("gdb output:\n" + out);
  EXPECT_NE(out.find("Breakpoint 1, 0x0000000000401004 in ?? ()"), std::string::npos);
  size_t at_break = out.find("= 0x401004");
  ASSERT_NE(at_break, std::string::npos);
  // Backwards from the breakpoint there is nothing but the start of history.
  size_t history = out.find("No more reverse-execution history.", at_break);
  ASSERT_NE(history, std::string::npos);
  size_t at_start = out.find("= 0x401000", history);
  ASSERT_NE(at_start, std::string::npos);
  EXPECT_NE(out.find("No more reverse-execution history.", at_start), std::string::npos);
  EXPECT_NE(out.find("= 0x40100f", at_start), std::string::npos);
  EXPECT_NE(out.find("gs_base"), std::string::npos);
  EXPECT_NE(out.find("xmm15"), std::string::npos);
}

TEST(GdbRealGdbTest, CtrlCInterruptsARunningTarget) {
  TestDebugTarget target;
  target.run_until_interrupted = true;
  // gdb turns SIGINT into the 0x03 byte, as when the user presses Ctrl-C. `timeout`
  // passes the signal on to gdb.
  std::string out = run_gdb_session(target, {"continue", "p/x $pc"}, [&target](pid_t pid) {
    // Only once the target runs: a SIGINT before that would just make gdb quit.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!target.running && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGINT);
  });
  SCOPED_TRACE("gdb output:\n" + out);
  EXPECT_NE(out.find("received signal SIGINT"), std::string::npos);
  EXPECT_NE(out.find("= 0x401000"), std::string::npos);
}

}  // namespace
}  // namespace rwd
