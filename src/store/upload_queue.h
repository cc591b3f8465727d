// UploadQueue: a durable spool directory of recordings waiting to be shipped to a Store.
//
// Nothing is lost:
//   - a recording enters the queue only complete: it is copied to a hidden temporary
//     file in the spool and fsynced (kMove on the same file system skips the copy), its
//     state file is written, and only then is the data renamed to <spool>/<id>.rwd; a
//     failure at any step (disk full) removes what was written, and a crash leaves
//     leftovers that open() removes, never a half-queued recording or a lost source;
//   - upload_all() uploads the oldest first, lets the store verify it, and deletes the
//     local copy only after that;
//   - the multipart upload state (upload id, finished parts' ETags) is persisted after
//     every part, so a process killed mid-upload resumes where it was after a restart;
//     the object key is fixed at enqueue time, so a retry overwrites, never duplicates.
//
// Thread rules: enqueue() and upload_all() may run in different threads or processes;
// the spool directory is the only shared state. One upload_all() at a time per spool.
// The status callback runs on the uploading thread.
//
//   auto q = UploadQueue::open("/recordings/.spool");
//   (*q)->set_status_callback([](const QueueStatus& s) { report(s.state, s.depth); });
//   (*q)->enqueue("/recordings/a.rwd", key, metadata, UploadQueue::Mode::kMove);
//   if (auto s = (*q)->upload_all(*store); !s) retry_later(s.error());
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/queue_entry.h"
#include "store/store.h"

namespace rwd {

struct QueueStatus {
  enum class State { kIdle, kUploading, kError };
  State state = State::kIdle;
  size_t depth = 0;         // recordings in the queue, including the one uploading
  std::string current_key;  // while uploading
  std::string last_uri;     // the last recording shipped
  std::string last_sha256;
  uint64_t last_size = 0;
  std::string last_error;  // when state == kError
};

std::string_view to_string(QueueStatus::State s);

class UploadQueue {
 public:
  enum class Mode { kCopy, kMove };

  // Creates the spool directory when missing and clears leftovers of interrupted
  // enqueues (never a complete entry).
  static Result<std::unique_ptr<UploadQueue>> open(const std::filesystem::path& spool);

  // Adds `file`, to be stored as `key` with `metadata` (sha256 and size are filled in).
  // Returns the entry id. kMove renames the file when it is on the spool's file system.
  Result<std::string> enqueue(const std::filesystem::path& file, const std::string& key,
                              const Metadata& metadata, Mode mode);

  // Number of complete entries in the spool.
  size_t depth() const;
  // Entry ids, oldest first.
  std::vector<std::string> ids() const;
  Result<QueueEntry> entry(const std::string& id) const;

  // Uploads entries until the queue is empty. Stops at the first failure, leaving that
  // entry (and its resume state) queued, and returns the error.
  Status upload_all(Store& store, const ProgressFn& progress = {});

  void set_status_callback(std::function<void(const QueueStatus&)> cb) {
    status_cb_ = std::move(cb);
  }
  const std::filesystem::path& spool() const { return spool_; }

 private:
  explicit UploadQueue(std::filesystem::path spool) : spool_(std::move(spool)) {}
  Status upload_one(Store& store, const std::string& id, const ProgressFn& progress);
  void report();

  std::filesystem::path spool_;
  QueueStatus status_;
  std::function<void(const QueueStatus&)> status_cb_;
};

}  // namespace rwd
