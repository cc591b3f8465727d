// Reads the time stamp counter in a loop, as a runtime's cheap clock would, and checks
// its own results: each block sums a known series, and rdtsc never goes backwards in
// this thread. Prints "block N ok" after each block; exits 1 on a wrong result.
// A trapped rdtsc that nobody handles kills it with SIGSEGV.
#include <stdint.h>
#include <stdio.h>
#include <x86intrin.h>

int main(void) {
  uint64_t last = __rdtsc();
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
      sum += i * i;
    }
    if (sum != 2000ull * 2001 * 4001 / 6) {
      printf("WRONG: block %llu sum %llu\n", (unsigned long long)block, (unsigned long long)sum);
      return 1;
    }
    printf("block %llu ok\n", (unsigned long long)block);
    fflush(stdout);
  }
}
