#include "tracee/syscall_table.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

namespace rwd {
namespace {

// Reads the test's own memory the way the recorder reads the target's: through the
// kernel, so a read past the end of an object is not an out-of-bounds access.
size_t self_peek(uint64_t addr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  return n < 0 ? 0 : static_cast<size_t>(n);
}

uint64_t addr_of(const void* p) { return reinterpret_cast<uint64_t>(p); }

const SyscallInfo& info(int64_t nr) {
  const SyscallInfo* s = syscall_info(nr);
  EXPECT_NE(s, nullptr) << "no entry for syscall " << nr;
  static const SyscallInfo empty;
  return s ? *s : empty;
}

std::vector<MemRange> outputs(int64_t nr, std::array<uint64_t, 6> args, int64_t result) {
  return syscall_output_ranges(info(nr), args, result, self_peek);
}

TEST(SyscallTable, EveryEntryHasAUniqueNumberAndAName) {
  std::set<int> numbers;
  std::set<std::string_view> names;
  for (const SyscallInfo& s : all_syscalls()) {
    EXPECT_FALSE(s.name.empty()) << "syscall " << s.nr;
    EXPECT_GE(s.nr, 0);
    EXPECT_TRUE(numbers.insert(s.nr).second) << "duplicate number " << s.nr;
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate name " << s.name;
    EXPECT_LE(s.nargs, 6);
    for (size_t i = s.nargs; i < 6; ++i) {
      EXPECT_EQ(s.args[i].kind, ArgKind::kNone) << s.name;
    }
  }
  // 0..334 and 424..469 without gaps.
  for (int nr = 0; nr <= 469; ++nr) {
    EXPECT_EQ(numbers.count(nr), (nr <= 334 || nr >= 424) ? 1u : 0u) << nr;
  }
}

TEST(SyscallTable, NumbersMatchTheSystemHeaders) {
  struct Known {
    long nr;
    std::string_view name;
  };
#define K(n) Known{SYS_##n, #n}
  const Known known[] = {
      K(read), K(write), K(open), K(close), K(stat), K(fstat), K(lstat), K(poll), K(lseek),
      K(mmap), K(mprotect), K(munmap), K(brk), K(rt_sigaction), K(rt_sigprocmask),
      K(rt_sigreturn), K(ioctl), K(pread64), K(pwrite64), K(readv), K(writev), K(access),
      K(pipe), K(select), K(mremap), K(madvise), K(shmget), K(dup2), K(nanosleep),
      K(sendfile), K(socket), K(connect), K(accept), K(sendto), K(recvfrom), K(sendmsg),
      K(recvmsg), K(shutdown), K(bind), K(listen), K(getsockname), K(getpeername),
      K(socketpair), K(setsockopt), K(getsockopt), K(clone), K(fork), K(vfork), K(execve),
      K(exit), K(wait4), K(kill), K(uname), K(fcntl), K(flock), K(fsync), K(getdents),
      K(getcwd), K(rename), K(readlink), K(umask), K(gettimeofday), K(getrlimit),
      K(getrusage), K(sysinfo), K(times), K(ptrace), K(getuid), K(getgroups), K(setsid),
      K(capget), K(rt_sigtimedwait), K(sigaltstack), K(statfs), K(fstatfs), K(prctl),
      K(arch_prctl), K(gettid), K(getxattr), K(tkill), K(time), K(futex),
      K(sched_getaffinity), K(getdents64), K(set_tid_address), K(restart_syscall),
      K(fadvise64), K(timer_create), K(clock_gettime), K(clock_nanosleep), K(exit_group),
      K(epoll_wait), K(epoll_ctl), K(tgkill), K(waitid), K(inotify_add_watch), K(openat),
      K(newfstatat), K(unlinkat), K(readlinkat), K(faccessat), K(pselect6), K(ppoll),
      K(set_robust_list), K(get_robust_list), K(splice), K(tee), K(utimensat),
      K(epoll_pwait), K(timerfd_create), K(fallocate), K(timerfd_settime), K(accept4),
      K(signalfd4), K(eventfd2), K(epoll_create1), K(dup3), K(pipe2), K(preadv),
      K(perf_event_open), K(recvmmsg), K(prlimit64), K(sendmmsg), K(process_vm_readv),
      K(renameat2), K(getrandom), K(memfd_create), K(execveat), K(membarrier),
      K(copy_file_range), K(preadv2), K(pwritev2), K(statx), K(rseq),
      K(pidfd_send_signal), K(io_uring_setup), K(io_uring_enter), K(io_uring_register),
      K(pidfd_open), K(clone3), K(close_range), K(openat2), K(faccessat2),
      K(epoll_pwait2), K(futex_waitv), K(set_mempolicy_home_node),
  };
#undef K
  for (const Known& k : known) {
    const SyscallInfo* s = syscall_info(k.nr);
    ASSERT_NE(s, nullptr) << k.name;
    EXPECT_EQ(s->name, k.name);
    EXPECT_EQ(syscall_info_by_name(k.name), s);
  }
  // Newer than the build host's headers, from the kernel's syscall_64.tbl.
  EXPECT_EQ(syscall_info(452)->name, "fchmodat2");
  EXPECT_EQ(syscall_info(462)->name, "mseal");
  EXPECT_EQ(syscall_info(469)->name, "file_setattr");
  EXPECT_EQ(syscall_info(335), nullptr);
  EXPECT_EQ(syscall_info(-1), nullptr);
  EXPECT_EQ(syscall_info(100000), nullptr);
}

TEST(SyscallTable, FlagsWhereTheRecorderNeedsThem) {
  EXPECT_TRUE(info(SYS_mmap).flags & kSysMemoryMap);
  EXPECT_TRUE(info(SYS_brk).flags & kSysMemoryMap);
  EXPECT_TRUE(info(SYS_clone).flags & kSysThreadCreate);
  EXPECT_TRUE(info(SYS_clone3).flags & kSysThreadCreate);
  EXPECT_TRUE(info(SYS_execve).flags & kSysExec);
  EXPECT_TRUE(info(SYS_exit_group).flags & kSysExit);
  EXPECT_TRUE(info(SYS_io_uring_setup).flags & kSysUnsupported);
  EXPECT_TRUE(info(SYS_perf_event_open).flags & kSysUnsupported);
  EXPECT_TRUE(info(SYS_ptrace).flags & kSysUnsupported);
  EXPECT_TRUE(info(SYS_rt_sigaction).flags & kSysSignal);
  EXPECT_TRUE(info(SYS_futex).flags & kSysBlocking);
  EXPECT_TRUE(info(SYS_epoll_wait).flags & kSysBlocking);
  EXPECT_FALSE(info(SYS_getpid).flags & kSysBlocking);
}

TEST(SyscallOutputs, ReadWritesTheResultNotTheCount) {
  char buf[64] = {};
  auto r = outputs(SYS_read, {3, addr_of(buf), sizeof buf}, 5);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(buf), 5}}));
  r = outputs(SYS_pread64, {3, addr_of(buf), sizeof buf, 100}, 64);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(buf), 64}}));
  EXPECT_TRUE(outputs(SYS_read, {3, addr_of(buf), sizeof buf}, 0).empty());
}

