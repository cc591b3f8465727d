#include <fmt/format.h>

#include "cli/commands.h"
#include "format/recording_reader.h"
#include "inspect/recording_summary.h"
#include "replay/verification.h"

namespace rwd::cli {

void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "info", "Summarize a recording: target, duration, threads, events, crash and backtrace");
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto all_threads = std::make_shared<bool>(false);
  cmd->add_option("file", *file, "the recording (.rwd)")->required();
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->add_flag("--all-threads", *all_threads, "backtraces of every thread, not only the crashing one");
  cmd->callback([&exit_code, file, json, all_threads] {
    auto reader = RecordingReader::open(*file);
    if (!reader) {
      fmt::print(stderr, "rewind info: {}\n", reader.error().message);
      exit_code = 1;
      return;
    }
    SummaryOptions options;
    options.all_threads = *all_threads;
    auto summary = summarize_recording(*reader, options);
    if (!summary) {
      fmt::print(stderr, "rewind info: {}\n", summary.error().message);
      exit_code = 1;
      return;
    }
    if (auto v = read_verification(*file)) {
      (*summary)["verification"] = *v;
    }
    // The stderr tail is the program's bytes, not necessarily UTF-8.
    fmt::print("{}", *json ? summary->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                           : format_summary(*summary));
    exit_code = 0;
  });
}

}  // namespace rwd::cli
