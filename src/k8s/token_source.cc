#include "k8s/token_source.h"

#include <sys/stat.h>

#include <cerrno>

#include "common/files.h"

namespace rwd::k8s {

Result<std::string> TokenSource::current() {
  if (file_.empty()) {
    return fixed_;
  }
  std::lock_guard lock(mu_);
  struct stat st {};
  // stat follows the ..data symlink a projected volume swaps on rotation.
  if (stat(file_.c_str(), &st) != 0) {
    return fail_errno(errno, "cannot read the service-account token {}", file_.string());
  }
  int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (st.st_dev == dev_ && st.st_ino == ino_ && st.st_size == size_ && mtime_ns == mtime_ns_) {
    return cached_;
  }
  auto text = read_file(file_);
  if (!text) {
    return fail("cannot read the service-account token {}: {}", file_.string(),
                text.error().message);
  }
  std::string token = std::move(*text);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token.pop_back();
  }
  if (token.empty()) {
    return fail("the service-account token {} is empty", file_.string());
  }
  cached_ = std::move(token);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  size_ = st.st_size;
  mtime_ns_ = mtime_ns;
  return cached_;
}

}  // namespace rwd::k8s
