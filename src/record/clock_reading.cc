#include "record/clock_reading.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include <string>

namespace rwd {

namespace {

// The kernel's clock id for the CPU time of process `pid` (MAKE_PROCESS_CPUCLOCK with
// CPUCLOCK_SCHED), which is what CLOCK_PROCESS_CPUTIME_ID means inside that process.
clockid_t process_cpu_clock(pid_t pid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(pid) << 3) | 2);
}

// The clock rewind reads for `clock` as the target asked for it, or nullopt.
std::optional<clockid_t> clock_as_seen_by(int64_t clock, pid_t pid) {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_TAI:
      return static_cast<clockid_t>(clock);
    case CLOCK_PROCESS_CPUTIME_ID:
      return process_cpu_clock(pid);
    default:
      return std::nullopt;  // a thread's CPU time, alarm clocks, fds, other processes
  }
}

template <typename T>
MemoryBytes bytes_at(uint64_t addr, const T& value) {
  return {addr, std::string(reinterpret_cast<const char*>(&value), sizeof value)};
}

}  // namespace

std::optional<ClockReading> read_clock_for(int64_t sysno, const std::array<uint64_t, 6>& args,
                                           pid_t pid) {
  ClockReading r;
  switch (sysno) {
    case SYS_clock_gettime:
    case SYS_clock_getres: {
      auto clock = clock_as_seen_by(static_cast<int64_t>(static_cast<int32_t>(args[0])), pid);
      if (!clock || (sysno == SYS_clock_gettime && args[1] == 0)) {
        return std::nullopt;
      }
      timespec ts{};
      int rc = sysno == SYS_clock_gettime ? ::clock_gettime(*clock, &ts)
                                          : ::clock_getres(*clock, &ts);
      if (rc != 0) {
        return std::nullopt;  // the process is gone, say: the kernel answers for it
      }
      if (args[1] != 0) {
        r.outputs.push_back(bytes_at(args[1], ts));
      }
      return r;
    }
    case SYS_gettimeofday: {
      timeval tv{};
      struct timezone tz{};
      if (::gettimeofday(&tv, &tz) != 0) {
        return std::nullopt;
      }
      if (args[0] != 0) {
        r.outputs.push_back(bytes_at(args[0], tv));
      }
      if (args[1] != 0) {
        r.outputs.push_back(bytes_at(args[1], tz));
      }
      return r;
    }
    case SYS_time: {
      // time() counts the kernel's coarse seconds, as the target's own call would.
      int64_t now = ::time(nullptr);
      if (now == -1) {
        return std::nullopt;
      }
      r.result = now;
      if (args[0] != 0) {
        r.outputs.push_back(bytes_at(args[0], now));
      }
      return r;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace rwd
