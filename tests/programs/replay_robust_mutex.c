// Threads that exit holding a robust mutex: the kernel marks the mutex's lock word
// FUTEX_OWNER_DIED as each one exits (only for the tid in the word, the recorded
// thread's, which replay's thread does not have), and the main thread's next lock returns
// EOWNERDEAD. Replay must see the same words the recording did.
//
// Usage: replay_robust_mutex [loop SECONDS | repeat N]. Prints "robust mutex: N rounds,
// EOWNERDEAD after every owner's exit".
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "replay_loop.h"

static pthread_mutex_t mutex;

static void* take_and_exit(void* arg) {
  (void)arg;
  if (pthread_mutex_lock(&mutex) != 0) {
    fprintf(stderr, "the thread could not lock the mutex\n");
  }
  return NULL;  // exits holding it
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&mutex, &attr);
  long rounds = 0;
  do {
    pthread_t thread;
    if (pthread_create(&thread, NULL, take_and_exit, NULL) != 0 ||
        pthread_join(thread, NULL) != 0) {
      fprintf(stderr, "round %ld: no thread\n", rounds);
      return 1;
    }
    int rc = pthread_mutex_lock(&mutex);
    if (rc != EOWNERDEAD) {
      fprintf(stderr, "round %ld: lock after the owner's exit returned %d, not EOWNERDEAD\n",
              rounds, rc);
      return 1;
    }
    pthread_mutex_consistent(&mutex);
    pthread_mutex_unlock(&mutex);
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("robust mutex: %ld rounds, EOWNERDEAD after every owner's exit\n", rounds);
  return 0;
}
