// SidecarMetrics: the sidecar's counters and gauges, rendered in the Prometheus text
// exposition format for GET /metrics. Lock-free atomics: any thread updates, the HTTP
// thread renders.
//
//   metrics.recordings_started++;
//   metrics.observe_upload(seconds, bytes);
//   std::string text = metrics.render();
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace rwd::sidecar {

struct SidecarMetrics {
  std::atomic<uint64_t> recordings_started{0};
  std::atomic<uint64_t> recordings_saved{0};
  std::atomic<uint64_t> recordings_uploaded{0};
  std::atomic<uint64_t> recordings_failed{0};  // recorder failed to start or to finish
  std::atomic<uint64_t> upload_failures{0};    // failed upload attempts (retried)
  std::atomic<uint64_t> recorded_bytes{0};
  std::atomic<uint64_t> uploaded_bytes{0};
  std::atomic<uint64_t> queue_depth{0};        // recordings saved but not yet uploaded
  std::atomic<uint64_t> recording{0};          // 1 while a recorder is attached
  std::atomic<uint64_t> annotation_errors{0};
  std::atomic<uint64_t> api_errors{0};

  void observe_upload(double seconds, uint64_t bytes);
  // Prometheus text format, version 0.0.4.
  std::string render(std::string_view status) const;

 private:
  mutable std::mutex mu_;
  double upload_seconds_sum_ = 0;
  uint64_t upload_count_ = 0;
};

}  // namespace rwd::sidecar
