// syscall_loop: the recorder's worst case, a program that does nothing but system calls
// that move data. Each iteration writes 4 KiB into a pipe and reads it back, so every
// read hands the recorder 4 KiB to store. Times only the loop (CLOCK_MONOTONIC), so a
// recorder's start-up is not counted, and checks every byte it reads back.
//
// Usage: syscall_loop ITERATIONS
// Prints: syscall_loop: ITERATIONS iterations in SECONDS s
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kBlock = 4096 };

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
  static char out[kBlock], in[kBlock];
  double start = now_s();
  for (long i = 0; i < iterations; ++i) {
    memset(out, (int)(i & 0xff), sizeof out);
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
