// ProgressMeter: a one-line transfer progress display for the CLI.
//
// Shows nothing unless stdout is a terminal, and nothing for transfers that finish
// within a second, so scripts and quick copies stay quiet. Thread-safe (multipart
// workers report concurrently).
//
//   ProgressMeter meter("uploading");
//   store->put(file, key, {.progress = meter.callback()});
//   meter.finish();
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "store/store.h"

namespace rwd::cli {

class ProgressMeter {
 public:
  explicit ProgressMeter(std::string label);
  ~ProgressMeter() { finish(); }
  ProgressFn callback();
  void finish();

 private:
  void update(uint64_t done, uint64_t total);

  std::string label_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  std::mutex mu_;
};

}  // namespace rwd::cli