TEST(SyscallOutputs, FailedCallsWriteNothing) {
  char buf[64] = {};
  struct stat st{};
  EXPECT_TRUE(outputs(SYS_read, {3, addr_of(buf), sizeof buf}, -EAGAIN).empty());
  EXPECT_TRUE(outputs(SYS_fstat, {3, addr_of(&st)}, -EBADF).empty());
  EXPECT_TRUE(outputs(SYS_clock_gettime, {0, addr_of(&st)}, -EINVAL).empty());
  int fds[2];
  EXPECT_TRUE(outputs(SYS_pipe2, {addr_of(fds), 0}, -EMFILE).empty());
}

TEST(SyscallOutputs, ReadvFillsIovecsUpToTheResult) {
  char a[4], b[10], c[8];
  iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
  auto r = outputs(SYS_readv, {3, addr_of(iov), 3}, 9);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(a), 4}, {addr_of(b), 5}}));
  r = outputs(SYS_preadv, {3, addr_of(iov), 3, 0, 0}, 22);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(a), 4}, {addr_of(b), 10}, {addr_of(c), 8}}));
  // Only `count` iovecs are read, whatever follows them.
  r = outputs(SYS_readv, {3, addr_of(iov), 1}, 4);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(a), 4}}));
}

TEST(SyscallOutputs, RecvmsgCoversHeaderNameDataAndControl) {
  char data1[8], data2[32];
  iovec iov[2] = {{data1, sizeof data1}, {data2, sizeof data2}};
  sockaddr_storage peer{};
  alignas(cmsghdr) char control[64];
  msghdr m{};
  m.msg_name = &peer;
  m.msg_namelen = 16;  // as the kernel leaves it after an AF_INET message
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  m.msg_control = control;
  m.msg_controllen = 24;
  auto r = outputs(SYS_recvmsg, {3, addr_of(&m), 0}, 12);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(&m), sizeof(msghdr)},
                                      {addr_of(&peer), 16},
                                      {addr_of(data1), 8},
                                      {addr_of(data2), 4},
                                      {addr_of(control), 24}}));
  EXPECT_TRUE(outputs(SYS_recvmsg, {3, addr_of(&m), 0}, -EAGAIN).empty());
}

