// Four threads each sum a range, joined by main; prints the total.
#include <pthread.h>
#include <stdio.h>

static long partial[4];

static void* worker(void* arg) {
  long id = (long)arg;
  long sum = 0;
  for (long i = id * 1000000; i < (id + 1) * 1000000; ++i) {
    sum += i % 7;
  }
  partial[id] = sum;
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) {
    pthread_create(&t[i], NULL, worker, (void*)i);
  }
  long total = 0;
  for (int i = 0; i < 4; ++i) {
    pthread_join(t[i], NULL);
    total += partial[i];
  }
  printf("total %ld\n", total);
  return 0;
}
