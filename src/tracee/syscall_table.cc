// Interprets the syscall table (syscall_table_data.cc): lookups, and the memory ranges a
// syscall reads and writes, including the few syscalls whose outputs depend on a request
// code or on structures in the target's memory (the `special` handlers below).
#include "tracee/syscall_table.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_map>

#include "format/event.h"
#include "tracee/syscall_table_data.h"

namespace rwd {

namespace {

constexpr size_t kMaxNr = 1024;
constexpr uint64_t kMaxIovecs = 1024;  // IOV_MAX
constexpr uint64_t kMaxDisplayIovecs = 64;
constexpr uint64_t kMsghdrSize = 56;
constexpr uint64_t kMmsghdrSize = 64;
constexpr uint64_t kSockaddrMax = 128;
constexpr uint64_t kPageSize = 4096;

struct Index {
  std::array<const SyscallInfo*, kMaxNr> by_nr{};
  std::unordered_map<std::string_view, const SyscallInfo*> by_name;
};

const Index& index() {
  static const Index idx = [] {
    Index i;
    for (const SyscallInfo& s : syscall_table_data()) {
      if (s.nr >= 0 && static_cast<size_t>(s.nr) < kMaxNr) {
        i.by_nr[static_cast<size_t>(s.nr)] = &s;
      }
      i.by_name.emplace(s.name, &s);
    }
    return i;
  }();
  return idx;
}

bool failed(int64_t result) { return result < 0 && result >= -4095; }

// -EINTR and the kernel's restart codes, which a tracer sees at syscall exit.
bool interrupted(int64_t result) {
  return result == -EINTR || result == -512 /* ERESTARTSYS */ ||
         result == -513 /* ERESTARTNOINTR */ || result == -514 /* ERESTARTNOHAND */ ||
         result == -516 /* ERESTART_RESTARTBLOCK */;
}

uint64_t sat_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > kMaxEventBytes / a) {
    return kMaxEventBytes;
  }
  return a * b;
}

class Ranges {
 public:
  void add(uint64_t addr, uint64_t len) {
    if (addr != 0 && len != 0) {
      v_.push_back({addr, std::min(len, kMaxEventBytes)});
    }
  }
  std::vector<MemRange> take() { return std::move(v_); }

 private:
  std::vector<MemRange> v_;
};

template <class T>
std::optional<T> peek_value(const MemoryPeek& peek, uint64_t addr) {
  T v{};
  if (addr == 0 || peek(addr, &v, sizeof v) != sizeof v) {
    return std::nullopt;
  }
  return v;
}

struct Iovec {
  uint64_t base;
  uint64_t len;
};

std::vector<Iovec> read_iovecs(const MemoryPeek& peek, uint64_t addr, uint64_t count) {
  count = std::min(count, kMaxIovecs);
  std::vector<Iovec> iov(count);
  if (addr == 0 || count == 0) {
    return {};
  }
  size_t got = peek(addr, iov.data(), count * sizeof(Iovec));
  iov.resize(got / sizeof(Iovec));
  return iov;
}

// The buffers of an iovec array, the first `limit` bytes of them.
void add_iovec_buffers(Ranges& out, const std::vector<Iovec>& iov, uint64_t limit) {
  for (const Iovec& v : iov) {
    if (limit == 0) {
      break;
    }
    uint64_t n = std::min(v.len, limit);
    out.add(v.base, n);
    limit -= n;
  }
}

struct Msghdr {
  uint64_t name;
  uint32_t namelen;
  uint32_t pad0;
  uint64_t iov;
  uint64_t iovlen;
  uint64_t control;
  uint64_t controllen;
  int32_t flags;
  uint32_t pad1;
};
static_assert(sizeof(Msghdr) == kMsghdrSize);

