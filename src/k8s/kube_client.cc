#include "k8s/kube_client.h"

#include <fmt/format.h>

namespace rwd::k8s {
namespace {

std::string pod_path(const std::string& ns, const std::string& name) {
  return fmt::format("/api/v1/namespaces/{}/pods/{}", url_encode(ns), url_encode(name));
}

ApiError protocol_error(const ApiAction& action, std::string_view what) {
  return ApiError{ApiError::Kind::kProtocol, 0,
                  fmt::format("cannot {} {}: unexpected answer from the API server: {}",
                              action.verb, action.target, what)};
}

ApiResult<nlohmann::json> parse_body(const ApiAction& action, const HttpResponse& r) {
  auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return std::unexpected(protocol_error(action, "the body is not JSON"));
  }
  return json;
}

ApiResult<Pod> pod_from(const ApiAction& action, const HttpResponse& r) {
  auto json = parse_body(action, r);
  if (!json) {
    return std::unexpected(json.error());
  }
  auto pod = parse_pod(*json);
  if (!pod) {
    return std::unexpected(protocol_error(action, pod.error().message));
  }
  return std::move(*pod);
}

std::string target(const std::string& ns, const std::string& name) {
  return fmt::format("pod {}/{}", ns, name);
}

}  // namespace

ApiResult<KubeClient> KubeClient::create(ClusterConfig config) {
  auto conn = ApiConnection::create(std::move(config));
  if (!conn) {
    return std::unexpected(conn.error());
  }
  return KubeClient(std::move(*conn));
}

ApiResult<Pod> KubeClient::get_pod(const std::string& ns, const std::string& name,
                                   const Cancel* cancel) const {
  ApiAction action{"get", "pods", target(ns, name), ""};
  auto r = conn_->request(action, "GET", pod_path(ns, name), {}, {}, cancel);
  if (!r) {
    return std::unexpected(r.error());
  }
  if (r->status != 200) {
    return std::unexpected(http_error(action, r->status, r->body));
  }
  return pod_from(action, *r);
}

ApiResult<Pod> KubeClient::patch_pod_annotations(const std::string& ns, const std::string& name,
                                                 const AnnotationChanges& changes) const {
  ApiAction action{"patch", "pods", target(ns, name), ""};
  std::string body = annotation_merge_patch(changes).dump();
  auto r = conn_->request(action, "PATCH", pod_path(ns, name), body,
                          "application/merge-patch+json");
  if (!r) {
    return std::unexpected(r.error());
  }
  if (r->status != 200) {
    return std::unexpected(http_error(action, r->status, r->body));
  }
  return pod_from(action, *r);
}

ApiResult<std::string> KubeClient::create_event(const EventSpec& spec) const {
  ApiAction action{"create", "events",
                   fmt::format("event {} about pod {}/{}", spec.reason, spec.pod_namespace,
                               spec.pod_name),
                   "events.k8s.io"};
  std::string body = event_object(spec, std::chrono::system_clock::now()).dump();
  auto r = conn_->request(
      action, "POST",
      fmt::format("/apis/events.k8s.io/v1/namespaces/{}/events", url_encode(spec.pod_namespace)),
      body, "application/json");
  if (!r) {
    return std::unexpected(r.error());
  }
  if (r->status != 201 && r->status != 200) {
    return std::unexpected(http_error(action, r->status, r->body));
  }
  auto json = parse_body(action, *r);
  if (!json) {
    return std::unexpected(json.error());
  }
  return json->value("/metadata/name"_json_pointer, std::string());
}

ApiStatus KubeClient::watch_pod(const std::string& ns, const std::string& name,
                                const std::string& resource_version, int timeout_seconds,
                                const std::function<bool(const WatchEvent&)>& on_event,
                                const Cancel& cancel) const {
  ApiAction action{"watch", "pods", target(ns, name), ""};
  std::string path = fmt::format(
      "/api/v1/namespaces/{}/pods?watch=1&fieldSelector={}&allowWatchBookmarks=true"
      "&timeoutSeconds={}",
      url_encode(ns), url_encode("metadata.name=" + name), timeout_seconds);
  if (!resource_version.empty()) {
    path += "&resourceVersion=" + url_encode(resource_version);
  }
  std::optional<ApiError> bad_line;
  auto r = conn_->stream_lines(
      action, path,
      [&](std::string_view line) {
        if (line.empty()) {
          return true;
        }
        auto ev = parse_watch_event(line);
        if (!ev) {
          bad_line = protocol_error(action, ev.error().message);
          return false;
        }
        return on_event(*ev);
      },
      cancel);
  if (!r) {
    return std::unexpected(r.error());
  }
  if (bad_line) {
    return std::unexpected(*bad_line);
  }
  if (r->status != 200) {
    return std::unexpected(http_error(action, r->status, r->body));
  }
  return {};
}

ApiStatus KubeClient::follow_pod_log(const std::string& ns, const std::string& name,
                                     const std::string& container, const LogOptions& options,
                                     const std::function<bool(std::string_view)>& on_line,
                                     const Cancel& cancel) const {
  ApiAction action{"get", "pods/log",
                   fmt::format("the log of container {} in pod {}/{}", container, ns, name), ""};
  std::string path = fmt::format("{}/log?container={}&follow={}", pod_path(ns, name),
                                 url_encode(container), options.follow ? "true" : "false");
  if (options.tail_lines) {
    path += fmt::format("&tailLines={}", *options.tail_lines);
  }
  if (options.since_seconds) {
    path += fmt::format("&sinceSeconds={}", *options.since_seconds);
  }
  auto r = conn_->stream_lines(action, path, on_line, cancel);
  if (!r) {
    return std::unexpected(r.error());
  }
  if (r->status != 200) {
    return std::unexpected(http_error(action, r->status, r->body));
  }
  return {};
}

}  // namespace rwd::k8s
