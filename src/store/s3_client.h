// S3Client: signed S3 REST calls with retries, shared by the S3 store's operations.
//
// call() signs each attempt with fresh credentials (so web-identity keys roll over
// mid-upload), and retries with exponential backoff and jitter on connection errors,
// timeouts, 5xx, 429, SlowDown and RequestTimeout. Any other HTTP answer — 403, 404 —
// is returned at once for the caller to turn into a message with describe_error().
//
// Thread-safe: each thread uses its own connection (a thread-local HttpClient), so
// multipart workers call it concurrently.
//
//   S3Client s3(config);
//   S3Call c{.method = "HEAD", .key = "prod/a.rwd"};
//   auto resp = s3.call(c);
//   if (resp && resp->status == 404) ...;
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "store/aws_credentials.h"
#include "store/http_client.h"

namespace rwd {

struct S3Config {
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  bool path_style = true;
  std::string region;
  std::string bucket;
  std::shared_ptr<CredentialProvider> credentials;
  int max_attempts = 8;
  uint64_t max_bytes_per_second = 0;  // per connection
  long base_backoff_ms = 200;
  long max_backoff_ms = 10000;
};

struct S3Call {
  std::string method = "GET";
  std::string key;  // empty = the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> headers;  // extra headers (metadata, SSE, Content-MD5)
  std::span<const uint8_t> body;
  std::string body_sha256;  // hex; computed from body when empty
  std::function<Status(std::span<const uint8_t>)> sink;
  std::function<void(uint64_t)> progress;
  std::function<void()> before_attempt;  // reset sinks before each attempt
  bool throttle = false;                 // apply max_bytes_per_second
};

// The S3 error document of a failed response.
struct S3ErrorInfo {
  std::string code;     // "NoSuchBucket", "SignatureDoesNotMatch", ...
  std::string message;  // the server's message
};
S3ErrorInfo parse_s3_error(const HttpResponse& resp);

// A retry delay: exponential in attempt (1-based) from base, capped, with "equal
// jitter" (half fixed, half random) so parallel workers do not retry in lockstep.
long backoff_ms(int attempt, long base_ms, long max_ms, double random01);

class S3Client {
 public:
  explicit S3Client(S3Config config);
  const S3Config& config() const { return config_; }

  std::string url(const std::string& key,
                  const std::vector<std::pair<std::string, std::string>>& query) const;
  Result<HttpResponse> call(const S3Call& c) const;

  // "cannot <what>: <reason> (<next step>)" for a failed response.
  Error describe_error(std::string_view what, const HttpResponse& resp) const;

 private:
  S3Config config_;
};

}  // namespace rwd