// What recvmsg (or one recvmmsg entry) wrote: the msghdr's length and flag fields, the
// peer address, `nbytes` of data and the control messages. Read after the call, so the
// lengths are the ones the kernel stored.
void add_msghdr_out(Ranges& out, const MemoryPeek& peek, uint64_t addr, uint64_t nbytes) {
  out.add(addr, kMsghdrSize);
  auto m = peek_value<Msghdr>(peek, addr);
  if (!m) {
    return;
  }
  out.add(m->name, std::min<uint64_t>(m->namelen, kSockaddrMax));
  add_iovec_buffers(out, read_iovecs(peek, m->iov, m->iovlen), nbytes);
  out.add(m->control, m->controllen);
}

uint64_t arg_len(const ArgSpec& spec, const std::array<uint64_t, 6>& args) {
  return spec.len_arg < 6 ? args[spec.len_arg] : 0;
}

// Bytes the kernel wrote behind an output argument (kOutBuf, k*Struct, kSockaddrOut).
uint64_t output_length(const ArgSpec& spec, const std::array<uint64_t, 6>& args, int64_t result,
                       const MemoryPeek& peek) {
  uint64_t count = result > 0 ? static_cast<uint64_t>(result) : 0;
  if (spec.max_arg < 6) {
    count = std::min(count, args[spec.max_arg]);
  }
  switch (spec.out_size) {
    case OutSize::kFixed:
      return spec.size;
    case OutSize::kResult:
      return count;
    case OutSize::kArg:
      return arg_len(spec, args);
    case OutSize::kArgTimes:
      return sat_mul(arg_len(spec, args), spec.size);
    case OutSize::kResultTimes:
      return sat_mul(count, spec.size);
    case OutSize::kDerefLen: {
      auto len = peek_value<uint32_t>(peek, arg_len(spec, args));
      if (!len) {
        return 0;
      }
      // The kernel stores the full length even when it truncated the copy.
      return spec.size != 0 ? std::min<uint64_t>(*len, spec.size) : *len;
    }
  }
  return 0;
}

// --- special handlers --------------------------------------------------------------

struct Ioctl {
  uint32_t request;
  uint32_t out_size;  // 0: the request writes nothing
};

// Requests from before the _IOC encoding (tty, socket) that the generic rule can't size.
constexpr Ioctl kLegacyIoctls[] = {
    {0x5401, 36},  // TCGETS: the kernel's struct termios (glibc's is larger)
    {0x5402, 0},   {0x5403, 0}, {0x5404, 0},  // TCSETS, TCSETSW, TCSETSF
    {0x5409, 0},   {0x540A, 0}, {0x540B, 0},  // TCSBRK, TCXONC, TCFLSH
    {0x540C, 0},   {0x540D, 0}, {0x540E, 0},  // TIOCEXCL, TIOCNXCL, TIOCSCTTY
    {0x540F, 4},                              // TIOCGPGRP
    {0x5410, 0},                              // TIOCSPGRP
    {0x5411, 4},                              // TIOCOUTQ
    {0x5412, 0},                              // TIOCSTI
    {0x5413, 8},                              // TIOCGWINSZ
    {0x5414, 0},                              // TIOCSWINSZ
    {0x5415, 4},                              // TIOCMGET
    {0x5416, 0},   {0x5417, 0}, {0x5418, 0},  // TIOCMBIS, TIOCMBIC, TIOCMSET
    {0x5419, 4},                              // TIOCGSOFTCAR
    {0x541A, 0},                              // TIOCSSOFTCAR
    {0x541B, 4},                              // FIONREAD
    {0x5420, 0},   {0x5421, 0},               // TIOCPKT, FIONBIO
    {0x5422, 0},   {0x5423, 0},               // TIOCNOTTY, TIOCSETD
    {0x5424, 4},                              // TIOCGETD
    {0x5425, 0},   {0x5427, 0}, {0x5428, 0},  // TCSBRKP, TIOCSBRK, TIOCCBRK
    {0x5429, 4},                              // TIOCGSID
    {0x5450, 0},   {0x5451, 0}, {0x5452, 0},  // FIONCLEX, FIOCLEX, FIOASYNC
    {0x541E, 72},                             // TIOCGSERIAL (struct serial_struct)
    {0x541F, 0},                              // TIOCSSERIAL
    {0x542E, 32},                             // TIOCGRS485 (struct serial_rs485)
    {0x542F, 32},                             // TIOCSRS485: written back
    {0x5456, 36},                             // TIOCGLCKTRMIOS
    {0x5457, 0},                              // TIOCSLCKTRMIOS
    {0x5459, 4},                              // TIOCSERGETLSR
    {0x545C, 0},                              // TIOCMIWAIT
    {0x545D, 80},                             // TIOCGICOUNT (serial_icounter_struct)
    {0x5460, 8},                              // FIOQSIZE (loff_t)
    {0x8901, 0},   {0x8902, 0},               // FIOSETOWN, SIOCSPGRP
    {0x8903, 4},   {0x8904, 4},               // FIOGETOWN, SIOCGPGRP
    {0x8905, 4},                              // SIOCATMARK
    {0x8906, 16},                             // SIOCGSTAMP (struct timeval)
    {0x8907, 16},                             // SIOCGSTAMPNS (struct timespec)
    // struct ifreq (40 bytes), read and written back.
    {0x8910, 40},  {0x8913, 40}, {0x8915, 40}, {0x8917, 40}, {0x8919, 40}, {0x891b, 40},
    {0x8921, 40},  {0x8927, 40}, {0x8933, 40},
};

