// rewind log FILE [--thread TID] [--json] [--syscall NAME[,NAME...]] [--by-time]
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "format/recording_reader.h"
#include "inspect/event_log.h"

namespace rwd::cli {

namespace {

struct LogOptions {
  std::string file;
  std::optional<uint32_t> tid;
  bool json = false;
  std::string syscalls;
  bool by_time = false;
};

int run_log(const LogOptions& o) {
  auto filter = EventFilter::parse(o.tid, o.syscalls);
  if (!filter) {
    fmt::print(stderr, "rewind log: {}\n", filter.error().message);
    return 2;
  }
  auto reader = RecordingReader::open(o.file);
  if (!reader) {
    fmt::print(stderr, "rewind log: {}\n", reader.error().message);
    return 1;
  }
  auto printed = print_event_log(*reader, *filter, o.json, stdout,
                                  o.by_time ? LogOrder::kTime : LogOrder::kLogged);
  std::fflush(stdout);
  if (!printed) {
    fmt::print(stderr, "rewind log: {}: {} (the events before it were printed)\n", o.file,
               printed.error().message);
    return 1;
  }
  if (reader->truncation()) {
    fmt::print(stderr, "rewind log: note: {}; the events up to there were printed\n",
               *reader->truncation());
  }
  return 0;
}

}  // namespace

void add_log_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("log", "Print a recording's events in order, strace style");
  auto opts = std::make_shared<LogOptions>();
  cmd->add_option("file", opts->file, "the recording (.rwd)")->required();
  cmd->add_option("--thread", opts->tid, "only events of this thread id");
  cmd->add_flag("--json", opts->json, "one JSON object per line");
  cmd->add_option("--syscall", opts->syscalls,
                  "only these syscalls (comma-separated names, e.g. openat,read)");
  cmd->add_flag("--by-time", opts->by_time,
                "in the order events began across threads (a syscall at its entry), not "
                "the order they were logged (a syscall when it returned, as replay runs)");
  cmd->callback([opts, &exit_code] { exit_code = run_log(*opts); });
}

}  // namespace rwd::cli
