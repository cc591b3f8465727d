// rewind sidecar: the Kubernetes sidecar controller (src/sidecar). Parses flags and the
// downward-API environment, connects to the API server and runs the controller until
// SIGTERM or SIGINT.
#include <fmt/format.h>
#include <signal.h>

#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "common/log.h"
#include "k8s/cluster_config.h"
#include "k8s/kube_client.h"
#include "sidecar/sidecar.h"

namespace rwd::cli {
namespace {

struct SidecarFlags {
  std::string kubeconfig;
  std::string context;
  std::string namespace_;
  std::string pod;
  std::string target_name;
  std::string target_exe;
  std::string target_container;
  std::string log_container;
  std::string store = "file:///recordings/uploaded";
  std::string s3_endpoint;
  std::string recordings_dir = "/recordings";
  std::string prefix = "rewind.dev";
  std::string listen = "127.0.0.1:9090";
  double shutdown_timeout = 25;
  double scan_interval_ms = 20;
  double target_grace = 2;
  bool redact_env = false;
};

std::string env_or(const std::string& value, const char* name) {
  if (!value.empty()) {
    return value;
  }
  const char* v = std::getenv(name);
  return v ? v : "";
}

int run_sidecar(const SidecarFlags& f) {
  sidecar::SidecarOptions o;
  int selectors = !f.target_name.empty() + !f.target_exe.empty() + !f.target_container.empty();
  if (selectors != 1) {
    fmt::print(stderr, "rewind sidecar: choose the target with exactly one of --target-name, "
                       "--target-exe or --target-container\n");
    return 2;
  }
  if (!f.target_name.empty()) {
    o.target = {sidecar::TargetSelector::Kind::kName, f.target_name};
  } else if (!f.target_exe.empty()) {
    o.target = {sidecar::TargetSelector::Kind::kExe, f.target_exe};
  } else {
    o.target = {sidecar::TargetSelector::Kind::kContainer, f.target_container};
  }
  o.namespace_ = env_or(f.namespace_, "POD_NAMESPACE");
  o.pod = env_or(f.pod, "POD_NAME");
  o.log_container = f.log_container;
  o.store = f.store;
  // deploy/overlays/s3 sets REWIND_S3_ENDPOINT; empty falls back to AWS_ENDPOINT_URL(_S3).
  o.store_options.s3_endpoint = env_or(f.s3_endpoint, "REWIND_S3_ENDPOINT");
  // Few attempts per call: the uploader retries the whole upload with its own backoff
  // (and resumes multipart uploads), so the sidecar stays responsive when S3 is down.
  o.store_options.max_attempts = 3;
  o.recordings_dir = f.recordings_dir;
  o.prefix = f.prefix;
  o.listen = f.listen;
  o.shutdown_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.shutdown_timeout * 1000));
  o.scan_interval = std::chrono::milliseconds(static_cast<int64_t>(f.scan_interval_ms));
  o.target_grace = std::chrono::milliseconds(static_cast<int64_t>(f.target_grace * 1000));
  if (f.redact_env) {
    o.recorder_args.push_back("--redact-env");
  }

  auto config = k8s::load_cluster_config({.kubeconfig = f.kubeconfig, .context = f.context});
  if (!config) {
    fmt::print(stderr, "rewind sidecar: {}\n", config.error().message);
    return 1;
  }
  if (o.namespace_.empty()) {
    o.namespace_ = config->namespace_;
  }
  auto client = k8s::KubeClient::create(std::move(*config));
  if (!client) {
    fmt::print(stderr, "rewind sidecar: {}\n", client.error().message);
    return 1;
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto sc = sidecar::Sidecar::create(std::move(o), std::move(*client));
  if (!sc) {
    fmt::print(stderr, "rewind sidecar: {}\n", sc.error().message);
    return 1;
  }
  std::thread([&stop_signals, s = sc->get()] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("got {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    s->request_stop();
  }).detach();
  auto result = (*sc)->run();
  if (!result) {
    fmt::print(stderr, "rewind sidecar: {}\n", result.error().message);
    return 1;
  }
  // The signal thread may still wait; exit without unwinding it.
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace

void add_sidecar_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "sidecar",
      "Run as a Kubernetes sidecar: record the target when the pod's annotations ask for it "
      "and ship recordings to a store (see docs/kubernetes.md)");
  static SidecarFlags f;
  cmd->add_option("--target-name", f.target_name, "Target: the process name (comm)");
  cmd->add_option("--target-exe", f.target_exe, "Target: a regex on the executable path");
  cmd->add_option("--target-container", f.target_container,
                  "Target: the main process of this container of the pod");
  cmd->add_option("--log-container", f.log_container,
                  "Container whose log record-on-log follows (default: --target-container)");
  cmd->add_option("--store", f.store, "Where recordings go: file:///dir or s3://bucket/prefix")
      ->capture_default_str();
  cmd->add_option("--s3-endpoint", f.s3_endpoint,
                  "S3-compatible endpoint URL (default: $REWIND_S3_ENDPOINT, $AWS_ENDPOINT_URL_S3, "
                  "$AWS_ENDPOINT_URL, else AWS)");
  cmd->add_option("--recordings-dir", f.recordings_dir,
                  "Local directory for recordings and the upload queue (an emptyDir)")
      ->capture_default_str();
  cmd->add_option("--annotation-prefix", f.prefix, "Annotation prefix, e.g. undo.io")
      ->capture_default_str();
  cmd->add_option("--listen", f.listen, "HOST:PORT for /healthz, /readyz and /metrics")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", f.shutdown_timeout,
                  "Seconds to save and upload after SIGTERM (keep below the grace period)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--scan-interval-ms", f.scan_interval_ms,
                  "How often /proc is scanned for the target while recording is wanted")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10000.0));
  cmd->add_option("--target-grace", f.target_grace,
                  "Seconds without a target before the status becomes error")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--redact-env", f.redact_env, "Record environment variable names only");
  cmd->add_option("--kubeconfig", f.kubeconfig, "kubeconfig file (default: in-cluster)");
  cmd->add_option("--context", f.context, "kubeconfig context");
  cmd->add_option("--namespace", f.namespace_, "The pod's namespace (default: $POD_NAMESPACE)");
  cmd->add_option("--pod", f.pod, "The pod's name (default: $POD_NAME)");
  cmd->callback([&exit_code] { exit_code = run_sidecar(f); });
}

}  // namespace rwd::cli
