#include "store/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace rwd {
namespace {

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  size_t read_pos = 0;
  Status sink_status = ok();
};

size_t read_cb(char* buf, size_t size, size_t nitems, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = std::min(size * nitems, t->req->body.size() - t->read_pos);
  std::memcpy(buf, t->req->body.data() + t->read_pos, n);
  t->read_pos += n;
  return n;
}

// Rewinding lets curl resend the body after a redirect or an authentication retry.
int seek_cb(void* userp, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userp);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->req->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->read_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t write_cb(char* ptr, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->req->sink && code >= 200 && code < 300) {
    t->sink_status = t->req->sink(std::span(reinterpret_cast<const uint8_t*>(ptr), n));
    if (!t->sink_status) {
      return CURL_WRITEFUNC_ERROR;
    }
    return n;
  }
  // Error bodies are small XML documents; cap what we keep from a misbehaving server.
  if (t->resp->body.size() < (1u << 20)) {
    t->resp->body.append(ptr, n);
  }
  return n;
}

size_t header_cb(char* buf, size_t size, size_t nitems, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nitems;
  std::string_view line(buf, n);
  if (line.starts_with("HTTP/")) {
    t->resp->headers.clear();  // a new response (after 100-continue or a redirect)
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    return n;
  }
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->resp->headers[name] = std::string(value);
  return n;
}

int progress_cb(void* userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                curl_off_t ulnow) {
  (void)dltotal;
  (void)ultotal;
  auto* t = static_cast<Transfer*>(userp);
  if (t->req->progress) {
    t->req->progress(static_cast<uint64_t>(t->req->body.empty() ? dlnow : ulnow));
  }
  return 0;
}

bool retryable_code(CURLcode c) {
  switch (c) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:  // our sink failed (e.g. disk full): repeating will not help
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return false;
    default:
      return true;
  }
}

}  // namespace

void http_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient() {
  http_global_init();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::expected<HttpResponse, HttpError> HttpClient::perform(const HttpRequest& req) {
  CURL* h = static_cast<CURL*>(curl_);
  if (!h) {
    return std::unexpected(HttpError{"cannot initialise libcurl", false});
  }
  curl_easy_reset(h);  // keeps the connection cache
  HttpResponse resp;
  Transfer t{&req, &resp, h};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, req.progress ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  if (req.max_send_bytes_per_second > 0) {
    curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE,
                     static_cast<curl_off_t>(req.max_send_bytes_per_second));
  }

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.empty() ? static_cast<const void*>("")
                                                     : static_cast<const void*>(req.body.data()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  struct curl_slist* headers = nullptr;
  for (const auto& hd : req.headers) {
    headers = curl_slist_append(headers, hd.c_str());
  }
  // No "Expect: 100-continue" round trip: bodies are at most one part, and an early
  // rejection costs little next to the latency the wait adds to every part.
  headers = curl_slist_append(headers, "Expect:");
  if (req.method == "POST") {
    bool has_type = std::any_of(req.headers.begin(), req.headers.end(), [](const auto& s) {
      return s.size() > 13 && strncasecmp(s.c_str(), "content-type:", 13) == 0;
    });
    if (!has_type) {
      headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    }
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (!req.sigv4.empty()) {
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req.sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, req.access_key_id.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, req.secret_access_key.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    if (!t.sink_status) {
      return std::unexpected(HttpError{t.sink_status.error().message, false});
    }
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return std::unexpected(HttpError{detail, retryable_code(rc)});
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace rwd
