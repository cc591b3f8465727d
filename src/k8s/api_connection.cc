#include "k8s/api_connection.h"

#include <curl/curl.h>
#include <cctype>
#include <fmt/format.h>

#include <mutex>

#include "common/version.h"

namespace rwd::k8s {
namespace {

constexpr long kConnectTimeoutSeconds = 10;
constexpr long kRequestTimeoutSeconds = 30;
constexpr int kPollMillis = 100;  // how long a cancel can go unnoticed

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What a transfer collects; shared by the plain and the streaming write callbacks.
struct Transfer {
  CURL* easy = nullptr;
  std::string body;     // whole body (plain) or error body (stream)
  std::string partial;  // stream: bytes after the last newline
  const std::function<bool(std::string_view)>* on_line = nullptr;
  bool stopped_by_caller = false;
};

size_t write_plain(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->body.append(data, size * n);
  return size * n;
}

size_t write_stream(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    t->body.append(data, len);
    return len;
  }
  t->partial.append(data, len);
  size_t start = 0;
  for (size_t nl; (nl = t->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(t->partial.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!(*t->on_line)(line)) {
      t->stopped_by_caller = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
  }
  t->partial.erase(0, start);
  return len;
}

// Runs the transfer; with a Cancel it polls so that cancel() ends it promptly.
CURLcode perform(CURL* easy, const Cancel* cancel, bool* cancelled) {
  *cancelled = false;
  if (cancel == nullptr) {
    return curl_easy_perform(easy);
  }
  MultiPtr multi(curl_multi_init());
  curl_multi_add_handle(multi.get(), easy);
  CURLcode result = CURLE_OK;
  for (;;) {
    if (cancel->cancelled()) {
      *cancelled = true;
      break;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi.get(), &running);
    if (mc != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
    int queued = 0;
    if (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued); msg && msg->msg == CURLMSG_DONE) {
      result = msg->data.result;
      break;
    }
    if (running == 0) {
      break;
    }
    curl_multi_poll(multi.get(), nullptr, 0, kPollMillis, nullptr);
  }
  curl_multi_remove_handle(multi.get(), easy);
  return result;
}

ApiError transport_error(const ClusterConfig& config, const ApiAction& action, CURLcode code,
                         const char* errbuf) {
  std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(code));
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return ApiError{ApiError::Kind::kTls, 0,
                      fmt::format("cannot {} {}: TLS verification of the API server {} failed: {} "
                                  "(is {} the cluster's CA? rewind never skips TLS verification)",
                                  action.verb, action.target, config.server, detail,
                                  config.ca_source)};
    case CURLE_SSL_CERTPROBLEM:
      return ApiError{ApiError::Kind::kConfig, 0,
                      fmt::format("cannot {} {}: the client certificate or key from {} is not "
                                  "usable: {}",
                                  action.verb, action.target, config.source, detail)};
    default:
      return ApiError{ApiError::Kind::kTransport, 0,
                      fmt::format("cannot {} {}: cannot reach the API server {}: {} (will retry; "
                                  "check the network and that the server is up)",
                                  action.verb, action.target, config.server, detail)};
  }
}

}  // namespace

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

ApiResult<std::shared_ptr<ApiConnection>> ApiConnection::create(ClusterConfig config) {
  global_init();
  if (!config.server.starts_with("https://")) {
    return std::unexpected(ApiError{
        ApiError::Kind::kConfig, 0,
        fmt::format("the API server address {} (from {}) is not https://; rewind only talks "
                    "to the API over verified TLS",
                    config.server, config.source)});
  }
  while (config.server.ends_with('/')) {
    config.server.pop_back();
  }
  return std::shared_ptr<ApiConnection>(new ApiConnection(std::move(config)));
}

namespace {

struct Prepared {
  EasyPtr easy;
  SlistPtr headers;
  char errbuf[CURL_ERROR_SIZE] = {};
};

}  // namespace

static ApiResult<std::unique_ptr<Prepared>> prepare(const ClusterConfig& config,
                                                    TokenSource& tokens, const ApiAction& action,
                                                    std::string_view method, std::string_view path,
                                                    std::string_view content_type) {
  auto p = std::make_unique<Prepared>();
  p->easy.reset(curl_easy_init());
  if (!p->easy) {
    return std::unexpected(ApiError{ApiError::Kind::kTransport, 0, "cannot initialise libcurl"});
  }
  CURL* e = p->easy.get();
  std::string url = config.server + std::string(path);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  std::string user_agent = fmt::format("rewind/{}", kVersion);
  curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent.c_str());
  if (!config.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(config.ca_pem.data()), config.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!config.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(config.client_cert_pem.data()), config.client_cert_pem.size(),
                   CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(config.client_key_pem.data()), config.client_key_pem.size(),
                  CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_slist* h = curl_slist_append(nullptr, "Accept: application/json");
  if (!content_type.empty()) {
    h = curl_slist_append(h, fmt::format("Content-Type: {}", content_type).c_str());
  }
  auto token = tokens.current();
  if (!token) {
    curl_slist_free_all(h);
    return std::unexpected(
        ApiError{ApiError::Kind::kConfig, 0,
                 fmt::format("cannot {} {}: {}", action.verb, action.target,
                             token.error().message)});
  }
  if (!token->empty()) {
    h = curl_slist_append(h, fmt::format("Authorization: Bearer {}", *token).c_str());
  }
  p->headers.reset(h);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  return p;
}

ApiResult<HttpResponse> ApiConnection::request(const ApiAction& action, std::string_view method,
                                               std::string_view path, std::string_view body,
                                               std::string_view content_type,
                                               const Cancel* cancel) const {
  auto p = prepare(config_, tokens_, action, method, path, content_type);
  if (!p) {
    return std::unexpected(p.error());
  }
  CURL* e = (*p)->easy.get();
  Transfer t;
  t.easy = e;
  curl_easy_setopt(e, CURLOPT_TIMEOUT, kRequestTimeoutSeconds);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_plain);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  if (!body.empty() || method != "GET") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  bool cancelled = false;
  CURLcode code = perform(e, cancel, &cancelled);
  if (cancelled) {
    return std::unexpected(ApiError{ApiError::Kind::kCancelled, 0,
                                    fmt::format("{} {}: cancelled", action.verb, action.target)});
  }
  if (code != CURLE_OK) {
    return std::unexpected(transport_error(config_, action, code, (*p)->errbuf));
  }
  HttpResponse r;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(t.body);
  return r;
}

ApiResult<HttpResponse> ApiConnection::stream_lines(
    const ApiAction& action, std::string_view path,
    const std::function<bool(std::string_view)>& on_line, const Cancel& cancel) const {
  auto p = prepare(config_, tokens_, action, "GET", path, {});
  if (!p) {
    return std::unexpected(p.error());
  }
  CURL* e = (*p)->easy.get();
  Transfer t;
  t.easy = e;
  t.on_line = &on_line;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_stream);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  bool cancelled = false;
  CURLcode code = perform(e, &cancel, &cancelled);
  if (cancelled) {
    return std::unexpected(ApiError{ApiError::Kind::kCancelled, 0,
                                    fmt::format("{} {}: cancelled", action.verb, action.target)});
  }
  HttpResponse r;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  if (t.stopped_by_caller) {
    return r;
  }
  if (code != CURLE_OK) {
    return std::unexpected(transport_error(config_, action, code, (*p)->errbuf));
  }
  if (r.status == 200 && !t.partial.empty()) {
    // A last line without a newline (a log that ends mid-line).
    on_line(t.partial);
  }
  r.body = std::move(t.body);
  return r;
}

}  // namespace rwd::k8s
