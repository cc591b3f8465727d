#include "tracee/proc_info.h"

#include <dirent.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "common/files.h"
#include "tracee/signals.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

std::string proc_path(pid_t pid, std::string_view file) {
  return fmt::format("/proc/{}/{}", pid, file);
}

bool parse_hex(std::string_view s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view next_field(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
  }
  auto sp = rest.find(' ');
  auto field = rest.substr(0, sp);
  rest.remove_prefix(sp == std::string_view::npos ? rest.size() : sp);
  return field;
}

Result<ProcStatus> parse_status(const std::string& text) {
  ProcStatus st;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    auto key = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    auto first_int = [&] {
      long long v = 0;
      std::from_chars(value.data(), value.data() + value.size(), v);
      return v;
    };
    if (key == "Name") {
      st.name = std::string(value);
    } else if (key == "State") {
      st.state = value.empty() ? '?' : value.front();
    } else if (key == "Tgid") {
      st.tgid = static_cast<pid_t>(first_int());
    } else if (key == "PPid") {
      st.ppid = static_cast<pid_t>(first_int());
    } else if (key == "TracerPid") {
      st.tracer_pid = static_cast<pid_t>(first_int());
    } else if (key == "Uid") {
      st.uid = static_cast<uint32_t>(first_int());
    } else if (key == "Gid") {
      st.gid = static_cast<uint32_t>(first_int());
    } else if (key == "SigPnd") {
      parse_hex(value, st.sig_pending);
    } else if (key == "ShdPnd") {
      parse_hex(value, st.shared_pending);
    } else if (key == "SigBlk") {
      parse_hex(value, st.sig_blocked);
    } else if (key == "SigIgn") {
      parse_hex(value, st.sig_ignored);
    } else if (key == "SigCgt") {
      parse_hex(value, st.sig_caught);
    }
  }
  return st;
}

}  // namespace

Result<MapEntry> parse_map_line(std::string_view line) {
  MapEntry m;
  std::string_view rest = line;
  auto range = next_field(rest);
  auto dash = range.find('-');
  if (dash == std::string_view::npos || !parse_hex(range.substr(0, dash), m.start) ||
      !parse_hex(range.substr(dash + 1), m.end) || m.end < m.start) {
    return fail("malformed maps line '{}'", line);
  }
  m.perms = std::string(next_field(rest));
  if (!parse_hex(next_field(rest), m.offset)) {
    return fail("malformed maps offset in '{}'", line);
  }
  m.dev = std::string(next_field(rest));
  auto inode = next_field(rest);
  std::from_chars(inode.data(), inode.data() + inode.size(), m.inode);
  while (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
  }
  m.path = std::string(rest);
  return m;
}

Result<std::vector<MapEntry>> read_maps(pid_t pid) {
  auto text = read_file(proc_path(pid, "maps"));
  if (!text) {
    return std::unexpected(text.error());
  }
  std::vector<MapEntry> maps;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.empty()) {
      continue;
    }
    auto m = parse_map_line(line);
    if (!m) {
      return std::unexpected(m.error());
    }
    maps.push_back(std::move(*m));
  }
  return maps;
}

Result<ProcStatus> read_status(pid_t pid) {
  auto text = read_file(proc_path(pid, "status"));
  if (!text) {
    return std::unexpected(text.error());
  }
  return parse_status(*text);
}

uint64_t ignored_signals(const ProcStatus& process) {
  constexpr uint64_t kIgnoredByDefault = signal_bit(SIGCHLD) | signal_bit(SIGURG) |
                                         signal_bit(SIGWINCH) | signal_bit(SIGCONT);
  return process.sig_ignored | (kIgnoredByDefault & ~process.sig_caught);
}

uint64_t signals_that_act(const ProcStatus& thread) {
  return (thread.sig_pending | thread.shared_pending) & ~thread.sig_blocked &
         ~ignored_signals(thread);
}

Result<ProcStatus> read_thread_status(pid_t pid, pid_t tid) {
  auto text = read_file(fmt::format("/proc/{}/task/{}/status", pid, tid));
  if (!text) {
    return std::unexpected(text.error());
  }
  return parse_status(*text);
}

