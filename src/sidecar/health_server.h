// HealthServer: the sidecar's HTTP endpoints (cpp-httplib), on localhost by default:
//   GET /healthz   200 "ok" while the controller loop is alive (liveness)
//   GET /readyz    200 "ok" once the pod has been read from the API server and the last
//                  API call succeeded; 503 with the reason otherwise (readiness)
//   GET /metrics   Prometheus text (sidecar_metrics.h)
//
// Runs its own thread; the callbacks run on httplib's worker threads.
//
//   HealthServer server({.healthy = ..., .ready = ..., .metrics = ...});
//   auto port = server.start("127.0.0.1:9090");
//   ...
//   server.stop();
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"

namespace httplib {
class Server;
}

namespace rwd::sidecar {

struct HealthHandlers {
  std::function<bool()> healthy;
  // nullopt when ready, else the reason.
  std::function<std::optional<std::string>()> not_ready;
  std::function<std::string()> metrics;
};

class HealthServer {
 public:
  explicit HealthServer(HealthHandlers handlers);
  ~HealthServer();

  // Binds "HOST:PORT" (PORT 0 picks a free port) and serves on a thread; returns the port.
  Result<int> start(const std::string& listen);
  void stop();

 private:
  HealthHandlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace rwd::sidecar
