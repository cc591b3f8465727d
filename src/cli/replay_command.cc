// rewind replay: re-execute a recording deterministically; with --verify, check that it
// arrives at exactly the recorded final state.
#include <fmt/format.h>

#include "cli/commands.h"
#include "replay/replayer.h"
#include "replay/verification.h"
#include "tracee/signals.h"

namespace rwd::cli {

namespace {

constexpr int kExitDiverged = 3;

int run_replay(const std::string& file, bool verify, std::optional<uint64_t> until,
               int stall_seconds) {
  ReplayOptions options;
  options.verify = verify;
  options.until = until;
  options.stall_timeout = std::chrono::seconds(stall_seconds);
  auto result = replay_recording(file, options);
  if (!result) {
    fmt::print(stderr, "rewind replay: {}: {}\n", file, result.error().message);
    return 1;
  }
  for (const auto& w : result->warnings) {
    fmt::print(stderr, "rewind replay: warning: {}\n", w);
  }
  const ReplayResult& r = *result;
  int code = 0;
  if (r.divergence) {
    const Divergence& d = *r.divergence;
    fmt::print("divergence at event {} (thread {}):\n  recorded: {}\n  replayed: {}\n", d.event_index,
               d.tid, d.expected, d.actual);
    if (!d.registers.empty()) {
      fmt::print("  registers: {}\n", d.registers);
    }
    code = kExitDiverged;
  } else {
    fmt::print("replayed {} events of {} in {:.3f} s ({} syscalls emulated, {} performed, {} "
               "breakpoint stops)\n",
               r.events, r.total_events, r.seconds, r.syscalls_emulated, r.syscalls_performed,
               r.breakpoint_hits);
    if (r.end_signal) {
      fmt::print("replay ended in {} at {:#x}\n", signal_name(*r.end_signal), r.end_fault_addr);
    } else if (!r.end.empty()) {
      fmt::print("replay ended at: {}\n", r.end);
    }
  }
  if (verify && r.end != "--until") {
    if (r.verified) {
      fmt::print("verified: identical final state\n");
    } else if (!r.divergence) {
      fmt::print("not verified: {}\n", r.difference);
      code = kExitDiverged;
    }
    if (auto s = write_verification(file, r); !s) {
      fmt::print(stderr, "rewind replay: cannot save the verification result: {}\n",
                 s.error().message);
    }
  }
  return code;
}

}  // namespace

void add_replay_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "replay", "Re-execute a recording deterministically (and check it with --verify)");
  auto file = std::make_shared<std::string>();
  auto verify = std::make_shared<bool>(false);
  auto until = std::make_shared<int64_t>(-1);
  auto stall = std::make_shared<int>(60);
  cmd->add_option("file", *file, "the recording (.rwd)")->required();
  cmd->add_flag("--verify", *verify,
                "replay to the end and compare every thread's registers and all writable "
                "memory with the recorded final state");
  cmd->add_option("--until", *until, "replay only the first N events")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--stall-timeout", *stall,
                  "seconds a thread may run without reaching its next event before the replay "
                  "reports a divergence")
      ->check(CLI::PositiveNumber);
  cmd->callback([&exit_code, file, verify, until, stall] {
    std::optional<uint64_t> u;
    if (*until >= 0) {
      u = static_cast<uint64_t>(*until);
    }
    exit_code = run_replay(*file, *verify, u, *stall);
  });
}

}  // namespace rwd::cli
