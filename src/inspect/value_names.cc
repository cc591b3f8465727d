// Values are the x86-64 Linux ABI's, written out so that the names do not depend on the
// build host's headers.
#include "inspect/value_names.h"

#include <fmt/format.h>

#include <initializer_list>
#include <utility>

#include "tracee/signals.h"

namespace rwd {

namespace {

struct Bit {
  uint64_t value;
  std::string_view name;
};

// "A|B|0x40" for the bits in `flags`, or `zero` when none are set.
std::string bits_text(uint64_t flags, std::initializer_list<Bit> bits, std::string_view zero = "0") {
  std::string out;
  for (const Bit& b : bits) {
    if (b.value != 0 && (flags & b.value) == b.value) {
      if (!out.empty()) {
        out += '|';
      }
      out += b.name;
      flags &= ~b.value;
    }
  }
  if (flags != 0) {
    if (!out.empty()) {
      out += '|';
    }
    out += fmt::format("{:#x}", flags);
  }
  return out.empty() ? std::string(zero) : out;
}

// Joins a base name (already text) with remaining flag bits.
std::string join(std::string head, const std::string& rest) {
  if (rest == "0") {
    return head;
  }
  return head + "|" + rest;
}

struct Named {
  uint64_t value;
  std::string_view name;
};

std::string_view find(std::initializer_list<Named> names, uint64_t value) {
  for (const Named& n : names) {
    if (n.value == value) {
      return n.name;
    }
  }
  return {};
}

}  // namespace

std::string open_flags_text(uint64_t flags) {
  static constexpr std::string_view kAccess[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
  std::string head(kAccess[flags & 3]);
  flags &= ~uint64_t{3};
  // O_TMPFILE includes O_DIRECTORY; list it first so it is named as a whole.
  return join(head, bits_text(flags, {{020200000, "O_TMPFILE"},
                                      {0100, "O_CREAT"},
                                      {0200, "O_EXCL"},
                                      {0400, "O_NOCTTY"},
                                      {01000, "O_TRUNC"},
                                      {02000, "O_APPEND"},
                                      {04000, "O_NONBLOCK"},
                                      {04010000, "O_SYNC"},
                                      {010000, "O_DSYNC"},
                                      {020000, "O_ASYNC"},
                                      {040000, "O_DIRECT"},
                                      {0100000, "O_LARGEFILE"},
                                      {0200000, "O_DIRECTORY"},
                                      {0400000, "O_NOFOLLOW"},
                                      {01000000, "O_NOATIME"},
                                      {02000000, "O_CLOEXEC"},
                                      {010000000, "O_PATH"}}));
}

std::string prot_text(uint64_t prot) {
  return bits_text(prot, {{1, "PROT_READ"},
                          {2, "PROT_WRITE"},
                          {4, "PROT_EXEC"},
                          {0x8, "PROT_SEM"},
                          {0x01000000, "PROT_GROWSDOWN"},
                          {0x02000000, "PROT_GROWSUP"}},
                   "PROT_NONE");
}

std::string mmap_flags_text(uint64_t flags) {
  static constexpr std::string_view kType[] = {"0", "MAP_SHARED", "MAP_PRIVATE",
                                               "MAP_SHARED_VALIDATE"};
  uint64_t type = flags & 0xf;
  std::string head = type < 4 ? std::string(kType[type]) : fmt::format("{:#x}", type);
  flags &= ~uint64_t{0xf};
  std::string huge;
  if (uint64_t shift = (flags >> 26) & 0x3f; shift != 0 && (flags & 0x40000) != 0) {
    huge = fmt::format("|{}<<MAP_HUGE_SHIFT", shift);
    flags &= ~(uint64_t{0x3f} << 26);
  }
  return join(head, bits_text(flags, {{0x10, "MAP_FIXED"},
                                      {0x20, "MAP_ANONYMOUS"},
                                      {0x40, "MAP_32BIT"},
                                      {0x100, "MAP_GROWSDOWN"},
                                      {0x800, "MAP_DENYWRITE"},
                                      {0x1000, "MAP_EXECUTABLE"},
                                      {0x2000, "MAP_LOCKED"},
                                      {0x4000, "MAP_NORESERVE"},
                                      {0x8000, "MAP_POPULATE"},
                                      {0x10000, "MAP_NONBLOCK"},
                                      {0x20000, "MAP_STACK"},
                                      {0x40000, "MAP_HUGETLB"},
                                      {0x80000, "MAP_SYNC"},
                                      {0x100000, "MAP_FIXED_NOREPLACE"},
                                      {0x4000000, "MAP_UNINITIALIZED"}})) +
         huge;
}

std::string futex_op_text(uint64_t op) {
  static constexpr std::string_view kOps[] = {
      "FUTEX_WAIT",     "FUTEX_WAKE",           "FUTEX_FD",             "FUTEX_REQUEUE",
      "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",     "FUTEX_LOCK_PI",        "FUTEX_UNLOCK_PI",
      "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET",  "FUTEX_WAKE_BITSET",    "FUTEX_WAIT_REQUEUE_PI",
      "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
  };
  uint64_t cmd = op & 0x7f;
  std::string out = cmd < std::size(kOps) ? std::string(kOps[cmd]) : fmt::format("{:#x}", cmd);
  if ((op & 128) != 0) {
    out += "_PRIVATE";
  }
  if ((op & 256) != 0) {
    out += "|FUTEX_CLOCK_REALTIME";
  }
  if (uint64_t rest = op & ~uint64_t{0x1ff}; rest != 0) {
    out += fmt::format("|{:#x}", rest);
  }
  return out;
}

std::string clone_flags_text(uint64_t flags) {
  std::string sig;
  if (uint64_t s = flags & 0xff; s != 0) {
    sig = signal_name(static_cast<int>(s));
    flags &= ~uint64_t{0xff};
  }
  std::string rest = bits_text(flags, {{0x100, "CLONE_VM"},
                                       {0x200, "CLONE_FS"},
                                       {0x400, "CLONE_FILES"},
                                       {0x800, "CLONE_SIGHAND"},
                                       {0x1000, "CLONE_PIDFD"},
                                       {0x2000, "CLONE_PTRACE"},
                                       {0x4000, "CLONE_VFORK"},
                                       {0x8000, "CLONE_PARENT"},
                                       {0x10000, "CLONE_THREAD"},
                                       {0x20000, "CLONE_NEWNS"},
                                       {0x40000, "CLONE_SYSVSEM"},
                                       {0x80000, "CLONE_SETTLS"},
                                       {0x100000, "CLONE_PARENT_SETTID"},
                                       {0x200000, "CLONE_CHILD_CLEARTID"},
                                       {0x400000, "CLONE_DETACHED"},
                                       {0x800000, "CLONE_UNTRACED"},
                                       {0x1000000, "CLONE_CHILD_SETTID"},
                                       {0x2000000, "CLONE_NEWCGROUP"},
                                       {0x4000000, "CLONE_NEWUTS"},
                                       {0x8000000, "CLONE_NEWIPC"},
                                       {0x10000000, "CLONE_NEWUSER"},
                                       {0x20000000, "CLONE_NEWPID"},
                                       {0x40000000, "CLONE_NEWNET"},
                                       {0x80000000, "CLONE_IO"}});
  if (sig.empty()) {
    return rest;
  }
  return rest == "0" ? sig : rest + "|" + sig;
}

std::string sock_domain_text(uint64_t domain) {
  std::string_view n = find({{0, "AF_UNSPEC"},
                             {1, "AF_UNIX"},
                             {2, "AF_INET"},
                             {10, "AF_INET6"},
                             {16, "AF_NETLINK"},
                             {17, "AF_PACKET"},
                             {38, "AF_ALG"},
                             {40, "AF_VSOCK"}},
                            domain);
  return n.empty() ? std::to_string(domain) : std::string(n);
}

std::string sock_type_text(uint64_t type) {
  std::string_view base = find({{1, "SOCK_STREAM"},
                                {2, "SOCK_DGRAM"},
                                {3, "SOCK_RAW"},
                                {4, "SOCK_RDM"},
                                {5, "SOCK_SEQPACKET"},
                                {10, "SOCK_PACKET"}},
                               type & 0xf);
  std::string head = base.empty() ? std::to_string(type & 0xf) : std::string(base);
  return join(head, bits_text(type & ~uint64_t{0xf}, {{04000, "SOCK_NONBLOCK"},
                                                      {02000000, "SOCK_CLOEXEC"}}));
}

std::string at_flags_text(uint64_t flags) {
  return bits_text(flags, {{0x100, "AT_SYMLINK_NOFOLLOW"},
                           {0x200, "AT_REMOVEDIR"},
                           {0x400, "AT_SYMLINK_FOLLOW"},
                           {0x800, "AT_NO_AUTOMOUNT"},
                           {0x1000, "AT_EMPTY_PATH"},
                           {0x2000, "AT_STATX_FORCE_SYNC"},
                           {0x4000, "AT_STATX_DONT_SYNC"},
                           {0x8000, "AT_RECURSIVE"}});
}

std::string access_mode_text(uint64_t mode) {
  return bits_text(mode, {{4, "R_OK"}, {2, "W_OK"}, {1, "X_OK"}}, "F_OK");
}

std::string mode_text(uint64_t mode) { return fmt::format("0{:02o}", mode); }

std::string sa_flags_text(uint64_t flags) {
  return bits_text(flags, {{0x1, "SA_NOCLDSTOP"},
                           {0x2, "SA_NOCLDWAIT"},
                           {0x4, "SA_SIGINFO"},
                           {0x04000000, "SA_RESTORER"},
                           {0x08000000, "SA_ONSTACK"},
                           {0x10000000, "SA_RESTART"},
                           {0x40000000, "SA_NODEFER"},
                           {0x80000000, "SA_RESETHAND"}});
}

std::string poll_events_text(uint64_t events) {
  return bits_text(events, {{0x1, "POLLIN"},
                            {0x2, "POLLPRI"},
                            {0x4, "POLLOUT"},
                            {0x8, "POLLERR"},
                            {0x10, "POLLHUP"},
                            {0x20, "POLLNVAL"},
                            {0x40, "POLLRDNORM"},
                            {0x80, "POLLRDBAND"},
                            {0x100, "POLLWRNORM"},
                            {0x200, "POLLWRBAND"},
                            {0x400, "POLLMSG"},
                            {0x2000, "POLLRDHUP"}});
}

std::string signal_code_text(int sig, int code) {
  std::string_view n;
  switch (code) {
    case 0: n = "SI_USER"; break;
    case 0x80: n = "SI_KERNEL"; break;
    case -1: n = "SI_QUEUE"; break;
    case -2: n = "SI_TIMER"; break;
    case -3: n = "SI_MESGQ"; break;
    case -4: n = "SI_ASYNCIO"; break;
    case -5: n = "SI_SIGIO"; break;
    case -6: n = "SI_TKILL"; break;
    default: break;
  }
  if (n.empty()) {
    switch (sig) {
      case 11:  // SIGSEGV
        n = find({{1, "SEGV_MAPERR"}, {2, "SEGV_ACCERR"}, {3, "SEGV_BNDERR"}, {4, "SEGV_PKUERR"},
                  {10, "SEGV_CPERR"}},
                 static_cast<uint64_t>(code));
        break;
      case 7:  // SIGBUS
        n = find({{1, "BUS_ADRALN"}, {2, "BUS_ADRERR"}, {3, "BUS_OBJERR"}, {4, "BUS_MCEERR_AR"},
                  {5, "BUS_MCEERR_AO"}},
                 static_cast<uint64_t>(code));
        break;
      case 4:  // SIGILL
        n = find({{1, "ILL_ILLOPC"}, {2, "ILL_ILLOPN"}, {3, "ILL_ILLADR"}, {4, "ILL_ILLTRP"},
                  {5, "ILL_PRVOPC"}, {6, "ILL_PRVREG"}, {7, "ILL_COPROC"}, {8, "ILL_BADSTK"}},
                 static_cast<uint64_t>(code));
        break;
      case 8:  // SIGFPE
        n = find({{1, "FPE_INTDIV"}, {2, "FPE_INTOVF"}, {3, "FPE_FLTDIV"}, {4, "FPE_FLTOVF"},
                  {5, "FPE_FLTUND"}, {6, "FPE_FLTRES"}, {7, "FPE_FLTINV"}, {8, "FPE_FLTSUB"}},
                 static_cast<uint64_t>(code));
        break;
      case 5:  // SIGTRAP
        n = find({{1, "TRAP_BRKPT"}, {2, "TRAP_TRACE"}, {3, "TRAP_BRANCH"}, {4, "TRAP_HWBKPT"}},
                 static_cast<uint64_t>(code));
        break;
      case 17:  // SIGCHLD
        n = find({{1, "CLD_EXITED"}, {2, "CLD_KILLED"}, {3, "CLD_DUMPED"}, {4, "CLD_TRAPPED"},
                  {5, "CLD_STOPPED"}, {6, "CLD_CONTINUED"}},
                 static_cast<uint64_t>(code));
        break;
      default:
        break;
    }
  }
  return n.empty() ? std::to_string(code) : std::string(n);
}

std::string_view enum_name(ArgKind kind, uint64_t v) {
  switch (kind) {
    case ArgKind::kWhence:
      return find({{0, "SEEK_SET"}, {1, "SEEK_CUR"}, {2, "SEEK_END"}, {3, "SEEK_DATA"},
                   {4, "SEEK_HOLE"}},
                  v);
    case ArgKind::kFcntlCmd:
      return find({{0, "F_DUPFD"},         {1, "F_GETFD"},        {2, "F_SETFD"},
                   {3, "F_GETFL"},         {4, "F_SETFL"},        {5, "F_GETLK"},
                   {6, "F_SETLK"},         {7, "F_SETLKW"},       {8, "F_SETOWN"},
                   {9, "F_GETOWN"},        {10, "F_SETSIG"},      {11, "F_GETSIG"},
                   {15, "F_SETOWN_EX"},    {16, "F_GETOWN_EX"},   {36, "F_OFD_GETLK"},
                   {37, "F_OFD_SETLK"},    {38, "F_OFD_SETLKW"},  {1024, "F_SETLEASE"},
                   {1025, "F_GETLEASE"},   {1026, "F_NOTIFY"},    {1030, "F_DUPFD_CLOEXEC"},
                   {1031, "F_SETPIPE_SZ"}, {1032, "F_GETPIPE_SZ"}, {1033, "F_ADD_SEALS"},
                   {1034, "F_GET_SEALS"}},
                  v);
    case ArgKind::kIoctlReq:
      return find({{0x5401, "TCGETS"},     {0x5402, "TCSETS"},     {0x5403, "TCSETSW"},
                   {0x5404, "TCSETSF"},    {0x5409, "TCSBRK"},     {0x540B, "TCFLSH"},
                   {0x540E, "TIOCSCTTY"},  {0x540F, "TIOCGPGRP"},  {0x5410, "TIOCSPGRP"},
                   {0x5411, "TIOCOUTQ"},   {0x5413, "TIOCGWINSZ"}, {0x5414, "TIOCSWINSZ"},
                   {0x541B, "FIONREAD"},   {0x5421, "FIONBIO"},    {0x5422, "TIOCNOTTY"},
                   {0x5429, "TIOCGSID"},   {0x5450, "FIONCLEX"},   {0x5451, "FIOCLEX"},
                   {0x5452, "FIOASYNC"},   {0x80045430, "TIOCGPTN"}, {0x40045431, "TIOCSPTLCK"},
                   {0x8905, "SIOCATMARK"}, {0x8933, "SIOCGIFINDEX"}, {0x8913, "SIOCGIFFLAGS"},
                   {0x8915, "SIOCGIFADDR"}, {0x8927, "SIOCGIFHWADDR"}},
                  v & 0xffffffff);
    case ArgKind::kClockId:
      return find({{0, "CLOCK_REALTIME"}, {1, "CLOCK_MONOTONIC"},
                   {2, "CLOCK_PROCESS_CPUTIME_ID"}, {3, "CLOCK_THREAD_CPUTIME_ID"},
                   {4, "CLOCK_MONOTONIC_RAW"}, {5, "CLOCK_REALTIME_COARSE"},
                   {6, "CLOCK_MONOTONIC_COARSE"}, {7, "CLOCK_BOOTTIME"},
                   {8, "CLOCK_REALTIME_ALARM"}, {9, "CLOCK_BOOTTIME_ALARM"}, {11, "CLOCK_TAI"}},
                  v);
    case ArgKind::kSigHow:
      return find({{0, "SIG_BLOCK"}, {1, "SIG_UNBLOCK"}, {2, "SIG_SETMASK"}}, v);
    case ArgKind::kEpollOp:
      return find({{1, "EPOLL_CTL_ADD"}, {2, "EPOLL_CTL_DEL"}, {3, "EPOLL_CTL_MOD"}}, v);
    case ArgKind::kPrctlOp:
      return find({{1, "PR_SET_PDEATHSIG"},  {2, "PR_GET_PDEATHSIG"},  {3, "PR_GET_DUMPABLE"},
                   {4, "PR_SET_DUMPABLE"},   {8, "PR_SET_KEEPCAPS"},   {15, "PR_SET_NAME"},
                   {16, "PR_GET_NAME"},      {22, "PR_SET_SECCOMP"},   {23, "PR_CAPBSET_READ"},
                   {24, "PR_CAPBSET_DROP"},  {25, "PR_GET_TSC"},       {26, "PR_SET_TSC"},
                   {36, "PR_SET_CHILD_SUBREAPER"}, {37, "PR_GET_CHILD_SUBREAPER"},
                   {38, "PR_SET_NO_NEW_PRIVS"}, {39, "PR_GET_NO_NEW_PRIVS"},
                   {40, "PR_GET_TID_ADDRESS"}, {41, "PR_SET_THP_DISABLE"},
                   {47, "PR_CAP_AMBIENT"},   {59, "PR_SET_SYSCALL_USER_DISPATCH"},
                   {0x53564d41, "PR_SET_VMA"}, {0x41555856, "PR_GET_AUXV"}},
                  v);
    case ArgKind::kArchPrctlOp:
      return find({{0x1001, "ARCH_SET_GS"}, {0x1002, "ARCH_SET_FS"}, {0x1003, "ARCH_GET_FS"},
                   {0x1004, "ARCH_GET_GS"}, {0x1011, "ARCH_GET_CPUID"},
                   {0x1012, "ARCH_SET_CPUID"}, {0x1021, "ARCH_GET_XCOMP_SUPP"},
                   {0x1022, "ARCH_GET_XCOMP_PERM"}, {0x1023, "ARCH_REQ_XCOMP_PERM"},
                   {0x5001, "ARCH_SHSTK_ENABLE"}, {0x5005, "ARCH_SHSTK_STATUS"}},
                  v);
    default:
      return {};
  }
}

}  // namespace rwd
