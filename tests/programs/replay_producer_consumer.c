// Threads that block on each other: two producers and two consumers share a bounded
// queue of 8 slots under a mutex with two condition variables (futex waits and
// wake-ups, in an order that differs from run to run). Every item is consumed once,
// so the total is fixed. Prints a fixed line.
//
// Usage: replay_producer_consumer [loop SECONDS | repeat N]
#include <pthread.h>
#include <stdio.h>

#include "replay_loop.h"

enum { kProducers = 2, kConsumers = 2, kItemsPerProducer = 10000, kSlots = 8 };

static struct {
  pthread_mutex_t mu;
  pthread_cond_t not_full, not_empty;
  long items[kSlots];
  int head, count, producers_left;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .not_full = PTHREAD_COND_INITIALIZER,
       .not_empty = PTHREAD_COND_INITIALIZER};

static void* produce(void* arg) {
  long base = (long)arg * kItemsPerProducer;
  for (long i = 1; i <= kItemsPerProducer; ++i) {
    pthread_mutex_lock(&q.mu);
    while (q.count == kSlots) {
      pthread_cond_wait(&q.not_full, &q.mu);
    }
    q.items[(q.head + q.count) % kSlots] = base + i;
    ++q.count;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
  }
  pthread_mutex_lock(&q.mu);
  --q.producers_left;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.mu);
  return NULL;
}

struct consumed {
  long items, sum;
};

static void* consume(void* arg) {
  struct consumed* c = arg;
  for (;;) {
    pthread_mutex_lock(&q.mu);
    while (q.count == 0 && q.producers_left > 0) {
      pthread_cond_wait(&q.not_empty, &q.mu);
    }
    if (q.count == 0) {
      pthread_mutex_unlock(&q.mu);
      return NULL;
    }
    long item = q.items[q.head];
    q.head = (q.head + 1) % kSlots;
    --q.count;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.mu);
    ++c->items;
    c->sum += item;
  }
}

static void run(long* items, long* sum) {
  pthread_t producers[kProducers], consumers[kConsumers];
  struct consumed results[kConsumers] = {{0, 0}};
  q.producers_left = kProducers;
  for (long i = 0; i < kConsumers; ++i) {
    pthread_create(&consumers[i], NULL, consume, &results[i]);
  }
  for (long i = 0; i < kProducers; ++i) {
    pthread_create(&producers[i], NULL, produce, (void*)i);
  }
  *items = *sum = 0;
  for (int i = 0; i < kProducers; ++i) {
    pthread_join(producers[i], NULL);
  }
  for (int i = 0; i < kConsumers; ++i) {
    pthread_join(consumers[i], NULL);
    *items += results[i].items;
    *sum += results[i].sum;
  }
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  long items = 0, sum = 0;
  do {
    run(&items, &sum);
  } while (replay_loop_again(&loop));
  printf("producer/consumer: %ld items, sum %ld\n", items, sum);
  long n = (long)kProducers * kItemsPerProducer;
  return items == n && sum == n * (n + 1) / 2 ? 0 : 1;
}
