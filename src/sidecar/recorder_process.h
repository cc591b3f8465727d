// RecorderProcess: one `rewind record -p PID -o FILE` child of the sidecar. Recording
// runs in its own process so a fault in the recorder never takes the controller down.
//
// The child is started from /proc/self/exe in its own process group (a Ctrl-C or a
// signal meant for the sidecar never reaches it), with PR_SET_PDEATHSIG = SIGINT, so if
// the sidecar dies the recorder stops cleanly and detaches instead of recording on.
// Its stdout and stderr go to a log file beside the recording, read back to learn how
// the recording ended ("stopped by crash (SIGSEGV)").
//
// A reaper thread waits for the child and calls on_exit once, from that thread.
// stop() sends SIGINT: the recorder finishes the file, detaches and exits.
//
//   auto rec = RecorderProcess::start({.pid = 42, .output = "/recordings/.incoming/a.rwd"},
//                                     [&] { wake_controller(); });
//   rec->stop();
//   ... later, when exited(): rec->result()
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"

namespace rwd::sidecar {

struct RecorderSpec {
  pid_t pid = 0;                   // target
  std::filesystem::path output;    // the .rwd file
  std::filesystem::path log;       // recorder's stdout+stderr; default output + ".log"
  std::filesystem::path program;   // default /proc/self/exe
  std::vector<std::string> extra_args;
};

struct RecorderResult {
  int exit_code = -1;       // exit status, or 128+signal when killed by a signal
  std::string ended_by;     // "crash", "exit", "interrupted", ... (from the recorder's output)
  std::string crash_signal; // "SIGSEGV" when ended_by == "crash"
  std::string summary;      // the recorder's summary or last error line
};

class RecorderProcess {
 public:
  static Result<std::unique_ptr<RecorderProcess>> start(RecorderSpec spec,
                                                        std::function<void()> on_exit);
  ~RecorderProcess();  // stops (SIGINT) and waits if still running
  RecorderProcess(const RecorderProcess&) = delete;
  RecorderProcess& operator=(const RecorderProcess&) = delete;

  pid_t pid() const { return child_; }
  const RecorderSpec& spec() const { return spec_; }
  // Asks the recorder to finish (SIGINT). Idempotent.
  void stop();
  bool stopping() const { return stop_sent_; }
  // SIGKILL, for a recorder that does not finish within the shutdown deadline.
  void kill();
  bool exited() const { return exited_.load(); }
  // Valid once exited().
  RecorderResult result() const;
  // Whether the recorder has attached (the target names it as its tracer) and records
  // (it handles SIGINT, so stop() saves rather than kills).
  bool attached() const;

 private:
  RecorderProcess(RecorderSpec spec, pid_t child) : spec_(std::move(spec)), child_(child) {}
  void reap(std::function<void()> on_exit);

  RecorderSpec spec_;
  pid_t child_ = 0;
  bool stop_sent_ = false;
  std::atomic<bool> exited_{false};
  mutable std::mutex mu_;
  RecorderResult result_;
  std::thread reaper_;
};

// Parses the recorder's output ("recorded N events, ..., stopped by crash (SIGSEGV): F").
RecorderResult parse_recorder_output(std::string_view output, int exit_code);

}  // namespace rwd::sidecar
