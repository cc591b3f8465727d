#include "inspect/syscall_formatter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "inspect/value_names.h"

namespace rwd {
namespace {

Event syscall(int64_t nr, std::array<uint64_t, 6> args, int64_t result) {
  Event e;
  e.type = EventType::kSyscall;
  e.tid = 100;
  e.sysno = nr;
  e.args = args;
  e.result = result;
  return e;
}

template <class T>
std::string bytes_of(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

TEST(SyscallFormatter, OpenatWithPathFromInputs) {
  Event e = syscall(SYS_openat, {static_cast<uint64_t>(AT_FDCWD), 0x1000, O_RDONLY | O_CLOEXEC}, 3);
  e.inputs.push_back({0x1000, std::string("/etc/hosts\0", 11)});
  EXPECT_EQ(format_event(e), R"(openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3)");
  // Without the captured string the address is shown.
  e.inputs.clear();
  e.args[2] = O_WRONLY | O_CREAT | O_TRUNC;
  e.args[3] = 0644;
  EXPECT_EQ(format_event(e), "openat(AT_FDCWD, 0x1000, O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3");
}

TEST(SyscallFormatter, ReadShowsTheFirstBytesTheKernelWrote) {
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  Event e = syscall(SYS_read, {3, 0x2000, 4096}, static_cast<int64_t>(hosts.size()));
  e.outputs.push_back({0x2000, hosts});
  EXPECT_EQ(format_event(e),
            fmt::format(R"(read(3, "127.0.0.1\tlocalhost\n::1\tlocalhos"..., 4096) = {})",
                        hosts.size()));
  Event short_read = syscall(SYS_read, {0, 0x2000, 4096}, 6);
  short_read.outputs.push_back({0x2000, "hello\n"});
  EXPECT_EQ(format_event(short_read), R"(read(0, "hello\n", 4096) = 6)");
  Event failed = syscall(SYS_read, {3, 0x2000, 4096}, -EAGAIN);
  EXPECT_EQ(format_event(failed),
            "read(3, 0x2000, 4096) = -1 EAGAIN (Resource temporarily unavailable)");
}

TEST(SyscallFormatter, WriteEscapesBinaryBytes) {
  Event e = syscall(SYS_write, {1, 0x3000, 5}, 5);
  e.inputs.push_back({0x3000, std::string("a\"\\\x01\xff", 5)});
  EXPECT_EQ(format_event(e), R"(write(1, "a\"\\\x01\xff", 5) = 5)");
}

TEST(SyscallFormatter, ConnectDecodesTheAddressAndTheError) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  Event e = syscall(SYS_connect, {5, 0x4000, sizeof sin}, -ECONNREFUSED);
  e.inputs.push_back({0x4000, bytes_of(sin)});
  EXPECT_EQ(format_event(e),
            "connect(5, {sa_family=AF_INET, sin_port=htons(80), "
            "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 ECONNREFUSED (Connection refused)");
}

TEST(SyscallFormatter, AcceptShowsThePeerTheKernelWrote) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(8080);
  inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
  Event e = syscall(SYS_accept4, {3, 0x5000, 0x5100, SOCK_CLOEXEC}, 7);
  e.outputs.push_back({0x5000, bytes_of(sin6)});
  e.outputs.push_back({0x5100, bytes_of(static_cast<socklen_t>(sizeof sin6))});
  EXPECT_EQ(format_event(e),
            "accept4(3, {sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), "
            "inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}, [28], 0x80000) = 7");
}

TEST(SyscallFormatter, FutexAndMmap) {
  Event f = syscall(SYS_futex, {0x7f0000001000, FUTEX_WAIT_PRIVATE, 2, 0}, 0);
  EXPECT_EQ(format_event(f), "futex(0x7f0000001000, FUTEX_WAIT_PRIVATE, 2, NULL) = 0");
  Event w = syscall(SYS_futex, {0x7f0000001000, FUTEX_WAKE_PRIVATE, 1}, 1);
  EXPECT_EQ(format_event(w), "futex(0x7f0000001000, FUTEX_WAKE_PRIVATE, 1) = 1");
  Event m = syscall(SYS_mmap,
                    {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     static_cast<uint64_t>(-1), 0},
                    0x7f1234560000);
  EXPECT_EQ(format_event(m),
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
            "0x7f1234560000");
  Event p = syscall(SYS_mprotect, {0x7f1234560000, 4096, PROT_NONE}, 0);
  EXPECT_EQ(format_event(p), "mprotect(0x7f1234560000, 4096, PROT_NONE) = 0");
}

