// ApiConnection: HTTPS requests to one Kubernetes API server with the credentials of a
// ClusterConfig, over libcurl. TLS is always verified against the config's CA (or the
// system's CAs when a kubeconfig names none); there is no switch to turn that off.
//
//   auto conn = ApiConnection::create(*config);
//   auto r = conn->request({"get", "pods", "pod shop/web-0"}, "GET",
//                          "/api/v1/namespaces/shop/pods/web-0");
//   // r->status == 200, r->body is the JSON
//   conn->stream_lines(action, "/api/v1/...?watch=1", on_line, cancel);
//
// Thread-safe: each call uses its own curl handle; share one ApiConnection freely.
// request() returns the response for any HTTP status; the caller maps errors with
// http_error(). Transport and TLS failures come back as ApiError.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "k8s/api_error.h"
#include "k8s/cancel.h"
#include "k8s/cluster_config.h"
#include "k8s/token_source.h"

namespace rwd::k8s {

struct HttpResponse {
  long status = 0;
  std::string body;
};

class ApiConnection {
 public:
  static ApiResult<std::shared_ptr<ApiConnection>> create(ClusterConfig config);

  // A complete request. `cancel` may be null.
  ApiResult<HttpResponse> request(const ApiAction& action, std::string_view method,
                                  std::string_view path, std::string_view body = {},
                                  std::string_view content_type = {},
                                  const Cancel* cancel = nullptr) const;

  // A GET whose response is read line by line as it arrives (watch, log follow).
  // `on_line` gets each complete line without its newline and returns false to stop.
  // Returns the status with an empty body when the stream ended (server closed it,
  // on_line stopped it) and the full body for an error status. Cancellation ends the
  // call promptly with ApiError::Kind::kCancelled.
  ApiResult<HttpResponse> stream_lines(const ApiAction& action, std::string_view path,
                                       const std::function<bool(std::string_view)>& on_line,
                                       const Cancel& cancel) const;

  const ClusterConfig& config() const { return config_; }

 private:
  explicit ApiConnection(ClusterConfig config)
      : config_(std::move(config)), tokens_(config_.token, config_.token_file) {}

  ClusterConfig config_;
  mutable TokenSource tokens_;
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view s);

}  // namespace rwd::k8s
