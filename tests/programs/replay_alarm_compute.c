// Asynchronous signals into a loop with no syscalls at all: setitimer(ITIMER_REAL)
// every 10 ms with a SIGALRM handler counting ticks, while the main loop computes for
// about 3 s. Each tick lands after millions of passes through the loop, so replay must
// find the recorded pass without stopping at every one of them (replay_itimer's loop
// makes a syscall every 64 passes; this one never does).
//
// The loop's length is a fixed number of passes, not a clock: reading the clock would
// be a syscall (the vDSO is patched while recording). Prints the tick count and a
// checksum that mixes in the pass each tick landed on.
//
// Usage: replay_alarm_compute [loop SECONDS | repeat N]   (each round is ~3 s of work)
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>

#include "replay_loop.h"

enum { kMaxTicks = 1024 };

// About 3 s of the loop below at -O0 on a current x86-64 core.
static const uint64_t kPasses = 2500000000ull;

static volatile sig_atomic_t ticks;
static volatile uint64_t pass;
static volatile uint64_t at_tick[kMaxTicks];

static void on_alarm(int sig) {
  (void)sig;
  if (ticks < kMaxTicks) {
    at_tick[ticks] = pass;
  }
  ++ticks;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every_10ms = {.it_interval = {.tv_usec = 10000},
                                 .it_value = {.tv_usec = 10000}};
  setitimer(ITIMER_REAL, &every_10ms, NULL);
  uint64_t x = 1;
  int rounds = 0;
  do {
    for (uint64_t i = 0; i < kPasses; ++i) {
      x = x * 3 + i;
      pass = i;
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  int n = ticks;
  uint64_t sum = x;
  for (int i = 0; i < n && i < kMaxTicks; ++i) {
    sum = sum * 1099511628211ull ^ at_tick[i];
  }
  printf("alarm_compute: %d rounds, %d ticks, checksum %016llx\n", rounds, n,
         (unsigned long long)sum);
  return 0;
}