TEST(SyscallFormatter, SignalsAndStructs) {
  Event k = syscall(SYS_kill, {1234, SIGTERM}, 0);
  EXPECT_EQ(format_event(k), "kill(1234, SIGTERM) = 0");
  Event t = syscall(SYS_clock_gettime, {CLOCK_MONOTONIC, 0x6000}, 0);
  timespec ts{12, 345};
  t.outputs.push_back({0x6000, bytes_of(ts)});
  EXPECT_EQ(format_event(t), "clock_gettime(CLOCK_MONOTONIC, {tv_sec=12, tv_nsec=345}) = 0");
  struct stat st{};
  st.st_mode = S_IFREG | 0644;
  st.st_size = 312;
  Event s = syscall(SYS_fstat, {3, 0x7000}, 0);
  s.outputs.push_back({0x7000, bytes_of(st)});
  EXPECT_EQ(format_event(s), "fstat(3, {st_mode=S_IFREG|0644, st_size=312, ...}) = 0");
  Event sm = syscall(SYS_rt_sigprocmask, {SIG_BLOCK, 0x8000, 0, 8}, 0);
  uint64_t mask = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1));
  sm.inputs.push_back({0x8000, bytes_of(mask)});
  EXPECT_EQ(format_event(sm), "rt_sigprocmask(SIG_BLOCK, [INT TERM], NULL, 8) = 0");
  int fds[2] = {3, 4};
  Event pp = syscall(SYS_pipe2, {0x9000, O_CLOEXEC}, 0);
  pp.outputs.push_back({0x9000, bytes_of(fds)});
  EXPECT_EQ(format_event(pp), "pipe2([3, 4], O_RDONLY|O_CLOEXEC) = 0");
}

TEST(SyscallFormatter, PollEpollAndSigaction) {
  struct {
    int32_t fd;
    int16_t events, revents;
  } pfd[2] = {{3, POLLIN, POLLIN}, {4, POLLIN | POLLOUT, 0}};
  Event p = syscall(SYS_poll, {0x1000, 2, 100}, 1);
  p.outputs.push_back({0x1000, bytes_of(pfd)});
  EXPECT_EQ(format_event(p),
            "poll([{fd=3, events=POLLIN, revents=POLLIN}, {fd=4, events=POLLIN|POLLOUT}], 2, 100) "
            "= 1");
  epoll_event ev[1];
  ev[0].events = EPOLLIN | EPOLLHUP;
  ev[0].data.u64 = 7;
  Event w = syscall(SYS_epoll_wait, {5, 0x2000, 64, static_cast<uint64_t>(-1)}, 1);
  w.outputs.push_back({0x2000, bytes_of(ev)});
  EXPECT_EQ(format_event(w), "epoll_wait(5, [{events=EPOLLIN|EPOLLHUP, data=0x7}], 64, -1) = 1");
  struct {
    uint64_t handler, flags, restorer, mask;
  } act = {1, 0x14000000, 0x7f0000000000, 1ull << (SIGPIPE - 1)};
  Event a = syscall(SYS_rt_sigaction, {SIGPIPE, 0x3000, 0, 8}, 0);
  a.inputs.push_back({0x3000, bytes_of(act)});
  EXPECT_EQ(format_event(a),
            "rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], "
            "sa_flags=SA_RESTORER|SA_RESTART}, NULL, 8) = 0");
}

TEST(SyscallFormatter, ReadvAndExecve) {
  iovec iov[2] = {{reinterpret_cast<void*>(0xa000), 4}, {reinterpret_cast<void*>(0xb000), 100}};
  Event r = syscall(SYS_readv, {3, 0xc000, 2}, 6);
  r.inputs.push_back({0xc000, std::string(reinterpret_cast<const char*>(iov), sizeof iov)});
  r.outputs.push_back({0xa000, "abcd"});
  r.outputs.push_back({0xb000, "ef"});
  EXPECT_EQ(format_event(r),
            R"(readv(3, [{iov_base="abcd", iov_len=4}, {iov_base="ef", iov_len=100}], 2) = 6)");

  uint64_t argv[3] = {0xd000, 0xd100, 0};
  uint64_t envp[2] = {0xd200, 0};
  Event x = syscall(SYS_execve, {0xd000, 0xe000, 0xf000}, 0);
  x.inputs.push_back({0xd000, std::string("/bin/ls\0", 8)});
  x.inputs.push_back({0xd100, std::string("/\0", 2)});
  x.inputs.push_back({0xd200, std::string("A=1\0", 4)});
  x.inputs.push_back({0xe000, bytes_of(argv)});
  x.inputs.push_back({0xf000, bytes_of(envp)});
  EXPECT_EQ(format_event(x), R"(execve("/bin/ls", ["/bin/ls", "/"], 0xf000 /* 1 vars */) = 0)");
}

