// core_backtrace: symbolized stack traces of the threads in an ELF core, with elfutils
// libdwfl, using only the files of an extracted recording (sysroot.h). It never looks
// at the host's binaries or debug files, so it works on a machine that has neither the
// program nor its libraries.
//
// Modules named in the core are looked up in the sysroot by build-id, then by path,
// then by file name; separate debug files by build-id under
// ROOT/usr/lib/debug/.build-id. Frames carry pc, function (demangled), module and
// source file:line when debug info is available.
//
// libdwfl reports its errors per thread, so one call runs at a time per thread.
//
//   auto x = extract_sysroot(reader, dir);
//   auto bt = core_backtrace(x->core, x->root, {.first_tid = tid, .executable = x->exe});
//   for (const auto& f : (*bt)[0].frames) fmt::print("{}\n", format_frame(f));
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace rwd {

struct Frame {
  int index = 0;
  uint64_t pc = 0;
  std::string function;  // demangled; empty when no symbol covers pc
  uint64_t function_offset = 0;
  std::string module;    // path of the module the target had mapped
  std::string file;      // source file, empty without debug info
  int line = 0;
};

struct ThreadBacktrace {
  pid_t tid = 0;
  std::vector<Frame> frames;
  std::string error;  // why unwinding stopped early, when it yielded no frame
};

struct BacktraceOptions {
  pid_t first_tid = 0;     // this thread first (the crashing one); 0: the core's first
  bool all_threads = false;
  size_t max_frames = 64;
  // The executable inside root: lets libdwfl find the libraries when the core lacks the
  // executable's dynamic section.
  std::filesystem::path executable;
};

// Backtraces of `core` (the first thread only unless all_threads), modules resolved in
// `root` (the extracted sysroot; its usr/lib/debug holds the debug files).
Result<std::vector<ThreadBacktrace>> core_backtrace(const std::filesystem::path& core,
                                                    const std::filesystem::path& root,
                                                    const BacktraceOptions& options);

// "#0 0x000055d1c2a3b1c4 in finish_job(Job*) at main.cc:72" (gdb's style).
std::string format_frame(const Frame& f);
nlohmann::json frame_json(const Frame& f);

}  // namespace rwd
