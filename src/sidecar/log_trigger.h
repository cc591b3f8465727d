// LogTrigger: follows a container's log through the API server (pods/log, follow) and
// calls on_match for each line that matches a regular expression — the
// `<prefix>/record-on-log` trigger. Runs its own thread; reconnects with backoff (1 s
// doubling to 30 s) when the stream ends or fails, starting again from new lines only
// (sinceSeconds covers the gap), and reports failures through on_error.
//
//   LogTrigger trigger(client, {.namespace_ = "shop", .pod = "web-0", .container = "app",
//                               .pattern = "panic|FATAL", .regex = re},
//                      [](std::string_view line) { start_recording(line); },
//                      [](const std::string& error, bool first) { warn(error); });
//   ...
//   trigger.stop();   // or destroy it
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "k8s/cancel.h"
#include "k8s/kube_client.h"

namespace rwd::sidecar {

struct LogTriggerSpec {
  std::string namespace_;
  std::string pod;
  std::string container;
  std::string pattern;
  std::shared_ptr<const std::regex> regex;
};

class LogTrigger {
 public:
  LogTrigger(const k8s::KubeClient& client, LogTriggerSpec spec,
             std::function<void(std::string_view line)> on_match,
             std::function<void(const std::string& error, bool first)> on_error);
  ~LogTrigger();
  const LogTriggerSpec& spec() const { return spec_; }
  void stop();

 private:
  void loop();

  const k8s::KubeClient& client_;
  LogTriggerSpec spec_;
  std::function<void(std::string_view)> on_match_;
  std::function<void(const std::string&, bool)> on_error_;
  k8s::Cancel cancel_;
  std::thread thread_;
};

}  // namespace rwd::sidecar
