// broken-app: a small HTTP service that crashes on request, for demonstrating rewind.
//
//   GET /        hello plus the newest message in the in-memory SQLite database
//   GET /db      every message, one per line
//   GET /health  "ok"
//   GET /crash   answers "This will crash!" and logs "broken-app: crash requested"; 2 s
//                later a background thread dereferences a null pointer (SIGSEGV)
//
// Usage: broken-app [--port N] (default 8080; 0 picks a free port, printed on stdout).
#include <httplib.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace {

class MessageDb {
 public:
  MessageDb() {
    sqlite3_open(":memory:", &db_);
    exec("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    add("broken-app started");
  }
  ~MessageDb() { sqlite3_close(db_); }

  void add(const std::string& body) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO messages (body) VALUES (?)", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, body.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }

  std::string latest() { return query("SELECT body FROM messages ORDER BY id DESC LIMIT 1"); }
  std::string all() { return query("SELECT body FROM messages ORDER BY id"); }

 private:
  void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

  std::string query(const char* sql) {
    std::lock_guard lock(mu_);
    std::string out;
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, sql, -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out += '\n';
    }
    sqlite3_finalize(st);
    return out;
  }

  std::mutex mu_;
  sqlite3* db_ = nullptr;
};

struct Job {
  const char* name;
  int* result;
};

// The bug the demo is about: a job whose result pointer was never set.
__attribute__((noinline)) void finish_job(Job* job) {
  *job->result = 42;  // SIGSEGV: job->result is null
}

void crash_later() {
  std::this_thread::sleep_for(std::chrono::seconds(2));
  Job job{"report", nullptr};
  finish_job(&job);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8080;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: broken-app [--port N]\n");
      return 2;
    }
  }

  MessageDb db;
  httplib::Server server;
  server.set_tcp_nodelay(true);  // no 40 ms delayed-ACK stalls on keep-alive connections
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    db.add("hello requested");
    res.set_content("Hello from broken-app! Latest message: " + db.latest(), "text/plain");
  });
  server.Get("/db", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(db.all(), "text/plain");
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/crash", [&](const httplib::Request&, httplib::Response& res) {
    db.add("crash requested");
    // A log line to trigger on (rewind.dev/record-on-log), 2 s before the crash.
    std::printf("broken-app: crash requested, crashing in 2 s\n");
    std::fflush(stdout);
    std::thread(crash_later).detach();
    res.set_content("This will crash!\n", "text/plain");
  });

  if (port == 0) {
    port = server.bind_to_any_port("127.0.0.1");
  } else if (!server.bind_to_port("0.0.0.0", port)) {
    std::fprintf(stderr, "broken-app: cannot listen on port %d\n", port);
    return 1;
  }
  std::printf("broken-app listening on port %d (pid %d)\n", port, static_cast<int>(getpid()));
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
