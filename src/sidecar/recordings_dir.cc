#include "sidecar/recordings_dir.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include "common/files.h"
#include "common/log.h"
#include "store/object_key.h"

namespace rwd::sidecar {
namespace {

std::vector<std::filesystem::path> rwd_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    auto name = de.path().filename().string();
    if (!name.starts_with(".") && name.ends_with(".rwd") && de.is_regular_file(ec)) {
      out.push_back(de.path());
    }
  }
  // Names start with a UTC timestamp: sorting by name is oldest first.
  std::sort(out.begin(), out.end());
  return out;
}

// "<stamp>-<pid>-<anything>.rwd" -> "<stamp>-<pid>-<reason>.rwd"
std::string with_reason(const std::filesystem::path& p, std::string_view reason) {
  std::string stem = p.stem().string();
  auto first = stem.find('-');
  auto second = first == std::string::npos ? std::string::npos : stem.find('-', first + 1);
  std::string base = second == std::string::npos ? stem : stem.substr(0, second);
  return fmt::format("{}-{}.rwd", base, sanitize_key_component(reason));
}

Status rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail_errno(errno, "cannot move {} to {}", from.string(), to.string());
  }
  (void)fsync_parent_dir(to);
  (void)fsync_parent_dir(from);
  return ok();
}

// A free name in `dir` for `name` (a second recording in the same second of the same
// pid gets a suffix on the reason).
std::filesystem::path free_name(const std::filesystem::path& dir, const std::string& name) {
  auto p = dir / name;
  for (int i = 2; std::filesystem::exists(p); ++i) {
    auto stem = std::filesystem::path(name).stem().string();
    p = dir / fmt::format("{}.{}.rwd", stem, i);
  }
  return p;
}

}  // namespace

Result<RecordingsDir> RecordingsDir::open(std::filesystem::path root) {
  RecordingsDir d(std::move(root));
  for (const auto& sub : {d.incoming(), d.ready(), d.kept(), d.spool()}) {
    std::error_code ec;
    std::filesystem::create_directories(sub, ec);
    if (ec) {
      return fail("cannot use recordings directory {}: {} (mount a writable emptyDir there, "
                  "or pass --recordings-dir)",
                  sub.string(), ec.message());
    }
  }
  return d;
}

std::filesystem::path RecordingsDir::incoming_path(
    pid_t pid, std::chrono::system_clock::time_point t) const {
  return free_name(incoming(), fmt::format("{}-{}-recording.rwd", utc_stamp(t), pid));
}

Result<std::filesystem::path> RecordingsDir::finish(const std::filesystem::path& incoming_file,
                                                    std::string_view reason) const {
  std::error_code ec;
  auto size = std::filesystem::file_size(incoming_file, ec);
  if (ec || size == 0) {
    std::filesystem::remove(incoming_file, ec);
    return std::filesystem::path();
  }
  auto dest = free_name(ready(), with_reason(incoming_file, reason));
  if (auto s = rename_durably(incoming_file, dest); !s) {
    return std::unexpected(s.error());
  }
  return dest;
}

Result<int> RecordingsDir::keep_rotated(const std::filesystem::path& incoming_file,
                                        int keep) const {
  auto dest = free_name(kept(), with_reason(incoming_file, "rotate"));
  if (auto s = rename_durably(incoming_file, dest); !s) {
    return std::unexpected(s.error());
  }
  auto files = rwd_files(kept());
  int deleted = 0;
  for (size_t i = 0; i + static_cast<size_t>(keep) < files.size(); ++i) {
    std::error_code ec;
    if (std::filesystem::remove(files[i], ec)) {
      ++deleted;
    }
  }
  return deleted;
}

int RecordingsDir::release_kept() const {
  int n = 0;
  for (const auto& f : rwd_files(kept())) {
    if (rename_durably(f, free_name(ready(), f.filename().string()))) {
      ++n;
    }
  }
  return n;
}

std::vector<std::filesystem::path> RecordingsDir::recover_incomplete(
    const std::function<bool(const std::filesystem::path&)>& in_use) const {
  std::vector<std::filesystem::path> out;
  for (const auto& f : rwd_files(incoming())) {
    if (in_use(f)) {
      continue;
    }
    auto r = finish(f, "incomplete");
    if (r && !r->empty()) {
      out.push_back(*r);
    }
    std::error_code ec;
    std::filesystem::remove(f.string() + ".log", ec);
  }
  return out;
}

std::vector<std::filesystem::path> RecordingsDir::ready_files() const {
  return rwd_files(ready());
}

size_t RecordingsDir::kept_count() const { return rwd_files(kept()).size(); }

bool file_in_use(const std::filesystem::path& path) {
  std::error_code ec;
  auto target = std::filesystem::canonical(path, ec);
  if (ec) {
    return false;
  }
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return false;
  }
  bool found = false;
  while (dirent* de = ::readdir(proc)) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') {
      continue;
    }
    auto fd_dir = std::filesystem::path("/proc") / de->d_name / "fd";
    for (const auto& fd : std::filesystem::directory_iterator(fd_dir, ec)) {
      if (std::filesystem::read_symlink(fd.path(), ec) == target) {
        found = true;
        break;
      }
    }
    if (found) {
      break;
    }
  }
  ::closedir(proc);
  return found;
}

}  // namespace rwd::sidecar