// Requests whose _IOC size is only a header, or whose direction bits say less than
// the kernel writes.
constexpr uint32_t kFsIocFiemap = 0xC020660B;  // struct fiemap + fm_mapped_extents extents
constexpr uint32_t kTunSetIff = 0x400454CA;    // _IOW, but writes the struct ifreq back
constexpr uint32_t kTunGetIff = 0x800454D2;    // sized as an int, writes a struct ifreq
// The old bridge ioctl: an unsigned long[3] {command, pointer, count}; BRCTL_GET_BRIDGES
// (1) writes as many ifindexes (ints) as it returns at the pointer.
constexpr uint32_t kSiocGifbr = 0x8940;
constexpr uint64_t kBrctlGetBridges = 1;

void ioctl_outputs(Ranges& out, const std::array<uint64_t, 6>& args, int64_t result,
                   const MemoryPeek& peek) {
  auto req = static_cast<uint32_t>(args[1]);
  const bool ok = !failed(result);
  if (req == kSiocGifbr) {
    auto command = peek_value<uint64_t>(peek, args[2]);
    auto at = peek_value<uint64_t>(peek, args[2] + 8);
    if (ok && command == kBrctlGetBridges && at) {
      out.add(*at, std::min<uint64_t>(static_cast<uint64_t>(result), 1u << 16) * 4);
    }
    return;
  }
  if (req == kFsIocFiemap && ok) {
    auto mapped = peek_value<uint32_t>(peek, args[2] + 20);
    out.add(args[2], 32 + std::min<uint64_t>(mapped.value_or(0), 1u << 16) * 56);
    return;
  }
  if ((req == kTunSetIff || req == kTunGetIff) && ok) {
    out.add(args[2], 40);
    return;
  }
  for (const Ioctl& k : kLegacyIoctls) {
    if (k.request == req) {
      if (ok) {
        out.add(args[2], k.out_size);
      }
      return;
    }
  }
  uint32_t dir = req >> 30;
  uint32_t size = (req >> 16) & 0x3fff;
  if ((dir & 2) != 0 && ok) {  // _IOC_READ: the kernel writes `size` bytes
    out.add(args[2], size);
  }
}

bool ioctl_known(uint64_t request) {
  auto req = static_cast<uint32_t>(request);
  if (req == kSiocGifbr) {
    return true;
  }
  for (const Ioctl& k : kLegacyIoctls) {
    if (k.request == req) {
      return true;
    }
  }
  uint32_t type = (req >> 8) & 0xff;
  // A request with no direction bits is _IO() (no data) unless it comes from the old
  // tty (0x54) or socket (0x89, 0x8B) ranges, whose direction bits are meaningless.
  return (req >> 30) != 0 || (type != 0x54 && type != 0x89 && type != 0x8B);
}

