// rewind pull URI-OR-KEY [FILE]: download a recording and verify its sha256.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/progress_meter.h"
#include "cli/store_flags.h"
#include "store/store.h"

namespace rwd::cli {
namespace {

struct PullArgs {
  std::string what;
  std::string file;
  std::string store_uri;
  bool no_verify = false;
  StoreOptions store;
};

int run_pull(const PullArgs& a) {
  ObjectLocation loc;
  if (a.what.find("://") != std::string::npos) {
    auto uri = parse_store_uri(a.what);
    if (!uri) {
      fmt::print(stderr, "rewind pull: {}\n", uri.error().message);
      return 2;
    }
    auto split = split_object_uri(*uri);
    if (!split) {
      fmt::print(stderr,
                 "rewind pull: \"{}\" does not name a recording (its path must end in .rwd; "
                 "list them with 'rewind ls {}')\n",
                 a.what, a.what);
      return 2;
    }
    loc = std::move(*split);
  } else {
    if (a.store_uri.empty()) {
      fmt::print(stderr,
                 "rewind pull: \"{}\" is a key, so the store is needed too (pass --store URI, "
                 "or give the full URI such as s3://BUCKET/{})\n",
                 a.what, a.what);
      return 2;
    }
    auto uri = parse_store_uri(a.store_uri);
    if (!uri) {
      fmt::print(stderr, "rewind pull: {}\n", uri.error().message);
      return 2;
    }
    loc.store = *uri;
    loc.store.prefix.clear();  // keys printed by 'rewind ls' are full keys
    loc.key = a.what;
  }
  auto store = open_store(loc.store, a.store);
  if (!store) {
    fmt::print(stderr, "rewind pull: {}\n", store.error().message);
    return 1;
  }
  std::filesystem::path dest =
      a.file.empty() ? std::filesystem::path(loc.key).filename() : std::filesystem::path(a.file);
  ProgressMeter meter("downloading");
  auto info = (*store)->get(loc.key, dest, meter.callback(), !a.no_verify);
  meter.finish();
  if (!info) {
    fmt::print(stderr, "rewind pull: {}\n", info.error().message);
    return 1;
  }
  fmt::print("{}\t{}\t{}\n", dest.string(), info->size, info->metadata["sha256"]);
  return 0;
}

}  // namespace

void add_pull_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PullArgs>();
  auto* cmd = app.add_subcommand(
      "pull", "download a recording from a store, verifying its sha256 before it is kept");
  cmd->add_option("URI-OR-KEY", a->what,
                  "s3://BUCKET/KEY, file:///DIR/KEY, or a key as printed by 'rewind ls' with "
                  "--store")
      ->required();
  cmd->add_option("FILE", a->file, "where to write it (default: the key's file name)");
  cmd->add_option("--store", a->store_uri, "the store a bare key lives in");
  cmd->add_flag("--no-verify", a->no_verify, "keep the file even without sha256 metadata to check");
  add_store_flags(cmd, a->store);
  cmd->callback([a, &exit_code] { exit_code = run_pull(*a); });
}

}  // namespace rwd::cli
