#include <fmt/format.h>

#include "cli/commands.h"

namespace rwd::cli {

void add_extract_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("extract", "(being built)");
  cmd->callback([&exit_code] {
    fmt::print(stderr, "rewind extract: not available in this build yet\n");
    exit_code = 1;
  });
}

}  // namespace rwd::cli
