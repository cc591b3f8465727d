// The final state of a recording: an ELF core of the process written when it crashes,
// exits or the recording stops, stored in the recording as blob kind "core".
//
// Every listed thread must be in a ptrace-stop. The crashing thread, if any, comes
// first and `siginfo` describes its fatal signal.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_writer.h"

namespace rwd {

Status write_final_core(pid_t pid, const std::vector<pid_t>& tids, const siginfo_t* siginfo,
                        const std::string& reason, RecordingWriter& writer);

}  // namespace rwd
