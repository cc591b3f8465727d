#include <fmt/format.h>

#include "cli/commands.h"

namespace rwd::cli {

void add_log_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("log", "(being built)");
  cmd->callback([&exit_code] {
    fmt::print(stderr, "rewind log: not available in this build yet\n");
    exit_code = 1;
  });
}

}  // namespace rwd::cli
