#include "sidecar/sidecar_metrics.h"

#include <fmt/format.h>

#include <array>

namespace rwd::sidecar {

void SidecarMetrics::observe_upload(double seconds, uint64_t bytes) {
  std::lock_guard lock(mu_);
  upload_seconds_sum_ += seconds;
  ++upload_count_;
  uploaded_bytes += bytes;
}

std::string SidecarMetrics::render(std::string_view status) const {
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                    uint64_t value) {
    out += fmt::format("# HELP rewind_sidecar_{0} {1}\n# TYPE rewind_sidecar_{0} {2}\n"
                       "rewind_sidecar_{0} {3}\n",
                       name, help, type, value);
  };
  metric("recordings_started_total", "counter", "Recorders attached to the target.",
         recordings_started.load());
  metric("recordings_saved_total", "counter", "Recordings completed and saved locally.",
         recordings_saved.load());
  metric("recordings_uploaded_total", "counter", "Recordings confirmed by the store.",
         recordings_uploaded.load());
  metric("recordings_failed_total", "counter",
         "Recorders that failed to attach or ended with an error.", recordings_failed.load());
  metric("upload_failures_total", "counter", "Failed upload attempts (retried with backoff).",
         upload_failures.load());
  metric("recorded_bytes_total", "counter", "Bytes of recordings saved.", recorded_bytes.load());
  metric("uploaded_bytes_total", "counter", "Bytes of recordings uploaded.",
         uploaded_bytes.load());
  metric("upload_queue_depth", "gauge", "Recordings saved but not yet uploaded.",
         queue_depth.load());
  metric("recording", "gauge", "1 while a recorder is attached to the target.",
         recording.load());
  metric("annotation_errors_total", "counter", "Invalid control annotation values seen.",
         annotation_errors.load());
  metric("api_errors_total", "counter", "Failed Kubernetes API calls.", api_errors.load());
  {
    std::lock_guard lock(mu_);
    out += fmt::format(
        "# HELP rewind_sidecar_upload_seconds Time spent uploading each recording.\n"
        "# TYPE rewind_sidecar_upload_seconds summary\n"
        "rewind_sidecar_upload_seconds_sum {:.6f}\nrewind_sidecar_upload_seconds_count {}\n",
        upload_seconds_sum_, upload_count_);
  }
  out += "# HELP rewind_sidecar_status The status the sidecar reports (1 for the current one).\n"
         "# TYPE rewind_sidecar_status gauge\n";
  for (std::string_view s : std::array<std::string_view, 5>{"idle", "recording", "saving",
                                                            "uploading", "error"}) {
    out += fmt::format("rewind_sidecar_status{{status=\"{}\"}} {}\n", s, s == status ? 1 : 0);
  }
  return out;
}

}  // namespace rwd::sidecar