void fcntl_outputs(Ranges& out, const std::array<uint64_t, 6>& args) {
  switch (static_cast<int>(args[1])) {
    case 5:   // F_GETLK
    case 36:  // F_OFD_GETLK
      out.add(args[2], 32);  // struct flock
      break;
    case 16:  // F_GETOWN_EX
      out.add(args[2], 8);
      break;
    case 1035:  // F_GET_RW_HINT
    case 1037:  // F_GET_FILE_RW_HINT
      out.add(args[2], 8);
      break;
    default:
      break;
  }
}

void prctl_outputs(Ranges& out, const std::array<uint64_t, 6>& args, int64_t result) {
  switch (args[0]) {
    case 2:   // PR_GET_PDEATHSIG
    case 5:   // PR_GET_UNALIGN
    case 9:   // PR_GET_FPEMU
    case 11:  // PR_GET_FPEXC
    case 19:  // PR_GET_ENDIAN
    case 25:  // PR_GET_TSC
    case 37:  // PR_GET_CHILD_SUBREAPER
      out.add(args[1], 4);
      break;
    case 16:  // PR_GET_NAME
      out.add(args[1], 16);
      break;
    case 40:  // PR_GET_TID_ADDRESS
    case 74:  // PR_GET_SHADOW_STACK_STATUS
      out.add(args[1], 8);
      break;
    case 35:  // PR_SET_MM
      if (args[1] == 15) {  // PR_SET_MM_MAP_SIZE: the size of struct prctl_mm_map
        out.add(args[2], 4);
      }
      break;
    case 62:  // PR_SCHED_CORE
      if (args[1] == 0) {  // PR_SCHED_CORE_GET
        out.add(args[4], 8);
      }
      break;
    case 0x41555856:  // PR_GET_AUXV: returns the full size, copies at most arg 3
      out.add(args[1], std::min(static_cast<uint64_t>(result), args[2]));
      break;
    default:
      break;
  }
}

void arch_prctl_outputs(Ranges& out, const std::array<uint64_t, 6>& args) {
  switch (args[0]) {
    case 0x1003:  // ARCH_GET_FS
    case 0x1004:  // ARCH_GET_GS
    case 0x1021:  // ARCH_GET_XCOMP_SUPP
    case 0x1022:  // ARCH_GET_XCOMP_PERM
    case 0x1024:  // ARCH_GET_XCOMP_GUEST_PERM
    case 0x4001:  // ARCH_GET_UNTAG_MASK
    case 0x4003:  // ARCH_GET_MAX_TAG_BITS
    case 0x5005:  // ARCH_SHSTK_STATUS
      out.add(args[1], 8);
      break;
    default:
      break;
  }
}

// futex writes user memory only for the PI operations (the lock word, possibly also on
// failure, e.g. FUTEX_WAITERS set before a timeout) and FUTEX_WAKE_OP (the second word).
void futex_outputs(Ranges& out, const std::array<uint64_t, 6>& args, int64_t result) {
  switch (args[1] & 0x7f) {
    case 5:  // FUTEX_WAKE_OP
      if (!failed(result)) {
        out.add(args[4], 4);
      }
      break;
    case 6:   // FUTEX_LOCK_PI
    case 7:   // FUTEX_UNLOCK_PI
    case 8:   // FUTEX_TRYLOCK_PI
    case 13:  // FUTEX_LOCK_PI2
      out.add(args[0], 4);
      break;
    case 11:  // FUTEX_WAIT_REQUEUE_PI
    case 12:  // FUTEX_CMP_REQUEUE_PI
      out.add(args[0], 4);
      out.add(args[4], 4);
      break;
    default:
      break;
  }
}

uint64_t string_length(const MemoryPeek& peek, uint64_t addr, size_t max);

