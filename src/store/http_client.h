// HttpClient: one libcurl easy handle that performs HTTP requests, optionally signed
// with AWS SigV4, and keeps its connections alive between requests.
//
// Not thread-safe: use one client per thread (parallel multipart uploads give each
// worker its own). A transport failure (connection refused, reset, timeout, TLS) is an
// HttpError with `retryable` set when repeating the request may help; any HTTP status,
// even 5xx, is a successful HttpResponse for the caller to judge.
//
//   HttpClient http;
//   HttpRequest req{.method = "GET", .url = "http://127.0.0.1:9000/bucket?list-type=2"};
//   auto resp = http.perform(req);
//   if (resp && resp->status == 200) parse(resp->body);
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace rwd {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::span<const uint8_t> body;     // request body, borrowed for the call
  // SigV4 signing: provider string ("aws:amz:<region>:s3") and key pair; empty = unsigned.
  std::string sigv4;
  std::string access_key_id;
  std::string secret_access_key;
  // When set, a 2xx response body is streamed here instead of into HttpResponse::body.
  std::function<Status(std::span<const uint8_t>)> sink;
  // Bytes moved so far (sent for bodies, received otherwise); may be called often.
  std::function<void(uint64_t done)> progress;
  uint64_t max_send_bytes_per_second = 0;  // 0 = unlimited
  long connect_timeout_ms = 10000;
  // A transfer slower than 1 byte/s for this long is abandoned as stalled.
  long stall_timeout_s = 60;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const;
};

struct HttpError {
  std::string message;  // e.g. "connection refused (Couldn't connect to server)"
  bool retryable = true;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  std::expected<HttpResponse, HttpError> perform(const HttpRequest& request);

 private:
  void* curl_;  // CURL*
};

// Call once before any thread starts (curl_global_init is not thread-safe).
void http_global_init();

}  // namespace rwd
