#include "inspect/syscall_formatter.h"

#include <arpa/inet.h>
#include <sys/syscall.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "inspect/value_names.h"
#include "tracee/signals.h"
#include "tracee/syscall_table.h"
#include "tracee/wait_status.h"

namespace rwd {

namespace {

using Caps = std::vector<MemoryBytes>;

bool failed(int64_t r) { return r < 0 && r >= -4095; }

// The captured bytes from `addr`, at most `len` of them; nullopt when nothing there was
// captured.
std::optional<std::string_view> captured(const Caps& caps, uint64_t addr,
                                         uint64_t len = UINT64_MAX) {
  if (addr == 0) {
    return std::nullopt;
  }
  for (const MemoryBytes& m : caps) {
    if (addr >= m.addr && addr - m.addr < m.bytes.size()) {
      return std::string_view(m.bytes).substr(addr - m.addr, len);
    }
  }
  return std::nullopt;
}

// Outputs first: what the kernel left there is what the program saw afterwards.
std::optional<std::string_view> captured_any(const Event& e, uint64_t addr,
                                             uint64_t len = UINT64_MAX) {
  if (auto b = captured(e.outputs, addr, len)) {
    return b;
  }
  return captured(e.inputs, addr, len);
}

template <class T>
std::optional<T> load(std::optional<std::string_view> bytes, size_t offset = 0) {
  T v{};
  if (!bytes || bytes->size() < offset + sizeof v) {
    return std::nullopt;
  }
  std::memcpy(&v, bytes->data() + offset, sizeof v);
  return v;
}

std::string hex(uint64_t v) { return v == 0 ? "0" : fmt::format("{:#x}", v); }
std::string pointer(uint64_t v) { return v == 0 ? "NULL" : fmt::format("{:#x}", v); }

std::string shown_buffer(std::optional<std::string_view> bytes, uint64_t addr, uint64_t len) {
  if (!bytes) {
    return pointer(addr);
  }
  std::string_view b = bytes->substr(0, std::min<uint64_t>(len, kShownBufferBytes));
  return quote_bytes(b, len > b.size());
}

std::string c_string(const Event& e, uint64_t addr) {
  auto bytes = captured(e.inputs, addr);
  if (!bytes) {
    return pointer(addr);
  }
  size_t nul = bytes->find('\0');
  return quote_bytes(bytes->substr(0, nul), nul == std::string_view::npos);
}

std::string sigset_text(std::optional<std::string_view> bytes, uint64_t addr) {
  auto mask = load<uint64_t>(bytes);
  if (!mask) {
    return pointer(addr);
  }
  uint64_t m = *mask;
  std::string prefix;
  if (__builtin_popcountll(m) > 32) {  // strace shows mostly-full sets inverted
    prefix = "~";
    m = ~m;
  }
  std::string out;
  for (int sig = 1; sig <= 64; ++sig) {
    if ((m >> (sig - 1)) & 1) {
      std::string n = signal_name(sig);
      if (n.starts_with("SIG")) {
        n = n.substr(3);
      }
      out += out.empty() ? n : " " + n;
    }
  }
  return prefix + "[" + out + "]";
}

std::string sockaddr_text(std::optional<std::string_view> bytes, uint64_t addr) {
  auto family = load<uint16_t>(bytes);
  if (!family) {
    return pointer(addr);
  }
  const std::string_view b = *bytes;
  char text[INET6_ADDRSTRLEN] = {};
  if (*family == AF_INET && b.size() >= 8) {
    inet_ntop(AF_INET, b.data() + 4, text, sizeof text);
    return fmt::format("{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
                       ntohs(*load<uint16_t>(bytes, 2)), text);
  }
  if (*family == AF_INET6 && b.size() >= 28) {
    inet_ntop(AF_INET6, b.data() + 8, text, sizeof text);
    return fmt::format(
        "{{sa_family=AF_INET6, sin6_port=htons({}), sin6_flowinfo=htonl({}), "
        "inet_pton(AF_INET6, \"{}\", &sin6_addr), sin6_scope_id={}}}",
        ntohs(*load<uint16_t>(bytes, 2)), ntohl(*load<uint32_t>(bytes, 4)), text,
        *load<uint32_t>(bytes, 24));
  }
  if (*family == AF_UNIX) {
    std::string_view path = b.substr(2);
    if (!path.empty() && path[0] == '\0') {  // abstract socket
      return fmt::format("{{sa_family=AF_UNIX, sun_path=@{}}}", quote_bytes(path.substr(1)));
    }
    return fmt::format("{{sa_family=AF_UNIX, sun_path={}}}",
                       quote_bytes(path.substr(0, path.find('\0'))));
  }
  return fmt::format("{{sa_family={}, ...}}", sock_domain_text(*family));
}

std::string timespec_text(std::optional<std::string_view> bytes, uint64_t addr,
                          std::string_view frac = "tv_nsec") {
  auto sec = load<int64_t>(bytes);
  auto nsec = load<int64_t>(bytes, 8);
  if (!sec || !nsec) {
    return pointer(addr);
  }
  return fmt::format("{{tv_sec={}, {}={}}}", *sec, frac, *nsec);
}

std::string file_type(uint32_t mode) {
  switch (mode & 0170000) {
    case 0140000: return "S_IFSOCK";
    case 0120000: return "S_IFLNK";
    case 0100000: return "S_IFREG";
    case 0060000: return "S_IFBLK";
    case 0040000: return "S_IFDIR";
    case 0020000: return "S_IFCHR";
    case 0010000: return "S_IFIFO";
    default: return "0";
  }
}

std::string stat_text(std::optional<std::string_view> bytes, uint64_t addr, bool statx) {
  // struct stat: st_mode at 24, st_size at 48. struct statx: stx_mode at 28, stx_size at 40.
  std::optional<uint32_t> mode;
  if (statx) {
    mode = load<uint16_t>(bytes, 28);
  } else {
    mode = load<uint32_t>(bytes, 24);
  }
  auto size = load<int64_t>(bytes, statx ? 40 : 48);
  if (!mode || !size) {
    return pointer(addr);
  }
  return fmt::format("{{{}={}|{:#o}, {}={}, ...}}", statx ? "stx_mode" : "st_mode",
                     file_type(*mode), *mode & 07777, statx ? "stx_size" : "st_size", *size);
}

std::string sigaction_text(std::optional<std::string_view> bytes, uint64_t addr) {
  auto handler = load<uint64_t>(bytes);
  auto flags = load<uint64_t>(bytes, 8);
  if (!handler || !flags) {
    return pointer(addr);
  }
  std::string h = *handler == 0 ? "SIG_DFL" : *handler == 1 ? "SIG_IGN" : hex(*handler);
  return fmt::format("{{sa_handler={}, sa_mask={}, sa_flags={}}}", h,
                     sigset_text(bytes->substr(std::min<size_t>(24, bytes->size())), addr),
                     sa_flags_text(*flags));
}

// struct pollfd array as the kernel left it (events and revents).
std::string pollfd_text(std::optional<std::string_view> bytes, uint64_t addr, uint64_t count) {
  if (!bytes || bytes->size() < count * 8) {
    return pointer(addr);
  }
  std::string out = "[";
  for (uint64_t i = 0; i < std::min<uint64_t>(count, 16); ++i) {
    auto fd = *load<int32_t>(bytes, i * 8);
    auto events = *load<uint16_t>(bytes, i * 8 + 4);
    auto revents = *load<uint16_t>(bytes, i * 8 + 6);
    out += fmt::format("{}{{fd={}, events={}", i ? ", " : "", fd, poll_events_text(events));
    out += revents ? fmt::format(", revents={}}}", poll_events_text(revents)) : "}";
  }
  return out + (count > 16 ? ", ...]" : "]");
}

// epoll_event array: 4-byte events then 8-byte data, packed.
std::string epoll_events_text(std::optional<std::string_view> bytes, uint64_t addr,
                              uint64_t count) {
  if (!bytes || bytes->size() < count * 12) {
    return pointer(addr);
  }
  std::string out = "[";
  for (uint64_t i = 0; i < std::min<uint64_t>(count, 16); ++i) {
    auto events = *load<uint32_t>(bytes, i * 12);
    auto data = *load<uint64_t>(bytes, i * 12 + 4);
    // EPOLL* share the POLL* values.
    std::string names = poll_events_text(events);
    for (size_t at = names.find("POLL"); at != std::string::npos; at = names.find("POLL", at + 5)) {
      names.insert(at, "E");
    }
    out += fmt::format("{}{{events={}, data={:#x}}}", i ? ", " : "", names, data);
  }
  return out + (count > 16 ? ", ...]" : "]");
}

bool is_timespec_call(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "nanosleep",       "clock_gettime",      "clock_getres",     "clock_nanosleep",
      "clock_settime",   "ppoll",              "pselect6",         "rt_sigtimedwait",
      "sched_rr_get_interval", "epoll_pwait2", "futex_waitv",      "futex_wait",
      "semtimedop",      "recvmmsg",           "mq_timedsend",     "mq_timedreceive",
      "io_getevents",    "futex",
  };
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

bool is_sigset_arg(std::string_view name, size_t i) {
  return ((name == "rt_sigprocmask") && (i == 1 || i == 2)) ||
         ((name == "rt_sigpending" || name == "rt_sigtimedwait" || name == "rt_sigsuspend") &&
          i == 0) ||
         ((name == "signalfd" || name == "signalfd4") && i == 1) || (name == "ppoll" && i == 3) ||
         ((name == "epoll_pwait" || name == "epoll_pwait2") && i == 4);
}

struct Iov {
  uint64_t base = 0;
  uint64_t len = 0;
};

std::vector<Iov> iovecs(const Event& e, uint64_t addr, uint64_t count) {
  std::vector<Iov> out;
  auto bytes = captured_any(e, addr, count * sizeof(Iov));
  for (size_t i = 0; bytes && i < count; ++i) {
    auto base = load<uint64_t>(bytes, i * 16);
    auto len = load<uint64_t>(bytes, i * 16 + 8);
    if (!base || !len) {
      break;
    }
    out.push_back({*base, *len});
  }
  return out;
}

// `[{iov_base="...", iov_len=N}, ...]`; for output iovecs only the first `limit` bytes
// hold data.
std::string iovec_text(const Event& e, uint64_t addr, uint64_t count, bool output,
                       uint64_t limit) {
  std::vector<Iov> iov = iovecs(e, addr, count);
  if (iov.empty() && count != 0) {
    return pointer(addr);
  }
  std::string out = "[";
  for (size_t i = 0; i < iov.size(); ++i) {
    uint64_t n = output ? std::min(iov[i].len, limit) : iov[i].len;
    limit -= std::min(limit, iov[i].len);
    std::string data;
    if (output && n == 0) {
      data = pointer(iov[i].base);
    } else {
      data = shown_buffer(output ? captured(e.outputs, iov[i].base, n)
                                 : captured(e.inputs, iov[i].base, n),
                          iov[i].base, n);
    }
    out += fmt::format("{}{{iov_base={}, iov_len={}}}", i ? ", " : "", data, iov[i].len);
  }
  if (iov.size() < count) {
    out += ", ...";
  }
  return out + "]";
}

std::string msghdr_text(const Event& e, uint64_t addr, bool output) {
  auto m = captured_any(e, addr, 56);
  auto name = load<uint64_t>(m, 0);
  auto namelen = load<uint32_t>(m, 8);
  auto iov = load<uint64_t>(m, 16);
  auto iovlen = load<uint64_t>(m, 24);
  auto controllen = load<uint64_t>(m, 40);
  auto flags = load<int32_t>(m, 48);
  if (!name || !namelen || !iov || !iovlen || !controllen || !flags) {
    return pointer(addr);
  }
  std::string name_text = *name == 0 ? "NULL" : sockaddr_text(captured_any(e, *name, *namelen), *name);
  uint64_t limit = output && !failed(e.result) ? static_cast<uint64_t>(e.result) : 0;
  return fmt::format(
      "{{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, "
      "msg_flags={}}}",
      name_text, *namelen, iovec_text(e, *iov, std::min<uint64_t>(*iovlen, 64), output, limit),
      *iovlen, *controllen, *flags);
}

std::string named_or_number(ArgKind kind, uint64_t v) {
  std::string_view n = enum_name(kind, v);
  if (!n.empty()) {
    return std::string(n);
  }
  return kind == ArgKind::kIoctlReq ? hex(v) : std::to_string(static_cast<int64_t>(v));
}

std::string format_arg(const Event& e, const SyscallInfo& info, size_t i) {
  const ArgSpec& spec = info.args[i];
  const uint64_t v = e.args[i];
  const bool ok = e.completed && !failed(e.result);
  const uint64_t len = spec.len_arg < 6 ? e.args[spec.len_arg] : 0;
  switch (spec.kind) {
    case ArgKind::kNone:
      return hex(v);
    case ArgKind::kInt:
      return std::to_string(static_cast<int64_t>(v));
    case ArgKind::kUint:
      return std::to_string(v);
    case ArgKind::kHex:
    case ArgKind::kFlags:
      return hex(v);
    case ArgKind::kFd: {
      auto fd = static_cast<int32_t>(v);
      return fd == -100 ? "AT_FDCWD" : std::to_string(fd);
    }
    case ArgKind::kPtr:
      if (info.name == "futex" && i == 3 && v != 0) {
        return timespec_text(captured(e.inputs, v, 16), v);
      }
      return pointer(v);
    case ArgKind::kString:
      return c_string(e, v);
    case ArgKind::kStringArray: {
      auto ptrs = captured(e.inputs, v);
      if (!ptrs) {
        return pointer(v);
      }
      std::vector<std::string> items;
      bool complete = false;
      for (size_t k = 0; k * 8 + 8 <= ptrs->size(); ++k) {
        uint64_t p = *load<uint64_t>(ptrs, k * 8);
        if (p == 0) {
          complete = true;
          break;
        }
        items.push_back(c_string(e, p));
      }
      // Like strace: argv in full, the environment as a count.
      bool is_env = i + 1 == info.nargs || (info.name == "execveat" && i == 3);
      if (is_env) {
        return fmt::format("{:#x} /* {}{} vars */", v, items.size(), complete ? "" : "+");
      }
      return fmt::format("[{}{}]", fmt::join(items, ", "), complete ? "" : ", ...");
    }
    case ArgKind::kInBuf:
      if (is_sigset_arg(info.name, i)) {
        return v == 0 ? "NULL" : sigset_text(captured(e.inputs, v), v);
      }
      return shown_buffer(captured(e.inputs, v, len), v, len);
    case ArgKind::kOutBuf:
      if (!ok || v == 0) {
        return pointer(v);
      }
      if (is_sigset_arg(info.name, i)) {
        return sigset_text(captured(e.outputs, v), v);
      }
      if (spec.out_size == OutSize::kArgTimes && spec.size == 8 &&
          (info.name == "poll" || info.name == "ppoll")) {
        return pollfd_text(captured(e.outputs, v, len * 8), v, len);
      }
      if (info.name.starts_with("epoll_") && spec.out_size == OutSize::kResultTimes) {
        auto n = static_cast<uint64_t>(e.result);
        return epoll_events_text(captured(e.outputs, v, n * 12), v, n);
      }
      if (spec.out_size == OutSize::kResult) {
        auto n = static_cast<uint64_t>(e.result);
        if (info.name == "getcwd" || info.name.find("readlink") != std::string_view::npos) {
          auto b = captured(e.outputs, v, n);
          if (!b) {
            return pointer(v);
          }
          return quote_bytes(b->substr(0, b->find('\0')));
        }
        return shown_buffer(captured(e.outputs, v, n), v, n);
      }
      return pointer(v);
    case ArgKind::kInStruct:
    case ArgKind::kOutStruct:
    case ArgKind::kInOutStruct: {
      if (v == 0) {
        return "NULL";
      }
      bool out_only = spec.kind == ArgKind::kOutStruct;
      if (out_only && !ok && !(spec.on_interrupt && e.completed)) {
        return pointer(v);
      }
      auto bytes = out_only ? captured(e.outputs, v, spec.size) : captured_any(e, v, spec.size);
      if (spec.size == 16 && is_timespec_call(info.name)) {
        return timespec_text(bytes, v);
      }
      if ((info.name == "gettimeofday" || info.name == "select") && spec.size == 16) {
        return timespec_text(bytes, v, "tv_usec");
      }
      if (spec.size == 144 && info.name.find("stat") != std::string_view::npos) {
        return stat_text(bytes, v, false);
      }
      if (info.name == "statx") {
        return stat_text(bytes, v, true);
      }
      if (info.name == "rt_sigaction") {
        return sigaction_text(bytes, v);
      }
      if (spec.size == 8 &&
          (info.name == "pipe" || info.name == "pipe2" || info.name == "socketpair")) {
        auto a = load<int32_t>(bytes), b = load<int32_t>(bytes, 4);
        return a && b ? fmt::format("[{}, {}]", *a, *b) : pointer(v);
      }
      if (spec.size == 4) {
        auto x = load<int32_t>(bytes);
        return x ? fmt::format("[{}]", *x) : pointer(v);
      }
      if (spec.size == 8 && (info.name == "sendfile" || info.name == "splice" ||
                             info.name == "copy_file_range")) {
        auto x = load<int64_t>(bytes);
        return x ? fmt::format("[{}]", *x) : pointer(v);
      }
      return pointer(v);
    }
    case ArgKind::kIovecIn:
      return iovec_text(e, v, std::min<uint64_t>(len, 64), false, 0);
    case ArgKind::kIovecOut:
      if (!ok) {
        return pointer(v);
      }
      return iovec_text(e, v, std::min<uint64_t>(len, 64), true, static_cast<uint64_t>(e.result));
    case ArgKind::kMsghdrIn:
      return msghdr_text(e, v, false);
    case ArgKind::kMsghdrOut:
      return ok ? msghdr_text(e, v, true) : pointer(v);
    case ArgKind::kSockaddrIn:
      return v == 0 ? "NULL" : sockaddr_text(captured(e.inputs, v, len), v);
    case ArgKind::kSockaddrOut:
      return ok && v != 0 ? sockaddr_text(captured(e.outputs, v), v) : pointer(v);
    case ArgKind::kOpenFlags:
      return open_flags_text(v);
    case ArgKind::kMode:
      return mode_text(v);
    case ArgKind::kSignal:
      return signal_name(static_cast<int>(v));
    case ArgKind::kProt:
      return prot_text(v);
    case ArgKind::kMmapFlags:
      return mmap_flags_text(v);
    case ArgKind::kFutexOp:
      return futex_op_text(v);
    case ArgKind::kAtFlags:
      return at_flags_text(v);
    case ArgKind::kSockDomain:
      return sock_domain_text(v);
    case ArgKind::kSockType:
      return sock_type_text(v);
    case ArgKind::kAccessMode:
      return access_mode_text(v);
    case ArgKind::kCloneFlags:
      return clone_flags_text(v);
    case ArgKind::kWhence:
    case ArgKind::kFcntlCmd:
    case ArgKind::kIoctlReq:
    case ArgKind::kClockId:
    case ArgKind::kSigHow:
    case ArgKind::kEpollOp:
    case ArgKind::kPrctlOp:
    case ArgKind::kArchPrctlOp:
      return named_or_number(spec.kind, v);
  }
  return hex(v);
}

// How many arguments strace-style output shows: futex's depend on the operation.
size_t shown_args(const SyscallInfo& info, const Event& e) {
  if (info.name == "futex") {
    switch (e.args[1] & 0x7f) {
      case 1:  // FUTEX_WAKE
      case 7:  // FUTEX_UNLOCK_PI
      case 8:  // FUTEX_TRYLOCK_PI
        return 3;
      case 0:   // FUTEX_WAIT
      case 6:   // FUTEX_LOCK_PI
      case 13:  // FUTEX_LOCK_PI2
        return 4;
      default:
        return 6;
    }
  }
  // The mode only matters when a file may be created.
  if (info.name == "open" || info.name == "openat") {
    size_t flags_arg = info.name == "open" ? 1 : 2;
    bool creates = (e.args[flags_arg] & (0100 /* O_CREAT */ | 020000000 /* __O_TMPFILE */)) != 0;
    return creates ? flags_arg + 2 : flags_arg + 1;
  }
  return info.nargs;
}

std::string_view restart_name(int64_t err) {
  switch (err) {
    case 512: return "ERESTARTSYS";
    case 513: return "ERESTARTNOINTR";
    case 514: return "ERESTARTNOHAND";
    case 516: return "ERESTART_RESTARTBLOCK";
    default: return {};
  }
}

std::string_view restart_text(int64_t err) {
  switch (err) {
    case 512: return "To be restarted if SA_RESTART is set";
    case 513: return "To be restarted";
    case 514: return "To be restarted if no handler";
    case 516: return "Interrupted by signal";
    default: return {};
  }
}

// "clock values handed out in process: 3 (12.000000001 .. 12.004000000)": how many,
// and the first and last, in seconds.
std::string clock_values_text(const Event& e) {
  std::string_view ring = e.outputs.empty() ? std::string_view() : e.outputs[0].bytes;
  size_t n = ring.size() / 8;
  if (n == 0) {
    return "clock values handed out in process: 0";
  }
  auto at = [ring](size_t i) {
    uint64_t v = 0;
    std::memcpy(&v, ring.data() + 8 * i, 8);
    return fmt::format("{}.{:09}", v / 1000000000, v % 1000000000);
  };
  return fmt::format("clock values handed out in process: {} ({} .. {})", n, at(0), at(n - 1));
}

}  // namespace

std::string quote_bytes(std::string_view bytes, bool truncated) {
  std::string out = "\"";
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\v': out += "\\v"; break;
      case '\f': out += "\\f"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          out += fmt::format("\\x{:02x}", c);
        }
    }
  }
  out += '"';
  if (truncated) {
    out += "...";
  }
  return out;
}

