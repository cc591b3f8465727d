// replay_recording: `rewind replay` — re-executes a recording from start to end on a
// ReplaySession (replay_session.h) and, with verify, checks that it arrives at exactly
// the recorded final state (final_state_check.h).
//
//   ReplayOptions opt{.verify = true};
//   auto r = replay_recording("app.rwd", opt);
//   if (r && r->verified) fmt::print("verified: identical final state\n");
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "replay/replay_session.h"

namespace rwd {

struct ReplayResult : ReplayStats {
  uint64_t total_events = 0;  // events in the log
  bool verified = false;
  std::string difference;         // first difference from the final state, when not verified
  uint64_t dead_stack_bytes = 0;  // below stack pointers, not compared by --verify
  double seconds = 0;
};

Result<ReplayResult> replay_recording(const std::filesystem::path& path,
                                      const ReplayOptions& options);

}  // namespace rwd
