// How often a replay_* program does its work: once without arguments (what launch-mode
// tests record), for a while with "loop SECONDS" (so attach-mode tests can attach to a
// run that lasts long enough, then check the same result line), or a fixed number of
// times with "repeat N" (so bench/replay_speed.py can compare the same work natively,
// recorded and replayed; a time limit would not).
//
//   int main(int argc, char** argv) {
//     struct replay_loop loop = replay_loop_parse(argc, argv);
//     do {
//       work();
//     } while (replay_loop_again(&loop));
//   }
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct replay_loop {
  double deadline;  // monotonic seconds; 0 without "loop"
  long rounds;      // rounds still to run after the current one
};

// Monotonic seconds, read through the vDSO: the loop check adds no syscall.
static inline double replay_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Any argument but "loop SECONDS" or "repeat N" is a usage error (exit 2).
static inline struct replay_loop replay_loop_parse(int argc, char** argv) {
  struct replay_loop loop = {0, 0};
  if (argc == 1) {
    return loop;
  }
  if (argc == 3) {
    char* end = NULL;
    double value = strtod(argv[2], &end);
    int valid = end != argv[2] && *end == '\0' && value > 0;
    if (valid && strcmp(argv[1], "loop") == 0) {
      loop.deadline = replay_now() + value;
      return loop;
    }
    if (valid && strcmp(argv[1], "repeat") == 0 && value == (double)(long)value) {
      loop.rounds = (long)value - 1;
      return loop;
    }
  }
  fprintf(stderr, "usage: %s [loop SECONDS | repeat N]\n", argv[0]);
  exit(2);
}

// Whether to run another round; call once at the end of each round.
static inline int replay_loop_again(struct replay_loop* loop) {
  if (loop->deadline > 0) {
    return replay_now() < loop->deadline;
  }
  if (loop->rounds > 0) {
    --loop->rounds;
    return 1;
  }
  return 0;
}