std::optional<std::string> written_data(const Event& e) {
  if (e.type != EventType::kSyscall || !e.completed || e.result <= 0) {
    return std::nullopt;
  }
  auto taken = static_cast<uint64_t>(e.result);
  if (e.sysno == SYS_write || e.sysno == SYS_pwrite64) {
    auto bytes = captured(e.inputs, e.args[1], taken);
    return bytes ? std::optional<std::string>(*bytes) : std::nullopt;
  }
  if (e.sysno != SYS_writev && e.sysno != SYS_pwritev && e.sysno != SYS_pwritev2) {
    return std::nullopt;
  }
  std::string out;
  for (const Iov& iov : iovecs(e, e.args[1], std::min<uint64_t>(e.args[2], 1024))) {
    if (out.size() >= taken) {
      break;
    }
    auto bytes = captured(e.inputs, iov.base, std::min(iov.len, taken - out.size()));
    if (!bytes) {
      return std::nullopt;
    }
    out += *bytes;
  }
  return out;
}

std::string format_result(const Event& e) {
  if (!e.completed) {
    return "?";
  }
  if (failed(e.result)) {
    int64_t err = -e.result;
    if (auto n = restart_name(err); !n.empty()) {
      return fmt::format("? {} ({})", n, restart_text(err));
    }
    std::string text = errno_text(static_cast<int>(err));
    if (!text.empty()) {
      text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
    }
    return fmt::format("-1 {} ({})", errno_name(static_cast<int>(err)), text);
  }
  const SyscallInfo* info = syscall_info(e.sysno);
  if (info && (info->flags & kSysMemoryMap) != 0 &&
      (info->name == "mmap" || info->name == "brk" || info->name == "mremap" ||
       info->name == "shmat" || info->name == "map_shadow_stack")) {
    return fmt::format("{:#x}", static_cast<uint64_t>(e.result));
  }
  return std::to_string(e.result);
}

