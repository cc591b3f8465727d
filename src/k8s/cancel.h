// Cancel: a one-shot stop signal shared between the thread that runs a long call
// (watch, log follow, backoff sleep) and the thread that wants it to end.
//
//   Cancel stop;
//   std::jthread t([&] { watcher.run(stop, on_update); });
//   ...
//   stop.cancel();  // run() returns within a fraction of a second
//
// Thread-safe; a Cancel is neither copied nor moved while calls use it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace rwd::k8s {

class Cancel {
 public:
  Cancel() = default;
  Cancel(const Cancel&) = delete;
  Cancel& operator=(const Cancel&) = delete;

  void cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_.store(true);
    }
    cv_.notify_all();
  }
  bool cancelled() const { return cancelled_.load(); }

  // Sleeps up to `d`; returns false as soon as cancel() is called (true if the whole
  // time passed).
  bool sleep_for(std::chrono::milliseconds d) const {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return cancelled_.load(); });
  }

 private:
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

}  // namespace rwd::k8s
