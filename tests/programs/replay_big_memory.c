// A large address space: 256 MiB of anonymous memory, every page written, then every
// word read back into a checksum. The final state is large; replay and verification
// must cope with it. Prints a fixed line.
//
// Usage: replay_big_memory [loop SECONDS | repeat N]
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "replay_loop.h"

#define kBytes ((size_t)256 << 20)

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t* words = mmap(NULL, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (words == MAP_FAILED) {
    perror("mmap 256 MiB");
    return 1;
  }
  size_t n = kBytes / sizeof *words;
  uint64_t sum = 0;
  do {
    for (size_t i = 0; i < n; i += 512) {  // one write per 4 KiB page
      words[i] = i * 0x9e3779b97f4a7c15ull;
    }
    sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum = sum * 3 + words[i];
    }
  } while (replay_loop_again(&loop));
  printf("big memory: %zu MiB touched, checksum %016llx\n", kBytes >> 20, (unsigned long long)sum);
  return 0;
}
