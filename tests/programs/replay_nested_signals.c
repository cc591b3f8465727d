// Two signals pending at once when the program unblocks them: the kernel delivers
// SIGUSR1, then SIGUSR2 on top of its fresh frame, at the SIGUSR1 handler's first
// instruction, so SIGUSR2's handler runs first. Replay must reach that point, the
// handler's entry, with the frame as the recording has it; some rounds execute an
// rdtsc in between, which sets the thread's last trap the way the recording has it.
//
// Usage: replay_nested_signals [loop SECONDS | repeat N]. Prints "nested signals: R
// rounds, 5 pairs each, SIGUSR2's handler first every time".
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "replay_loop.h"

static volatile sig_atomic_t order;  // handlers append their number: 21 when nested

static void on_usr1(int sig) {
  (void)sig;
  order = order * 10 + 1;
}

static void on_usr2(int sig) {
  (void)sig;
  order = order * 10 + 2;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  signal(SIGUSR1, on_usr1);
  signal(SIGUSR2, on_usr2);
  sigset_t both;
  sigemptyset(&both);
  sigaddset(&both, SIGUSR1);
  sigaddset(&both, SIGUSR2);
  long rounds = 0;
  do {
    for (int i = 0; i < 5; ++i) {
      order = 0;
      sigprocmask(SIG_BLOCK, &both, NULL);
      kill(getpid(), SIGUSR1);
      kill(getpid(), SIGUSR2);
      if (i % 2 == 1) {
        unsigned lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
      }
      sigprocmask(SIG_UNBLOCK, &both, NULL);
      if (order != 21) {
        fprintf(stderr, "pair %d of round %ld ran its handlers in the order %d\n", i, rounds,
                (int)order);
        return 1;
      }
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("nested signals: %ld rounds, 5 pairs each, SIGUSR2's handler first every time\n",
         rounds);
  return 0;
}
