// Memory the kernel changes behind the program: a file mapped shared and private sees
// the program's own writes to the file (pwrite and write), madvise(MADV_DONTNEED) puts
// the file's bytes back into a private page the program had changed, and mremap grows a
// shared mapping over more of the file. Replay maps no file, so each of these must come
// from the recording. Checks every view against what the file holds and prints a fixed
// line.
//
// Usage: replay_file_changes [loop SECONDS | repeat N]   (the file goes in $TMPDIR)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "replay_loop.h"

static long page;
static uint64_t checksum = 1469598103934665603ull;

static void take(const volatile unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    checksum = (checksum ^ p[i]) * 1099511628211ull;
  }
}

static void expect(const volatile unsigned char* p, unsigned char byte, size_t n,
                   const char* what) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != byte) {
      printf("file changes: %s: byte %zu is %#x, not %#x\n", what, i, p[i], byte);
      exit(1);
    }
  }
  take(p, n);
}

static void fill(int fd, unsigned char byte, off_t at, size_t n) {
  unsigned char* buf = malloc(n);
  memset(buf, byte, n);
  if (pwrite(fd, buf, n, at) != (ssize_t)n) {
    perror("pwrite");
    exit(1);
  }
  free(buf);
}

static void round_of_changes(void) {
  const char* dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char path[4096];
  snprintf(path, sizeof path, "%s/replay-file-changes-XXXXXX", dir);
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    exit(1);
  }
  unlink(path);
  fill(fd, 'a', 0, 3 * page);
  unsigned char* view = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
  unsigned char* priv = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (view == MAP_FAILED || priv == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  expect(view, 'a', page, "the shared view before any write");
  // pwrite: both views see it (the private page is not copied yet).
  fill(fd, 'b', 0, page);
  expect(view, 'b', page, "the shared view after pwrite");
  expect(priv, 'b', page, "the untouched private page after pwrite");
  // write at the file position.
  lseek(fd, 100, SEEK_SET);
  if (write(fd, "cccc", 4) != 4) {
    perror("write");
    exit(1);
  }
  expect(view + 100, 'c', 4, "the shared view after write");
  // The program changes its private copy of page 1; MADV_DONTNEED drops the copy and
  // the page reads the file again.
  memset(priv + page, 'p', page);
  expect(priv + page, 'p', page, "the private copy");
  fill(fd, 'd', page, page);
  expect(priv + page, 'p', page, "the private copy after the file changed under it");
  if (madvise(priv, 2 * page, MADV_DONTNEED) != 0) {
    perror("madvise");
    exit(1);
  }
  expect(priv + page, 'd', page, "the private page after MADV_DONTNEED");
  // mremap: the shared view grows over pages 1 and 2 of the file.
  view = mremap(view, page, 3 * page, MREMAP_MAYMOVE);
  if (view == MAP_FAILED) {
    perror("mremap");
    exit(1);
  }
  expect(view + page, 'd', page, "page 1 of the grown shared view");
  expect(view + 2 * page, 'a', page, "page 2 of the grown shared view");
  munmap(view, 3 * page);
  munmap(priv, 2 * page);
  close(fd);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  page = sysconf(_SC_PAGESIZE);
  long rounds = 0;
  do {
    round_of_changes();
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("file changes: %ld rounds, every view matched the file, checksum %016llx\n", rounds,
         (unsigned long long)checksum);
  return 0;
}
