// File I/O through a temporary file: write in pieces, lseek, read back, pread, pwrite,
// fstat and stat (inode, times: values replay must take from the log), ftruncate,
// unlink. Checks every result and prints a fixed line.
//
// Usage: replay_file_io [loop SECONDS | repeat N]   (the file goes in $TMPDIR, default /tmp)
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kPiece = 4096, kPieces = 16, kSize = kPiece * kPieces };

static unsigned char written[kSize];
static unsigned char readback[kSize];

static uint32_t fnv1a(const unsigned char* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 16777619u;
  }
  return h;
}

static _Noreturn void fail(const char* what) {
  perror(what);
  exit(1);
}

static uint32_t round_trip(void) {
  const char* dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char path[4096];
  snprintf(path, sizeof path, "%s/replay-file-io-XXXXXX", dir);
  int fd = mkstemp(path);
  if (fd < 0) {
    fail("mkstemp");
  }
  for (int i = 0; i < kSize; ++i) {
    written[i] = (unsigned char)(i * 31 + i / 251);
  }
  for (int i = 0; i < kPieces; ++i) {
    if (write(fd, written + i * kPiece, kPiece) != kPiece) {
      fail("write");
    }
  }
  // Overwrite one piece in place: the file now differs from what the loop wrote.
  memset(written + 3 * kPiece, 'x', kPiece);
  if (pwrite(fd, written + 3 * kPiece, kPiece, 3 * kPiece) != kPiece) {
    fail("pwrite");
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    fail("lseek");
  }
  memset(readback, 0, sizeof readback);
  size_t got = 0;
  while (got < kSize) {
    ssize_t n = read(fd, readback + got, kSize - got);
    if (n <= 0) {
      fail("read");
    }
    got += (size_t)n;
  }
  unsigned char tail[100];
  if (pread(fd, tail, sizeof tail, kSize - sizeof tail) != (ssize_t)sizeof tail ||
      memcmp(tail, written + kSize - sizeof tail, sizeof tail) != 0) {
    fail("pread");
  }
  struct stat by_fd, by_path;
  if (fstat(fd, &by_fd) != 0 || stat(path, &by_path) != 0) {
    fail("stat");
  }
  if (by_fd.st_size != kSize || by_fd.st_ino != by_path.st_ino) {
    fprintf(stderr, "stat mismatch\n");
    exit(1);
  }
  if (ftruncate(fd, kPiece) != 0 || fstat(fd, &by_fd) != 0 || by_fd.st_size != kPiece) {
    fail("ftruncate");
  }
  close(fd);
  unlink(path);
  if (memcmp(written, readback, kSize) != 0) {
    fprintf(stderr, "read back different bytes\n");
    exit(1);
  }
  return fnv1a(readback, kSize);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint32_t h = 0;
  do {
    h = round_trip();
  } while (replay_loop_again(&loop));
  printf("file io: %d bytes written and read back, fnv1a %08x\n", kSize, h);
  return 0;
}
