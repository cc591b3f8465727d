// Signal handlers that do not return: siglongjmp out of a SIGSEGV handler (100
// deliberate writes to a PROT_NONE page) and out of a SIGALRM handler that interrupts
// an endless computation (5 one-shot timers). The signal mask is restored by
// siglongjmp each time. Prints a fixed line.
//
// Usage: replay_siglongjmp [loop SECONDS | repeat N]
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "replay_loop.h"

enum { kFaults = 100, kAlarms = 5 };

static sigjmp_buf fault_env, alarm_env;
static volatile uint64_t spin;

static void on_segv(int sig) {
  (void)sig;
  siglongjmp(fault_env, 1);
}

static void on_alarm(int sig) {
  (void)sig;
  siglongjmp(alarm_env, 1);
}

static int recover_from_faults(volatile int* guard) {
  volatile int recovered = 0;
  for (volatile int i = 0; i < kFaults; ++i) {
    if (sigsetjmp(fault_env, 1) == 0) {
      guard[i] = i;  // SIGSEGV: the page is PROT_NONE
      fprintf(stderr, "write to a PROT_NONE page succeeded\n");
      exit(1);
    }
    ++recovered;
  }
  return recovered;
}

static int escape_from_alarms(void) {
  volatile int escaped = 0;
  for (volatile int i = 0; i < kAlarms; ++i) {
    if (sigsetjmp(alarm_env, 1) == 0) {
      struct itimerval once = {.it_value = {.tv_usec = 2000}};
      setitimer(ITIMER_REAL, &once, NULL);
      for (;;) {  // until the alarm jumps out; a syscall per pass keeps replay quick
        spin = spin * 3 + 1;
        (void)getppid();
      }
    }
    ++escaped;
  }
  return escaped;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_segv};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  volatile int* guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (guard == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  int faults = 0, alarms = 0;
  do {
    faults = recover_from_faults(guard);
    alarms = escape_from_alarms();
  } while (replay_loop_again(&loop));
  printf("siglongjmp: recovered from %d faults and %d alarms\n", faults, alarms);
  return faults == kFaults && alarms == kAlarms ? 0 : 1;
}
