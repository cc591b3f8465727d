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

#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

Result<int> debug_with_gdb(const RecordingReader& reader, const std::vector<std::string>& gdb_args);

}  // namespace rwd
