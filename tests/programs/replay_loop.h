// The optional "loop SECONDS" argument of the replay_* programs. Without it a program
// does its work once and exits, which is what launch-mode tests record; with it the
// program repeats the same work until SECONDS have passed, so that attach-mode tests can
// attach to a run that lasts long enough and then check the same result line.
//
//   int main(int argc, char** argv) {
//     double deadline = replay_loop_deadline(argc, argv);
//     do { work(); } while (replay_loop_again(deadline));
//   }
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Monotonic seconds, read through the vDSO: the loop check adds no syscall.
static inline double replay_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// The monotonic time at which "loop SECONDS" ends, or 0 when the program runs once.
// Any other argument is a usage error (exit 2).
static inline double replay_loop_deadline(int argc, char** argv) {
  if (argc == 1) {
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "loop") == 0) {
    char* end = NULL;
    double seconds = strtod(argv[2], &end);
    if (end != argv[2] && *end == '\0' && seconds > 0) {
      return replay_now() + seconds;
    }
  }
  fprintf(stderr, "usage: %s [loop SECONDS]\n", argv[0]);
  exit(2);
}

static inline int replay_loop_again(double deadline) {
  return deadline > 0 && replay_now() < deadline;
}
