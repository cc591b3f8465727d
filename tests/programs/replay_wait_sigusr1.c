// A signal sent by another process: prints "waiting for SIGUSR1 in pid N", then
// computes without syscalls until the handler has set its flag (the sender is the
// test, with os.kill). The signal lands at an arbitrary instruction of the loop.
//
// Usage: replay_wait_sigusr1 [loop SECONDS | repeat N]
//   once: exits 0 after the first SIGUSR1, 1 if none arrives within 30 s;
//   loop: counts every SIGUSR1 until SECONDS have passed, then exits 0;
//   repeat: exits 0 after N SIGUSR1 (1 without one for 30 s).
// Prints "got N SIGUSR1, hash H".
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "replay_loop.h"

static volatile sig_atomic_t received;
static volatile uint64_t hash_at_signal;
static volatile uint64_t h = 1;

static void on_usr1(int sig) {
  (void)sig;
  ++received;
  hash_at_signal ^= h;
}

// Computes until one more SIGUSR1 than `seen` has arrived, or until the loop's
// deadline in loop mode. Returns 0 when 30 s pass without a signal.
static int wait_for_signal(const struct replay_loop* loop, int seen) {
  double give_up = replay_now() + 30;
  for (uint64_t i = 1;; ++i) {
    h = h * 6364136223846793005ull + i;
    if (i % 4096 != 0) {
      continue;
    }
    if (loop->deadline > 0 ? replay_now() >= loop->deadline : received > seen) {
      return 1;
    }
    if (loop->deadline == 0 && replay_now() > give_up) {
      return 0;
    }
  }
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_usr1};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  // Counted from before the announcement: the signal may arrive as soon as it is out.
  int seen = received;
  printf("waiting for SIGUSR1 in pid %d\n", (int)getpid());
  fflush(stdout);
  do {
    if (!wait_for_signal(&loop, seen)) {
      fprintf(stderr, "no SIGUSR1 within 30 s\n");
      return 1;
    }
    ++seen;  // the next round waits for one more
  } while (loop.deadline == 0 && replay_loop_again(&loop));
  printf("got %d SIGUSR1, hash %016llx\n", (int)received, (unsigned long long)hash_at_signal);
  return 0;
}
