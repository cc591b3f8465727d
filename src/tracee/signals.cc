#include "tracee/signals.h"

#include <fmt/format.h>

#include <iterator>
#include <string_view>

namespace rwd {

namespace {

constexpr std::string_view kSignals[] = {
    "0",         "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT",
    "SIGBUS",    "SIGFPE",  "SIGKILL",   "SIGUSR1", "SIGSEGV",  "SIGUSR2", "SIGPIPE",
    "SIGALRM",   "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",  "SIGSTOP", "SIGTSTP",
    "SIGTTIN",   "SIGTTOU", "SIGURG",    "SIGXCPU", "SIGXFSZ",  "SIGVTALRM", "SIGPROF",
    "SIGWINCH",  "SIGIO",   "SIGPWR",    "SIGSYS",
};

}  // namespace

std::string signal_name(int sig) {
  if (sig >= 0 && static_cast<size_t>(sig) < std::size(kSignals)) {
    return std::string(kSignals[sig]);
  }
  if (sig >= 32 && sig <= 64) {
    return sig == 32 ? "SIGRTMIN" : fmt::format("SIGRT_{}", sig - 32);
  }
  return std::to_string(sig);
}

}  // namespace rwd
