// Memory that comes from a file rather than from syscall results: writes a 1 MiB
// temporary file, maps it read-only both MAP_PRIVATE and MAP_SHARED, sums both views,
// then unmaps and deletes the file (so replay cannot read it back from disk).
// Prints a fixed line.
//
// Usage: replay_mmap_file [loop SECONDS | repeat N]   (the file goes in $TMPDIR, default /tmp)
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kSize = 1 << 20 };

static uint64_t sum(const volatile unsigned char* p) {
  uint64_t s = 0;
  for (size_t i = 0; i < kSize; ++i) {
    s = s * 131 + p[i];
  }
  return s;
}

static void map_and_sum(uint64_t* private_sum, uint64_t* shared_sum) {
  const char* dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char path[4096];
  snprintf(path, sizeof path, "%s/replay-mmap-file-XXXXXX", dir);
  int fd = mkstemp(path);
  static unsigned char content[kSize];
  for (size_t i = 0; i < kSize; ++i) {
    content[i] = (unsigned char)(i ^ (i >> 9));
  }
  if (fd < 0 || write(fd, content, kSize) != kSize) {
    perror("write the file to map");
    exit(1);
  }
  void* priv = mmap(NULL, kSize, PROT_READ, MAP_PRIVATE, fd, 0);
  void* shared = mmap(NULL, kSize, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (priv == MAP_FAILED || shared == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  *private_sum = sum(priv);
  *shared_sum = sum(shared);
  if (*private_sum != sum(content)) {
    fprintf(stderr, "the mapping differs from the file's content\n");
    exit(1);
  }
  munmap(priv, kSize);
  munmap(shared, kSize);
  unlink(path);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t private_sum = 0, shared_sum = 0;
  do {
    map_and_sum(&private_sum, &shared_sum);
  } while (replay_loop_again(&loop));
  printf("mmap file: private sum %016llx, shared sum %016llx\n",
         (unsigned long long)private_sum, (unsigned long long)shared_sum);
  return private_sum == shared_sum ? 0 : 1;
}
