// rewind upload-queue DIR URI: upload every recording queued in a spool directory,
// resuming interrupted multipart uploads; what fails stays queued.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/progress_meter.h"
#include "cli/store_flags.h"
#include "store/store.h"
#include "store/upload_queue.h"

namespace rwd::cli {
namespace {

struct UploadQueueArgs {
  std::string spool;
  std::string uri;
  StoreOptions store;
};

int run_upload_queue(const UploadQueueArgs& a) {
  auto uri = parse_store_uri(a.uri);
  if (!uri) {
    fmt::print(stderr, "rewind upload-queue: {}\n", uri.error().message);
    return 2;
  }
  auto store = open_store(*uri, a.store);
  if (!store) {
    fmt::print(stderr, "rewind upload-queue: {}\n", store.error().message);
    return 1;
  }
  auto q = UploadQueue::open(a.spool);
  if (!q) {
    fmt::print(stderr, "rewind upload-queue: {}\n", q.error().message);
    return 1;
  }
  size_t shipped = 0;
  (*q)->set_status_callback([&](const QueueStatus& s) {
    if (!s.last_uri.empty() && s.state != QueueStatus::State::kError) {
      ++shipped;
    }
  });
  ProgressMeter meter("uploading");
  auto s = (*q)->upload_all(**store, meter.callback());
  meter.finish();
  if (!s) {
    fmt::print(stderr, "rewind upload-queue: {}\nrewind upload-queue: {} recording(s) stay queued in {}\n",
               s.error().message, (*q)->depth(), a.spool);
    return 1;
  }
  fmt::print("queue {} is empty\n", a.spool);
  return 0;
}

}  // namespace

void add_upload_queue_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<UploadQueueArgs>();
  auto* cmd = app.add_subcommand(
      "upload-queue", "upload every recording queued in a spool directory (see push --queue)");
  cmd->add_option("DIR", a->spool, "the spool directory")->required();
  cmd->add_option("URI", a->uri, "the store")->required();
  add_store_flags(cmd, a->store);
  cmd->callback([a, &exit_code] { exit_code = run_upload_queue(*a); });
}

}  // namespace rwd::cli
