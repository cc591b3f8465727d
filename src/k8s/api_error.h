// ApiError: why a call to the Kubernetes API failed, classified so callers can decide
// whether to retry, plus a message written for the operator.
//
// Messages name the thing, the reason and the next step:
//   cannot patch pod shop/web-0: forbidden by RBAC (the sidecar's Role needs "patch" on
//   pods; see deploy/base/rbac.yaml)
//
//   ApiResult<Pod> pod = client.get_pod("shop", "web-0");
//   if (!pod && pod.error().retryable()) { back off and try again }
//   if (!pod) { spdlog::error("{}", pod.error().message); }
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd::k8s {

struct ApiError {
  enum class Kind {
    kConfig,     // bad or missing configuration (kubeconfig, token file, env)
    kTransport,  // could not connect or the connection broke
    kTls,        // the server's certificate did not verify against the CA
    kHttp,       // the server answered with an error status
    kProtocol,   // the server answered with something that is not what the API returns
    kCancelled,  // the caller cancelled
  };
  Kind kind = Kind::kProtocol;
  long http_status = 0;  // for kHttp
  std::string message;

  // Worth retrying with backoff: broken connections, throttling, server errors.
  bool retryable() const;
  // 410 Gone: the resource version is too old; the caller must re-list.
  bool expired() const { return kind == Kind::kHttp && http_status == 410; }
  Error to_error() const { return Error{message, 0}; }
};

template <class T>
using ApiResult = std::expected<T, ApiError>;
using ApiStatus = std::expected<void, ApiError>;

// What the caller tried, for messages and RBAC hints: verb "patch", resource "pods",
// target "pod shop/web-0".
struct ApiAction {
  std::string verb;
  std::string resource;  // as in a Role rule: "pods", "pods/log", "events"
  std::string target;
  std::string api_group;  // "" for the core group, "events.k8s.io" for events
};

// An error for an HTTP error status; `body` is the server's answer (a Status object
// when the server is an apiserver), whose message is quoted.
ApiError http_error(const ApiAction& action, long status, std::string_view body);

// The "message" field of a Kubernetes Status object, or "" when body is not one.
std::string status_message(std::string_view body);

}  // namespace rwd::k8s