// The SysV IPC control commands that write a structure, with its size on x86-64.
struct IpcCommand {
  uint32_t cmd;
  uint32_t size;
};
constexpr IpcCommand kShmctlOutputs[] = {
    {2, 112}, {13, 112}, {15, 112},  // IPC_STAT, SHM_STAT, SHM_STAT_ANY: struct shmid_ds
    {3, 72},                         // IPC_INFO: struct shminfo
    {14, 48},                        // SHM_INFO: struct shm_info
};
constexpr IpcCommand kMsgctlOutputs[] = {
    {2, 120}, {11, 120}, {13, 120},  // IPC_STAT, MSG_STAT, MSG_STAT_ANY: struct msqid64_ds
    {3, 32},  {12, 32},              // IPC_INFO, MSG_INFO: struct msginfo
};
constexpr IpcCommand kSemctlOutputs[] = {
    {2, 104}, {18, 104}, {20, 104},  // IPC_STAT, SEM_STAT, SEM_STAT_ANY: struct semid64_ds
    {3, 40},  {19, 40},              // IPC_INFO, SEM_INFO: struct seminfo
};

void ipc_ctl_outputs(Ranges& out, uint64_t cmd, uint64_t buf, std::span<const IpcCommand> known) {
  cmd &= ~uint64_t{0x100};  // IPC_64 changes nothing on x86-64
  for (const IpcCommand& k : known) {
    if (k.cmd == cmd) {
      out.add(buf, k.size);
      return;
    }
  }
}

// What a tracer's ptrace request writes into the tracer (the program being recorded):
// for the raw syscall, PEEK* store the word at `data` too.
void ptrace_outputs(Ranges& out, const std::array<uint64_t, 6>& args, int64_t result,
                    const MemoryPeek& peek) {
  const uint64_t addr = args[2], data = args[3];
  const auto n = static_cast<uint64_t>(result);
  switch (args[0]) {
    case 1:  // PTRACE_PEEKTEXT
    case 2:  // PTRACE_PEEKDATA
    case 3:  // PTRACE_PEEKUSER
      out.add(data, 8);
      break;
    case 12:  // PTRACE_GETREGS
      out.add(data, 27 * 8);  // struct user_regs_struct
      break;
    case 14:  // PTRACE_GETFPREGS
      out.add(data, 512);  // struct user_fpregs_struct
      break;
    case 25:  // PTRACE_GET_THREAD_AREA
      out.add(data, 16);  // struct user_desc
      break;
    case 30:  // PTRACE_ARCH_PRCTL: ARCH_GET_FS, ARCH_GET_GS store at addr
      if (data == 0x1003 || data == 0x1004) {
        out.add(addr, 8);
      }
      break;
    case 0x4201:  // PTRACE_GETEVENTMSG
    case 0x420a:  // PTRACE_GETSIGMASK
      out.add(data, 8);
      break;
    case 0x4202:  // PTRACE_GETSIGINFO
      out.add(data, 128);
      break;
    case 0x4204: {  // PTRACE_GETREGSET: the iovec's length is set to what was written
      auto base = peek_value<uint64_t>(peek, data);
      auto len = peek_value<uint64_t>(peek, data + 8);
      out.add(data + 8, 8);
      if (base && len) {
        out.add(*base, std::min<uint64_t>(*len, 1u << 20));
      }
      break;
    }
    case 0x4209:  // PTRACE_PEEKSIGINFO: `result` siginfos
      out.add(data, std::min<uint64_t>(n, 1024) * 128);
      break;
    case 0x420c:  // PTRACE_SECCOMP_GET_FILTER: `result` BPF instructions (none when data is 0)
      out.add(data, std::min<uint64_t>(n, 4096) * 8);
      break;
    case 0x420e:  // PTRACE_GET_SYSCALL_INFO: at most addr bytes of the answer
    case 0x420f:  // PTRACE_GET_RSEQ_CONFIGURATION
      out.add(data, std::min(n, addr));
      break;
    default:
      break;
  }
}

