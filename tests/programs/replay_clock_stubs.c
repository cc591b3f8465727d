// Clock reads by the million through the vDSO (clock_gettime on four clocks,
// gettimeofday, time), as a runtime reads its clocks, in three threads, with a SIGALRM
// every millisecond whose handler reads the clock too. While rewind records, these
// calls are answered inside the process after the first one (tracee/clock_stubs.h), and
// signals and preemptions land inside the answers. The program checks what it can know:
// in each thread the monotonic clocks never go back, the calls answer as the kernel
// would (0, a nanosecond field in range, time() equal to what it wrote and at most a
// second behind gettimeofday, as the coarse clock it reads may be), a wait for 20 ms
// of CLOCK_MONOTONIC ends, and the other clocks moved on meanwhile. It folds every
// answer into memory, so a replay that hands out other values ends in another state.
//
// Usage: replay_clock_stubs [loop SECONDS | repeat N]
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "replay_loop.h"

enum { kThreads = 3, kReads = 100000 };

static const clockid_t kMonotonic[] = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME,
                                       CLOCK_MONOTONIC_COARSE};
static volatile int64_t handler_last;
static volatile int handler_backwards;
static uint64_t folded[kThreads];
static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t ns(clockid_t id) {
  struct timespec ts = {0, -1};
  if (clock_gettime(id, &ts) != 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) {
    return -1;
  }
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x9e3779b97f4a7c15ull; }

static void on_alarm(int sig) {
  (void)sig;
  int64_t now = ns(CLOCK_MONOTONIC);
  if (now < handler_last) {
    handler_backwards = 1;
  }
  handler_last = now;
}

static void fail(const char* what, int id) {
  pthread_mutex_lock(&lock);
  printf("WRONG: %s in thread %d\n", what, id);
  ++failures;
  pthread_mutex_unlock(&lock);
}

static void* reader(void* arg) {
  int id = (int)(intptr_t)arg;
  int64_t last[4];
  for (int c = 0; c < 4; ++c) {
    last[c] = ns(kMonotonic[c]);
  }
  uint64_t h = folded[id];
  for (int i = 0; i < kReads; ++i) {
    int c = i & 3;
    int64_t now = ns(kMonotonic[c]);
    if (now < 0) {
      fail("clock_gettime answered out of range", id);
      return NULL;
    }
    if (now < last[c]) {
      fail("a monotonic clock went back", id);
      return NULL;
    }
    last[c] = now;
    h = mix(h, (uint64_t)now);
    if (i % 16 == 0) {
      struct timeval tv = {0, -1};
      time_t t = 0;
      if (gettimeofday(&tv, NULL) != 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000 ||
          time(&t) != t || t < tv.tv_sec - 1) {  // time() is the coarse clock
        fail("gettimeofday or time answered wrong", id);
        return NULL;
      }
      h = mix(mix(h, (uint64_t)tv.tv_usec), (uint64_t)ns(CLOCK_REALTIME));
    }
  }
  // A wait for time to pass, as a timeout loop does.
  int64_t start = ns(CLOCK_MONOTONIC), real_start = ns(CLOCK_REALTIME);
  while (ns(CLOCK_MONOTONIC) - start < 20000000) {
  }
  if (ns(CLOCK_REALTIME) - real_start < 10000000) {
    fail("CLOCK_REALTIME stood still while CLOCK_MONOTONIC moved 20 ms", id);
  }
  folded[id] = h;
  return NULL;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every_ms = {.it_interval = {.tv_usec = 1000}, .it_value = {.tv_usec = 1000}};
  setitimer(ITIMER_REAL, &every_ms, NULL);
  int rounds = 0;
  do {
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
      pthread_create(&threads[i], NULL, reader, (void*)(intptr_t)i);
    }
    for (int i = 0; i < kThreads; ++i) {
      pthread_join(threads[i], NULL);
    }
    ++rounds;
  } while (failures == 0 && replay_loop_again(&loop));
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  if (failures != 0 || handler_backwards) {
    printf("clock stubs: WRONG after %d rounds (handler went back: %d)\n", rounds,
           handler_backwards);
    return 1;
  }
  printf("clock stubs: %d rounds of %d reads in %d threads, never back, every wait ended\n",
         rounds, kReads, kThreads);
  return 0;
}
