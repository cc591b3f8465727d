// A parent that reads what its child processes write into a shared anonymous page.
// Replay runs no child: the bytes they wrote must come from the recording, after the
// parent's syscall that waited for them (a read from a pipe, a wait4).
//
// Each round forks two children. The first fills the page's first half and exits; the
// parent waits for it. The second writes the second half, reports through a pipe and
// stays alive until the parent has read the page and killed it.
//
// Usage: replay_child_shared [loop SECONDS | repeat N]. Prints "child shared: N rounds,
// every child's bytes seen, checksum C" (C depends on N only).
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay_loop.h"

#define PAGE 4096

static uint64_t fnv1a(const unsigned char* p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 0x100000001b3ull;
  }
  return h;
}

static void fill(unsigned char* p, size_t n, long round, int which) {
  for (size_t i = 0; i < n; ++i) {
    p[i] = (unsigned char)(round * 31 + which * 7 + i);
  }
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  unsigned char* page =
      mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  uint64_t checksum = 0xcbf29ce484222325ull;
  long rounds = 0;
  do {
    memset(page, 0, PAGE);
    pid_t first = fork();
    if (first == 0) {
      fill(page, PAGE / 2, rounds, 1);
      _exit(0);
    }
    int status = 0;
    if (first < 0 || waitpid(first, &status, 0) != first || status != 0) {
      fprintf(stderr, "the first child failed\n");
      return 1;
    }
    int fds[2];
    if (pipe(fds) != 0) {
      perror("pipe");
      return 1;
    }
    pid_t second = fork();
    if (second == 0) {
      fill(page + PAGE / 2, PAGE / 2, rounds, 2);
      (void)write(fds[1], "x", 1);
      pause();
      _exit(0);
    }
    char c;
    if (second < 0 || read(fds[0], &c, 1) != 1) {
      fprintf(stderr, "the second child did not report\n");
      return 1;
    }
    unsigned char want[PAGE];
    fill(want, PAGE / 2, rounds, 1);
    fill(want + PAGE / 2, PAGE / 2, rounds, 2);
    if (memcmp(page, want, PAGE) != 0) {
      fprintf(stderr, "round %ld: the page is not what the children wrote\n", rounds);
      return 1;
    }
    checksum = fnv1a(page, PAGE, checksum);
    kill(second, SIGKILL);
    waitpid(second, &status, 0);
    close(fds[0]);
    close(fds[1]);
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("child shared: %ld rounds, every child's bytes seen, checksum %016llx\n", rounds,
         (unsigned long long)checksum);
  return 0;
}