void special_outputs(Ranges& out, const SyscallInfo& info, const std::array<uint64_t, 6>& args,
                     int64_t result, const MemoryPeek& peek) {
  const std::string_view sp = info.special;
  const bool ok = !failed(result);
  if (sp == "ioctl") {
    ioctl_outputs(out, args, result, peek);
  } else if (sp == "futex") {
    futex_outputs(out, args, result);
  } else if (!ok) {
    return;
  } else if (sp == "fcntl") {
    fcntl_outputs(out, args);
  } else if (sp == "prctl") {
    prctl_outputs(out, args, result);
  } else if (sp == "arch_prctl") {
    arch_prctl_outputs(out, args);
  } else if (sp == "select") {
    // Each non-NULL fd_set is rewritten with the ready descriptors, in whole longs.
    uint64_t bytes = (std::min<uint64_t>(args[0], 1u << 20) + 63) / 64 * 8;
    for (int i = 1; i <= 3; ++i) {
      out.add(args[i], bytes);
    }
  } else if (sp == "mincore") {
    out.add(args[2], (args[1] + kPageSize - 1) / kPageSize);
  } else if (sp == "shmctl") {
    ipc_ctl_outputs(out, args[1], args[2], kShmctlOutputs);
  } else if (sp == "msgctl") {
    ipc_ctl_outputs(out, args[1], args[2], kMsgctlOutputs);
  } else if (sp == "semctl") {
    // The fourth argument is the union semun, passed by value: here, a pointer. GETALL
    // writes one short per semaphore of the set, a count the arguments do not give: not
    // recorded (the table's one known gap here).
    ipc_ctl_outputs(out, args[2], args[3], kSemctlOutputs);
  } else if (sp == "keyctl") {
    auto n = static_cast<uint64_t>(result);  // the size of the whole answer
    switch (args[0]) {
      case 6:   // KEYCTL_DESCRIBE: copied only when it fits
      case 17:  // KEYCTL_GET_SECURITY
        if (args[2] != 0 && n <= args[3]) {
          out.add(args[2], n);
        }
        break;
      case 11:  // KEYCTL_READ: as much as fits
      case 23:  // KEYCTL_DH_COMPUTE
        out.add(args[2], std::min(n, args[3]));
        break;
      case 31:  // KEYCTL_CAPABILITIES
        out.add(args[1], std::min(n, args[2]));
        break;
      default:
        break;
    }
  } else if (sp == "ptrace") {
    ptrace_outputs(out, args, result, peek);
  } else if (sp == "seccomp") {
    if (args[0] == 3) {  // SECCOMP_GET_NOTIF_SIZES: struct seccomp_notif_sizes
      out.add(args[2], 6);
    }
  } else if (sp == "sysfs") {
    if (args[0] == 2) {  // the name of file system type args[1], NUL-terminated
      out.add(args[2], string_length(peek, args[2], 256));
    }
  } else if (sp == "get_mempolicy") {
    out.add(args[0], 4);  // the mode (a node with MPOL_F_NODE)
    if (args[2] > 0) {    // the node mask: maxnode - 1 bits, in whole longs
      out.add(args[1], (std::min<uint64_t>(args[2] - 1, 1u << 20) + 63) / 64 * 8);
    }
  } else if (sp == "setsockopt") {
    // IPT_SO_SET_REPLACE and IP6T_SO_SET_REPLACE hand the kernel a new table and a
    // pointer (struct ipt_replace: num_counters at 84, counters at 88) to which it copies
    // the old table's counters, 16 bytes each.
    if ((args[1] == 0 || args[1] == 41) && args[2] == 64 && args[4] >= 96) {
      auto count = peek_value<uint32_t>(peek, args[3] + 84);
      auto counters = peek_value<uint64_t>(peek, args[3] + 88);
      if (count && counters) {
        out.add(*counters, std::min<uint64_t>(*count, 1u << 20) * 16);
      }
    }
  } else if (sp == "clone") {
    // CLONE_PARENT_SETTID or CLONE_PIDFD: an int stored at parent_tid in the parent.
    if (result > 0 && (args[0] & (0x00100000 | 0x1000)) != 0) {
      out.add(args[2], 4);
    }
  } else if (sp == "clone3") {
    if (result > 0 && args[1] >= 32) {
      auto flags = peek_value<uint64_t>(peek, args[0]);
      auto pidfd = peek_value<uint64_t>(peek, args[0] + 8);
      auto parent_tid = peek_value<uint64_t>(peek, args[0] + 24);
      if (flags && pidfd && parent_tid) {
        if ((*flags & 0x1000) != 0) {
          out.add(*pidfd, 4);
        }
        if ((*flags & 0x00100000) != 0) {
          out.add(*parent_tid, 4);
        }
      }
    }
  } else if (sp == "wait4") {
    if (result > 0) {  // 0: WNOHANG and no child changed state, nothing written
      out.add(args[1], 4);
      out.add(args[3], 144);  // struct rusage
    }
  } else if (sp == "msgrcv") {
    out.add(args[1], 8 + static_cast<uint64_t>(result));  // long mtype + the text
  } else if (sp == "syslog") {
    if (args[0] >= 2 && args[0] <= 4) {  // SYSLOG_ACTION_READ, _READ_ALL, _READ_CLEAR
      out.add(args[1], static_cast<uint64_t>(result));
    }
  } else if (sp == "modify_ldt") {
    if (args[0] == 0 || args[0] == 2) {  // read the LDT / the default LDT
      out.add(args[1], static_cast<uint64_t>(result));
    }
  } else if (sp == "recvmmsg") {
    uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(result), args[2]);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t entry = args[1] + i * kMmsghdrSize;
      auto len = peek_value<uint32_t>(peek, entry + kMsghdrSize);
      out.add(entry + kMsghdrSize, 4);
      add_msghdr_out(out, peek, entry, len.value_or(0));
    }
  } else if (sp == "sendmmsg") {
    uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(result), args[2]);
    for (uint64_t i = 0; i < n; ++i) {
      out.add(args[1] + i * kMmsghdrSize + kMsghdrSize, 4);  // msg_len
    }
  }
}