std::string format_syscall(const Event& e) {
  const SyscallInfo* info = syscall_info(e.sysno);
  std::string out;
  if (info == nullptr) {
    out = fmt::format("syscall_{}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})", e.sysno, e.args[0],
                      e.args[1], e.args[2], e.args[3], e.args[4], e.args[5]);
  } else {
    out = fmt::format("{}(", info->name);
    size_t n = std::min<size_t>(shown_args(*info, e), 6);
    for (size_t i = 0; i < n; ++i) {
      if (i) {
        out += ", ";
      }
      out += format_arg(e, *info, i);
    }
    out += ')';
  }
  return out + " = " + format_result(e);
}

uint64_t point_rip(const Event& e) {
  // user_regs_struct: rip is the 17th 8-byte field.
  constexpr size_t kRipOffset = 16 * 8;
  uint64_t rip = 0;
  if (e.regs.size() >= kRipOffset + 8) {
    std::memcpy(&rip, e.regs.data() + kRipOffset, 8);
  }
  return rip;
}

std::string format_event(const Event& e) {
  switch (e.type) {
    case EventType::kSyscall:
      return format_syscall(e);
    case EventType::kSignal: {
      std::string name = signal_name(e.signo);
      std::string info = fmt::format("si_signo={}, si_code={}", name,
                                     signal_code_text(e.signo, e.signal_code));
      // Faults carry the address that faulted.
      if (e.signo == 11 || e.signo == 7 || e.signo == 4 || e.signo == 8 || e.signo == 5) {
        info += fmt::format(", si_addr={}", pointer(e.fault_addr));
      }
      return fmt::format("--- {} {{{}}} ---{}", name, info, e.fatal ? " (fatal)" : "");
    }
    case EventType::kThreadStart:
      return fmt::format("+++ new thread {} +++", e.value);
    case EventType::kThreadExit: {
      // `value` is the thread's wait status (PTRACE_GETEVENTMSG at its exit stop).
      WaitStatus status(static_cast<int>(e.value));
      if (status.exited()) {
        return fmt::format("+++ thread exited with {} +++", status.exit_code());
      }
      return fmt::format("+++ thread {} +++", status.describe());
    }
    case EventType::kExec:
      return fmt::format("+++ exec {} +++", quote_bytes(e.text));
    case EventType::kProcessExit:
      return fmt::format("+++ exited with {} +++", e.value);
    case EventType::kSyscallEntry: {
      Event call = e;
      call.completed = false;
      return format_syscall(call) + " (blocked; other threads ran)";
    }
    case EventType::kPoint: {
      const char* why = e.reason == PointReason::kSignal ? "signal arrives"
                        : e.reason == PointReason::kPreemptAtSyscall
                            ? "preempted before a syscall"
                            : "preempted";
      return fmt::format("--- {} at {} ---", why, pointer(point_rip(e)));
    }
    case EventType::kRdtsc:
      return fmt::format("{} at {} = {:#x}{}", e.rdtscp ? "rdtscp" : "rdtsc",
                         pointer(static_cast<uint64_t>(e.value)), e.tsc,
                         e.rdtscp ? fmt::format(" (aux {})", e.tsc_aux) : "");
    case EventType::kRdtscPatch:
      return fmt::format("--- rdtsc at {} answered in process from now on (stub at {}) ---",
                         pointer(static_cast<uint64_t>(e.value)),
                         pointer(e.outputs.empty() ? 0 : e.outputs[0].addr));
    case EventType::kCpuid:
      return fmt::format("cpuid({:#x}, {:#x}) at {} = {:#x} {:#x} {:#x} {:#x}", e.args[0],
                         e.args[1], pointer(static_cast<uint64_t>(e.value)), e.args[2],
                         e.args[3], e.args[4], e.args[5]);
    case EventType::kRdtscValues:
      return fmt::format("rdtsc values of the stub at {}: {}",
                         pointer(static_cast<uint64_t>(e.value)),
                         e.outputs.empty() ? 0 : e.outputs[0].bytes.size() / 8);
    case EventType::kClockPatch:
      return fmt::format("--- vDSO clock reads answered in process from now on (stubs at {}) ---",
                         pointer(static_cast<uint64_t>(e.value)));
    case EventType::kClockValues:
      return clock_values_text(e);
  }
  return fmt::format("<event type {}>", static_cast<int>(e.type));
}

