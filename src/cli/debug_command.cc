#include <fmt/format.h>

#include "cli/commands.h"
#include "format/recording_reader.h"
#include "inspect/gdb_launcher.h"

namespace rwd::cli {

void add_debug_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "debug", "Open a recording's final state in gdb, with its bundled binaries and debug files");
  auto file = std::make_shared<std::string>();
  auto gdb_args = std::make_shared<std::vector<std::string>>();
  cmd->add_option("file", *file, "the recording (.rwd)")->required();
  // A minimum of one keeps this positional open after "--", so CLI11 hands it the rest.
  cmd->add_option("gdb-args", *gdb_args, "arguments for gdb, after --")->expected(1, -1);
  cmd->footer("Example: rewind debug app.rwd -- -batch -ex bt");
  cmd->callback([&exit_code, file, gdb_args] {
    auto reader = RecordingReader::open(*file);
    if (!reader) {
      fmt::print(stderr, "rewind debug: {}\n", reader.error().message);
      exit_code = 1;
      return;
    }
    auto code = debug_with_gdb(*reader, *gdb_args);
    if (!code) {
      fmt::print(stderr, "rewind debug: {}\n", code.error().message);
      exit_code = 1;
      return;
    }
    exit_code = *code;
  });
}

}  // namespace rwd::cli
