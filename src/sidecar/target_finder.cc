#include "sidecar/target_finder.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "common/files.h"

namespace rwd::sidecar {
namespace {

std::optional<pid_t> parse_pid(const char* name) {
  pid_t pid = 0;
  std::string_view s(name);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (ec != std::errc() || p != s.data() + s.size() || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

std::string read_small(const std::filesystem::path& path) {
  auto text = read_file(path);
  return text ? *text : std::string();
}

}  // namespace

std::string strip_container_runtime(std::string_view container_id) {
  auto pos = container_id.find("://");
  if (pos != std::string_view::npos) {
    container_id.remove_prefix(pos + 3);
  }
  return std::string(container_id);
}

std::optional<ProcStat> read_proc_stat(const std::filesystem::path& proc, pid_t pid) {
  std::string text = read_small(proc / std::to_string(pid) / "stat");
  // comm may hold spaces and parentheses: fields resume after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream in(text.substr(close + 1));
  ProcStat st;
  std::string field;
  in >> st.state >> st.ppid;
  // Fields 5..8, flags (9), fields 10..21, then starttime (22).
  for (int i = 5; i <= 8 && in >> field; ++i) {
  }
  in >> st.flags;
  for (int i = 10; i <= 21 && in >> field; ++i) {
  }
  if (!(in >> st.start_time)) {
    return std::nullopt;
  }
  return st;
}

bool is_descendant(const std::filesystem::path& proc, pid_t pid, pid_t ancestor) {
  for (int depth = 0; depth < 64 && pid > 1; ++depth) {
    if (pid == ancestor) {
      return true;
    }
    auto st = read_proc_stat(proc, pid);
    if (!st) {
      return false;
    }
    pid = st->ppid;
  }
  return pid == ancestor;
}

Result<TargetFinder> TargetFinder::create(TargetSelector selector, std::filesystem::path proc) {
  if (selector.value.empty()) {
    return fail("the target selector is empty (pass --target-name, --target-exe or "
                "--target-container)");
  }
  TargetFinder f(std::move(selector), std::move(proc));
  if (f.selector_.kind == TargetSelector::Kind::kExe) {
    try {
      f.exe_regex_.emplace(f.selector_.value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return fail("--target-exe '{}' is not a valid regular expression: {}", f.selector_.value,
                  e.what());
    }
  }
  return f;
}

bool TargetFinder::matches(pid_t pid, TargetProcess& out) const {
  auto dir = proc_ / std::to_string(pid);
  switch (selector_.kind) {
    case TargetSelector::Kind::kName: {
      std::string comm = read_small(dir / "comm");
      if (!comm.empty() && comm.back() == '\n') {
        comm.pop_back();
      }
      // The kernel keeps 15 characters of the name.
      if (comm.empty() || comm != std::string_view(selector_.value).substr(0, 15)) {
        return false;
      }
      out.comm = comm;
      break;
    }
    case TargetSelector::Kind::kExe: {
      std::error_code ec;
      auto exe = std::filesystem::read_symlink(dir / "exe", ec);
      if (ec || !std::regex_search(exe.string(), *exe_regex_)) {
        return false;
      }
      out.exe = exe.string();
      break;
    }
    case TargetSelector::Kind::kContainer: {
      if (container_id_.empty()) {
        return false;
      }
      if (read_small(dir / "cgroup").find(container_id_) == std::string::npos) {
        return false;
      }
      break;
    }
  }
  auto st = read_proc_stat(proc_, pid);
  if (!st || st->gone()) {
    return false;
  }
  out.pid = pid;
  out.start_time = st->start_time;
  return true;
}

std::optional<TargetProcess> TargetFinder::find() const {
  if (selector_.kind == TargetSelector::Kind::kContainer && container_id_.empty()) {
    return std::nullopt;
  }
  DIR* d = ::opendir(proc_.c_str());
  if (d == nullptr) {
    return std::nullopt;
  }
  pid_t self = ::getpid();
  std::optional<TargetProcess> best;
  while (dirent* de = ::readdir(d)) {
    auto pid = parse_pid(de->d_name);
    if (!pid || *pid == self) {
      continue;
    }
    TargetProcess p;
    if (!matches(*pid, p)) {
      continue;
    }
    if (best && best->start_time <= p.start_time) {
      continue;
    }
    // Our own recorders (children of this sidecar) are never the target.
    if (is_descendant(proc_, *pid, self)) {
      continue;
    }
    best = std::move(p);
  }
  ::closedir(d);
  if (best && best->comm.empty()) {
    std::string comm = read_small(proc_ / std::to_string(best->pid) / "comm");
    if (!comm.empty() && comm.back() == '\n') {
      comm.pop_back();
    }
    best->comm = comm;
  }
  return best;
}

bool TargetFinder::alive(const TargetProcess& p) const {
  auto st = read_proc_stat(proc_, p.pid);
  return st && st->start_time == p.start_time && !st->gone();
}

std::string TargetFinder::describe() const {
  switch (selector_.kind) {
    case TargetSelector::Kind::kName:
      return fmt::format("a process named '{}' (--target-name)", selector_.value);
    case TargetSelector::Kind::kExe:
      return fmt::format("a process whose executable path matches '{}' (--target-exe)",
                         selector_.value);
    case TargetSelector::Kind::kContainer:
      if (container_id_.empty()) {
        return fmt::format(
            "the processes of container '{}' (--target-container), which has no containerID in "
            "the pod's status yet (is it running?)",
            selector_.value);
      }
      return fmt::format("a process of container '{}' (--target-container; id {} in "
                         "/proc/PID/cgroup)",
                         selector_.value, container_id_.substr(0, 12));
  }
  return "?";
}

}  // namespace rwd::sidecar