TEST(SyscallFormatter, UnknownAndUnfinishedCalls) {
  Event u = syscall(999, {1, 2, 3, 4, 5, 6}, -ENOSYS);
  EXPECT_EQ(format_event(u),
            "syscall_999(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented)");
  Event g = syscall(SYS_exit_group, {0}, 0);
  g.completed = false;
  EXPECT_EQ(format_event(g), "exit_group(0) = ?");
  Event i = syscall(SYS_nanosleep, {0x1000, 0x2000}, -516);
  EXPECT_EQ(format_event(i),
            "nanosleep(0x1000, 0x2000) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)");
}

TEST(SyscallFormatter, OtherEvents) {
  Event s;
  s.type = EventType::kSignal;
  s.signo = SIGSEGV;
  s.signal_code = 1;
  s.fault_addr = 0x10;
  s.fatal = true;
  EXPECT_EQ(format_event(s), "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} --- (fatal)");
  Event c;
  c.type = EventType::kSignal;
  c.signo = SIGCHLD;
  c.signal_code = 1;
  EXPECT_EQ(format_event(c), "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---");
  Event ts;
  ts.type = EventType::kThreadStart;
  ts.value = 4321;
  EXPECT_EQ(format_event(ts), "+++ new thread 4321 +++");
  Event te;
  te.type = EventType::kThreadExit;
  EXPECT_EQ(format_event(te), "+++ thread exited with 0 +++");
  te.value = 2 << 8;  // the wait status of exit(2)
  EXPECT_EQ(format_event(te), "+++ thread exited with 2 +++");
  te.value = SIGKILL;
  EXPECT_EQ(format_event(te), "+++ thread killed by SIGKILL +++");
  Event x;
  x.type = EventType::kExec;
  x.text = "/usr/bin/ls";
  EXPECT_EQ(format_event(x), R"(+++ exec "/usr/bin/ls" +++)");
  Event pe;
  pe.type = EventType::kProcessExit;
  pe.value = 3;
  EXPECT_EQ(format_event(pe), "+++ exited with 3 +++");
}

TEST(SyscallFormatter, Json) {
  Event e = syscall(SYS_openat, {static_cast<uint64_t>(AT_FDCWD), 0x1000, O_RDONLY}, -ENOENT);
  e.time_ns = 1500;
  e.inputs.push_back({0x1000, std::string("/nope\0", 6)});
  nlohmann::json j = event_to_json(e);
  EXPECT_EQ(j["type"], "syscall");
  EXPECT_EQ(j["tid"], 100);
  EXPECT_EQ(j["time_ns"], 1500);
  EXPECT_EQ(j["syscall"], "openat");
  EXPECT_EQ(j["nr"], SYS_openat);
  EXPECT_EQ(j["args"][1], 0x1000);
  EXPECT_EQ(j["decoded_args"][1], "\"/nope\"");
  EXPECT_EQ(j["result"], -ENOENT);
  EXPECT_EQ(j["errno"], "ENOENT");
  EXPECT_EQ(j["input_bytes"], 6);
  EXPECT_EQ(j["output_bytes"], 0);
  EXPECT_EQ(j["text"], format_event(e));

  Event s;
  s.type = EventType::kSignal;
  s.signo = SIGBUS;
  s.signal_code = 2;
  s.fault_addr = 0x1234;
  nlohmann::json js = event_to_json(s);
  EXPECT_EQ(js["signal"], "SIGBUS");
  EXPECT_EQ(js["code"], "BUS_ADRERR");
  EXPECT_EQ(js["fault_addr"], 0x1234);
}

TEST(ValueNames, FlagsAndNames) {
  EXPECT_EQ(open_flags_text(O_RDWR | O_APPEND | 0x40000000), "O_RDWR|O_APPEND|0x40000000");
  EXPECT_EQ(clone_flags_text(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                             CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                             CLONE_CHILD_CLEARTID),
            "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
            "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID");
  EXPECT_EQ(clone_flags_text(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD");
  EXPECT_EQ(sock_type_text(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC),
            "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC");
  EXPECT_EQ(futex_op_text(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME),
            "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME");
  EXPECT_EQ(access_mode_text(R_OK | X_OK), "R_OK|X_OK");
  EXPECT_EQ(access_mode_text(F_OK), "F_OK");
  EXPECT_EQ(enum_name(ArgKind::kFcntlCmd, F_DUPFD_CLOEXEC), "F_DUPFD_CLOEXEC");
  EXPECT_EQ(quote_bytes("ab", true), "\"ab\"...");
}

}  // namespace
}  // namespace rwd
