// rewind record: attach to a running process (-p PID) or launch one (-- CMD ARGS...)
// and record it into a .rwd file until it exits, crashes, or rewind gets SIGINT/SIGTERM.
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <optional>

#include "cli/commands.h"
#include "record/record_session.h"
#include "tracee/proc_info.h"
#include "tracee/signals.h"

namespace rwd::cli {

namespace {

std::string default_output(pid_t pid, const std::vector<std::string>& command) {
  std::string name = "process";
  if (!command.empty()) {
    name = std::filesystem::path(command[0]).filename().string();
  } else if (auto st = read_status(pid)) {
    name = st->name;
  }
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return pid > 0 ? fmt::format("{}-{}-{}.rwd", name, pid, stamp)
                 : fmt::format("{}-{}.rwd", name, stamp);
}

// Launched, rewind stands in for the program, like time(1) or strace: its exit status is
// the program's (128 + signal when a signal ended it). Attached, the target's status
// belongs to its own parent, so 0 says the recording is complete. A program still
// running when the recording stops (Ctrl-C, --duration) has no status yet: 0.
int exit_code_of(const RecordResult& result, bool launched) {
  return launched && result.exit_status ? *result.exit_status : 0;
}

// rewind's own output going to a pipe that closed (`rewind record ... | head`): the write
// fails, and the recording goes on instead of dying with half a file. A handler rather
// than SIG_IGN, which a launched program would inherit through exec.
void on_broken_pipe(int) {}

int run_record(pid_t pid, std::vector<std::string> command, std::string output,
               bool redact_env, double duration_s, std::optional<bool> pin_cpu,
               bool fast_clocks, bool trap_every_rdtsc, bool in_process_clocks) {
  struct sigaction broken_pipe{};
  sigemptyset(&broken_pipe.sa_mask);
  broken_pipe.sa_handler = on_broken_pipe;
  ::sigaction(SIGPIPE, &broken_pipe, nullptr);
  if ((pid > 0) == !command.empty()) {
    fmt::print(stderr, "rewind record: give either -p PID or a command after --\n");
    return 2;
  }
  RecordOptions opt;
  opt.pid = pid;
  opt.command = std::move(command);
  opt.output = output.empty() ? default_output(pid, opt.command) : output;
  opt.redact_env = redact_env;
  opt.max_duration = std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000));
  // A launched program is there for the recording; a running service keeps all its CPUs
  // unless asked, should rewind be killed before it puts them back.
  opt.pin_cpu = pin_cpu.value_or(pid == 0);
  opt.fast_clocks = fast_clocks;
  opt.in_process_rdtsc = !trap_every_rdtsc;
  opt.in_process_clocks = in_process_clocks && !fast_clocks;
  auto session = pid > 0 ? RecordSession::attach(opt) : RecordSession::launch(opt);
  if (!session) {
    fmt::print(stderr, "rewind record: {}\n", session.error().message);
    return 1;
  }
  auto result = (*session)->run();
  if (!result) {
    fmt::print(stderr, "rewind record: {}\n", result.error().message);
    return 1;
  }
  std::string how = result->stop_reason;
  if (result->crash_signal) {
    how = fmt::format("crash ({})", signal_name(*result->crash_signal));
  } else if (result->exit_status && result->stop_reason == "exit") {
    how = fmt::format("exit (status {})", *result->exit_status);
  }
  fmt::print("recorded {} events, {:.1f} MiB, stopped by {}: {}\n", result->events,
             static_cast<double>(result->bytes) / (1 << 20), how, result->path.string());
  fmt::print("inspect it with: rewind info {}   debug it with: rewind debug {}\n",
             result->path.string(), result->path.string());
  return exit_code_of(*result, pid == 0);
}

}  // namespace

void add_record_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "record", "Record a running process (-p PID) or a new one (-- CMD ARGS...) into a .rwd file");
  static pid_t pid = 0;
  static std::string output;
  static bool redact_env = false;
  static double duration = 0;
  static std::vector<std::string> command;
  static bool pin_cpu = false;
  static bool no_pin_cpu = false;
  static bool fast_clocks = false;
  static bool trap_every_rdtsc = false;
  static bool in_process_clocks = false;
  cmd->add_option("-p,--pid", pid, "Attach to this running process");
  cmd->add_option("-o,--output", output, "Recording file (default: NAME-PID-TIME.rwd)");
  cmd->add_flag("--redact-env", redact_env, "Store environment variable names without values");
  cmd->add_option("--duration", duration, "Stop after this many seconds (default: no limit)")
      ->check(CLI::NonNegativeNumber);
  auto* pin = cmd->add_flag(
      "--pin-cpu", pin_cpu,
      "Run the target and rewind on one CPU while recording, which makes recording faster; "
      "the target's CPUs are put back when rewind detaches, but stay pinned if rewind is "
      "killed (default: on with -- CMD, off with -p)");
  cmd->add_flag("--no-pin-cpu", no_pin_cpu, "Leave the target's CPUs alone")->excludes(pin);
  auto* in_process = cmd->add_flag(
      "--in-process-clocks", in_process_clocks,
      "Answer clock reads through the vDSO (clock_gettime, gettimeofday, time) inside the "
      "target after the first, with the time of the process's last stop (at most about 1 "
      "ms old), instead of making each a recorded syscall: much faster for programs that "
      "read the clock often; replay of long syscall-free stretches gets slow (see "
      "docs/recording.md#clock-reads-inside-the-target)");
  cmd->add_flag("--fast-clocks", fast_clocks,
                "Stop the target once per vDSO clock read instead of twice; if "
                "rewind is then killed with SIGKILL, a thread of the target that blocks SIGSEGV "
                "dies at its next clock read (see docs/recording.md#if-rewind-is-killed)")
      ->excludes(in_process);
  cmd->add_flag("--trap-every-rdtsc", trap_every_rdtsc,
                "Stop the target at every rdtsc and give it the exact counter, instead of "
                "answering an rdtsc inside the target after its first stop with values that "
                "move at the kernel's clock-update pace (see docs/recording.md#rdtsc-inside-the-target)");
  cmd->add_option("command", command, "Command to launch and record (after --)");
  cmd->footer(
      "Exit status: with -- CMD, the program's own (128 + signal when a signal ended it), "
      "or 0 when the recording stopped first and the program runs on; with -p, 0 once the "
      "recording is complete. 1 when rewind could not record (a line on stderr says why).");
  cmd->callback([&exit_code] {
    std::optional<bool> pin_choice;
    if (pin_cpu || no_pin_cpu) {
      pin_choice = pin_cpu;
    }
    exit_code = run_record(pid, command, output, redact_env, duration, pin_choice, fast_clocks,
                           trap_every_rdtsc, in_process_clocks);
  });
}

}  // namespace rwd::cli
