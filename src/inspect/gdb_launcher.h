// debug_with_gdb: opens a recording's final state in gdb with the recording's own files.
//
// The recording is extracted into a temporary directory (sysroot.h), gdb runs with
// `-x DIR/gdbinit` followed by the caller's arguments, attached to this terminal, and
// the directory is removed when gdb exits. While gdb runs, Ctrl-C belongs to gdb: this
// process ignores SIGINT and SIGQUIT until gdb exits.
//
//   auto r = RecordingReader::open("app.rwd");
//   auto code = debug_with_gdb(*r, {"-batch", "-ex", "bt"});  // gdb's exit status
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

Result<int> debug_with_gdb(const RecordingReader& reader, const std::vector<std::string>& gdb_args);

// gdb as a child process: `gdb -q` with debuginfod off (a recording brings its own
// debug files), `-x init`, then the caller's arguments. While it runs, Ctrl-C belongs
// to gdb: this process ignores SIGINT and SIGQUIT until wait() returns.
//
//   auto gdb = GdbProcess::start(dir / "gdbinit", args);
//   ... serve it ...
//   int code = gdb->wait();   // its exit status (128 + signal when killed)
class GdbProcess {
 public:
  static Result<GdbProcess> start(const std::filesystem::path& init,
                                  const std::vector<std::string>& gdb_args);
  GdbProcess(GdbProcess&& o) noexcept;
  GdbProcess& operator=(GdbProcess&&) = delete;
  ~GdbProcess();

  // True once gdb has exited (without waiting).
  bool exited();
  int wait();

 private:
  GdbProcess() = default;
  void restore_signals();

  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  bool signals_taken_ = false;
  struct sigaction old_int_{}, old_quit_{};
};

}  // namespace rwd
