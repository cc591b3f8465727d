// The registers a vDSO clock call leaves behind. rewind answers a clock call at the
// trapped rdtsc that starts its patched function and returns the thread to the caller
// itself; replay runs the same function's syscall. Both must leave the same rax, rcx,
// rdx and r11, or the program's state differs after the call. This program calls the
// vDSO functions straight from assembly, folds what each left in those registers into
// memory (which replay --verify compares) and checks the answers: every clock the
// recorder reads itself, the CPU-time clocks it leaves to the kernel, time() with and
// without its pointer, gettimeofday with its timezone, from the main thread and from one
// that blocks every signal.
//
// Usage: replay_clock_regs [loop SECONDS | repeat N]
#include <elf.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>

#include "replay_loop.h"

enum { kCalls = 2000 };

static void* vdso_symbol(const char* name) {
  uintptr_t base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    return NULL;
  }
  const Elf64_Ehdr* eh = (const Elf64_Ehdr*)base;
  const Elf64_Phdr* ph = (const Elf64_Phdr*)(base + eh->e_phoff);
  uintptr_t load = 0;
  const Elf64_Dyn* dyn = NULL;
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type == PT_LOAD && load == 0) {
      load = base + ph[i].p_offset - ph[i].p_vaddr;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = (const Elf64_Dyn*)(base + ph[i].p_offset);
    }
  }
  const Elf64_Sym* syms = NULL;
  const char* names = NULL;
  const uint32_t* hash = NULL;
  for (; dyn && dyn->d_tag != DT_NULL; ++dyn) {
    if (dyn->d_tag == DT_SYMTAB) {
      syms = (const Elf64_Sym*)(load + dyn->d_un.d_ptr);
    } else if (dyn->d_tag == DT_STRTAB) {
      names = (const char*)(load + dyn->d_un.d_ptr);
    } else if (dyn->d_tag == DT_HASH) {
      hash = (const uint32_t*)(load + dyn->d_un.d_ptr);
    }
  }
  if (!syms || !names || !hash) {
    return NULL;
  }
  for (uint32_t i = 0; i < hash[1]; ++i) {
    if (ELF64_ST_TYPE(syms[i].st_info) == STT_FUNC && strcmp(names + syms[i].st_name, name) == 0) {
      return (void*)(load + syms[i].st_value);
    }
  }
  return NULL;
}

struct left {
  uint64_t rax, rcx, rdx, r11;
};

// Calls fn(a, b) with the stack aligned, clear of the red zone, and keeps the four
// registers as the function left them.
static struct left call2(void* fn, uint64_t a, uint64_t b) {
  struct left out;
  struct left* at = &out;
  __asm__ volatile(
      "mov %%rsp, %%r12\n\t"
      "sub $128, %%rsp\n\t"
      "and $-16, %%rsp\n\t"
      "call *%[fn]\n\t"
      "mov %%r12, %%rsp\n\t"
      "mov %%rax, 0(%[at])\n\t"
      "mov %%rcx, 8(%[at])\n\t"
      "mov %%rdx, 16(%[at])\n\t"
      "mov %%r11, 24(%[at])\n\t"
      : "+D"(a), "+S"(b)
      : [fn] "r"(fn), [at] "b"(at)
      : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "memory", "cc");
  return out;
}

static void* clock_gettime_fn;
static void* gettimeofday_fn;
static void* time_fn;
static uint64_t folded[2];  // per thread: the registers and answers, folded

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x9e3779b97f4a7c15ull; }

static const clockid_t kClocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
                                    CLOCK_MONOTONIC_COARSE, CLOCK_PROCESS_CPUTIME_ID,
                                    CLOCK_THREAD_CPUTIME_ID};

static int calls(int slot) {
  uint64_t h = folded[slot];
  for (int i = 0; i < kCalls; ++i) {
    struct timespec ts = {0, -1};
    clockid_t id = kClocks[i % (sizeof kClocks / sizeof kClocks[0])];
    struct left l = call2(clock_gettime_fn, (uint64_t)id, (uint64_t)&ts);
    if (l.rax != 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) {
      fprintf(stderr, "clock_gettime(%d) returned %lld, tv_nsec %ld\n", (int)id,
              (long long)l.rax, ts.tv_nsec);
      return 0;
    }
    h = mix(mix(mix(mix(h, l.rax), l.rcx), l.rdx), l.r11);
    h = mix(h, (uint64_t)ts.tv_nsec);
    if (i % 10 == 0) {
      struct timeval tv = {0, -1};
      struct timezone tz = {-1, -1};
      l = call2(gettimeofday_fn, (uint64_t)&tv, (uint64_t)&tz);
      if (l.rax != 0 || tv.tv_usec < 0 || tz.tz_minuteswest == -1) {
        fprintf(stderr, "gettimeofday returned %lld\n", (long long)l.rax);
        return 0;
      }
      h = mix(mix(mix(mix(h, l.rax), l.rcx), l.rdx), l.r11);
      time_t t = 0;
      struct left with = call2(time_fn, (uint64_t)&t, 0);
      struct left without = call2(time_fn, 0, 0);
      if ((time_t)with.rax != t || (time_t)without.rax < t) {
        fprintf(stderr, "time() answered %lld and %lld, wrote %lld\n", (long long)with.rax,
                (long long)without.rax, (long long)t);
        return 0;
      }
      h = mix(mix(mix(h, with.rcx), with.r11), without.rdx);
    }
  }
  folded[slot] = h;
  return 1;
}

static void* blocked_thread(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  return (void*)(intptr_t)calls(1);
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  clock_gettime_fn = vdso_symbol("__vdso_clock_gettime");
  gettimeofday_fn = vdso_symbol("__vdso_gettimeofday");
  time_fn = vdso_symbol("__vdso_time");
  if (!clock_gettime_fn || !gettimeofday_fn || !time_fn) {
    fprintf(stderr, "the vDSO does not export the clock functions\n");
    return 1;
  }
  long rounds = 0;
  do {
    pthread_t t;
    void* ok = NULL;
    pthread_create(&t, NULL, blocked_thread, NULL);
    pthread_join(t, &ok);
    if (!ok || !calls(0)) {
      return 1;
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("clock regs: %ld rounds of %d calls in two threads, every answer in range\n", rounds,
         kCalls);
  return 0;
}