TEST(SyscallOutputs, RecvmmsgUsesEachMessageLength) {
  char d0[16], d1[16];
  iovec iov0{d0, sizeof d0}, iov1{d1, sizeof d1};
  mmsghdr v[3]{};
  v[0].msg_hdr.msg_iov = &iov0;
  v[0].msg_hdr.msg_iovlen = 1;
  v[0].msg_len = 3;
  v[1].msg_hdr.msg_iov = &iov1;
  v[1].msg_hdr.msg_iovlen = 1;
  v[1].msg_len = 7;
  auto r = outputs(SYS_recvmmsg, {3, addr_of(v), 3, 0, 0}, 2);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(&v[0].msg_len), 4},
                                      {addr_of(&v[0]), sizeof(msghdr)},
                                      {addr_of(d0), 3},
                                      {addr_of(&v[1].msg_len), 4},
                                      {addr_of(&v[1]), sizeof(msghdr)},
                                      {addr_of(d1), 7}}));
}

TEST(SyscallOutputs, GetsocknameUsesTheStoredLength) {
  sockaddr_storage addr{};
  socklen_t len = 16;  // after the call
  auto r = outputs(SYS_getsockname, {3, addr_of(&addr), addr_of(&len)}, 0);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(&addr), 16}, {addr_of(&len), 4}}));
  // accept4 with a NULL address writes nothing through it.
  r = outputs(SYS_accept4, {3, 0, 0, 0}, 5);
  EXPECT_TRUE(r.empty());
  int val = 0;
  socklen_t vlen = sizeof val;
  r = outputs(SYS_getsockopt, {3, SOL_SOCKET, SO_ERROR, addr_of(&val), addr_of(&vlen)}, 0);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(&val), 4}, {addr_of(&vlen), 4}}));
}

TEST(SyscallOutputs, EpollWaitWritesOnlyReadyEvents) {
  epoll_event ev[8] = {};
  auto r = outputs(SYS_epoll_wait, {3, addr_of(ev), 8, 1000}, 3);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(ev), 3 * 12}}));
  EXPECT_TRUE(outputs(SYS_epoll_wait, {3, addr_of(ev), 8, 0}, 0).empty());
  r = outputs(SYS_epoll_pwait, {3, addr_of(ev), 8, 0, 0, 8}, 2);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(ev), 24}}));
}

