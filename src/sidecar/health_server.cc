#include "sidecar/health_server.h"

#include <httplib.h>

#include <charconv>

#include "common/log.h"

namespace rwd::sidecar {

HealthServer::HealthServer(HealthHandlers handlers) : handlers_(std::move(handlers)) {}

HealthServer::~HealthServer() { stop(); }

Result<int> HealthServer::start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return fail("--listen '{}' is not HOST:PORT (e.g. 127.0.0.1:9090)", listen);
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  auto [p, ec] = std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port);
  if (ec != std::errc() || p != listen.data() + listen.size() || port < 0 || port > 65535) {
    return fail("--listen '{}' has no valid port (e.g. 127.0.0.1:9090)", listen);
  }
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    bool ok = handlers_.healthy ? handlers_.healthy() : true;
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok\n" : "controller loop is stuck\n", "text/plain");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    auto why = handlers_.not_ready ? handlers_.not_ready() : std::nullopt;
    res.status = why ? 503 : 200;
    res.set_content(why ? *why + "\n" : "ok\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers_.metrics ? handlers_.metrics() : "",
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port)
                                                                  ? port
                                                                  : -1);
  if (bound < 0) {
    return fail("cannot listen on {}: the address is in use or not local (pass another "
                "--listen)",
                listen);
  }
  thread_ = std::thread([s = server_.get()] { s->listen_after_bind(); });
  return bound;
}

void HealthServer::stop() {
  if (server_) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace rwd::sidecar
