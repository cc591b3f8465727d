// The gdb commands rewind ships with every time-travel session, as a Python script
// that `rewind debug` sources: rewind-goto, rewind-info, rewind-last. They talk to the
// replay through `monitor` (replay_target.h) and gdb's own reverse execution.
#pragma once

#include <string_view>

namespace rwd {

extern const std::string_view kGdbHelpersPython;

}  // namespace rwd
