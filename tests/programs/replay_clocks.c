// Time sources that never enter the kernel natively: clock_gettime (CLOCK_MONOTONIC,
// CLOCK_REALTIME) and gettimeofday/time through the vDSO, and the rdtsc/rdtscp
// instructions. Replay must give back the recorded values, or the checksum (kept in
// memory and printed) differs. Checks that the monotonic clock never goes back.
//
// Usage: replay_clocks [loop SECONDS | repeat N]
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <x86intrin.h>

#include "replay_loop.h"

enum { kSamples = 10000 };

static uint64_t mix(uint64_t h, uint64_t v) {
  return (h ^ v) * 0x9e3779b97f4a7c15ull;
}

static uint64_t sample(void) {
  uint64_t h = 0;
  struct timespec last = {0, 0};
  for (int i = 0; i < kSamples; ++i) {
    struct timespec mono, real;
    struct timeval tv;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    unsigned aux = 0;
    uint64_t tsc = __rdtsc();
    uint64_t tscp = __rdtscp(&aux);
    if (mono.tv_sec < last.tv_sec || (mono.tv_sec == last.tv_sec && mono.tv_nsec < last.tv_nsec)) {
      fprintf(stderr, "CLOCK_MONOTONIC went back at sample %d\n", i);
      exit(1);
    }
    if (real.tv_sec < 1600000000 || t < 1600000000 || tv.tv_sec < 1600000000) {
      fprintf(stderr, "wall clock before 2020 at sample %d\n", i);
      exit(1);
    }
    last = mono;
    h = mix(h, (uint64_t)mono.tv_nsec);
    h = mix(h, (uint64_t)real.tv_nsec);
    h = mix(h, (uint64_t)tv.tv_usec);
    h = mix(h, (uint64_t)t);
    h = mix(h, tsc);
    h = mix(h, tscp);
    h = mix(h, aux);
  }
  return h;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t h = 0;
  do {
    h = sample();
  } while (replay_loop_again(&loop));
  printf("clocks: %d samples, monotonic, checksum %016llx\n", kSamples, (unsigned long long)h);
  return 0;
}
