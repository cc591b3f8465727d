// RecordingsDir: the sidecar's directory (an emptyDir at /recordings that survives
// container restarts) and the life of a recording file in it:
//
//   .incoming/<stamp>-<pid>-<trigger>.rwd   being written by a recorder
//   ready/<stamp>-<pid>-<reason>.rwd        complete (renamed here atomically), waiting to
//                                           enter the upload queue
//   kept/<stamp>-<pid>-rotate.rwd           rotated recordings held locally (keep: N)
//   .spool/                                 the UploadQueue (store/upload_queue.h)
//
// Names follow store/object_key.h (parse_recording_name), so a file's time, target pid
// and reason travel with it across restarts. reason says how the recording ended:
// crash, exit, stop, rotate, shutdown, failed, or incomplete (its recorder was killed;
// the file is readable up to its last complete chunk).
//
// Used from the controller thread (start/finish/keep) and the uploader thread (ready
// files, which it moves into the spool); renames are atomic, so the two never see half a
// file.
//
//   auto dir = RecordingsDir::open("/recordings");
//   auto path = dir->incoming_path(pid, now);
//   ... recorder writes path ...
//   dir->finish(path, "crash");
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd::sidecar {

class RecordingsDir {
 public:
  // Creates the layout when missing.
  static Result<RecordingsDir> open(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path spool() const { return root_ / ".spool"; }
  std::filesystem::path incoming() const { return root_ / ".incoming"; }
  std::filesystem::path ready() const { return root_ / "ready"; }
  std::filesystem::path kept() const { return root_ / "kept"; }

  // Where a new recording of `pid` starting at `t` is written.
  std::filesystem::path incoming_path(pid_t pid, std::chrono::system_clock::time_point t) const;

  // Renames a finished incoming recording into ready/ with its reason; returns the new
  // path. An empty or missing file is removed instead (returns "").
  Result<std::filesystem::path> finish(const std::filesystem::path& incoming,
                                       std::string_view reason) const;
  // Renames a rotated recording into kept/ and deletes the oldest beyond `keep`;
  // returns how many were deleted.
  Result<int> keep_rotated(const std::filesystem::path& incoming, int keep) const;
  // Moves everything in kept/ to ready/ (they ship with a crash); returns the count.
  int release_kept() const;

  // After a restart: every incoming recording that no process holds open any more is
  // renamed into ready/ with reason "incomplete" (its recorder was killed). `in_use`
  // says whether a path is still open (a recorder of the previous sidecar may still be
  // finishing). Returns the recovered paths.
  std::vector<std::filesystem::path> recover_incomplete(
      const std::function<bool(const std::filesystem::path&)>& in_use) const;

  // ready/*.rwd, oldest first.
  std::vector<std::filesystem::path> ready_files() const;
  size_t kept_count() const;

 private:
  explicit RecordingsDir(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

// Whether any process has `path` open (scans /proc/*/fd).
bool file_in_use(const std::filesystem::path& path);

}  // namespace rwd::sidecar
