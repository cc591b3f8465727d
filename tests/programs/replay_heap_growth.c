// Address-space changes: an anonymous mapping grown with mremap (the kernel may move
// it), the program break grown with sbrk and shrunk back, and 100000 small malloc
// blocks in a linked list (brk growth inside malloc), all written and checked. Prints
// a fixed line.
//
// Usage: replay_heap_growth [loop SECONDS | repeat N]
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kMiB = 1 << 20, kBlocks = 100000 };

struct block {
  struct block* next;
  uint32_t size;
  unsigned char data[];
};

static uint64_t grow_mapping(void) {
  size_t small = 8 * kMiB, big = 32 * kMiB;
  unsigned char* p = mmap(NULL, small, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  for (size_t i = 0; i < small; i += 4096) {
    p[i] = (unsigned char)(i >> 12);
  }
  p = mremap(p, small, big, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) {
    perror("mremap");
    exit(1);
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < big; i += 4096) {
    if (i >= small) {
      p[i] = (unsigned char)(i >> 12);
    } else if (p[i] != (unsigned char)(i >> 12)) {
      fprintf(stderr, "mremap lost the old contents\n");
      exit(1);
    }
    sum += p[i];
  }
  munmap(p, big);
  return sum;
}

static uint64_t grow_break(void) {
  uint64_t sum = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned char* p = sbrk(kMiB);
    if (p == (void*)-1) {
      perror("sbrk");
      exit(1);
    }
    memset(p, i + 1, kMiB);
    sum += p[kMiB - 1];
  }
  // Give it back, so loop mode does not grow without bound. Safe: nothing else moved
  // the break since the calls above.
  if (sbrk(-4 * kMiB) == (void*)-1) {
    perror("sbrk shrink");
    exit(1);
  }
  return sum;
}

static uint64_t many_blocks(void) {
  struct block* head = NULL;
  for (uint32_t i = 0; i < kBlocks; ++i) {
    uint32_t size = 16 + i % 200;
    struct block* b = malloc(sizeof *b + size);
    if (!b) {
      perror("malloc");
      exit(1);
    }
    b->size = size;
    memset(b->data, (int)(i & 0xff), size);
    b->next = head;
    head = b;
  }
  uint64_t sum = 0;
  while (head) {
    struct block* next = head->next;
    sum = sum * 31 + head->data[head->size - 1] + head->size;
    free(head);
    head = next;
  }
  return sum;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t mapped = 0, brk = 0, blocks = 0;
  do {
    mapped = grow_mapping();
    brk = grow_break();
    blocks = many_blocks();
  } while (replay_loop_again(&loop));
  printf("heap growth: mremap 8 -> 32 MiB sum %llu, sbrk sum %llu, %d blocks checksum %016llx\n",
         (unsigned long long)mapped, (unsigned long long)brk, kBlocks, (unsigned long long)blocks);
  return 0;
}
