// Pure computation, no syscalls between start-up and the result: a prime sieve and an
// xorshift hash over its result. Replay needs nothing from the event log here, only
// the initial state. Prints a fixed line.
//
// Usage: replay_compute [loop SECONDS | repeat N]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay_loop.h"

enum { kLimit = 2000000 };

static unsigned char composite[kLimit];

static int sieve(void) {
  int count = 0;
  for (int i = 0; i < kLimit; ++i) {
    composite[i] = 0;
  }
  for (long i = 2; i < kLimit; ++i) {
    if (!composite[i]) {
      ++count;
      for (long j = i * i; j < kLimit; j += i) {
        composite[j] = 1;
      }
    }
  }
  return count;
}

static uint64_t hash(void) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (long i = 2; i < kLimit; ++i) {
    if (!composite[i]) {
      h ^= (uint64_t)i;
      h ^= h << 13;
      h ^= h >> 7;
      h ^= h << 17;
    }
  }
  return h;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  int primes = 0;
  uint64_t h = 0;
  do {
    primes = sieve();
    h = hash();
  } while (replay_loop_again(&loop));
  printf("primes below %d: %d, hash %016llx\n", kLimit, primes, (unsigned long long)h);
  return primes == 148933 ? 0 : 1;
}