TEST(SyscallOutputs, FixedSizeStructures) {
  struct stat st{};
  EXPECT_EQ(outputs(SYS_fstat, {3, addr_of(&st)}, 0),
            (std::vector<MemRange>{{addr_of(&st), sizeof(struct stat)}}));
  EXPECT_EQ(outputs(SYS_newfstatat, {3, 0x1000, addr_of(&st), 0}, 0),
            (std::vector<MemRange>{{addr_of(&st), sizeof(struct stat)}}));
  int fds[2];
  EXPECT_EQ(outputs(SYS_pipe2, {addr_of(fds), 0}, 0),
            (std::vector<MemRange>{{addr_of(fds), 8}}));
  // getxattr with size 0 asks for the size and writes nothing.
  EXPECT_TRUE(outputs(SYS_getxattr, {0x1000, 0x2000, 0x3000, 0}, 42).empty());
}

TEST(SyscallOutputs, InterruptedSleepWritesTheRemainingTime) {
  timespec req{}, rem{};
  EXPECT_EQ(outputs(SYS_nanosleep, {addr_of(&req), addr_of(&rem)}, -EINTR),
            (std::vector<MemRange>{{addr_of(&rem), sizeof rem}}));
  EXPECT_TRUE(outputs(SYS_nanosleep, {addr_of(&req), addr_of(&rem)}, -EFAULT).empty());
}

TEST(SyscallOutputs, SpecialHandlers) {
  char buf[64] = {};
  // ioctl by request.
  EXPECT_EQ(outputs(SYS_ioctl, {1, 0x5413 /* TIOCGWINSZ */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 8}}));
  EXPECT_EQ(outputs(SYS_ioctl, {1, 0x5401 /* TCGETS */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 36}}));
  EXPECT_EQ(outputs(SYS_ioctl, {1, 0x541B /* FIONREAD */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 4}}));
  EXPECT_TRUE(outputs(SYS_ioctl, {1, 0x5421 /* FIONBIO */, addr_of(buf)}, 0).empty());
  EXPECT_TRUE(outputs(SYS_ioctl, {1, 0x5401, addr_of(buf)}, -ENOTTY).empty());
  // _IOR('T', 0x30, unsigned int) = TIOCGPTN: sized by its encoding.
  EXPECT_EQ(outputs(SYS_ioctl, {1, 0x80045430, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 4}}));
  EXPECT_TRUE(syscall_output_gap(info(SYS_ioctl), {1, 0x5401}).empty());
  EXPECT_FALSE(syscall_output_gap(info(SYS_ioctl), {1, 0x5426}).empty());  // TIOCTTYGSTRUCT
  EXPECT_EQ(outputs(SYS_ioctl, {3, 0x545D /* TIOCGICOUNT */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 80}}));
  // fcntl F_GETLK.
  EXPECT_EQ(outputs(SYS_fcntl, {3, 5, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 32}}));
  EXPECT_TRUE(outputs(SYS_fcntl, {3, 4 /* F_SETFL */, 0x800}, 0).empty());
  // prctl PR_GET_NAME, arch_prctl ARCH_GET_FS.
  EXPECT_EQ(outputs(SYS_prctl, {16, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 16}}));
  // PR_SET_MM_MAP_SIZE writes the size through its third argument; PR_SET_MM_MAP writes
  // nothing.
  EXPECT_EQ(outputs(SYS_prctl, {35, 15, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 4}}));
  EXPECT_TRUE(outputs(SYS_prctl, {35, 14, addr_of(buf)}, 0).empty());
  EXPECT_EQ(outputs(SYS_arch_prctl, {0x1003, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 8}}));
  EXPECT_TRUE(outputs(SYS_arch_prctl, {0x1002 /* ARCH_SET_FS */, addr_of(buf)}, 0).empty());
  // futex: waits and wakes write nothing.
  EXPECT_TRUE(outputs(SYS_futex, {addr_of(buf), 128 /* FUTEX_WAIT_PRIVATE */, 2, 0}, 0).empty());
  EXPECT_EQ(outputs(SYS_futex, {addr_of(buf), 5, 1, 1, addr_of(buf + 8), 0}, 1),
            (std::vector<MemRange>{{addr_of(buf + 8), 4}}));
  // wait4 writes status and rusage only when a child was reaped.
  EXPECT_TRUE(outputs(SYS_wait4, {static_cast<uint64_t>(-1), addr_of(buf), 1, 0}, 0).empty());
  EXPECT_EQ(outputs(SYS_wait4, {static_cast<uint64_t>(-1), addr_of(buf), 0, 0}, 1234),
            (std::vector<MemRange>{{addr_of(buf), 4}}));
  // select rewrites the fd_sets in whole longs.
  EXPECT_EQ(outputs(SYS_select, {5, addr_of(buf), 0, 0, 0}, 1),
            (std::vector<MemRange>{{addr_of(buf), 8}}));
}

