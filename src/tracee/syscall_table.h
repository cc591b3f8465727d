// The x86-64 syscall table: what rewind knows about each syscall, as data.
//
// For every syscall: its name, how to show each argument (for `rewind log`), which
// arguments are strings or structures the kernel reads (captured at entry, for display)
// and which point at memory the kernel writes and how long that memory is (captured at
// exit, so replay can write the same bytes back). Kernel ABI knowledge lives here and
// nowhere else; the recorder and the log formatter only interpret this table.
//
//   const SyscallInfo* info = syscall_info(SYS_read);
//   auto ranges = syscall_output_ranges(*info, args, result, memory);
//   for (auto [addr, len] : ranges) capture(addr, len);
//   if (auto gap = syscall_output_gap(*info, args); !gap.empty()) warn(gap);
//
// A syscall number with no entry is recorded all the same (number, arguments, result),
// and the recorder adds a warning naming it: its memory effects are unknown.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace rwd {

// How an argument is shown and what it points at.
enum class ArgKind : uint8_t {
  kNone,        // unused argument slot
  kInt,         // signed decimal
  kUint,        // unsigned decimal
  kHex,         // hexadecimal
  kFd,          // file descriptor (AT_FDCWD shown by name)
  kPtr,         // an address shown in hex, contents not shown
  kString,      // NUL-terminated string the kernel reads (path, name)
  kStringArray, // NULL-terminated array of strings (argv, envp)
  kInBuf,       // bytes the kernel reads; length in the argument `len_arg`
  kOutBuf,      // bytes the kernel writes; see OutSize for the length
  kInStruct,    // fixed-size structure the kernel reads (size in `size`)
  kOutStruct,   // fixed-size structure the kernel writes (size in `size`)
  kInOutStruct, // fixed-size structure read and written
  kIovecIn,     // struct iovec array the kernel reads from (count in `len_arg`)
  kIovecOut,    // struct iovec array the kernel writes into (count in `len_arg`)
  kMsghdrIn,    // struct msghdr the kernel reads (sendmsg)
  kMsghdrOut,   // struct msghdr the kernel fills (recvmsg)
  kOpenFlags,   // O_* flags
  kMode,        // octal mode
  kSignal,      // signal number shown by name
  kFlags,       // other flags, hex
  // Display-only kinds (how `rewind log` decodes a number) and two sockaddr kinds.
  kSockaddrIn,  // struct sockaddr the kernel reads; length in argument `len_arg`
  kSockaddrOut, // struct sockaddr the kernel writes (OutSize::kDerefLen, capped at `size`)
  kProt,        // PROT_* (mmap, mprotect)
  kMmapFlags,   // MAP_*
  kFutexOp,     // FUTEX_* operation
  kWhence,      // SEEK_*
  kAtFlags,     // AT_* flags
  kSockDomain,  // AF_*
  kSockType,    // SOCK_* with SOCK_NONBLOCK/SOCK_CLOEXEC
  kFcntlCmd,    // F_*
  kIoctlReq,    // ioctl request
  kClockId,     // CLOCK_*
  kSigHow,      // SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK
  kEpollOp,     // EPOLL_CTL_*
  kAccessMode,  // F_OK/R_OK/W_OK/X_OK
  kCloneFlags,  // CLONE_* (low byte: exit signal)
  kPrctlOp,     // PR_*
  kArchPrctlOp, // ARCH_*
};

// "No argument" for ArgSpec::max_arg.
inline constexpr uint8_t kNoArg = 0xff;

// How long the memory behind an output argument is.
enum class OutSize : uint8_t {
  kFixed,       // `size` bytes
  kResult,      // the syscall's return value, when non-negative (read, recvfrom...)
  kArg,         // the value of argument `len_arg`, when the call succeeded
  kArgTimes,    // `size` bytes times the value of argument `len_arg` (epoll_wait events)
  kResultTimes, // `size` bytes times the return value (epoll_wait: only ready entries)
  kDerefLen,    // *(socklen_t*)argument `len_arg` after the call (getsockname, accept)
};

