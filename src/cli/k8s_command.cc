// rewind k8s: the sidecar's view of the Kubernetes API, for diagnosing a deployment
// (credentials, RBAC, TLS) from inside a pod, and for the integration tests.
//
//   rewind k8s get-pod                     # the pod as JSON
//   rewind k8s annotate key=value key-     # merge-patch annotations ("key-" removes)
//   rewind k8s event --reason R --note N [--warning]
//   rewind k8s watch-pod [--count N]       # one JSON line per update
//   rewind k8s logs --container C [--tail N] [--no-follow]
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/k8s_options.h"
#include "k8s/pod_watcher.h"

namespace rwd::cli {
namespace {

k8s::Cancel* g_stop = nullptr;

// SIGINT/SIGTERM end a watch or a log follow cleanly. The handler only sets a flag a
// helper thread turns into cancel(), since cancel() takes a lock.
void stop_on_signals(k8s::Cancel& stop) {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  g_stop = &stop;
  std::thread([] {
    int sig = 0;
    sigwait(&set, &sig);
    g_stop->cancel();
  }).detach();
}

int report(const k8s::ApiError& e) {
  spdlog::error("{}", e.message);
  return 1;
}

}  // namespace

void add_k8s_command(CLI::App& app, int& exit_code) {
  auto* k8s_cmd = app.add_subcommand(
      "k8s", "talk to the Kubernetes API as the sidecar does (checks credentials, RBAC, TLS)");
  k8s_cmd->require_subcommand(1);
  auto opts = std::make_shared<K8sOptions>();
  opts->add_to(k8s_cmd);

  k8s_cmd->add_subcommand("get-pod", "print the pod as JSON")->callback([opts, &exit_code] {
    auto client = opts->connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    auto pod = client->get_pod(opts->namespace_, opts->pod);
    if (!pod) {
      exit_code = report(pod.error());
      return;
    }
    fmt::print("{}\n", pod->raw.dump());
    exit_code = 0;
  });

  auto* annotate = k8s_cmd->add_subcommand("annotate", "set (key=value) or remove (key-) annotations");
  auto pairs = std::make_shared<std::vector<std::string>>();
  annotate->add_option("changes", *pairs, "key=value or key-")->required();
  annotate->callback([opts, pairs, &exit_code] {
    k8s::AnnotationChanges changes;
    for (const auto& p : *pairs) {
      if (auto eq = p.find('='); eq != std::string::npos) {
        changes[p.substr(0, eq)] = p.substr(eq + 1);
      } else if (p.ends_with('-')) {
        changes[p.substr(0, p.size() - 1)] = std::nullopt;
      } else {
        fmt::print(stderr, "rewind k8s annotate: '{}' is neither key=value nor key-\n", p);
        exit_code = 2;
        return;
      }
    }
    auto client = opts->connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    auto pod = client->patch_pod_annotations(opts->namespace_, opts->pod, changes);
    if (!pod) {
      exit_code = report(pod.error());
      return;
    }
    nlohmann::json annotations = pod->annotations;
    fmt::print("{}\n", annotations.dump());
    exit_code = 0;
  });

  auto* event = k8s_cmd->add_subcommand("event", "record a Kubernetes Event about the pod");
  auto spec = std::make_shared<k8s::EventSpec>();
  auto warning = std::make_shared<bool>(false);
  event->add_option("--reason", spec->reason, "UpperCamelCase reason")->required();
  event->add_option("--note", spec->note, "human-readable note");
  event->add_option("--action", spec->action, "what was done (default: the reason)");
  event->add_flag("--warning", *warning, "a Warning event (default Normal)");
  event->callback([opts, spec, warning, &exit_code] {
    auto client = opts->connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    spec->type = *warning ? "Warning" : "Normal";
    spec->pod_namespace = opts->namespace_;
    spec->pod_name = opts->pod;
    if (auto pod = client->get_pod(opts->namespace_, opts->pod)) {
      spec->pod_uid = pod->uid;
    }
    auto name = client->create_event(*spec);
    if (!name) {
      exit_code = report(name.error());
      return;
    }
    fmt::print("{}\n", *name);
    exit_code = 0;
  });

  auto* watch = k8s_cmd->add_subcommand("watch-pod", "print one JSON line per change of the pod");
  auto count = std::make_shared<int>(0);
  watch->add_option("--count", *count, "stop after this many updates (default: never)");
  watch->callback([opts, count, &exit_code] {
    auto client = opts->connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    k8s::Cancel stop;
    stop_on_signals(stop);
    k8s::PodWatcher watcher(*client, {.namespace_ = opts->namespace_, .name = opts->pod});
    int seen = 0;
    auto status = watcher.run(
        stop,
        [&](const k8s::PodUpdate& u) {
          static constexpr const char* kReasons[] = {"synced", "changed", "deleted"};
          nlohmann::json line = {
              {"update", kReasons[static_cast<int>(u.reason)]},
              {"exists", u.pod.has_value()},
              {"resourceVersion", u.pod ? u.pod->resource_version : ""},
              {"annotations", u.pod ? nlohmann::json(u.pod->annotations) : nlohmann::json::object()},
              {"syncs", watcher.stats().syncs},
              {"expired", watcher.stats().expired},
              {"resumes", watcher.stats().resumes},
          };
          fmt::print("{}\n", line.dump());
          std::fflush(stdout);
          if (*count > 0 && ++seen >= *count) {
            stop.cancel();
          }
        },
        [](const k8s::ApiError& e) { spdlog::warn("{}", e.message); });
    if (!status) {
      spdlog::error("{}", status.error().message);
      exit_code = 1;
      return;
    }
    exit_code = 0;
  });

  auto* logs = k8s_cmd->add_subcommand("logs", "stream a container's log (pods/log, follow)");
  auto container = std::make_shared<std::string>();
  auto log_opts = std::make_shared<k8s::LogOptions>();
  auto tail = std::make_shared<int64_t>(-1);
  auto no_follow = std::make_shared<bool>(false);
  logs->add_option("-c,--container", *container, "container name")->required();
  logs->add_option("--tail", *tail, "start this many lines back");
  logs->add_flag("--no-follow", *no_follow, "print what is there and stop");
  logs->callback([opts, container, log_opts, tail, no_follow, &exit_code] {
    auto client = opts->connect();
    if (!client) {
      exit_code = 1;
      return;
    }
    if (*tail >= 0) {
      log_opts->tail_lines = *tail;
    }
    log_opts->follow = !*no_follow;
    k8s::Cancel stop;
    stop_on_signals(stop);
    auto status = client->follow_pod_log(opts->namespace_, opts->pod, *container, *log_opts,
                                         [](std::string_view line) {
                                           fmt::print("{}\n", line);
                                           std::fflush(stdout);
                                           return true;
                                         },
                                         stop);
    if (!status && status.error().kind != k8s::ApiError::Kind::kCancelled) {
      exit_code = report(status.error());
      return;
    }
    exit_code = 0;
  });
}

}  // namespace rwd::cli
