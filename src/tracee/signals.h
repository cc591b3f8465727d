// Signal names as strace and gdb print them, for every part of rewind that shows a
// signal (the log, crash reports, replay divergences). The names are the x86-64 Linux
// ABI's, written out so that they do not depend on the build host's headers.
//
//   signal_name(11)   -> "SIGSEGV"
//   signal_name(34)   -> "SIGRT_2"
//   signal_name(99)   -> "99"
//   mask & signal_bit(SIGSEGV)   // a kernel signal mask (sigprocmask, /proc SigCgt)
#pragma once

#include <cstdint>
#include <string>

namespace rwd {

std::string signal_name(int sig);

// The bit of signal `sig` (1..64) in a kernel signal mask.
constexpr uint64_t signal_bit(int sig) { return 1ull << (sig - 1); }

}  // namespace rwd
