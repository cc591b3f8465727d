// rewind debug: time-travel debugging of a recording in gdb (or an IDE with --serve),
// or the final state as a core file with --core.
#include <fmt/format.h>

#include "cli/commands.h"
#include "format/recording_reader.h"
#include "gdb/debug_session.h"
#include "inspect/gdb_launcher.h"

namespace rwd::cli {

void add_debug_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "debug", "Debug a recording in gdb with time travel, from its end (the crash): the "
               "replay runs forwards and backwards (reverse-step, reverse-continue, watchpoints)");
  auto file = std::make_shared<std::string>();
  auto gdb_args = std::make_shared<std::vector<std::string>>();
  auto core = std::make_shared<bool>(false);
  auto serve = std::make_shared<std::string>();
  auto at = std::make_shared<std::string>("end");
  cmd->add_option("file", *file, "the recording (.rwd)")->required();
  cmd->add_flag("--core", *core,
                "open only the recorded final state (a core file) instead of the replay");
  cmd->add_option("--serve", *serve,
                  "serve the replay to one debugger on HOST:PORT (e.g. 127.0.0.1:2345) "
                  "instead of starting gdb; for IDEs, see docs/time-travel.md");
  cmd->add_option("--at", *at,
                  "where the session starts: end (the crash or exit, the default), start, "
                  "or an event number as `rewind log` prints it");
  // A minimum of one keeps this positional open after "--", so CLI11 hands it the rest.
  cmd->add_option("gdb-args", *gdb_args, "arguments for gdb, after --")->expected(1, -1);
  cmd->footer("Examples:\n  rewind debug app.rwd\n"
              "  rewind debug app.rwd -- -batch -ex 'reverse-finish' -ex bt\n"
              "  rewind debug --serve 127.0.0.1:2345 app.rwd\n"
              "  rewind debug --core app.rwd -- -batch -ex bt");
  cmd->callback([&exit_code, file, gdb_args, core, serve, at] {
    auto reader = RecordingReader::open(*file);
    if (!reader) {
      fmt::print(stderr, "rewind debug: {}\n", reader.error().message);
      exit_code = 1;
      return;
    }
    if (*core && !serve->empty()) {
      fmt::print(stderr, "rewind debug: --core and --serve do not go together (a core has no "
                         "replay to serve)\n");
      exit_code = 2;
      return;
    }
    std::optional<uint64_t> start;
    if (*at == "start") {
      start = 0;
    } else if (*at != "end") {
      try {
        size_t used = 0;
        start = std::stoull(*at, &used);
        if (used != at->size()) {
          throw std::invalid_argument(*at);
        }
      } catch (const std::exception&) {
        fmt::print(stderr, "rewind debug: --at takes end, start or an event number, not '{}'\n",
                   *at);
        exit_code = 2;
        return;
      }
    }
    if (!serve->empty()) {
      auto s = serve_replay(*reader, *serve, start);
      if (!s) {
        fmt::print(stderr, "rewind debug: {}: {}\n", *file, s.error().message);
        exit_code = 1;
      }
      return;
    }
    auto code = *core ? debug_with_gdb(*reader, *gdb_args)
                      : debug_replay_with_gdb(*reader, *gdb_args, start);
    if (!code) {
      fmt::print(stderr, "rewind debug: {}: {}\n", *file, code.error().message);
      exit_code = 1;
      return;
    }
    exit_code = *code;
  });
}

}  // namespace rwd::cli
