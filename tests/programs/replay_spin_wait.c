// Threads that wait for each other without syscalls: main and a worker hand a turn
// back and forth 10 times through an atomic flag, each spinning on it (plain loads,
// no syscall, no pause) while the other computes. A recorder that runs one thread at
// a time must preempt the spinning thread, or the run never ends. Prints a fixed line.
//
// Usage: replay_spin_wait [loop SECONDS | repeat N]
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "replay_loop.h"

enum { kHandoffs = 10, kMainTurn = 0, kWorkerTurn = 1, kStop = 2 };

static atomic_int turn = kMainTurn;
static uint64_t shared_hash = 1;  // written only by the thread that holds the turn

static void work(uint64_t salt) {
  for (int i = 0; i < 200000; ++i) {
    shared_hash = shared_hash * 6364136223846793005ull + salt;
  }
}

static void* worker(void* arg) {
  (void)arg;
  for (uint64_t round = 0;; ++round) {
    int t;
    while ((t = atomic_load(&turn)) == kMainTurn) {
    }
    if (t == kStop) {
      return NULL;
    }
    work(2 * (round % kHandoffs) + 1);
    atomic_store(&turn, kMainTurn);
  }
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  long handoffs = 0;
  uint64_t first_hash = 0;
  do {
    shared_hash = 1;
    for (uint64_t round = 0; round < kHandoffs; ++round) {
      work(2 * round);
      atomic_store(&turn, kWorkerTurn);
      while (atomic_load(&turn) == kWorkerTurn) {
      }
      ++handoffs;
    }
    if (first_hash == 0) {
      first_hash = shared_hash;
    } else if (shared_hash != first_hash) {
      fprintf(stderr, "the handoffs computed a different hash\n");
      return 1;
    }
  } while (replay_loop_again(&loop));
  atomic_store(&turn, kStop);
  pthread_join(t, NULL);
  printf("spin wait: %d handoffs per round, hash %016llx\n", kHandoffs,
         (unsigned long long)shared_hash);
  return handoffs % kHandoffs == 0 ? 0 : 1;
}
