// The x86-64 syscall table as data: numbers and names as in the kernel's
// arch/x86/entry/syscalls/syscall_64.tbl (Linux 6.x, up to file_setattr), argument kinds,
// and the memory each syscall reads and writes. Numbers are written out rather than
// taken from <asm/unistd_64.h> so that syscalls newer than the build host's headers are
// known too; the unit test checks every number the headers do define.
//
// Sizes are the x86-64 user ABI sizes. Where glibc's struct differs from the kernel's
// (struct sigaction, struct termios), the kernel's size is written out with a note.
#include "tracee/syscall_table_data.h"

#include <linux/aio_abi.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

#include <initializer_list>

namespace rwd {

namespace {

using K = ArgKind;
using O = OutSize;

// Kernel structures without a matching glibc definition.
constexpr uint32_t kKernelSigaction = 32;  // handler, flags, restorer, 8-byte mask
constexpr uint32_t kUstat = 32;            // struct ustat
constexpr uint32_t kCapHeader = 8;         // struct __user_cap_header_struct
constexpr uint32_t kCapData = 24;          // 2 x struct __user_cap_data_struct (v2/v3)
constexpr uint32_t kSchedAttr = 56;        // struct sched_attr (SCHED_ATTR_SIZE_VER1)
constexpr uint32_t kCloneArgs = 88;        // struct clone_args (CLONE_ARGS_SIZE_VER2)
constexpr uint32_t kOpenHow = 24;          // struct open_how
constexpr uint32_t kRseq = 32;             // struct rseq
constexpr uint32_t kCachestatRange = 16;   // struct cachestat_range
constexpr uint32_t kCachestat = 40;        // struct cachestat
constexpr uint32_t kIoUringParams = 120;   // struct io_uring_params
constexpr uint32_t kMountAttr = 32;        // struct mount_attr
constexpr uint32_t kLandlockAttr = 16;     // struct landlock_ruleset_attr (v1..)
constexpr uint32_t kFutexWaitv = 24;       // struct futex_waitv
constexpr uint32_t kPerfAttr = 128;        // struct perf_event_attr (VER8)

constexpr uint32_t kStat = sizeof(struct stat);
constexpr uint32_t kStatx = sizeof(struct statx);
constexpr uint32_t kStatfs = sizeof(struct statfs);
constexpr uint32_t kTimespec = sizeof(struct timespec);
constexpr uint32_t kTimeval = sizeof(struct timeval);
constexpr uint32_t kItimerspec = sizeof(struct itimerspec);
constexpr uint32_t kItimerval = sizeof(struct itimerval);
constexpr uint32_t kSiginfo = sizeof(siginfo_t);
constexpr uint32_t kSigevent = sizeof(struct sigevent);
constexpr uint32_t kSockaddr = sizeof(struct sockaddr_storage);
constexpr uint32_t kRlimit = sizeof(struct rlimit);
constexpr uint32_t kRusage = sizeof(struct rusage);
constexpr uint32_t kTimex = sizeof(struct timex);
constexpr uint32_t kMqAttr = sizeof(struct mq_attr);
constexpr uint32_t kEpollEvent = sizeof(struct epoll_event);
constexpr uint32_t kPollfd = sizeof(struct pollfd);
constexpr uint32_t kIoEvent = sizeof(struct io_event);
constexpr uint32_t kMsghdr = sizeof(struct msghdr);
constexpr uint32_t kUtimbuf = 16;  // struct utimbuf
static_assert(kEpollEvent == 12, "x86-64 struct epoll_event is packed");
static_assert(kStat == 144 && kStatx == 256 && kSiginfo == 128 && kSockaddr == 128);
static_assert(sizeof(struct utsname) == 390 && sizeof(stack_t) == 24);

// Argument helpers: what each argument is, in as few characters as the table allows.
constexpr ArgSpec a(K k) { return ArgSpec{.kind = k}; }
constexpr ArgSpec I = a(K::kInt), U = a(K::kUint), X = a(K::kHex), FD = a(K::kFd), P = a(K::kPtr),
              S = a(K::kString), SV = a(K::kStringArray), OF = a(K::kOpenFlags),
              MODE = a(K::kMode), SIG = a(K::kSignal), FL = a(K::kFlags), PROT = a(K::kProt),
              MAPF = a(K::kMmapFlags), FUTOP = a(K::kFutexOp), WH = a(K::kWhence),
              ATF = a(K::kAtFlags), DOM = a(K::kSockDomain), STYPE = a(K::kSockType),
              FCMD = a(K::kFcntlCmd), IOREQ = a(K::kIoctlReq), CLK = a(K::kClockId),
              HOW = a(K::kSigHow), EPOP = a(K::kEpollOp), AMODE = a(K::kAccessMode),
              CLONEF = a(K::kCloneFlags), PRCTL = a(K::kPrctlOp), ARCHP = a(K::kArchPrctlOp),
              MSGI = a(K::kMsghdrIn), MSGO = a(K::kMsghdrOut);

// Bytes the kernel reads, length in argument n.
constexpr ArgSpec in_buf(uint8_t n) { return {.kind = K::kInBuf, .len_arg = n}; }
constexpr ArgSpec in_struct(uint32_t size) { return {.kind = K::kInStruct, .size = size}; }
constexpr ArgSpec out_struct(uint32_t size) { return {.kind = K::kOutStruct, .size = size}; }
constexpr ArgSpec inout(uint32_t size) { return {.kind = K::kInOutStruct, .size = size}; }
// Written up to the result, capped at argument `cap`.
constexpr ArgSpec out_result(uint8_t cap) {
  return {.kind = K::kOutBuf, .out_size = O::kResult, .max_arg = cap};
}
// Written: `size` bytes per element, result elements (capped at argument `cap`).
constexpr ArgSpec out_result_times(uint32_t size, uint8_t cap = kNoArg) {
  return {.kind = K::kOutBuf, .out_size = O::kResultTimes, .size = size, .max_arg = cap};
}
// Written: the value of argument n bytes.
constexpr ArgSpec out_arg(uint8_t n) { return {.kind = K::kOutBuf, .out_size = O::kArg, .len_arg = n}; }
constexpr ArgSpec out_arg_times(uint8_t n, uint32_t size) {
  return {.kind = K::kOutBuf, .out_size = O::kArgTimes, .len_arg = n, .size = size};
}
// Written: *(socklen_t*)argument n bytes after the call.
constexpr ArgSpec out_deref(uint8_t n) {
  return {.kind = K::kOutBuf, .out_size = O::kDerefLen, .len_arg = n};
}
constexpr ArgSpec sa_in(uint8_t n) { return {.kind = K::kSockaddrIn, .len_arg = n}; }
constexpr ArgSpec sa_out(uint8_t n) {
  return {.kind = K::kSockaddrOut, .out_size = O::kDerefLen, .len_arg = n, .size = kSockaddr};
}
constexpr ArgSpec iov_in(uint8_t n) { return {.kind = K::kIovecIn, .len_arg = n}; }
constexpr ArgSpec iov_out(uint8_t n) { return {.kind = K::kIovecOut, .len_arg = n}; }
// Sigset-sized buffers: length in the sigsetsize argument n.
constexpr ArgSpec sigset_in(uint8_t n) { return in_buf(n); }
constexpr ArgSpec sigset_out(uint8_t n) { return out_arg(n); }
// Also written when a signal interrupted the call.
constexpr ArgSpec intr(ArgSpec s) {
  s.on_interrupt = true;
  return s;
}
// Also written when the call fails.
constexpr ArgSpec always(ArgSpec s) {
  s.on_failure = true;
  return s;
}
constexpr ArgSpec SOCKLEN = inout(4);

constexpr SyscallInfo E(int nr, std::string_view name, std::initializer_list<ArgSpec> args,
              uint32_t flags = kSysNone, std::string_view special = {}) {
  SyscallInfo s;
  s.nr = nr;
  s.name = name;
  s.nargs = static_cast<uint8_t>(args.size());
  size_t i = 0;
  for (const ArgSpec& arg : args) {
    s.args[i++] = arg;
  }
  s.flags = flags;
  s.special = special;
  return s;
}

constexpr uint32_t B = kSysBlocking, MM = kSysMemoryMap, SG = kSysSignal, UN = kSysUnsupported;
constexpr std::string_view kUnknown = "unknown-output";

constexpr SyscallInfo kTable[] = {
    E(0, "read", {FD, out_result(2), U}, B),
    E(1, "write", {FD, in_buf(2), U}, B),
    E(2, "open", {S, OF, MODE}, B),
    E(3, "close", {FD}),
    E(4, "stat", {S, out_struct(kStat)}),
    E(5, "fstat", {FD, out_struct(kStat)}),
    E(6, "lstat", {S, out_struct(kStat)}),
    E(7, "poll", {intr(out_arg_times(1, kPollfd)), U, I}, B),
    E(8, "lseek", {FD, I, WH}),
    E(9, "mmap", {P, U, PROT, MAPF, FD, X}, MM),
    E(10, "mprotect", {P, U, PROT}, MM),
    E(11, "munmap", {P, U}, MM),
    E(12, "brk", {P}, MM),
    E(13, "rt_sigaction", {SIG, in_struct(kKernelSigaction), out_struct(kKernelSigaction), U}, SG),
    E(14, "rt_sigprocmask", {HOW, sigset_in(3), sigset_out(3), U}, SG),
    E(15, "rt_sigreturn", {}, SG),
    E(16, "ioctl", {FD, IOREQ, X}, kSysNone, "ioctl"),
    E(17, "pread64", {FD, out_result(2), U, I}),
    E(18, "pwrite64", {FD, in_buf(2), U, I}),
    E(19, "readv", {FD, iov_out(2), U}, B),
    E(20, "writev", {FD, iov_in(2), U}, B),
    E(21, "access", {S, AMODE}),
    E(22, "pipe", {out_struct(8)}),
    E(23, "select", {I, P, P, P, intr(inout(kTimeval))}, B, "select"),
    E(24, "sched_yield", {}),
    E(25, "mremap", {P, U, U, FL, P}, MM),
    E(26, "msync", {P, U, FL}),
    E(27, "mincore", {P, U, P}, kSysNone, "mincore"),
    E(28, "madvise", {P, U, I}, MM),
    E(29, "shmget", {I, U, FL}),
    E(30, "shmat", {I, P, FL}, MM | UN),
    E(31, "shmctl", {I, I, P}, kSysNone, "shmctl"),
    E(32, "dup", {FD}),
    E(33, "dup2", {FD, FD}),
    E(34, "pause", {}, B),
    E(35, "nanosleep", {in_struct(kTimespec), intr(out_struct(kTimespec))}, B),
    E(36, "getitimer", {I, out_struct(kItimerval)}),
    E(37, "alarm", {U}),
    E(38, "setitimer", {I, in_struct(kItimerval), out_struct(kItimerval)}),
    E(39, "getpid", {}),
    E(40, "sendfile", {FD, FD, inout(8), U}, B),
    E(41, "socket", {DOM, STYPE, I}),
    E(42, "connect", {FD, sa_in(2), U}, B),
    E(43, "accept", {FD, sa_out(2), SOCKLEN}, B),
    E(44, "sendto", {FD, in_buf(2), U, FL, sa_in(5), U}, B),
    E(45, "recvfrom", {FD, out_result(2), U, FL, sa_out(5), SOCKLEN}, B),
    E(46, "sendmsg", {FD, MSGI, FL}, B),
    E(47, "recvmsg", {FD, MSGO, FL}, B),
    E(48, "shutdown", {FD, I}),
    E(49, "bind", {FD, sa_in(2), U}),
    E(50, "listen", {FD, I}),
    E(51, "getsockname", {FD, sa_out(2), SOCKLEN}),
    E(52, "getpeername", {FD, sa_out(2), SOCKLEN}),
    E(53, "socketpair", {DOM, STYPE, I, out_struct(8)}),
    E(54, "setsockopt", {FD, I, I, in_buf(4), U}, kSysNone, "setsockopt"),
    E(55, "getsockopt", {FD, I, I, out_deref(4), SOCKLEN}),
    E(56, "clone", {CLONEF, P, P, P, P}, kSysThreadCreate, "clone"),
    E(57, "fork", {}, kSysThreadCreate),
    E(58, "vfork", {}, kSysThreadCreate | B),
    E(59, "execve", {S, SV, SV}, kSysExec),
    E(60, "exit", {I}, kSysExit),
    E(61, "wait4", {I, P, FL, P}, B, "wait4"),
    E(62, "kill", {I, SIG}, SG),
    E(63, "uname", {out_struct(sizeof(struct utsname))}),
    E(64, "semget", {I, I, FL}),
    E(65, "semop", {I, P, U}, B),
    E(66, "semctl", {I, I, I, X}, kSysNone, "semctl"),
    E(67, "shmdt", {P}, MM),
    E(68, "msgget", {I, FL}),
    E(69, "msgsnd", {I, P, U, FL}, B),
    E(70, "msgrcv", {I, P, U, I, FL}, B, "msgrcv"),
    E(71, "msgctl", {I, I, P}, kSysNone, "msgctl"),
    E(72, "fcntl", {FD, FCMD, X}, B, "fcntl"),
    E(73, "flock", {FD, I}, B),
    E(74, "fsync", {FD}),
    E(75, "fdatasync", {FD}),
    E(76, "truncate", {S, I}),
    E(77, "ftruncate", {FD, I}),
    E(78, "getdents", {FD, out_result(2), U}),
    E(79, "getcwd", {out_result(1), U}),
    E(80, "chdir", {S}),
    E(81, "fchdir", {FD}),
    E(82, "rename", {S, S}),
    E(83, "mkdir", {S, MODE}),
    E(84, "rmdir", {S}),
    E(85, "creat", {S, MODE}),
    E(86, "link", {S, S}),
    E(87, "unlink", {S}),
    E(88, "symlink", {S, S}),
    E(89, "readlink", {S, out_result(2), U}),
    E(90, "chmod", {S, MODE}),
    E(91, "fchmod", {FD, MODE}),
    E(92, "chown", {S, I, I}),
    E(93, "fchown", {FD, I, I}),
    E(94, "lchown", {S, I, I}),
    E(95, "umask", {MODE}),
    E(96, "gettimeofday", {out_struct(kTimeval), out_struct(8)}),
    E(97, "getrlimit", {I, out_struct(kRlimit)}),
    E(98, "getrusage", {I, out_struct(kRusage)}),
    E(99, "sysinfo", {out_struct(sizeof(struct sysinfo))}),
    E(100, "times", {out_struct(sizeof(struct tms))}),
    E(101, "ptrace", {I, I, P, P}, UN, "ptrace"),
    E(102, "getuid", {}),
    E(103, "syslog", {I, P, I}, kSysNone, "syslog"),
    E(104, "getgid", {}),
    E(105, "setuid", {I}),
    E(106, "setgid", {I}),
    E(107, "geteuid", {}),
    E(108, "getegid", {}),
    E(109, "setpgid", {I, I}),
    E(110, "getppid", {}),
    E(111, "getpgrp", {}),
    E(112, "setsid", {}),
    E(113, "setreuid", {I, I}),
    E(114, "setregid", {I, I}),
    E(115, "getgroups", {I, out_result_times(4, 0)}),
    E(116, "setgroups", {I, P}),
    E(117, "setresuid", {I, I, I}),
    E(118, "getresuid", {out_struct(4), out_struct(4), out_struct(4)}),
    E(119, "setresgid", {I, I, I}),
    E(120, "getresgid", {out_struct(4), out_struct(4), out_struct(4)}),
    E(121, "getpgid", {I}),
    E(122, "setfsuid", {I}),
    E(123, "setfsgid", {I}),
    E(124, "getsid", {I}),
    E(125, "capget", {inout(kCapHeader), out_struct(kCapData)}),
    E(126, "capset", {in_struct(kCapHeader), in_struct(kCapData)}),
    E(127, "rt_sigpending", {sigset_out(1), U}),
    E(128, "rt_sigtimedwait", {sigset_in(3), out_struct(kSiginfo), in_struct(kTimespec), U}, B | SG),
    E(129, "rt_sigqueueinfo", {I, SIG, in_struct(kSiginfo)}, SG),
    E(130, "rt_sigsuspend", {sigset_in(1), U}, B | SG),
    E(131, "sigaltstack", {in_struct(sizeof(stack_t)), out_struct(sizeof(stack_t))}, SG),
    E(132, "utime", {S, in_struct(kUtimbuf)}),
    E(133, "mknod", {S, MODE, X}),
    E(134, "uselib", {S}),
    E(135, "personality", {X}),
    E(136, "ustat", {X, out_struct(kUstat)}),
    E(137, "statfs", {S, out_struct(kStatfs)}),
    E(138, "fstatfs", {FD, out_struct(kStatfs)}),
    E(139, "sysfs", {I, X, X}, kSysNone, "sysfs"),
    E(140, "getpriority", {I, I}),
    E(141, "setpriority", {I, I, I}),
    E(142, "sched_setparam", {I, in_struct(4)}),
    E(143, "sched_getparam", {I, out_struct(4)}),
    E(144, "sched_setscheduler", {I, I, in_struct(4)}),
    E(145, "sched_getscheduler", {I}),
    E(146, "sched_get_priority_max", {I}),
    E(147, "sched_get_priority_min", {I}),
    E(148, "sched_rr_get_interval", {I, out_struct(kTimespec)}),
    E(149, "mlock", {P, U}),
    E(150, "munlock", {P, U}),
    E(151, "mlockall", {FL}),
    E(152, "munlockall", {}),
    E(153, "vhangup", {}),
    E(154, "modify_ldt", {I, P, U}, kSysNone, "modify_ldt"),
    E(155, "pivot_root", {S, S}),
    E(156, "_sysctl", {P}),  // removed: always ENOSYS
    E(157, "prctl", {PRCTL, X, X, X, X}, kSysNone, "prctl"),
    E(158, "arch_prctl", {ARCHP, X}, kSysNone, "arch_prctl"),
    E(159, "adjtimex", {inout(kTimex)}),
    E(160, "setrlimit", {I, in_struct(kRlimit)}),
    E(161, "chroot", {S}),
    E(162, "sync", {}),
    E(163, "acct", {S}),
    E(164, "settimeofday", {in_struct(kTimeval), in_struct(8)}),
    E(165, "mount", {S, S, S, FL, P}),
    E(166, "umount2", {S, FL}),
    E(167, "swapon", {S, FL}),
    E(168, "swapoff", {S}),
    E(169, "reboot", {X, X, X, P}),
    E(170, "sethostname", {in_buf(1), U}),
    E(171, "setdomainname", {in_buf(1), U}),
    E(172, "iopl", {I}),
    E(173, "ioperm", {X, U, I}),
    // 174-185: never implemented on x86-64 (always ENOSYS), so they write nothing.
    E(174, "create_module", {}),
    E(175, "init_module", {P, U, S}),
    E(176, "delete_module", {S, FL}),
    E(177, "get_kernel_syms", {}),
    E(178, "query_module", {}),
    E(179, "quotactl", {X, S, I, P}, kSysNone, kUnknown),
    E(180, "nfsservctl", {}),
    E(181, "getpmsg", {}),
    E(182, "putpmsg", {}),
    E(183, "afs_syscall", {}),
    E(184, "tuxcall", {}),
    E(185, "security", {}),
    E(186, "gettid", {}),
    E(187, "readahead", {FD, I, U}),
    E(188, "setxattr", {S, S, in_buf(3), U, FL}),
    E(189, "lsetxattr", {S, S, in_buf(3), U, FL}),
    E(190, "fsetxattr", {FD, S, in_buf(3), U, FL}),
    E(191, "getxattr", {S, S, out_result(3), U}),
    E(192, "lgetxattr", {S, S, out_result(3), U}),
    E(193, "fgetxattr", {FD, S, out_result(3), U}),
    E(194, "listxattr", {S, out_result(2), U}),
    E(195, "llistxattr", {S, out_result(2), U}),
    E(196, "flistxattr", {FD, out_result(2), U}),
    E(197, "removexattr", {S, S}),
    E(198, "lremovexattr", {S, S}),
    E(199, "fremovexattr", {FD, S}),
    E(200, "tkill", {I, SIG}, SG),
    E(201, "time", {out_struct(8)}),
    E(202, "futex", {P, FUTOP, U, P, P, U}, B, "futex"),
    E(203, "sched_setaffinity", {I, U, in_buf(1)}),
    E(204, "sched_getaffinity", {I, U, out_result(1)}),
    E(205, "set_thread_area", {P}),  // 32-bit only: ENOSYS for 64-bit callers
    E(206, "io_setup", {U, out_struct(8)}, MM | UN),
    E(207, "io_destroy", {X}, MM),
    E(208, "io_getevents", {X, I, I, out_result_times(kIoEvent), in_struct(kTimespec)}, B),
    E(209, "io_submit", {X, I, P}, UN),
    E(210, "io_cancel", {X, P, out_struct(kIoEvent)}),
    E(211, "get_thread_area", {P}),
    E(212, "lookup_dcookie", {X, out_result(2), U}),
    E(213, "epoll_create", {I}),
    E(214, "epoll_ctl_old", {}),
    E(215, "epoll_wait_old", {}),
    E(216, "remap_file_pages", {P, U, PROT, U, FL}, MM),
    E(217, "getdents64", {FD, out_result(2), U}),
    E(218, "set_tid_address", {P}),
    // Resumes an interrupted nanosleep/poll/futex wait: its outputs are the interrupted
    // call's, which the recorder remembers (RecordSession::Thread::interrupted).
    E(219, "restart_syscall", {}, B),
    E(220, "semtimedop", {I, P, U, in_struct(kTimespec)}, B),
    E(221, "fadvise64", {FD, I, U, I}),
    E(222, "timer_create", {CLK, in_struct(kSigevent), out_struct(4)}),
    E(223, "timer_settime", {I, FL, in_struct(kItimerspec), out_struct(kItimerspec)}),
    E(224, "timer_gettime", {I, out_struct(kItimerspec)}),
    E(225, "timer_getoverrun", {I}),
    E(226, "timer_delete", {I}),
    E(227, "clock_settime", {CLK, in_struct(kTimespec)}),
    E(228, "clock_gettime", {CLK, out_struct(kTimespec)}),
    E(229, "clock_getres", {CLK, out_struct(kTimespec)}),
    E(230, "clock_nanosleep", {CLK, FL, in_struct(kTimespec), intr(out_struct(kTimespec))}, B),
    E(231, "exit_group", {I}, kSysExit),
    E(232, "epoll_wait", {FD, out_result_times(kEpollEvent), I, I}, B),
    E(233, "epoll_ctl", {FD, EPOP, FD, in_struct(kEpollEvent)}),
    E(234, "tgkill", {I, I, SIG}, SG),
    E(235, "utimes", {S, in_struct(2 * kTimeval)}),
    E(236, "vserver", {}),
    E(237, "mbind", {P, U, I, P, U, FL}),
    E(238, "set_mempolicy", {I, P, U}),
    E(239, "get_mempolicy", {P, P, U, P, FL}, kSysNone, "get_mempolicy"),
    E(240, "mq_open", {S, OF, MODE, in_struct(kMqAttr)}),
    E(241, "mq_unlink", {S}),
    E(242, "mq_timedsend", {FD, in_buf(2), U, U, in_struct(kTimespec)}, B),
    E(243, "mq_timedreceive", {FD, out_result(2), U, out_struct(4), in_struct(kTimespec)}, B),
    E(244, "mq_notify", {FD, in_struct(kSigevent)}),
    E(245, "mq_getsetattr", {FD, in_struct(kMqAttr), out_struct(kMqAttr)}),
    E(246, "kexec_load", {X, U, P, FL}),
    E(247, "waitid", {I, I, always(out_struct(kSiginfo)), FL, out_struct(kRusage)}, B),
    E(248, "add_key", {S, S, in_buf(3), U, I}),
    E(249, "request_key", {S, S, S, I}),
    E(250, "keyctl", {I, X, X, X, X}, kSysNone, "keyctl"),
    E(251, "ioprio_set", {I, I, I}),
    E(252, "ioprio_get", {I, I}),
    E(253, "inotify_init", {}),
    E(254, "inotify_add_watch", {FD, S, X}),
    E(255, "inotify_rm_watch", {FD, I}),
    E(256, "migrate_pages", {I, U, P, P}),
    E(257, "openat", {FD, S, OF, MODE}, B),
    E(258, "mkdirat", {FD, S, MODE}),
    E(259, "mknodat", {FD, S, MODE, X}),
    E(260, "fchownat", {FD, S, I, I, ATF}),
    E(261, "futimesat", {FD, S, in_struct(2 * kTimeval)}),
    E(262, "newfstatat", {FD, S, out_struct(kStat), ATF}),
    E(263, "unlinkat", {FD, S, ATF}),
    E(264, "renameat", {FD, S, FD, S}),
    E(265, "linkat", {FD, S, FD, S, ATF}),
    E(266, "symlinkat", {S, FD, S}),
    E(267, "readlinkat", {FD, S, out_result(3), U}),
    E(268, "fchmodat", {FD, S, MODE}),
    E(269, "faccessat", {FD, S, AMODE}),
    // The sixth argument points at {const sigset_t*, size_t}; the kernel only reads it.
    E(270, "pselect6", {I, P, P, P, intr(inout(kTimespec)), in_struct(16)}, B | SG, "select"),
    E(271, "ppoll",
      {intr(out_arg_times(1, kPollfd)), U, intr(inout(kTimespec)), sigset_in(4), U}, B | SG),
    E(272, "unshare", {FL}),
    E(273, "set_robust_list", {P, U}),
    E(274, "get_robust_list", {I, out_struct(8), out_struct(8)}),
    E(275, "splice", {FD, inout(8), FD, inout(8), U, FL}, B),
    E(276, "tee", {FD, FD, U, FL}, B),
    E(277, "sync_file_range", {FD, I, I, FL}),
    // From a pipe's read end vmsplice copies into the iovecs; covering them is harmless
    // for the write end.
    E(278, "vmsplice", {FD, iov_out(2), U, FL}, B),
    E(279, "move_pages", {I, U, P, P, out_arg_times(1, 4), FL}),
    E(280, "utimensat", {FD, S, in_struct(2 * kTimespec), ATF}),
    E(281, "epoll_pwait", {FD, out_result_times(kEpollEvent), I, I, sigset_in(5), U}, B | SG),
    E(282, "signalfd", {FD, sigset_in(2), U}),
    E(283, "timerfd_create", {CLK, FL}),
    E(284, "eventfd", {U}),
    E(285, "fallocate", {FD, I, I, I}),
    E(286, "timerfd_settime", {FD, FL, in_struct(kItimerspec), out_struct(kItimerspec)}),
    E(287, "timerfd_gettime", {FD, out_struct(kItimerspec)}),
    E(288, "accept4", {FD, sa_out(2), SOCKLEN, FL}, B),
    E(289, "signalfd4", {FD, sigset_in(2), U, FL}),
    E(290, "eventfd2", {U, FL}),
    E(291, "epoll_create1", {FL}),
    E(292, "dup3", {FD, FD, OF}),
    E(293, "pipe2", {out_struct(8), OF}),
    E(294, "inotify_init1", {FL}),
    E(295, "preadv", {FD, iov_out(2), U, I, I}),
    E(296, "pwritev", {FD, iov_in(2), U, I, I}),
    E(297, "rt_tgsigqueueinfo", {I, I, SIG, in_struct(kSiginfo)}, SG),
    E(298, "perf_event_open", {in_struct(kPerfAttr), I, I, FD, FL}, UN),
    E(299, "recvmmsg", {FD, P, U, FL, intr(inout(kTimespec))}, B, "recvmmsg"),
    E(300, "fanotify_init", {FL, FL}),
    E(301, "fanotify_mark", {FD, FL, X, FD, S}),
    E(302, "prlimit64", {I, I, in_struct(kRlimit), out_struct(kRlimit)}),
    E(303, "name_to_handle_at", {FD, S, P, out_struct(4), ATF}, kSysNone, kUnknown),
    E(304, "open_by_handle_at", {FD, P, OF}),
    E(305, "clock_adjtime", {CLK, inout(kTimex)}),
    E(306, "syncfs", {FD}),
    E(307, "sendmmsg", {FD, P, U, FL}, B, "sendmmsg"),
    E(308, "setns", {FD, FL}),
    E(309, "getcpu", {out_struct(4), out_struct(4), P}),
    E(310, "process_vm_readv", {I, iov_out(2), U, P, U, FL}),
    E(311, "process_vm_writev", {I, iov_in(2), U, P, U, FL}),
    E(312, "kcmp", {I, I, I, X, X}),
    E(313, "finit_module", {FD, S, FL}),
    E(314, "sched_setattr", {I, in_struct(kSchedAttr), FL}),
    E(315, "sched_getattr", {I, out_arg(2), U, FL}),
    E(316, "renameat2", {FD, S, FD, S, FL}),
    E(317, "seccomp", {I, FL, P}, kSysNone, "seccomp"),
    E(318, "getrandom", {out_result(1), U, FL}),
    E(319, "memfd_create", {S, FL}),
    E(320, "kexec_file_load", {FD, FD, U, S, FL}),
    E(321, "bpf", {I, P, U}, UN, kUnknown),
    E(322, "execveat", {FD, S, SV, SV, ATF}, kSysExec),
    E(323, "userfaultfd", {FL}, UN),
    E(324, "membarrier", {I, FL, I}),
    E(325, "mlock2", {P, U, FL}),
    E(326, "copy_file_range", {FD, inout(8), FD, inout(8), U, FL}, B),
    E(327, "preadv2", {FD, iov_out(2), U, I, I, FL}),
    E(328, "pwritev2", {FD, iov_in(2), U, I, I, FL}),
    E(329, "pkey_mprotect", {P, U, PROT, I}, MM),
    E(330, "pkey_alloc", {FL, X}),
    E(331, "pkey_free", {I}),
    E(332, "statx", {FD, S, ATF, X, out_struct(kStatx)}),
    E(333, "io_pgetevents", {X, I, I, out_result_times(kIoEvent), in_struct(kTimespec), in_struct(16)}, B),
    // The kernel keeps updating struct rseq (cpu ids) after this call returns; the
    // recorder has to treat the area as kernel-written at every event.
    E(334, "rseq", {inout(kRseq), U, FL, X}),
    // 335-423 are unused on x86-64 (the shared numbers start at 424).
    E(424, "pidfd_send_signal", {FD, SIG, in_struct(kSiginfo), FL}, SG),
    E(425, "io_uring_setup", {U, inout(kIoUringParams)}, UN),
    E(426, "io_uring_enter", {FD, U, U, FL, P, U}, UN | B, kUnknown),
    E(427, "io_uring_register", {FD, U, P, U}, UN, kUnknown),
    E(428, "open_tree", {FD, S, FL}),
    E(429, "move_mount", {FD, S, FD, S, FL}),
    E(430, "fsopen", {S, FL}),
    E(431, "fsconfig", {FD, U, S, P, I}),
    E(432, "fsmount", {FD, FL, FL}),
    E(433, "fspick", {FD, S, FL}),
    E(434, "pidfd_open", {I, FL}),
    E(435, "clone3", {in_buf(1), U}, kSysThreadCreate, "clone3"),
    E(436, "close_range", {U, U, FL}),
    E(437, "openat2", {FD, S, in_buf(3), U}, B),
    E(438, "pidfd_getfd", {FD, FD, FL}),
    E(439, "faccessat2", {FD, S, AMODE, ATF}),
    E(440, "process_madvise", {FD, iov_in(2), U, I, FL}, MM),
    E(441, "epoll_pwait2",
      {FD, out_result_times(kEpollEvent), I, in_struct(kTimespec), sigset_in(5), U}, B | SG),
    E(442, "mount_setattr", {FD, S, FL, in_buf(4), U}),
    E(443, "quotactl_fd", {FD, X, I, P}, kSysNone, kUnknown),
    E(444, "landlock_create_ruleset", {in_buf(1), U, FL}),
    E(445, "landlock_add_rule", {FD, I, P, FL}),
    E(446, "landlock_restrict_self", {FD, FL}),
    E(447, "memfd_secret", {FL}),
    E(448, "process_mrelease", {FD, FL}),
    E(449, "futex_waitv", {P, U, FL, in_struct(kTimespec), CLK}, B),
    E(450, "set_mempolicy_home_node", {P, U, U, FL}),
    E(451, "cachestat", {FD, in_struct(kCachestatRange), out_struct(kCachestat), FL}),
    E(452, "fchmodat2", {FD, S, MODE, ATF}),
    E(453, "map_shadow_stack", {P, U, FL}, MM),
    E(454, "futex_wake", {P, X, I, FL}),
    E(455, "futex_wait", {P, X, X, FL, in_struct(kTimespec), CLK}, B),
    E(456, "futex_requeue", {P, FL, I, I}),
    E(457, "statmount", {P, out_arg(2), U, FL}),
    E(458, "listmount", {P, out_result_times(8, 2), U, FL}),
    E(459, "lsm_get_self_attr", {U, P, P, FL}, kSysNone, kUnknown),
    E(460, "lsm_set_self_attr", {U, P, U, FL}),
    E(461, "lsm_list_modules", {P, P, FL}, kSysNone, kUnknown),
    E(462, "mseal", {P, U, FL}, MM),
    E(463, "setxattrat", {FD, S, ATF, S, P, U}),
    E(464, "getxattrat", {FD, S, ATF, S, P, U}, kSysNone, kUnknown),
    E(465, "listxattrat", {FD, S, ATF, out_result(4), U}),
    E(466, "removexattrat", {FD, S, ATF, S}),
    E(467, "open_tree_attr", {FD, S, FL, in_buf(4), U}),
    E(468, "file_getattr", {FD, S, out_arg(3), U, ATF}),
    E(469, "file_setattr", {FD, S, in_buf(3), U, ATF}),
};

}  // namespace

std::span<const SyscallInfo> syscall_table_data() { return kTable; }

}  // namespace rwd
