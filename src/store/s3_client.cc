#include "store/s3_client.h"

#include <random>
#include <thread>

#include "common/log.h"
#include "common/sha256.h"
#include "store/sigv4.h"
#include "store/xml.h"

namespace rwd {
namespace {

bool retryable_status(const HttpResponse& r) {
  if (r.status >= 500 || r.status == 429) {
    return true;
  }
  if (r.status == 400 || r.status == 403) {
    auto code = parse_s3_error(r).code;
    // RequestTimeout: the server gave up on a slow body; ExpiredToken is retryable
    // because the next attempt fetches refreshed web-identity credentials.
    return code == "RequestTimeout" || code == "SlowDown" || code == "ExpiredToken";
  }
  return false;
}

double random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

S3ErrorInfo parse_s3_error(const HttpResponse& resp) {
  S3ErrorInfo info;
  if (!resp.body.empty()) {
    if (auto doc = parse_xml(resp.body)) {
      const XmlNode* err = doc->name == "Error" ? &*doc : doc->find("Error");
      if (err) {
        info.code = err->child_text("Code");
        info.message = err->child_text("Message");
      }
    }
  }
  if (info.code.empty()) {
    // HEAD responses have no body; name the status instead.
    switch (resp.status) {
      case 403:
        info.code = "AccessDenied";
        break;
      case 404:
        info.code = "NotFound";
        break;
      default:
        info.code = fmt::format("HTTP {}", resp.status);
    }
  }
  return info;
}

long backoff_ms(int attempt, long base_ms, long max_ms, double r) {
  long exp = base_ms;
  for (int i = 1; i < attempt && exp < max_ms; ++i) {
    exp *= 2;
  }
  exp = std::min(exp, max_ms);
  return exp / 2 + static_cast<long>(r * static_cast<double>(exp / 2));
}

S3Client::S3Client(S3Config config) : config_(std::move(config)) {}

std::string S3Client::url(const std::string& key,
                          const std::vector<std::pair<std::string, std::string>>& query) const {
  std::string u;
  if (config_.path_style) {
    u = fmt::format("{}/{}/{}", config_.endpoint, config_.bucket, sigv4_uri_encode(key, true));
  } else {
    auto scheme_end = config_.endpoint.find("://");
    u = fmt::format("{}{}.{}/{}", config_.endpoint.substr(0, scheme_end + 3), config_.bucket,
                    config_.endpoint.substr(scheme_end + 3), sigv4_uri_encode(key, true));
  }
  if (!query.empty()) {
    u += "?" + canonical_query(query);
  }
  return u;
}

Result<HttpResponse> S3Client::call(const S3Call& c) const {
  thread_local HttpClient http;
  std::string body_sha = c.body_sha256;
  if (body_sha.empty()) {
    body_sha = c.body.empty() ? std::string(kEmptySha256)
                              : sha256_hex(std::string_view(
                                    reinterpret_cast<const char*>(c.body.data()), c.body.size()));
  }
  HttpRequest req;
  req.method = c.method;
  req.url = url(c.key, c.query);
  req.body = c.body;
  req.sink = c.sink;
  req.progress = c.progress;
  req.sigv4 = sigv4_provider(config_.region);
  if (c.throttle) {
    req.max_send_bytes_per_second = config_.max_bytes_per_second;
  }
  std::string last;
  for (int attempt = 1; attempt <= config_.max_attempts; ++attempt) {
    if (attempt > 1) {
      long ms = backoff_ms(attempt - 1, config_.base_backoff_ms, config_.max_backoff_ms, random01());
      spdlog::debug("retrying {} {} in {} ms after: {}", c.method, req.url, ms, last);
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    auto creds = config_.credentials->get();
    if (!creds) {
      return std::unexpected(creds.error());
    }
    req.access_key_id = creds->access_key_id;
    req.secret_access_key = creds->secret_access_key;
    req.headers = c.headers;
    req.headers.push_back("x-amz-content-sha256: " + body_sha);
    if (!creds->session_token.empty()) {
      req.headers.push_back("x-amz-security-token: " + creds->session_token);
    }
    if (c.before_attempt) {
      c.before_attempt();
    }
    auto resp = http.perform(req);
    if (!resp) {
      last = resp.error().message;
      if (!resp.error().retryable) {
        return fail("{}", last);
      }
      continue;
    }
    if (retryable_status(*resp)) {
      auto e = parse_s3_error(*resp);
      last = fmt::format("HTTP {} {} {}", resp->status, e.code, e.message);
      continue;
    }
    return std::move(*resp);
  }
  return fail("{} (gave up after {} attempts; is {} reachable? check --s3-endpoint or "
              "AWS_ENDPOINT_URL and the network)",
              last, config_.max_attempts, config_.endpoint);
}

Error S3Client::describe_error(std::string_view what, const HttpResponse& resp) const {
  auto e = parse_s3_error(resp);
  const std::string& src = config_.credentials->source();
  std::string reason;
  if (e.code == "NoSuchBucket") {
    reason = fmt::format("bucket \"{}\" does not exist (create it or check --s3-endpoint)",
                         config_.bucket);
  } else if (e.code == "SignatureDoesNotMatch") {
    reason = fmt::format(
        "the server rejected the signature made with credentials from {} (check the secret "
        "access key)",
        src);
  } else if (e.code == "InvalidAccessKeyId" || e.code == "XAdminUserNotFound") {
    // XAdminUserNotFound: versitygw's (HTTP 404) name for an unknown access key.
    reason = fmt::format(
        "the server does not know the access key id from {} (check AWS_ACCESS_KEY_ID or the "
        "profile, and --s3-endpoint)",
        src);
  } else if (e.code == "ExpiredToken" || e.code == "InvalidToken") {
    reason = fmt::format("the session token from {} is expired or invalid ({})", src, e.message);
  } else if (e.code == "RequestTimeTooSkewed") {
    reason = "this machine's clock is too far from the server's (fix the clock, e.g. with NTP)";
  } else if (e.code == "AccessDenied") {
    reason = fmt::format(
        "access denied for credentials from {} (grant s3:PutObject, s3:GetObject and "
        "s3:ListBucket on bucket \"{}\")",
        src, config_.bucket);
  } else if (e.code == "NoSuchKey" || (e.code == "NotFound" && resp.status == 404)) {
    reason = "no such object (list the store with 'rewind ls')";
  } else if (resp.status == 401 || resp.status == 403) {
    reason = fmt::format("the server refused the credentials from {}: {}{}{} (HTTP {})", src,
                         e.code, e.message.empty() ? "" : ": ", e.message, resp.status);
  } else {
    reason = fmt::format("{}{}{} (HTTP {})", e.code, e.message.empty() ? "" : ": ", e.message,
                         resp.status);
  }
  return Error{fmt::format("cannot {}: {}", what, reason), 0};
}

}  // namespace rwd