// Length of the string at addr including its NUL, or max when none was found by then.
uint64_t string_length(const MemoryPeek& peek, uint64_t addr, size_t max) {
  char buf[256];
  uint64_t done = 0;
  while (done < max) {
    uint64_t at = addr + done;
    // Never read across a page boundary in one go: the next page may be unmapped.
    uint64_t chunk = std::min<uint64_t>({sizeof buf, kPageSize - at % kPageSize, max - done});
    size_t got = peek(at, buf, chunk);
    if (got == 0) {
      return done;
    }
    if (const void* nul = std::memchr(buf, 0, got)) {
      return done + static_cast<uint64_t>(static_cast<const char*>(nul) - buf) + 1;
    }
    done += got;
    if (got < chunk) {
      return done;
    }
  }
  return max;
}

void add_string(Ranges& out, const MemoryPeek& peek, uint64_t addr, size_t max) {
  if (addr != 0) {
    out.add(addr, string_length(peek, addr, max));
  }
}

void add_msghdr_in(Ranges& out, const MemoryPeek& peek, uint64_t addr, bool with_data) {
  out.add(addr, kMsghdrSize);
  auto m = peek_value<Msghdr>(peek, addr);
  if (!m) {
    return;
  }
  uint64_t count = std::min(m->iovlen, kMaxDisplayIovecs);
  out.add(m->iov, count * sizeof(Iovec));
  if (with_data) {
    out.add(m->name, std::min<uint64_t>(m->namelen, kSockaddrMax));
    add_iovec_buffers(out, read_iovecs(peek, m->iov, count), kMaxInputBufBytes);
    out.add(m->control, std::min<uint64_t>(m->controllen, kMaxInputBufBytes));
  }
}

}  // namespace

const SyscallInfo* syscall_info(int64_t nr) {
  if (nr < 0 || static_cast<uint64_t>(nr) >= kMaxNr) {
    return nullptr;
  }
  return index().by_nr[static_cast<size_t>(nr)];
}

std::string syscall_name(int64_t nr) {
  const SyscallInfo* si = syscall_info(nr);
  return si != nullptr ? std::string(si->name) : fmt::format("syscall_{}", nr);
}

const SyscallInfo* syscall_info_by_name(std::string_view name) {
  const auto& m = index().by_name;
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}

std::span<const SyscallInfo> all_syscalls() { return syscall_table_data(); }

