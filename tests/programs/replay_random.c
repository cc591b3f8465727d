// Randomness from the kernel: getrandom() (blocking and GRND_NONBLOCK) and reads of
// /dev/urandom. The bytes differ on every run; the program folds them into a
// fingerprint and lets them steer a loop, so a replay that does not return the
// recorded bytes ends in a different state. Prints the byte counts (fixed) and the
// fingerprint (different each native run).
//
// Usage: replay_random [loop SECONDS | repeat N]
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kChunk = 4096, kGetrandomCalls = 4 };

static unsigned char buf[kChunk];

static uint64_t fold(uint64_t fp, const unsigned char* p, size_t n) {
  int zero = 1;
  for (size_t i = 0; i < n; ++i) {
    fp = (fp ^ p[i]) * 0x100000001b3ull;
    zero &= p[i] == 0;
  }
  if (zero) {
    fprintf(stderr, "%zu random bytes are all zero\n", n);
    exit(1);
  }
  // Data-dependent work: how long this runs depends on the random bytes.
  for (unsigned i = 0; i < p[0] * 100u; ++i) {
    fp += fp >> 3;
  }
  return fp;
}

static uint64_t draw(void) {
  uint64_t fp = 0xcbf29ce484222325ull;
  for (int i = 0; i < kGetrandomCalls; ++i) {
    if (getrandom(buf, kChunk, i % 2 ? GRND_NONBLOCK : 0) != kChunk) {
      perror("getrandom");
      exit(1);
    }
    fp = fold(fp, buf, kChunk);
  }
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, kChunk) != kChunk) {
    perror("/dev/urandom");
    exit(1);
  }
  close(fd);
  return fold(fp, buf, kChunk);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t fp = 0;
  do {
    fp = draw();
  } while (replay_loop_again(&loop));
  printf("random: %d bytes from getrandom, %d from /dev/urandom, fingerprint %016llx\n",
         kChunk * kGetrandomCalls, kChunk, (unsigned long long)fp);
  return 0;
}
