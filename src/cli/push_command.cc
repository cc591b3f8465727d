// rewind push FILE URI: upload a recording to a store (directly, or through a durable
// spool with --queue DIR).
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/progress_meter.h"
#include "cli/store_flags.h"
#include "store/object_key.h"
#include "store/store.h"
#include "store/upload_queue.h"

namespace rwd::cli {
namespace {

struct PushArgs {
  std::string file;
  std::string uri;
  std::string reason = "manual";
  std::string exe;
  int pid = 0;
  std::string queue;
  StoreOptions store;
};

int run_push(const PushArgs& a) {
  auto uri = parse_store_uri(a.uri);
  if (!uri) {
    fmt::print(stderr, "rewind push: {}\n", uri.error().message);
    return 2;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(a.file, ec)) {
    fmt::print(stderr, "rewind push: cannot upload {}: {} (check the path)\n", a.file,
               std::filesystem::exists(a.file, ec) ? "not a regular file" : "no such file");
    return 1;
  }
  StoreUri store_uri = *uri;
  std::string key;
  if (auto loc = split_object_uri(*uri)) {
    store_uri = loc->store;
    key = loc->key;
  }
  auto store = open_store(store_uri, a.store);
  if (!store) {
    fmt::print(stderr, "rewind push: {}\n", store.error().message);
    return 1;
  }
  std::string exe = a.exe.empty() ? std::filesystem::path(a.file).stem().string() : a.exe;
  RecordingOrigin origin = local_origin(exe, a.pid, a.reason);
  if (key.empty()) {
    key = recording_key((*store)->prefix(), origin);
  }
  auto digest = digest_file(a.file);
  if (!digest) {
    fmt::print(stderr, "rewind push: cannot upload {}: {}\n", a.file, digest.error().message);
    return 1;
  }
  Metadata meta = recording_metadata(origin, digest->sha256, digest->size);
  ProgressMeter meter("uploading");
  if (!a.queue.empty()) {
    auto q = UploadQueue::open(a.queue);
    if (!q) {
      fmt::print(stderr, "rewind push: {}\n", q.error().message);
      return 1;
    }
    auto id = (*q)->enqueue(a.file, key, meta, UploadQueue::Mode::kCopy);
    if (!id) {
      fmt::print(stderr, "rewind push: {}\n", id.error().message);
      return 1;
    }
    if (auto s = (*q)->upload_all(**store, meter.callback()); !s) {
      meter.finish();
      fmt::print(stderr,
                 "rewind push: {}\nrewind push: {} recording(s) stay queued in {}; run 'rewind "
                 "upload-queue {} {}' to retry\n",
                 s.error().message, (*q)->depth(), a.queue, a.queue, a.uri);
      return 1;
    }
  } else {
    PutOptions opts;
    opts.metadata = meta;
    opts.progress = meter.callback();
    auto info = (*store)->put(a.file, key, opts);
    if (!info) {
      meter.finish();
      fmt::print(stderr, "rewind push: {}\n", info.error().message);
      return 1;
    }
  }
  meter.finish();
  fmt::print("{}\t{}\t{}\n", (*store)->uri(key), digest->size, digest->sha256);
  return 0;
}

}  // namespace

void add_push_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PushArgs>();
  auto* cmd = app.add_subcommand(
      "push", "upload a recording to a store: a directory (file:///DIR) or S3 (s3://BUCKET/PREFIX)");
  cmd->add_option("FILE", a->file, "the recording")->required();
  cmd->add_option("URI", a->uri,
                  "the store (the key is built from host, program, time and reason) or the "
                  "full object URI ending in .rwd")
      ->required();
  cmd->add_option("--reason", a->reason, "why it was recorded (part of the key)")
      ->capture_default_str();
  cmd->add_option("--exe", a->exe, "program name for the key (default: the file's stem)");
  cmd->add_option("--pid", a->pid, "process id for the key");
  cmd->add_option("--queue", a->queue,
                  "spool directory: queue the file durably first, then upload everything "
                  "queued; a failed upload stays queued for 'rewind upload-queue'");
  add_store_flags(cmd, a->store);
  cmd->callback([a, &exit_code] { exit_code = run_push(*a); });
}

}  // namespace rwd::cli
