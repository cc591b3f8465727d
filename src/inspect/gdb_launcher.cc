#include "inspect/gdb_launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/files.h"
#include "common/subprocess.h"
#include "inspect/sysroot.h"

namespace rwd {

Result<int> debug_with_gdb(const RecordingReader& reader,
                           const std::vector<std::string>& gdb_args) {
  if (find_in_path("gdb").empty()) {
    return fail("cannot debug {}: gdb is not installed (apt-get install gdb)",
                reader.path().string());
  }
  auto tmp = TempDir::create("rewind-debug");
  if (!tmp) {
    return std::unexpected(tmp.error());
  }
  auto x = extract_sysroot(reader, tmp->path());
  if (!x) {
    return std::unexpected(x.error());
  }
  for (const auto& w : x->warnings) {
    fmt::print(stderr, "rewind debug: warning: {}\n", w);
  }
  if (x->core.empty()) {
    fmt::print(stderr,
               "rewind debug: {} holds no final state (the recording was cut short); gdb "
               "opens the executable only\n",
               reader.path().string());
  }
  auto gdb = GdbProcess::start(x->gdbinit, gdb_args);
  if (!gdb) {
    return std::unexpected(gdb.error());
  }
  return gdb->wait();
}

Result<GdbProcess> GdbProcess::start(const std::filesystem::path& init,
                                     const std::vector<std::string>& gdb_args) {
  std::string gdb = find_in_path("gdb");
  if (gdb.empty()) {
    return fail("gdb is not installed (apt-get install gdb)");
  }
  // The recording brings its own debug files; never reach out to a debuginfod server.
  std::vector<std::string> argv = {gdb, "-q", "-iex", "set debuginfod enabled off", "-x",
                                   init.string()};
  argv.insert(argv.end(), gdb_args.begin(), gdb_args.end());
  GdbProcess p;
  struct sigaction ignore{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &p.old_int_);
  ::sigaction(SIGQUIT, &ignore, &p.old_quit_);
  p.signals_taken_ = true;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::sigaction(SIGINT, &p.old_int_, nullptr);
    ::sigaction(SIGQUIT, &p.old_quit_, nullptr);
    sigset_t none;  // the caller may block signals (SIGCHLD for a replay); gdb must not
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    Error e = exec_program(argv);
    fmt::print(stderr, "rewind debug: {}\n", e.message);
    ::_exit(127);
  }
  if (pid < 0) {
    return fail_errno(errno, "cannot run gdb");  // the destructor gives the signals back
  }
  p.pid_ = pid;
  return p;
}

GdbProcess::GdbProcess(GdbProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      status_(o.status_),
      reaped_(o.reaped_),
      signals_taken_(std::exchange(o.signals_taken_, false)),
      old_int_(o.old_int_),
      old_quit_(o.old_quit_) {}

GdbProcess::~GdbProcess() {
  if (pid_ > 0 && !reaped_) {
    wait();
  }
  restore_signals();
}

void GdbProcess::restore_signals() {
  if (signals_taken_) {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGQUIT, &old_quit_, nullptr);
    signals_taken_ = false;
  }
}

bool GdbProcess::exited() {
  if (!reaped_ && pid_ > 0 && ::waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
  }
  return reaped_;
}

int GdbProcess::wait() {
  while (!reaped_ && pid_ > 0) {
    if (::waitpid(pid_, &status_, 0) == pid_) {
      reaped_ = true;
    } else if (errno != EINTR) {
      break;
    }
  }
  restore_signals();
  if (WIFSIGNALED(status_)) {
    return 128 + WTERMSIG(status_);
  }
  return WEXITSTATUS(status_);
}

}  // namespace rwd
