// A program that traps rdtsc itself (prctl PR_SET_TSC, PR_TSC_SIGSEGV) and handles the
// faults, then lets rdtsc run again. rewind traps rdtsc for its own reasons: the program
// must still see its own setting from PR_GET_TSC, get a SIGSEGV for each rdtsc while it
// asked for one, and none once it asked for none.
//
// Each round: trap, 50 rdtsc (each fault skipped by the handler), untrap, 50 rdtsc.
// Prints
//   prctl tsc: N rounds, 50 faults while trapped, 0 after, settings read back
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <ucontext.h>

#include "replay_loop.h"

static volatile int faults;

static void skip_rdtsc(int sig, siginfo_t* si, void* uc_) {
  (void)sig;
  (void)si;
  ucontext_t* uc = uc_;
  ++faults;
  uc->uc_mcontext.gregs[REG_RIP] += 2;  // rdtsc is 0f 31
}

static unsigned long read_tsc(void) {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((unsigned long)hi << 32) | lo;
}

static int tsc_setting(void) {
  int setting = -1;
  return prctl(PR_GET_TSC, &setting) == 0 ? setting : -1;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = skip_rdtsc;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSEGV, &sa, NULL) != 0) {
    perror("sigaction");
    return 1;
  }
  long rounds = 0;
  int trapped_faults = -1, free_faults = -1, read_back = 1;
  do {
    if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV) != 0) {
      perror("prctl(PR_SET_TSC, PR_TSC_SIGSEGV)");
      return 1;
    }
    read_back = read_back && tsc_setting() == PR_TSC_SIGSEGV;
    faults = 0;
    for (int i = 0; i < 50; ++i) {
      (void)read_tsc();
    }
    int trapped = faults;
    if (prctl(PR_SET_TSC, PR_TSC_ENABLE) != 0) {
      perror("prctl(PR_SET_TSC, PR_TSC_ENABLE)");
      return 1;
    }
    read_back = read_back && tsc_setting() == PR_TSC_ENABLE;
    faults = 0;
    for (int i = 0; i < 50; ++i) {
      (void)read_tsc();
    }
    int untrapped = faults;
    if (rounds > 0 && (trapped != trapped_faults || untrapped != free_faults)) {
      printf("prctl tsc: round %ld: %d faults while trapped, %d after (before: %d, %d)\n",
             rounds, trapped, untrapped, trapped_faults, free_faults);
      return 1;
    }
    trapped_faults = trapped;
    free_faults = untrapped;
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("prctl tsc: %ld rounds, %d faults while trapped, %d after, settings %s\n", rounds,
         trapped_faults, free_faults, read_back ? "read back" : "NOT read back");
  return 0;
}
