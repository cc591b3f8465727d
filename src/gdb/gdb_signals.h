// Signal numbers on the wire: the GDB remote protocol numbers signals its own way
// (gdb's include/gdb/signals.def), which matches Linux only for some of them
// (SIGSEGV is 11 in both; SIGUSR1 is 10 on Linux but 30 for gdb). Stop replies
// ("T05", "X09") carry gdb's numbers.
//
//   std::string reply = fmt::format("T{:02x}", gdb_signal_from_linux(SIGBUS));  // "T0a"
#pragma once

namespace rwd {

// gdb's "unknown signal", for Linux signals gdb has no name for (SIGSTKFLT).
inline constexpr int kGdbSignalUnknown = 143;

// The gdb number of Linux (x86-64) signal `signo`; 0 stays 0 (no signal).
int gdb_signal_from_linux(int signo);

// The Linux signal for gdb number `gdb_signo`; 0 when Linux has none.
int linux_signal_from_gdb(int gdb_signo);

}  // namespace rwd
