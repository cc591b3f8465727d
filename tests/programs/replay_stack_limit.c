// A program that lowers its stack limit, then recurses until the kernel refuses to grow
// the stack: the SIGSEGV arrives (on an alternate stack) at the depth the limit allows.
// Replay's stack is a plain mapping with room below it; it must fault at the same depth.
//
// Usage: replay_stack_limit. Prints "stack limit: overflowed at depth D with a 512 KiB
// limit" and exits 0 from the handler.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile long depth;

static void on_overflow(int sig, siginfo_t* si, void* ctx) {
  (void)sig;
  (void)si;
  (void)ctx;
  printf("stack limit: overflowed at depth %ld with a 512 KiB limit\n", depth);
  fflush(stdout);
  _exit(0);
}

static long recurse(long n) {
  // Written whole: bytes left uninitialized would hold what the lazy binder's XSAVEC left
  // on the stack, which depends on the CPU's tracking of unused register state, not on the
  // program (docs/replay.md, "Register state the CPU tracks").
  volatile char frame[256];
  for (int i = 0; i < 256; ++i) {
    frame[i] = (char)(n + i);
  }
  depth = n;
  if (n > 100000000) {  // never: the limit ends it long before
    return 0;
  }
  return recurse(n + 1) + frame[0];
}

int main(void) {
  stack_t alt = {.ss_sp = malloc(64 * 1024), .ss_size = 64 * 1024, .ss_flags = 0};
  struct sigaction sa = {.sa_sigaction = on_overflow, .sa_flags = SA_SIGINFO | SA_ONSTACK};
  struct rlimit limit = {512 * 1024, 512 * 1024};
  if (sigaltstack(&alt, NULL) != 0 || sigaction(SIGSEGV, &sa, NULL) != 0 ||
      setrlimit(RLIMIT_STACK, &limit) != 0) {
    perror("setup");
    return 1;
  }
  return (int)recurse(0);
}
