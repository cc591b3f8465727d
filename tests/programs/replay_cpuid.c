// cpuid, which faults while rewind records (ARCH_SET_CPUID) and whose answers replay
// gives back from the log; and glibc's lazy binder run first inside a signal handler, as
// rr's alarm2 does. The binder saves the vector registers on the stack with XSAVEC when
// the CPU has it, and XSAVEC skips registers the CPU counts as unused, which depends on
// the ptrace traffic around it: the bytes it leaves differed between recording and
// replay. rewind hides XSAVEC from a program it launches, so glibc saves with XSAVE.
// The program checks that each cpuid leaf answers the same every time.
//
// Usage: replay_cpuid [loop SECONDS | repeat N]
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "replay_loop.h"

static volatile sig_atomic_t alarms;
static char handler_line[64];

static void on_alarm(int sig) {
  (void)sig;
  if (alarms++ == 0) {
    // First calls of these functions: bound lazily, here.
    snprintf(handler_line, sizeof handler_line, "alarm in %s", strsignal(SIGALRM));
  }
}

struct answer {
  unsigned a, b, c, d;
};

static struct answer ask(unsigned leaf, unsigned subleaf) {
  struct answer r = {0, 0, 0, 0};
  __cpuid_count(leaf, subleaf, r.a, r.b, r.c, r.d);
  return r;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  static const unsigned leaves[][2] = {{0, 0}, {1, 0}, {7, 0}, {0xd, 0}, {0xd, 1}};
  enum { kLeaves = sizeof leaves / sizeof leaves[0] };
  struct answer first[kLeaves];
  for (int i = 0; i < kLeaves; ++i) {
    first[i] = ask(leaves[i][0], leaves[i][1]);
  }
  int rounds = 0;
  do {
    alarms = 0;
    struct itimerval once = {.it_value = {.tv_usec = 20000}};
    setitimer(ITIMER_REAL, &once, NULL);
    while (alarms == 0) {
      for (int i = 0; i < kLeaves; ++i) {
        struct answer now = ask(leaves[i][0], leaves[i][1]);
        // Leaf 1's EBX holds the APIC id of the CPU it ran on; the rest never moves.
        if (leaves[i][0] == 1) {
          now.b = first[i].b;
        }
        if (memcmp(&now, &first[i], sizeof now) != 0) {
          printf("WRONG: cpuid leaf %#x.%u answered differently\n", leaves[i][0],
                 leaves[i][1]);
          return 1;
        }
      }
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("cpuid: %d rounds, %d leaves steady, %s\n", rounds, kLeaves, handler_line);
  return 0;
}