TEST(SyscallOutputs, SysVIpcMemoryPolicyAndWaitid) {
  char buf[256] = {};
  // shmctl, msgctl and semctl: the segment's, queue's or set's description, and the
  // system's limits.
  EXPECT_EQ(outputs(SYS_shmctl, {1, 2 /* IPC_STAT */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 112}}));
  EXPECT_EQ(outputs(SYS_msgctl, {1, 2 /* IPC_STAT */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 120}}));
  EXPECT_EQ(outputs(SYS_msgctl, {1, 3 /* IPC_INFO */, addr_of(buf)}, 1),
            (std::vector<MemRange>{{addr_of(buf), 32}}));
  EXPECT_TRUE(outputs(SYS_msgctl, {1, 0 /* IPC_RMID */, 0}, 0).empty());
  EXPECT_EQ(outputs(SYS_semctl, {1, 0, 0x100 | 2 /* IPC_64 | IPC_STAT */, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 104}}));
  EXPECT_EQ(outputs(SYS_semctl, {1, 0, 19 /* SEM_INFO */, addr_of(buf)}, 3),
            (std::vector<MemRange>{{addr_of(buf), 40}}));
  EXPECT_TRUE(outputs(SYS_semctl, {1, 0, 16 /* SETVAL */, 1}, 0).empty());
  // get_mempolicy: the mode and maxnode - 1 bits of node mask, in whole longs.
  int mode = 0;
  EXPECT_EQ(outputs(SYS_get_mempolicy, {addr_of(&mode), addr_of(buf), 65, 0, 0}, 0),
            (std::vector<MemRange>{{addr_of(&mode), 4}, {addr_of(buf), 8}}));
  EXPECT_EQ(outputs(SYS_get_mempolicy, {addr_of(&mode), addr_of(buf), 66, 0, 0}, 0),
            (std::vector<MemRange>{{addr_of(&mode), 4}, {addr_of(buf), 16}}));
  // setsockopt(IPT_SO_SET_REPLACE): the old counters, where the new table points.
  uint64_t counters[4] = {};
  uint32_t count = 3;
  uint64_t at = addr_of(counters);
  std::memcpy(buf + 84, &count, 4);
  std::memcpy(buf + 88, &at, 8);
  EXPECT_EQ(outputs(SYS_setsockopt, {3, 0 /* SOL_IP */, 64, addr_of(buf), 200}, 0),
            (std::vector<MemRange>{{addr_of(counters), 48}}));
  EXPECT_TRUE(outputs(SYS_setsockopt, {3, 1 /* SOL_SOCKET */, 64, addr_of(buf), 200}, 0).empty());
  // keyctl: KEYCTL_DESCRIBE copies its answer only whole, KEYCTL_READ what fits.
  EXPECT_EQ(outputs(SYS_keyctl, {6, 1, addr_of(buf), 64}, 20),
            (std::vector<MemRange>{{addr_of(buf), 20}}));
  EXPECT_TRUE(outputs(SYS_keyctl, {6, 1, addr_of(buf), 16}, 20).empty());
  EXPECT_EQ(outputs(SYS_keyctl, {11, 1, addr_of(buf), 16}, 20),
            (std::vector<MemRange>{{addr_of(buf), 16}}));
  // FS_IOC_FIEMAP: the header, then as many extents as the kernel mapped.
  uint32_t mapped = 2;
  std::memcpy(buf + 20, &mapped, 4);
  EXPECT_EQ(outputs(SYS_ioctl, {3, 0xC020660B, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 32 + 2 * 56}}));
  // SIOCGIFBR: BRCTL_GET_BRIDGES writes one int per bridge it returns; other commands
  // write nothing.
  uint64_t bridge_args[3] = {1 /* BRCTL_GET_BRIDGES */, addr_of(buf), 1024};
  EXPECT_EQ(outputs(SYS_ioctl, {3, 0x8940, addr_of(bridge_args)}, 3),
            (std::vector<MemRange>{{addr_of(buf), 12}}));
  bridge_args[0] = 0;  // BRCTL_GET_VERSION
  EXPECT_TRUE(outputs(SYS_ioctl, {3, 0x8940, addr_of(bridge_args)}, 2).empty());
  // ptrace: what a tracer reads of its tracee lands in the tracer.
  EXPECT_EQ(outputs(SYS_ptrace, {12 /* PTRACE_GETREGS */, 7, 0, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 216}}));
  EXPECT_EQ(outputs(SYS_ptrace, {0x4201 /* PTRACE_GETEVENTMSG */, 7, 0, addr_of(buf)}, 0),
            (std::vector<MemRange>{{addr_of(buf), 8}}));
  uint64_t regset[2] = {addr_of(buf + 64), 24};  // the iovec, after the call
  EXPECT_EQ(outputs(SYS_ptrace, {0x4204 /* PTRACE_GETREGSET */, 7, 1, addr_of(regset)}, 0),
            (std::vector<MemRange>{{addr_of(&regset[1]), 8}, {addr_of(buf + 64), 24}}));
  EXPECT_TRUE(outputs(SYS_ptrace, {12, 7, 0, addr_of(buf)}, -ESRCH).empty());
  // waitid fills in its siginfo even when it fails (a P_PIDFD that is not a pidfd).
  EXPECT_EQ(outputs(SYS_waitid, {3, 0, addr_of(buf), 4, 0}, -EBADF),
            (std::vector<MemRange>{{addr_of(buf), 128}}));
}

