// rewind wait-idle: the app container's preStop hook. Holds the pod's teardown until
// the rewind sidecar's status annotation says idle, or the timeout passes.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/k8s_options.h"
#include "k8s/wait_idle.h"

namespace rwd::cli {

void add_wait_idle_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "wait-idle",
      "wait until this pod's rewind sidecar is idle (for a preStop hook); exits 0 when idle, "
      "1 on timeout or error");
  struct Flags {
    K8sOptions k8s;
    std::string prefix = "rewind.dev";
    double timeout_seconds = 300;
  };
  auto flags = std::make_shared<Flags>();
  flags->k8s.add_to(cmd);
  cmd->add_option("--annotation-prefix", flags->prefix, "annotation prefix the sidecar uses")
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout_seconds,
                  "seconds to wait at most (keep it below terminationGracePeriodSeconds)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([flags, &exit_code] {
    auto client = flags->k8s.connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(flags->timeout_seconds * 1000));
    auto r = k8s::wait_idle(*client, {.namespace_ = flags->k8s.namespace_,
                                      .pod = flags->k8s.pod,
                                      .annotation_prefix = flags->prefix,
                                      .timeout = timeout});
    if (!r) {
      spdlog::error("wait-idle: {}", r.error().message);
      exit_code = 1;
      return;
    }
    if (*r == k8s::WaitIdleResult::kTimedOut) {
      spdlog::error(
          "wait-idle: gave up after {}s: pod {}/{} is still not idle ({}/status); letting the "
          "pod stop anyway, so a recording may not have been uploaded (see the sidecar's log "
          "and Events)",
          flags->timeout_seconds, flags->k8s.namespace_, flags->k8s.pod, flags->prefix);
      exit_code = 1;
      return;
    }
    exit_code = 0;
  });
}

}  // namespace rwd::cli
