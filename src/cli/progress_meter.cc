#include "cli/progress_meter.h"

#include <fmt/format.h>
#include <unistd.h>

namespace rwd::cli {

ProgressMeter::ProgressMeter(std::string label)
    : label_(std::move(label)), enabled_(isatty(STDOUT_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressFn ProgressMeter::callback() {
  return [this](uint64_t done, uint64_t total) { update(done, total); };
}

void ProgressMeter::update(uint64_t done, uint64_t total) {
  if (!enabled_) {
    return;
  }
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(200)) {
    return;
  }
  last_ = now;
  shown_ = true;
  double secs = std::chrono::duration<double>(now - start_).count();
  double mib = static_cast<double>(done) / (1024.0 * 1024.0);
  int pct = total ? static_cast<int>(100 * done / total) : 0;
  fmt::print("\r{} {:3}%  {:.1f} / {:.1f} MiB  {:.1f} MiB/s   ", label_, pct, mib,
             static_cast<double>(total) / (1024.0 * 1024.0), mib / secs);
  std::fflush(stdout);
}

void ProgressMeter::finish() {
  std::lock_guard lock(mu_);
  if (shown_) {
    fmt::print("\r\033[K");
    std::fflush(stdout);
    shown_ = false;
  }
}

}  // namespace rwd::cli
