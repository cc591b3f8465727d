// Threads that live for a moment each, created and joined without a pause, each reading
// the TSC and the clock once: rewind attaching to this process nearly always finds one
// of them on its way out. Such a thread runs no more code, and must not keep rewind from
// trapping rdtsc and cpuid in the others (a recording once left rdtsc untrapped in the
// whole process for it, and replay met an rdtsc the recording had not logged).
//
// Each round's threads read the counter after the previous round's were joined, so
// no value may be below the highest of the round before. The program keeps the last
// values in memory, so a replay that hands out other values ends in another state.
//
// Usage: replay_thread_churn [loop SECONDS | repeat N]
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

#include "replay_loop.h"

enum { kThreads = 4 };

struct reading {
  uint64_t tsc;
  struct timespec clock;
};

static struct reading readings[kThreads];

static void* brief(void* arg) {
  struct reading* r = arg;
  r->tsc = __rdtsc();
  clock_gettime(CLOCK_MONOTONIC, &r->clock);
  return NULL;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t highest = 0;
  long rounds = 0;
  int backwards = 0;
  do {
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
      pthread_create(&threads[i], NULL, brief, &readings[i]);
    }
    uint64_t round_highest = highest;
    for (int i = 0; i < kThreads; ++i) {
      pthread_join(threads[i], NULL);
      if (readings[i].tsc < highest) {
        backwards = 1;
      }
      if (readings[i].tsc > round_highest) {
        round_highest = readings[i].tsc;
      }
    }
    highest = round_highest;
    ++rounds;
  } while (!backwards && replay_loop_again(&loop));
  if (backwards) {
    printf("thread churn: WRONG, the TSC went back in round %ld\n", rounds);
    return 1;
  }
  printf("thread churn: %ld rounds of %d brief threads, the TSC never went back\n", rounds,
         kThreads);
  return 0;
}
