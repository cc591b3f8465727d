// A program that ends inside its SIGSEGV handler, installed with signal() (no
// SA_SIGINFO): the signal frame, siginfo included, is live memory in the final state
// that --verify compares. rewind's orphan guard stands in front of the program's SIGSEGV
// action with SA_SIGINFO while recording, so the kernel writes a siginfo into the frame;
// replay must keep the guard in front after the program's own sigaction as the recorder
// did, or the frame differs.
//
// Usage: replay_handler_exit. Prints "handler exit: faulted at depth 3, exiting from the
// handler" and exits 0 from the handler.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile int depth;

static void on_segv(int sig) {
  (void)sig;
  printf("handler exit: faulted at depth %d, exiting from the handler\n", depth);
  fflush(stdout);
  _exit(0);
}

static void descend(int n) {
  depth = n;
  if (n == 3) {
    *(volatile int*)0 = 1;
    return;
  }
  descend(n + 1);
}

int main(void) {
  signal(SIGSEGV, on_segv);
  descend(0);
  return 1;
}
