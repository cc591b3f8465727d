// For the time-travel tests: a few threads update shared state under a lock, and one
// of them corrupts a value on the way. The test debugs its recording backwards: a
// watchpoint run in reverse from the end must find the write that corrupted `balance`,
// and a breakpoint in bump() reached backwards must show the earlier hit counts.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define THREADS 3
#define ROUNDS 20

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long balance = 1000;
static long bumps = 0;

__attribute__((noinline)) static void bump(long amount) {
  bumps++;
  balance += amount;
}

__attribute__((noinline)) static void corrupt(void) {
  balance = -1;  // the bad write the test looks for
}

static void* worker(void* arg) {
  long id = (long)arg;
  for (int i = 0; i < ROUNDS; ++i) {
    pthread_mutex_lock(&lock);
    bump(id + 1);
    if (id == 1 && i == ROUNDS / 2) {
      corrupt();
    }
    pthread_mutex_unlock(&lock);
    getppid();  // a syscall per round, so that the threads take turns
  }
  return NULL;
}

int main(void) {
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; ++i) {
    pthread_create(&t[i], NULL, worker, (void*)i);
  }
  for (int i = 0; i < THREADS; ++i) {
    pthread_join(t[i], NULL);
  }
  printf("time travel: %ld bumps, balance %ld\n", bumps, balance);
  return 0;
}
