#include "k8s/api_error.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace rwd::k8s {

bool ApiError::retryable() const {
  switch (kind) {
    case Kind::kTransport:
      return true;
    case Kind::kHttp:
      return http_status == 429 || http_status >= 500;
    default:
      return false;
  }
}

std::string status_message(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.value("kind", "") != "Status") {
    return {};
  }
  auto it = json.find("message");
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

ApiError http_error(const ApiAction& action, long status, std::string_view body) {
  std::string server_says = status_message(body);
  std::string quoted = server_says.empty() ? "" : fmt::format(": \"{}\"", server_says);
  std::string role_file = "deploy/base/rbac.yaml";
  std::string reason;
  switch (status) {
    case 401:
      reason = fmt::format(
          "unauthorized{} (the API server rejected the credentials; check that the "
          "service-account token is mounted and current, or the kubeconfig user)",
          quoted);
      break;
    case 403: {
      std::string group = action.api_group.empty() ? "" : fmt::format(" in {}", action.api_group);
      reason = fmt::format(
          "forbidden by RBAC (the sidecar's Role needs \"{}\" on {}{}; see {}){}", action.verb,
          action.resource, group, role_file, quoted);
      break;
    }
    case 404:
      reason = fmt::format(
          "not found{} (check the namespace and name; inside a pod they come from "
          "POD_NAMESPACE and POD_NAME set by the downward API)",
          quoted);
      break;
    case 409:
      reason = fmt::format("conflict{} (someone else changed it; retry)", quoted);
      break;
    case 410:
      reason = fmt::format("resource version expired{} (re-list and watch again)", quoted);
      break;
    case 422:
      reason = fmt::format("rejected as invalid{}", quoted);
      break;
    case 429:
      reason = fmt::format("throttled by the API server{} (will retry)", quoted);
      break;
    default:
      if (status >= 500) {
        reason = fmt::format("API server error {}{} (will retry)", status, quoted);
      } else {
        reason = fmt::format("HTTP {}{}", status, quoted);
      }
  }
  return ApiError{ApiError::Kind::kHttp, status,
                  fmt::format("cannot {} {}: {}", action.verb, action.target, reason)};
}

}  // namespace rwd::k8s
