// Creates many threads that return at once, some joined and some detached, then exits
// while the last detached ones may still be on their way out.
#include <pthread.h>
#include <stdio.h>

enum { kRounds = 20, kPerRound = 10 };

static void* nothing(void* arg) {
  return arg;
}

int main(void) {
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  int created = 0;
  for (int round = 0; round < kRounds; ++round) {
    pthread_t joined[kPerRound];
    for (int i = 0; i < kPerRound; ++i) {
      pthread_t t;
      created += pthread_create(&joined[i], NULL, nothing, NULL) == 0;
      created += pthread_create(&t, &detached, nothing, NULL) == 0;
    }
    for (int i = 0; i < kPerRound; ++i) {
      pthread_join(joined[i], NULL);
    }
  }
  printf("created %d threads\n", created);
  return 0;
}
