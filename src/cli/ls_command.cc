// rewind ls URI: list the recordings in a store, newest first.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

#include "cli/commands.h"
#include "cli/store_flags.h"
#include "store/object_key.h"
#include "store/store.h"

namespace rwd::cli {
namespace {

struct LsArgs {
  std::string uri;
  StoreOptions store;
};

struct Row {
  std::string key;
  uint64_t size;
  std::chrono::system_clock::time_point time;
  std::string reason;
};

int run_ls(const LsArgs& a) {
  auto uri = parse_store_uri(a.uri);
  if (!uri) {
    fmt::print(stderr, "rewind ls: {}\n", uri.error().message);
    return 2;
  }
  auto store = open_store(*uri, a.store);
  if (!store) {
    fmt::print(stderr, "rewind ls: {}\n", store.error().message);
    return 1;
  }
  auto objects = (*store)->list();
  if (!objects) {
    fmt::print(stderr, "rewind ls: {}\n", objects.error().message);
    return 1;
  }
  std::vector<Row> rows;
  for (const auto& o : *objects) {
    Row r{o.key, o.size, o.modified, "-"};
    if (auto name = parse_recording_name(o.key)) {
      r.time = name->time;
      r.reason = name->reason;
    }
    rows.push_back(std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    return x.time != y.time ? x.time > y.time : x.key > y.key;
  });
  for (const auto& r : rows) {
    std::time_t t = std::chrono::system_clock::to_time_t(r.time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    fmt::print("{}\t{}\t{:%Y-%m-%dT%H:%M:%SZ}\t{}\n", r.key, r.size, tm, r.reason);
  }
  return 0;
}

}  // namespace

void add_ls_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<LsArgs>();
  auto* cmd = app.add_subcommand(
      "ls", "list the recordings in a store, newest first (key, size, UTC time, reason)");
  cmd->add_option("URI", a->uri, "the store: file:///DIR or s3://BUCKET/PREFIX")->required();
  add_store_flags(cmd, a->store);
  cmd->callback([a, &exit_code] { exit_code = run_ls(*a); });
}

}  // namespace rwd::cli
