// rewind: record a running Linux process, inspect, replay and debug the recording, and
// run as a Kubernetes sidecar. See README.md.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string_view>

#include "cli/commands.h"
#include "common/log.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"rewind: time-travel recording for Linux services", "rewind"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(rwd::kVersion));
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.parse_complete_callback([&] { rwd::init_logging(log_level); });

  int exit_code = 0;
  rwd::cli::add_record_command(app, exit_code);
  rwd::cli::add_info_command(app, exit_code);
  rwd::cli::add_log_command(app, exit_code);
  rwd::cli::add_debug_command(app, exit_code);
  rwd::cli::add_extract_command(app, exit_code);
  rwd::cli::add_push_command(app, exit_code);
  rwd::cli::add_ls_command(app, exit_code);
  rwd::cli::add_pull_command(app, exit_code);
  rwd::cli::add_upload_queue_command(app, exit_code);
  rwd::cli::add_wait_idle_command(app, exit_code);
  rwd::cli::add_k8s_command(app, exit_code);
  rwd::cli::add_sidecar_command(app, exit_code);
  rwd::cli::add_replay_command(app, exit_code);

  // CLI11 reports a mistyped command as "a subcommand is required"; name it instead.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("-")) {
      if (arg == "--log-level") {
        ++i;
      }
      continue;
    }
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
      known = known || sub->check_name(std::string(arg));
    }
    if (!known) {
      fmt::print(stderr, "rewind: unknown command '{}' (run 'rewind --help' for the list)\n", arg);
      return 2;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
