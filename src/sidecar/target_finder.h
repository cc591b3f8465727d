// TargetFinder: which process in the pod's shared process namespace is the one to
// record, chosen by one of three selectors:
//
//   --target-name NAME        the process's comm (/proc/PID/comm, 15 characters max)
//   --target-exe REGEX        its executable path (/proc/PID/exe), ECMAScript search
//   --target-container NAME   the container it runs in: the pod's
//                             status.containerStatuses[NAME].containerID
//                             ("containerd://3f9a...") appears in /proc/PID/cgroup
//
// When several processes match, the oldest (lowest start time) wins: the container's
// main process rather than a worker it forked. The sidecar itself and its descendants
// (the recorders) never match. Reads /proc only; never stops or changes a process.
//
//   TargetFinder finder(TargetSelector{.kind = TargetSelector::Kind::kName, .value = "app"});
//   finder.set_container_id(id_from_pod);   // only for kContainer
//   if (auto t = finder.find()) attach(t->pid);
//   else log(finder.describe());          // "a process named app"
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include "common/error.h"

namespace rwd::sidecar {

struct TargetSelector {
  enum class Kind { kName, kExe, kContainer };
  Kind kind = Kind::kName;
  std::string value;  // name, exe regex or container name
};

struct TargetProcess {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  std::string comm;
  std::string exe;
  bool operator==(const TargetProcess& o) const {
    return pid == o.pid && start_time == o.start_time;
  }
};

class TargetFinder {
 public:
  // Fails for an invalid --target-exe regex or an empty value.
  static Result<TargetFinder> create(TargetSelector selector,
                                     std::filesystem::path proc = "/proc");

  // For kContainer: the container's runtime id (without the "runtime://" scheme), or ""
  // while the pod status has none (the container is not running).
  void set_container_id(std::string id) { container_id_ = std::move(id); }
  const std::string& container_id() const { return container_id_; }
  const TargetSelector& selector() const { return selector_; }

  // The oldest matching process, or nullopt.
  std::optional<TargetProcess> find() const;
  // Whether `p` still exists as the same process (pid not reused) and is not a zombie.
  bool alive(const TargetProcess& p) const;
  // What is searched, for messages: "a process named app", "a process whose executable
  // matches /usr/bin/.*", "the main process of container app (containerd id 3f9a12...)".
  std::string describe() const;

 private:
  TargetFinder(TargetSelector selector, std::filesystem::path proc)
      : selector_(std::move(selector)), proc_(std::move(proc)) {}
  bool matches(pid_t pid, TargetProcess& out) const;

  TargetSelector selector_;
  std::filesystem::path proc_;
  std::optional<std::regex> exe_regex_;
  std::string container_id_;
};

// The id in a containerStatuses[].containerID ("containerd://abc" -> "abc"); "" when
// empty.
std::string strip_container_runtime(std::string_view container_id);

// Reads /proc/PID/stat: start time (field 22), parent pid (field 4), state (field 3) and
// the kernel's task flags (field 9).
struct ProcStat {
  pid_t ppid = 0;
  char state = '?';
  uint64_t flags = 0;
  uint64_t start_time = 0;

  // Dead, or on its way out: a process that is dumping core or exiting (PF_EXITING) is not
  // a zombie yet, but no recorder can attach to it any more.
  bool gone() const {
    constexpr uint64_t kExiting = 0x4;  // PF_EXITING
    return state == 'Z' || state == 'X' || (flags & kExiting) != 0;
  }
};
std::optional<ProcStat> read_proc_stat(const std::filesystem::path& proc, pid_t pid);

// Whether `pid` is `ancestor` or one of its descendants (walks the parent chain).
bool is_descendant(const std::filesystem::path& proc, pid_t pid, pid_t ancestor);

}  // namespace rwd::sidecar