TEST(SyscallInputs, StringsArraysAndWriteBuffers) {
  const char* path = "/etc/hosts";
  auto r = syscall_input_ranges(info(SYS_openat), {static_cast<uint64_t>(AT_FDCWD), addr_of(path), 0, 0},
                                self_peek);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(path), 11}}));
  // Strings stop at max_string when there is no NUL before it.
  r = syscall_input_ranges(info(SYS_open), {addr_of(path), 0, 0}, self_peek, 4);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(path), 4}}));

  const char* a0 = "ls";
  const char* a1 = "/";
  const char* argv[] = {a0, a1, nullptr};
  const char* envp[] = {nullptr};
  r = syscall_input_ranges(info(SYS_execve), {addr_of(a0), addr_of(argv), addr_of(envp)},
                           self_peek);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(a0), 3},
                                      {addr_of(a0), 3},
                                      {addr_of(a1), 2},
                                      {addr_of(argv), 24},
                                      {addr_of(envp), 8}}));

  std::string big(1000, 'x');
  r = syscall_input_ranges(info(SYS_write), {1, addr_of(big.data()), big.size()}, self_peek);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(big.data()), kMaxInputBufBytes}}));

  char p1[] = "ab", p2[] = "cdef";
  iovec iov[2] = {{p1, 2}, {p2, 4}};
  r = syscall_input_ranges(info(SYS_writev), {1, addr_of(iov), 2}, self_peek);
  EXPECT_EQ(r, (std::vector<MemRange>{{addr_of(iov), 32}, {addr_of(p1), 2}, {addr_of(p2), 4}}));
}

}  // namespace
}  // namespace rwd
