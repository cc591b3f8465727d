// Asynchronous signals into pure computation: setitimer(ITIMER_REAL) every 5 ms with
// a SIGALRM handler counting ticks, while the main loop computes (with a cheap syscall
// every 64 passes, as a service's loop has; see "Replay" in the README for what a long
// syscall-free loop costs replay) until 20 ticks have arrived. Where each tick lands differs from run to run; replay
// must deliver it at the recorded instruction or the recorded iteration counts and the
// hash differ.
//
// Usage: replay_itimer [loop SECONDS | repeat N]   (each round waits for 20 ticks)
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kTicks = 20 };

static volatile sig_atomic_t ticks;
static volatile uint64_t at_tick[kTicks];  // the iteration each tick of a round hit
static volatile uint64_t iterations;

static void on_alarm(int sig) {
  (void)sig;
  if (ticks < kTicks) {
    at_tick[ticks] = iterations;
  }
  ++ticks;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every_5ms = {.it_interval = {.tv_usec = 5000}, .it_value = {.tv_usec = 5000}};
  setitimer(ITIMER_REAL, &every_5ms, NULL);
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  uint64_t h = 1;
  int rounds = 0;
  do {
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    ticks = 0;
    sigprocmask(SIG_UNBLOCK, &alrm, NULL);
    while (ticks < kTicks) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      iterations = iterations + 1;
      if ((iterations & 63) == 0) {
        (void)getppid();
      }
    }
    for (int i = 0; i < kTicks; ++i) {
      h ^= at_tick[i];
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("itimer: %d rounds of %d ticks during computation, hash %016llx\n", rounds, kTicks,
         (unsigned long long)h);
  return 0;
}