std::vector<MemRange> syscall_output_ranges(const SyscallInfo& info,
                                            const std::array<uint64_t, 6>& args,
                                            int64_t result, const MemoryPeek& peek) {
  Ranges out;
  const bool ok = !failed(result);
  const bool intr = interrupted(result);
  for (size_t i = 0; i < info.nargs && i < args.size(); ++i) {
    const ArgSpec& spec = info.args[i];
    if (!ok && !(spec.on_interrupt && intr) && !spec.on_failure) {
      continue;
    }
    switch (spec.kind) {
      case ArgKind::kOutBuf:
      case ArgKind::kOutStruct:
      case ArgKind::kInOutStruct:
      case ArgKind::kSockaddrOut:
        out.add(args[i], output_length(spec, args, result, peek));
        break;
      case ArgKind::kIovecOut:
        add_iovec_buffers(out, read_iovecs(peek, args[i], arg_len(spec, args)),
                          static_cast<uint64_t>(result));
        break;
      case ArgKind::kMsghdrOut:
        add_msghdr_out(out, peek, args[i], static_cast<uint64_t>(result));
        break;
      default:
        break;
    }
  }
  if (!info.special.empty()) {
    special_outputs(out, info, args, result, peek);
  }
  return out.take();
}

std::vector<MemRange> syscall_input_ranges(const SyscallInfo& info,
                                           const std::array<uint64_t, 6>& args,
                                           const MemoryPeek& peek, size_t max_string) {
  Ranges out;
  for (size_t i = 0; i < info.nargs && i < args.size(); ++i) {
    const ArgSpec& spec = info.args[i];
    const uint64_t addr = args[i];
    switch (spec.kind) {
      case ArgKind::kString:
        add_string(out, peek, addr, max_string);
        break;
      case ArgKind::kStringArray: {
        uint64_t n = 0;
        for (; n < kMaxStringArrayEntries; ++n) {
          auto p = peek_value<uint64_t>(peek, addr + n * 8);
          if (!p || *p == 0) {
            break;
          }
          add_string(out, peek, *p, max_string);
        }
        out.add(addr, (n + 1) * 8);  // the pointers and the terminating NULL
        break;
      }
      case ArgKind::kInBuf:
        out.add(addr, std::min<uint64_t>(arg_len(spec, args), kMaxInputBufBytes));
        break;
      case ArgKind::kSockaddrIn:
        out.add(addr, std::min<uint64_t>(arg_len(spec, args), kSockaddrMax));
        break;
      case ArgKind::kInStruct:
      case ArgKind::kInOutStruct:
        out.add(addr, spec.size);
        break;
      case ArgKind::kIovecIn: {
        uint64_t count = std::min(arg_len(spec, args), kMaxDisplayIovecs);
        out.add(addr, count * sizeof(Iovec));
        add_iovec_buffers(out, read_iovecs(peek, addr, count), kMaxInputBufBytes);
        break;
      }
      case ArgKind::kIovecOut:
        // The array itself, so that `rewind log` can find the buffers in the outputs.
        out.add(addr, std::min(arg_len(spec, args), kMaxDisplayIovecs) * sizeof(Iovec));
        break;
      case ArgKind::kMsghdrIn:
        add_msghdr_in(out, peek, addr, true);
        break;
      case ArgKind::kMsghdrOut:
        add_msghdr_in(out, peek, addr, false);
        break;
      default:
        break;
    }
  }
  if (info.special == "futex") {
    switch (args[1] & 0x7f) {
      case 0:   // FUTEX_WAIT: relative timeout
      case 6:   // FUTEX_LOCK_PI
      case 9:   // FUTEX_WAIT_BITSET
      case 11:  // FUTEX_WAIT_REQUEUE_PI
      case 13:  // FUTEX_LOCK_PI2
        out.add(args[3], 16);  // struct timespec
        break;
      default:
        break;
    }
  }
  return out.take();
}

std::string_view syscall_output_gap(const SyscallInfo& info, const std::array<uint64_t, 6>& args) {
  if (info.special == "unknown-output") {
    return "the syscall table does not describe the memory this syscall writes";
  }
  if (info.special == "ioctl" && !ioctl_known(args[1])) {
    return "ioctl request with unknown outputs";
  }
  return {};
}

}  // namespace rwd
