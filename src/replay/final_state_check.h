// The self-check of `rewind replay --verify`: after the replay has reached the end,
// every thread's registers and all writable memory are compared with the final state
// the recorder saved (an ELF core). Identical means the recording is "verified".
//
//   auto check = check_final_state(session);
//   if (!check.verified) fmt::print("not verified: {}\n", check.difference);
#pragma once

#include <cstdint>
#include <string>

#include "replay/replay_session.h"

namespace rwd {

struct FinalStateCheck {
  bool verified = false;
  std::string difference;         // the first difference, when not verified
  uint64_t dead_stack_bytes = 0;  // below stack pointers: not compared
};

FinalStateCheck check_final_state(const ReplaySession& session);

}  // namespace rwd
