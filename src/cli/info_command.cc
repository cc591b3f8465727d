#include <fmt/format.h>

#include "cli/commands.h"

namespace rwd::cli {

void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("info", "(being built)");
  cmd->callback([&exit_code] {
    fmt::print(stderr, "rewind info: not available in this build yet\n");
    exit_code = 1;
  });
}

}  // namespace rwd::cli
