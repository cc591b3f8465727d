// Replaces itself with exec during the recording: replay must go on in the new image.
//
// Without arguments: computes a hash, writes a file, tries an exec that fails (ENOENT),
// then execs itself ("stage2 HASH FILE") with a thread running. The second image
// computes another hash on two threads, reads the file back and prints
//   exec: stage1 HASH1, stage2 HASH2, file 4096 bytes fnv1a HASH3
// With "hello": computes, then execs the sibling program `hello` (another binary), which
// prints its own line.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t compute(uint64_t seed, long rounds) {
  uint64_t h = seed;
  for (long i = 0; i < rounds; ++i) {
    h = mix(h, (uint64_t)i);
  }
  return h;
}

static uint64_t fnv1a(const unsigned char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 0x100000001b3ull;
  }
  return h;
}

static void* spin(void* arg) {
  // Still running when the main thread execs: the kernel ends it.
  volatile uint64_t* h = arg;
  for (;;) {
    *h = mix(*h, 1);
    usleep(1000);
  }
  return NULL;
}

struct half {
  uint64_t seed;
  uint64_t result;
};

static void* half_work(void* arg) {
  struct half* w = arg;
  w->result = compute(w->seed, 2000000);
  return NULL;
}

static int stage2(const char* stage1, const char* path) {
  struct half a = {1, 0}, b = {2, 0};
  pthread_t t;
  pthread_create(&t, NULL, half_work, &a);
  half_work(&b);
  pthread_join(t, NULL);
  unsigned char buf[8192];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  unlink(path);
  printf("exec: stage1 %s, stage2 %016llx, file %zd bytes fnv1a %016llx\n", stage1,
         (unsigned long long)(a.result ^ b.result), n,
         (unsigned long long)fnv1a(buf, n > 0 ? (size_t)n : 0));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "stage2") == 0) {
    return stage2(argv[2], argv[3]);
  }
  uint64_t h = compute(42, 3000000);
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    perror("/proc/self/exe");
    return 1;
  }
  self[len] = '\0';
  char* no_args[] = {"missing", NULL};
  if (execv("/nonexistent/rewind-test-program", no_args) == 0 || errno != ENOENT) {
    fprintf(stderr, "exec of a missing program did not fail with ENOENT\n");
    return 1;
  }
  if (argc == 2 && strcmp(argv[1], "hello") == 0) {
    char hello[4200];
    snprintf(hello, sizeof hello, "%s/hello", dirname(self));
    fflush(stdout);
    char* hello_args[] = {hello, NULL};
    execv(hello, hello_args);
    perror(hello);
    return 1;
  }
  char path[64];
  snprintf(path, sizeof path, "/tmp/rewind-replay-exec-%d", (int)getpid());
  unsigned char data[4096];
  for (size_t i = 0; i < sizeof data; ++i) {
    data[i] = (unsigned char)(h >> (8 * (i % 8))) ^ (unsigned char)i;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data) {
    perror(path);
    return 1;
  }
  close(fd);
  volatile uint64_t spun = h;
  pthread_t t;
  pthread_create(&t, NULL, spin, (void*)&spun);
  char stage1[32];
  snprintf(stage1, sizeof stage1, "%016llx", (unsigned long long)h);
  char* args[] = {self, "stage2", stage1, path, NULL};
  fflush(stdout);
  execv(self, args);
  perror(self);
  return 1;
}
