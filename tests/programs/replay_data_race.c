// A data race: four threads increment one shared counter with a plain, non-atomic
// load-add-store, 2000000 times each. Updates get lost when threads interleave, so
// the count differs between native runs; a replay must reproduce the recorded
// interleaving and end with the recorded count. Prints "count N of 8000000".
//
// Usage: replay_data_race [loop SECONDS | repeat N]
#include <pthread.h>
#include <stdio.h>

#include "replay_loop.h"

enum { kThreads = 4, kIncrements = 2000000 };

static volatile long counter;  // volatile: every increment really loads and stores

static void* increment(void* arg) {
  (void)arg;
  for (int i = 0; i < kIncrements; ++i) {
    counter = counter + 1;
  }
  return NULL;
}

static long race(void) {
  counter = 0;
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    pthread_create(&t[i], NULL, increment, NULL);
  }
  for (int i = 0; i < kThreads; ++i) {
    pthread_join(t[i], NULL);
  }
  return counter;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  long count = 0;
  do {
    count = race();
  } while (replay_loop_again(&loop));
  printf("data race: count %ld of %ld\n", count, (long)kThreads * kIncrements);
  return 0;
}
