// Time-travel debugging of a recording: `rewind debug FILE` and
// `rewind debug --serve HOST:PORT FILE`.
//
// The recording's files are laid out as a sysroot (inspect/sysroot.h), its replay is
// served over the GDB remote protocol (gdb_server.h over replay_target.h) on this
// thread — the thread that owns the replay's ptrace — and gdb, started as a child with
// the sysroot, the rewind-* commands (gdb_helpers.h) and `target remote`, drives it.
//
// The session begins at the end of the recording — at the crash, where a user starts
// asking how it came to this — unless another start is asked for.
//
//   auto code = debug_replay_with_gdb(reader, {"-batch", "-ex", "reverse-stepi"});
//   auto served = serve_replay(reader, "127.0.0.1:2345");   // for an IDE
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

// The session starts just after `start` events, or at the end of the recording (its
// crash) with nullopt. gdb's exit status. A recording that cannot be replayed at all
// (no initial snapshot, say) opens as its final state, with a warning.
Result<int> debug_replay_with_gdb(const RecordingReader& reader,
                                  const std::vector<std::string>& gdb_args,
                                  std::optional<uint64_t> start = std::nullopt);

// Serves one debugger connection on host_port, printing how to connect.
Status serve_replay(const RecordingReader& reader, const std::string& host_port,
                    std::optional<uint64_t> start = std::nullopt);

}  // namespace rwd
