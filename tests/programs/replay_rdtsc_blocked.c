// rdtsc in a thread that blocks every signal, then a fault the program handles itself.
//
// rewind traps rdtsc; the trap is a SIGSEGV fault, and the kernel forces a blocked fault
// through by unblocking SIGSEGV in the thread and resetting the process's SIGSEGV action
// to the default. Unless rewind puts both back, the thread finds SIGSEGV unblocked, and
// the program's next SIGSEGV kills it instead of reaching its handler.
//
// Each round: a thread that blocks all signals executes rdtsc 200 times and checks that
// its mask still blocks SIGSEGV; then the main thread reads a null pointer and recovers
// in its SIGSEGV handler with siglongjmp. Prints
//   rdtsc blocked: N rounds, mask kept, every fault recovered, checksum HEX
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <x86intrin.h>

#include "replay_loop.h"

static sigjmp_buf recover;
static volatile int faults;

static void on_segv(int sig) {
  (void)sig;
  ++faults;
  siglongjmp(recover, 1);
}

static sem_t go, done;
static volatile int quit;
static int mask_kept = 1;
static uint64_t checksum;

// One thread for the whole run (rounds are handed to it), so that an attach finds it.
static void* blocked_reader(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    sem_wait(&go);
    if (quit) {
      return NULL;
    }
    for (int i = 0; i < 200; ++i) {
      checksum = checksum * 31 + __rdtsc();
    }
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    mask_kept = mask_kept && sigismember(&now, SIGSEGV) == 1;
    sem_post(&done);
  }
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sigaction(SIGSEGV, &sa, NULL);
  sem_init(&go, 0, 0);
  sem_init(&done, 0, 0);
  pthread_t t;
  pthread_create(&t, NULL, blocked_reader, NULL);
  long rounds = 0;
  do {
    sem_post(&go);
    sem_wait(&done);
    if (sigsetjmp(recover, 1) == 0) {
      volatile int* null = NULL;
      checksum += *null;
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  quit = 1;
  sem_post(&go);
  pthread_join(t, NULL);
  printf("rdtsc blocked: %ld rounds, mask %s, %s, checksum %llx\n", rounds,
         mask_kept ? "kept" : "lost", faults == rounds ? "every fault recovered" : "faults lost",
         (unsigned long long)checksum);
  return 0;
}
