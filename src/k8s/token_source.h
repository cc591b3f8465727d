// TokenSource: the bearer token for API requests, fixed or read from a file that is
// re-read whenever it changes (projected service-account tokens are rotated by the
// kubelet, by an atomic symlink swap, long before they expire).
//
//   TokenSource tokens(config.token, config.token_file);
//   auto token = tokens.current();  // "" when the config has no token
//
// Thread-safe. A stat() per call decides whether to re-read, so rotation is seen on the
// next request.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <string>

#include "common/error.h"

namespace rwd::k8s {

class TokenSource {
 public:
  TokenSource(std::string fixed, std::filesystem::path file)
      : fixed_(std::move(fixed)), file_(std::move(file)) {}

  Result<std::string> current();

 private:
  std::string fixed_;
  std::filesystem::path file_;
  std::mutex mu_;
  std::string cached_;
  // Identity of the file the cache came from; any change triggers a re-read.
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  off_t size_ = -1;
  int64_t mtime_ns_ = -1;
};

}  // namespace rwd::k8s
