// Pod: the fields of a Kubernetes Pod that rewind acts on, parsed from the API's JSON.
// The full object stays available in `raw` for anything else.
//
//   auto pod = parse_pod(json);
//   if (pod && pod->annotation("rewind.dev/record") == "on") { ... }
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/error.h"

namespace rwd::k8s {

struct Pod {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string phase;      // "Pending", "Running", ... ("" when no status yet)
  std::string node_name;  // "" until scheduled
  std::map<std::string, std::string> annotations;
  nlohmann::json raw;

  std::optional<std::string> annotation(const std::string& key) const {
    auto it = annotations.find(key);
    return it == annotations.end() ? std::nullopt : std::optional(it->second);
  }
};

// Fails when `object` is not a Pod (wrong kind or missing metadata).
Result<Pod> parse_pod(const nlohmann::json& object);

}  // namespace rwd::k8s
