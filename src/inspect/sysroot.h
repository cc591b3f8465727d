// extract_sysroot: unpacks a recording into plain files that standard tools understand.
//
//   DIR/root/<path>          every bundled file at the path the target saw it
//                            (executable, libraries, and debug files under
//                            DIR/root/usr/lib/debug/.build-id/xx/yyyy.debug)
//   DIR/root/<path>-gdb.py   the gdb helper bundled for the file at <path> (CPython's
//                            py-bt, say), where gdb auto-loads it from: beside the file
//   DIR/vdso.so              the target's vDSO image
//   DIR/core                 the final state as a standard ELF core (when recorded)
//   DIR/manifest.json        the merged manifest
//   DIR/gdbinit              `gdb -x DIR/gdbinit` opens the executable and core with
//                            the sysroot and debug directory pointing into DIR
//
// Paths in a recording are hostile input: only absolute paths without ".." are
// extracted, always beneath DIR/root; anything else is skipped with a warning.
//
//   auto r = RecordingReader::open("app.rwd");
//   auto x = extract_sysroot(*r, "/tmp/app");
//   if (!x) { print(x.error().message); }
//   run gdb -x x->gdbinit
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

struct Sysroot {
  std::filesystem::path dir;
  std::filesystem::path root;      // DIR/root
  std::filesystem::path gdbinit;   // DIR/gdbinit
  std::filesystem::path manifest;  // DIR/manifest.json
  std::filesystem::path core;      // DIR/core; empty when the recording holds no core
  std::filesystem::path exe;       // the executable inside root; empty when not bundled
  std::filesystem::path vdso;      // DIR/vdso.so; empty when not bundled
  std::vector<std::string> files;  // extracted files, as paths the target saw
  std::vector<std::filesystem::path> gdb_scripts;  // extracted helpers, inside root
  // gdb commands that point it at these files (sysroot, debug directory, library
  // search path, executable); gdbinit is these plus the core.
  std::string gdb_file_commands;
  std::vector<std::string> warnings;
};

// Extracts into `dir`, which must be absent or empty.
Result<Sysroot> extract_sysroot(const RecordingReader& reader, const std::filesystem::path& dir);

// Where the gdb helper a "gdb-script" blob's meta describes goes inside `root` so gdb
// auto-loads it with its file: beside that file, as "<objfile>-gdb.py", whatever the
// helper's own path was (/usr/share/gdb/auto-load/usr/bin/python3.11-gdb.py for
// /usr/bin/python3.11 goes to root/usr/bin/python3.11-gdb.py).
Result<std::filesystem::path> gdb_script_in_root(const std::filesystem::path& root,
                                                 const nlohmann::json& meta);

// Where a path the target saw lives inside `root`; fails for relative paths and paths
// with "..", which a hostile recording could use to escape the directory.
Result<std::filesystem::path> path_in_root(const std::filesystem::path& root,
                                           std::string_view target_path);

}  // namespace rwd
