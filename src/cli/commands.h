// The rewind subcommands. Each lives in its own <name>_command.cc and only parses its
// flags, calls a library and prints; the logic lives in the libraries below cli/.
#pragma once

#include <CLI/CLI.hpp>

namespace rwd::cli {

// Each add_* registers one subcommand on `app`. The callback stores its exit code in
// `exit_code` (0 success, 1 failure, 2 usage error).
void add_record_command(CLI::App& app, int& exit_code);
void add_info_command(CLI::App& app, int& exit_code);
void add_log_command(CLI::App& app, int& exit_code);
void add_debug_command(CLI::App& app, int& exit_code);
void add_extract_command(CLI::App& app, int& exit_code);
void add_push_command(CLI::App& app, int& exit_code);
void add_ls_command(CLI::App& app, int& exit_code);
void add_pull_command(CLI::App& app, int& exit_code);
void add_upload_queue_command(CLI::App& app, int& exit_code);
void add_wait_idle_command(CLI::App& app, int& exit_code);
void add_k8s_command(CLI::App& app, int& exit_code);
void add_sidecar_command(CLI::App& app, int& exit_code);
void add_replay_command(CLI::App& app, int& exit_code);

}  // namespace rwd::cli
