// main calls pthread_exit while its workers still run: the process lives on, its leader
// a zombie, until the last worker is done. Prints one line per worker.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

enum { kWorkers = 3 };

static void* worker(void* arg) {
  long id = (long)arg;
  usleep(100000 * (id + 1));  // finish one after the other, well after main
  printf("worker %ld done\n", id);
  fflush(stdout);
  return NULL;
}

int main(void) {
  pthread_t t;
  for (long i = 0; i < kWorkers; ++i) {
    pthread_create(&t, NULL, worker, (void*)i);
  }
  printf("main leaves first\n");
  fflush(stdout);
  pthread_exit(NULL);
}
