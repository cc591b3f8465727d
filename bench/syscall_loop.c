// syscall_loop: the recorder's worst case, a program that does nothing but system calls
// that move data. Each iteration writes 4 KiB into a pipe and reads it back, so every
// read hands the recorder 4 KiB to store, fresh pseudo-random bytes each time so that
// its compression cannot shrink them away. Times only the loop (CLOCK_MONOTONIC), so a
// recorder's start-up is not counted, and checks every byte it reads back.
//
// Usage: syscall_loop ITERATIONS
// Prints: syscall_loop: ITERATIONS iterations in SECONDS s
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kBlock = 4096 };

static uint64_t next_random(uint64_t* state) {  // xorshift64: cheap next to a syscall
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char* what) {
  fprintf(stderr, "syscall_loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char** argv) {
  long iterations = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
  if (iterations <= 0) {
    fprintf(stderr, "usage: syscall_loop ITERATIONS (a positive count)\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) {
    die("pipe");
  }
  static uint64_t out[kBlock / sizeof(uint64_t)];
  static char in[kBlock];
  uint64_t state = 0x9e3779b97f4a7c15u;
  double start = now_s();
  for (long i = 0; i < iterations; ++i) {
    for (size_t w = 0; w < sizeof out / sizeof out[0]; ++w) {
      out[w] = next_random(&state);
    }
    if (write(fds[1], out, sizeof out) != (ssize_t)sizeof out) {
      die("write");
    }
    size_t got = 0;
    while (got < sizeof in) {
      ssize_t n = read(fds[0], in + got, sizeof in - got);
      if (n <= 0) {
        die("read");
      }
      got += (size_t)n;
    }
    if (memcmp(in, out, sizeof in) != 0) {
      fprintf(stderr, "syscall_loop: iteration %ld read back other bytes than it wrote\n", i);
      return 1;
    }
  }
  double seconds = now_s() - start;
  printf("syscall_loop: %ld iterations in %.6f s\n", iterations, seconds);
  return 0;
}