struct ArgSpec {
  ArgKind kind = ArgKind::kNone;
  OutSize out_size = OutSize::kFixed;
  uint8_t len_arg = 0;  // argument index used by kInBuf, kIovec*, OutSize::kArg*...
  uint32_t size = 0;    // bytes for fixed-size structures / element size
  // kResult/kResultTimes: the count is capped at the value of this argument (getxattr
  // with size 0 returns the size it needs and writes nothing).
  uint8_t max_arg = kNoArg;
  // Also written when the call was interrupted by a signal (-EINTR or a restart code):
  // poll's revents, the remaining time of nanosleep and of select/ppoll timeouts.
  bool on_interrupt = false;
  // Written whatever the call returns: waitid fills in its siginfo also when it fails.
  bool on_failure = false;
};

// Properties that change how the recorder handles a syscall.
enum SyscallFlags : uint32_t {
  kSysNone = 0,
  kSysMemoryMap = 1u << 0,     // changes the address space (mmap, munmap, mprotect, brk...)
  kSysBlocking = 1u << 1,      // may block indefinitely (read on a socket, futex wait...)
  kSysThreadCreate = 1u << 2,  // clone, clone3, fork, vfork
  kSysExec = 1u << 3,          // execve, execveat
  kSysExit = 1u << 4,          // exit, exit_group
  kSysUnsupported = 1u << 5,   // cannot be replayed faithfully (io_uring_setup, perf_event_open, ptrace...)
  kSysSignal = 1u << 6,        // changes signal state (rt_sigaction, rt_sigprocmask, sigaltstack...)
};

struct SyscallInfo {
  int nr = -1;
  std::string_view name;
  uint8_t nargs = 0;
  std::array<ArgSpec, 6> args{};
  uint32_t flags = kSysNone;
  // Special cases the table cannot express (ioctl by request, fcntl by command,
  // getsockopt, prctl...) name a handler here; see syscall_output_ranges.
  std::string_view special;
};

// nullptr when the number has no entry.
const SyscallInfo* syscall_info(int64_t nr);
// The table's name for nr, or "syscall_NR" when it has no entry.
std::string syscall_name(int64_t nr);
const SyscallInfo* syscall_info_by_name(std::string_view name);
// The whole table, for tests and docs.
std::span<const SyscallInfo> all_syscalls();

struct MemRange {
  uint64_t addr = 0;
  uint64_t len = 0;
  bool operator==(const MemRange&) const = default;
};

// Reads target memory for the table's indirect lengths (iovec arrays, msghdr,
// socklen_t). Returns the number of bytes read (0 on failure).
using MemoryPeek = std::function<size_t(uint64_t addr, void* out, size_t len)>;

// Memory the kernel wrote for a completed syscall. Failed calls (-4095..-1) write
// nothing, except where the ABI says otherwise. Ranges never hold address 0, may
// overlap, and may cover a little more than the kernel wrote (a whole struct where the
// kernel filled some fields): they are captured at exit, so the extra bytes are the
// target's own and writing them back at replay changes nothing.
std::vector<MemRange> syscall_output_ranges(const SyscallInfo& info,
                                            const std::array<uint64_t, 6>& args,
                                            int64_t result, const MemoryPeek& peek);

// Memory the syscall reads that `rewind log` shows (strings, small structures, the
// first bytes of write buffers), captured at syscall entry. String ranges end at the
// NUL or at `max_string` bytes.
std::vector<MemRange> syscall_input_ranges(const SyscallInfo& info,
                                           const std::array<uint64_t, 6>& args,
                                           const MemoryPeek& peek, size_t max_string = 4096);

// Why syscall_output_ranges may miss memory this call wrote (an ioctl request, fcntl
// command or syscall whose outputs the table does not know), or empty when the table
// knows them all. The recorder turns a non-empty answer into a recording warning.
std::string_view syscall_output_gap(const SyscallInfo& info, const std::array<uint64_t, 6>& args);

// Largest write/send buffer prefix captured at entry for display.
inline constexpr size_t kMaxInputBufBytes = 256;
// Strings of an argv/envp array captured at entry.
inline constexpr size_t kMaxStringArrayEntries = 64;

}  // namespace rwd
