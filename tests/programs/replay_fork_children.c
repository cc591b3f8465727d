// Creates child processes the four usual ways while it is recorded, and checks that each
// child runs as it would natively: rewind traps rdtsc in the target, and a child inherits
// that (across exec too), so a child it did not take back would die at its first rdtsc.
//
// Each round: fork + exec of itself, vfork + exec, posix_spawn (a clone that shares
// memory until the exec), and a fork that does not exec. Every child executes rdtsc and
// exits with its own status; the forked one also checks that the SIGSEGV action it sees
// is the program's own (rewind's guard is not left behind in it). Prints
//   fork children: N rounds, statuses 77 78 79 80, own SIGSEGV action in the child
// Re-executed as "child STATUS": rdtsc, then exit STATUS.
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "replay_loop.h"

extern char** environ;

static void on_segv(int sig) { _exit(100 + sig); }

static int wait_status(pid_t child) {
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    perror("fork children: waitpid");
    exit(1);
  }
  if (!WIFEXITED(status)) {
    fprintf(stderr, "fork children: child %d ended by signal %d\n", child,
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    exit(1);
  }
  return WEXITSTATUS(status);
}

// The program's own file, whatever directory and argv[0] it was started with.
static const char kSelf[] = "/proc/self/exe";

static int exec_child(const char* status) {
  char* argv[] = {(char*)kSelf, "child", (char*)status, NULL};
  execv(kSelf, argv);
  _exit(1);
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) {
    volatile uint64_t tsc = __rdtsc();
    (void)tsc;
    return atoi(argv[2]);
  }
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sigaction(SIGSEGV, &sa, NULL);
  long rounds = 0;
  int statuses[4] = {0};
  do {
    pid_t child = fork();
    if (child == 0) {
      exec_child("77");
    }
    statuses[0] = wait_status(child);

    child = vfork();
    if (child == 0) {
      exec_child("78");
    }
    statuses[1] = wait_status(child);

    char* spawn_argv[] = {(char*)kSelf, "child", "79", NULL};
    if (posix_spawn(&child, kSelf, NULL, NULL, spawn_argv, environ) != 0) {
      perror("fork children: posix_spawn");
      return 1;
    }
    statuses[2] = wait_status(child);

    child = fork();
    if (child == 0) {
      volatile uint64_t tsc = __rdtsc();
      (void)tsc;
      struct sigaction seen;
      sigaction(SIGSEGV, NULL, &seen);
      _exit(seen.sa_handler == on_segv ? 80 : 81);
    }
    statuses[3] = wait_status(child);
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("fork children: %ld rounds, statuses %d %d %d %d, %s SIGSEGV action in the child\n",
         rounds, statuses[0], statuses[1], statuses[2], statuses[3],
         statuses[3] == 80 ? "own" : "another");
  return 0;
}