namespace {
// The entries of a /proc directory that are ids (processes, or a process's threads).
Result<std::vector<pid_t>> numeric_entries(const std::string& path, std::string_view what) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    return fail_errno(errno, "cannot list {} ({})", what, path);
  }
  std::vector<pid_t> ids;
  while (auto* ent = ::readdir(dir)) {
    pid_t id = 0;
    std::string_view name = ent->d_name;
    auto r = std::from_chars(name.data(), name.data() + name.size(), id);
    if (r.ec == std::errc() && r.ptr == name.data() + name.size()) {
      ids.push_back(id);
    }
  }
  ::closedir(dir);
  std::sort(ids.begin(), ids.end());
  return ids;
}
}  // namespace

Result<std::vector<pid_t>> read_tasks(pid_t pid) {
  return numeric_entries(proc_path(pid, "task"), fmt::format("threads of pid {}", pid));
}

Result<std::vector<pid_t>> read_pids() { return numeric_entries("/proc", "processes"); }

Result<std::vector<std::string>> read_nul_list(pid_t pid, std::string_view file) {
  auto text = read_file(proc_path(pid, file));
  if (!text) {
    return std::unexpected(text.error());
  }
  std::vector<std::string> out;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto nul = rest.find('\0');
    out.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
  }
  return out;
}

Result<std::string> read_link(pid_t pid, std::string_view file) {
  auto path = proc_path(pid, file);
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    return fail_errno(errno, "cannot read {}", path);
  }
  return std::string(buf, static_cast<size_t>(n));
}

namespace {

// The auxiliary vector the kernel put on the initial stack: at `startstack`, argc, then
// argv and envp (each ending in NULL), then (type, value) pairs up to AT_NULL.
Result<std::string> auxv_from_stack(pid_t pid, uint64_t startstack) {
  TargetMemory mem(pid);
  auto word = [&](uint64_t at) -> std::optional<uint64_t> {
    uint64_t v = 0;
    return mem.read_into(at, &v, sizeof v) == sizeof v ? std::optional(v) : std::nullopt;
  };
  auto argc = word(startstack);
  if (startstack == 0 || !argc || *argc > (1u << 20)) {
    return fail("cannot find the auxiliary vector of process {} (no readable /proc/{}/auxv "
                "nor initial stack)",
                pid, pid);
  }
  uint64_t at = startstack + 8 * (1 + *argc + 1);
  for (int n = 0; n < (1 << 20); ++n, at += 8) {  // envp
    auto p = word(at);
    if (!p) {
      return fail("cannot read the environment pointers of process {}", pid);
    }
    if (*p == 0) {
      break;
    }
  }
  std::string auxv;
  for (at += 8; auxv.size() < 4096; at += 16) {
    auto type = word(at), value = word(at + 8);
    if (!type || !value) {
      return fail("cannot read the auxiliary vector of process {}", pid);
    }
    auxv.append(reinterpret_cast<const char*>(&*type), 8);
    auxv.append(reinterpret_cast<const char*>(&*value), 8);
    if (*type == 0) {  // AT_NULL
      return auxv;
    }
  }
  return fail("the auxiliary vector of process {} has no end", pid);
}

// Field 28 of /proc/PID/stat, the address of argc on the initial stack (0 when hidden).
std::optional<uint64_t> read_start_stack(pid_t pid) {
  auto stat = read_file(proc_path(pid, "stat"));
  size_t close = stat ? stat->rfind(')') : std::string::npos;
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(stat->substr(close + 1));  // from field 3, the state
  std::string f;
  for (int n = 3; fields >> f; ++n) {
    if (n == 28) {
      return std::strtoull(f.c_str(), nullptr, 10);
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> read_auxv(pid_t pid) {
  auto auxv = read_file(proc_path(pid, "auxv"));
  if (auxv || auxv.error().sys_errno != EACCES) {
    return auxv;
  }
  // Mode 0400: a tracer without CAP_DAC_OVERRIDE next to a target of another uid. The
  // kernel's copy is also on the initial stack, after argv and envp.
  auto start = read_start_stack(pid);
  return start ? auxv_from_stack(pid, *start) : auxv;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

bool shares_time_namespace(pid_t pid) {
  struct stat own{}, target{};
  if (::stat("/proc/self/ns/time", &own) != 0) {
    return errno == ENOENT;  // no time namespaces on this kernel
  }
  return ::stat(("/proc/" + std::to_string(pid) + "/ns/time").c_str(), &target) == 0 &&
         own.st_ino == target.st_ino && own.st_dev == target.st_dev;
}

}  // namespace rwd
