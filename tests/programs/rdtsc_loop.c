// Reads the time stamp counter in a loop, as a runtime's cheap clock would, and the
// monotonic clock through the vDSO (whose patched function starts with a trapped rdtsc
// while rewind records), and checks its own results: each block sums a known series, and
// neither clock goes backwards in this thread. Each block also asks cpuid for the CPU's
// vendor (cpuid faults while rewind records) and checks that it stays the same. Prints "block N ok" after each block;
// exits 1 on a wrong result. A trapped rdtsc that nobody handles kills it with SIGSEGV.
#include <stdint.h>
#include <stdio.h>
#include <cpuid.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void vendor(char out[13]) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid(0, a, b, c, d);
  memcpy(out, &b, 4);
  memcpy(out + 4, &d, 4);
  memcpy(out + 8, &c, 4);
  out[12] = 0;
}

int main(void) {
  char first_vendor[13];
  vendor(first_vendor);
  uint64_t last = __rdtsc();
  uint64_t last_ns = monotonic_ns();
  for (uint64_t block = 1;; ++block) {
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= 2000; ++i) {
      uint64_t now = __rdtsc();
      if (now < last) {
        printf("WRONG: rdtsc went back from %llu to %llu\n", (unsigned long long)last,
               (unsigned long long)now);
        return 1;
      }
      last = now;
      if (i % 4 == 0) {
        uint64_t ns = monotonic_ns();
        if (ns < last_ns) {
          printf("WRONG: CLOCK_MONOTONIC went back from %llu to %llu\n",
                 (unsigned long long)last_ns, (unsigned long long)ns);
          return 1;
        }
        last_ns = ns;
      }
      sum += i * i;
    }
    char now_vendor[13];
    vendor(now_vendor);
    if (strcmp(now_vendor, first_vendor) != 0) {
      printf("WRONG: cpuid vendor %s, then %s\n", first_vendor, now_vendor);
      return 1;
    }
    if (sum != 2000ull * 2001 * 4001 / 6) {
      printf("WRONG: block %llu sum %llu\n", (unsigned long long)block, (unsigned long long)sum);
      return 1;
    }
    printf("block %llu ok\n", (unsigned long long)block);
    fflush(stdout);
  }
}