nlohmann::json event_to_json(const Event& e) {
  nlohmann::json j;
  j["type"] = std::string(event_type_name(e.type));
  j["tid"] = e.tid;
  j["time_ns"] = e.time_ns;
  switch (e.type) {
    case EventType::kSyscall: {
      const SyscallInfo* info = syscall_info(e.sysno);
      j["syscall"] = syscall_name(e.sysno);
      j["nr"] = e.sysno;
      j["args"] = e.args;
      nlohmann::json decoded = nlohmann::json::array();
      if (info) {
        size_t n = std::min<size_t>(shown_args(*info, e), 6);
        for (size_t i = 0; i < n; ++i) {
          decoded.push_back(format_arg(e, *info, i));
        }
      }
      j["decoded_args"] = decoded;
      j["completed"] = e.completed;
      if (e.completed) {
        j["result"] = e.result;
        if (failed(e.result)) {
          std::string_view r = restart_name(-e.result);
          j["errno"] = r.empty() ? errno_name(static_cast<int>(-e.result)) : std::string(r);
        }
      }
      uint64_t in = 0, out = 0;
      for (const auto& m : e.inputs) {
        in += m.bytes.size();
      }
      for (const auto& m : e.outputs) {
        out += m.bytes.size();
      }
      j["input_bytes"] = in;
      j["output_bytes"] = out;
      break;
    }
    case EventType::kSignal:
      j["signal"] = signal_name(e.signo);
      j["signo"] = e.signo;
      j["code"] = signal_code_text(e.signo, e.signal_code);
      j["fault_addr"] = e.fault_addr;
      j["fatal"] = e.fatal;
      break;
    case EventType::kThreadStart:
      j["new_tid"] = e.value;
      break;
    case EventType::kThreadExit:
    case EventType::kProcessExit:
      j["status"] = e.value;
      break;
    case EventType::kExec:
      j["path"] = e.text;
      break;
    case EventType::kSyscallEntry: {
      j["syscall"] = syscall_name(e.sysno);
      j["nr"] = e.sysno;
      j["args"] = e.args;
      break;
    }
    case EventType::kPoint:
      j["reason"] = e.reason == PointReason::kSignal ? "signal" : "preempt";
      j["rip"] = point_rip(e);
      j["stack_hash"] = e.stack_hash;
      break;
    case EventType::kRdtsc:
      j["rip"] = e.value;
      j["tsc"] = e.tsc;
      j["rdtscp"] = e.rdtscp;
      if (e.rdtscp) {
        j["aux"] = e.tsc_aux;
      }
      break;
    case EventType::kRdtscPatch:
      j["rip"] = e.value;
      j["stub"] = e.outputs.empty() ? 0 : e.outputs[0].addr;
      break;
    case EventType::kCpuid:
      j["rip"] = e.value;
      j["leaf"] = e.args[0];
      j["subleaf"] = e.args[1];
      j["answer"] = {e.args[2], e.args[3], e.args[4], e.args[5]};
      break;
    case EventType::kRdtscValues:
    case EventType::kClockValues:
      j["stub"] = e.value;
      j["count"] = e.outputs.empty() ? 0 : e.outputs[0].bytes.size() / 8;
      break;
    case EventType::kClockPatch:
      j["stub"] = e.value;
      break;
  }
  j["text"] = format_event(e);
  return j;
}

}  // namespace rwd
