// FileCollector: bundles the files a process has mapped — executable, shared
// libraries, the vDSO, separate debug files found by build-id and the gdb helper
// scripts that belong to them (CPython's python3.x-gdb.py, which gives py-bt) — into a
// recording, so it can be debugged where none of them exist.
//
// Files are read through /proc/PID/map_files (the exact mapped file, even if deleted or
// in another container) and fall back to /proc/PID/root/PATH. Each file is stored once
// per recording (keyed by path, device and inode).
//
//   FileCollector files(pid, writer);
//   files.collect(maps, exe);        // at attach; again after exec or new dlopen
//   manifest["files"] = files.inventory();
#pragma once

#include <nlohmann/json.hpp>
#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "format/recording_writer.h"
#include "tracee/proc_info.h"
#include "tracee/target_memory.h"

namespace rwd {

class FileCollector {
 public:
  // Opens the process's root and memory at once: files are collected on a helper
  // thread while the target runs, and a leader that exits first (pthread_exit in main)
  // leaves /proc/PID without either, while these handles still reach them.
  FileCollector(pid_t pid, RecordingWriter& writer);

  // Bundles every ELF file in `maps` not bundled yet, plus the vDSO image and debug
  // files. Problems with single files become warnings, not errors.
  Status collect(const std::vector<MapEntry>& maps, const std::string& exe_path);

  // Reads the process through /proc/TID of this thread of it from now on: once the
  // leader has exited before the others, /proc/PID has no files or memory to show.
  void read_through(pid_t tid) { pid_ = tid; }

  // One entry per file seen: path, role, size, mtime, sha256, build_id, bundled.
  const nlohmann::json& inventory() const { return inventory_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  uint64_t bytes_bundled() const { return bytes_; }

 private:
  Status bundle_mapped_file(const MapEntry& m, const std::string& role);
  void bundle_debug_file(const std::string& build_id);
  void bundle_gdb_scripts(const std::string& objfile);
  Status bundle_vdso(const MapEntry& m);
  // A file of the target's filesystem: through /proc/PID/root, else the root opened at
  // the start.
  UniqueFd open_in_root(const std::string& path) const;

  pid_t pid_;
  RecordingWriter& writer_;
  TargetMemory memory_;
  UniqueFd root_;
  std::set<std::string> seen_;  // "dev:inode:path"
  std::set<std::string> debug_seen_;
  nlohmann::json inventory_ = nlohmann::json::array();
  std::vector<std::string> warnings_;
  uint64_t bytes_ = 0;
};

// The GNU build-id of an ELF file open on fd (hex), or "" if it has none.
std::string elf_build_id(int fd);

// Where gdb auto-loads a Python helper for the file at `objfile` from, in the order it
// looks (`set auto-load scripts-directory`, Debian's default $debugdir:$datadir/auto-load):
// "/usr/lib/debug/usr/bin/python3.11-gdb.py", "/usr/share/gdb/auto-load/usr/bin/...".
std::vector<std::string> gdb_auto_load_scripts(const std::string& objfile);

}  // namespace rwd
