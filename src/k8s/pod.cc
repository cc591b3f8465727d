#include "k8s/pod.h"

namespace rwd::k8s {
namespace {

std::string string_at(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<Pod> parse_pod(const nlohmann::json& object) {
  if (!object.is_object()) {
    return fail("expected a Pod object, got {}", object.type_name());
  }
  std::string kind = string_at(object, "kind");
  if (!kind.empty() && kind != "Pod") {
    return fail("expected a Pod, got a {}", kind);
  }
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return fail("the Pod has no metadata");
  }
  Pod pod;
  pod.namespace_ = string_at(*meta, "namespace");
  pod.name = string_at(*meta, "name");
  pod.uid = string_at(*meta, "uid");
  pod.resource_version = string_at(*meta, "resourceVersion");
  if (pod.name.empty()) {
    return fail("the Pod has no metadata.name");
  }
  if (auto ann = meta->find("annotations"); ann != meta->end() && ann->is_object()) {
    for (const auto& [k, v] : ann->items()) {
      if (v.is_string()) {
        pod.annotations.emplace(k, v.get<std::string>());
      }
    }
  }
  if (auto status = object.find("status"); status != object.end() && status->is_object()) {
    pod.phase = string_at(*status, "phase");
  }
  if (auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    pod.node_name = string_at(*spec, "nodeName");
  }
  pod.raw = object;
  return pod;
}

}  // namespace rwd::k8s
