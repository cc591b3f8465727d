#include "inspect/gdb_launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "common/subprocess.h"
#include "inspect/sysroot.h"

namespace rwd {

Result<int> debug_with_gdb(const RecordingReader& reader,
                           const std::vector<std::string>& gdb_args) {
  std::string gdb = find_in_path("gdb");
  if (gdb.empty()) {
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
  // The recording brings its own debug files; never reach out to a debuginfod server.
  std::vector<std::string> argv = {gdb, "-q", "-iex", "set debuginfod enabled off", "-x",
                                   x->gdbinit.string()};
  argv.insert(argv.end(), gdb_args.begin(), gdb_args.end());

  struct sigaction ignore{}, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGQUIT, &ignore, &old_quit);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    Error e = exec_program(argv);
    fmt::print(stderr, "rewind debug: {}\n", e.message);
    ::_exit(127);
  }
  int status = 0;
  int err = 0;
  if (pid < 0) {
    err = errno;
  } else {
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        err = errno;
        break;
      }
    }
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  if (err != 0) {
    return fail_errno(err, "cannot run gdb");
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return WEXITSTATUS(status);
}

}  // namespace rwd
