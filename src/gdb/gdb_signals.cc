#include "gdb/gdb_signals.h"

#include <signal.h>

#include <array>
#include <utility>

namespace rwd {

namespace {

// Linux signal -> gdb signal, for the classic signals 1..31. Real-time signals follow
// a rule (gdb_signal_from_linux) because gdb's numbering for them has two holes.
constexpr std::array<std::pair<int, int>, 31> kClassicSignals{{
    {SIGHUP, 1},    {SIGINT, 2},     {SIGQUIT, 3},
    {SIGILL, 4},    {SIGTRAP, 5},    {SIGABRT, 6},
    {SIGBUS, 10},   {SIGFPE, 8},     {SIGKILL, 9},
    {SIGUSR1, 30},  {SIGSEGV, 11},   {SIGUSR2, 31},
    {SIGPIPE, 13},  {SIGALRM, 14},   {SIGTERM, 15},
    {SIGSTKFLT, kGdbSignalUnknown},  {SIGCHLD, 20},
    {SIGCONT, 19},  {SIGSTOP, 17},   {SIGTSTP, 18},
    {SIGTTIN, 21},  {SIGTTOU, 22},   {SIGURG, 16},
    {SIGXCPU, 24},  {SIGXFSZ, 25},   {SIGVTALRM, 26},
    {SIGPROF, 27},  {SIGWINCH, 28},  {SIGIO, 23},
    {SIGPWR, 32},   {SIGSYS, 12},
}};

// gdb numbers real-time signal 32 as 77, 33..63 as 45..75 and 64 as 78: they were
// added at different times and the protocol's numbers can never move.
constexpr int kGdbRealtime32 = 77;
constexpr int kGdbRealtime33 = 45;
constexpr int kGdbRealtime63 = 75;
constexpr int kGdbRealtime64 = 78;
constexpr int kLinuxLastSignal = 64;

}  // namespace

int gdb_signal_from_linux(int signo) {
  if (signo == 0) {
    return 0;
  }
  for (const auto& [linux_signo, gdb_signo] : kClassicSignals) {
    if (linux_signo == signo) {
      return gdb_signo;
    }
  }
  if (signo == 32) {
    return kGdbRealtime32;
  }
  if (signo >= 33 && signo <= 63) {
    return kGdbRealtime33 + (signo - 33);
  }
  if (signo == kLinuxLastSignal) {
    return kGdbRealtime64;
  }
  return kGdbSignalUnknown;
}

int linux_signal_from_gdb(int gdb_signo) {
  if (gdb_signo == 0 || gdb_signo == kGdbSignalUnknown) {
    return 0;
  }
  for (const auto& [linux_signo, gdb_number] : kClassicSignals) {
    if (gdb_number == gdb_signo) {
      return linux_signo;
    }
  }
  if (gdb_signo == kGdbRealtime32) {
    return 32;
  }
  if (gdb_signo >= kGdbRealtime33 && gdb_signo <= kGdbRealtime63) {
    return 33 + (gdb_signo - kGdbRealtime33);
  }
  if (gdb_signo == kGdbRealtime64) {
    return kLinuxLastSignal;
  }
  return 0;
}

}  // namespace rwd
