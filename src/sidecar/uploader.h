// Uploader: ships saved recordings to the store from its own thread.
//
// Each pass moves every file of ready/ into the durable UploadQueue (store/
// upload_queue.h: sha256 computed, state file written, renamed into the spool), then
// uploads the queue oldest first. A failed upload stays queued and is retried with
// exponential backoff (1 s doubling to 30 s); wake() starts a pass at once. The queue
// survives a sidecar restart, so a recording is deleted locally only after the store has
// confirmed it.
//
// The controller reads busy() and counts to derive the status (saving while a file is
// in ready/ or being spooled, uploading while the spool is not empty).
//
//   Uploader up(dir, std::move(store), origin, metrics, {.changed = refresh, ...});
//   up.start();
//   up.wake();                       // a recording was just saved
//   up.drain(deadline);              // on shutdown: one more try, bounded
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sidecar/recordings_dir.h"
#include "sidecar/sidecar_metrics.h"
#include "store/object_key.h"
#include "store/store.h"
#include "store/upload_queue.h"

namespace rwd::sidecar {

struct UploadedRecording {
  std::string uri;
  std::string sha256;
  uint64_t size = 0;
  std::string reason;
  std::string key;
};

struct UploaderCallbacks {
  // The queue changed (a file spooled, an upload started or ended): recompute status.
  std::function<void()> changed;
  std::function<void(const UploadedRecording&)> uploaded;
  // An upload or spooling failure; `first` is true for the first of a streak.
  std::function<void(const std::string& message, bool first)> failed;
  // The streak of failures ended with a success.
  std::function<void()> recovered;
};

class Uploader {
 public:
  // `origin` carries namespace, pod, container and node; pid, reason and time come from
  // each file's name.
  Uploader(RecordingsDir dir, std::unique_ptr<Store> store, std::unique_ptr<UploadQueue> queue,
           RecordingOrigin origin, SidecarMetrics& metrics, UploaderCallbacks callbacks);
  ~Uploader();

  void start();
  void wake();
  // Wakes the uploader and waits until nothing is left to upload or `deadline`; true
  // when empty.
  bool drain(std::chrono::steady_clock::time_point deadline);
  // Ends the thread; false when it is inside a store call that cannot be interrupted
  // (then the owner should exit the process: the spool has kept everything).
  bool stop();
  // Whether the thread is stuck in a store call (it cannot be interrupted).
  bool in_store_call() const { return in_call_.load(); }

  // Moving files from ready/ into the spool (the "saving" part of the uploader's work).
  bool spooling() const { return spooling_.load(); }
  bool uploading() const { return uploading_.load(); }
  size_t spool_depth() const;
  std::string store_uri() const { return store_uri_; }

 private:
  void loop();
  Status pass();
  Status spool_ready();

  RecordingsDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<UploadQueue> queue_;
  RecordingOrigin origin_;
  SidecarMetrics& metrics_;
  UploaderCallbacks cb_;
  std::string store_uri_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = true;
  bool stop_ = false;
  std::condition_variable idle_cv_;
  bool empty_ = false;
  int failures_ = 0;
  std::atomic<bool> spooling_{false};
  std::atomic<bool> uploading_{false};
  std::atomic<bool> in_call_{false};
  std::thread thread_;
};

// Complete entries in an UploadQueue spool directory (<id>.rwd with its <id>.json).
size_t count_spooled(const std::filesystem::path& spool);

}  // namespace rwd::sidecar
