// Dereferences a null pointer in a named function: the recording must end in SIGSEGV
// with this function on top of the backtrace.
#include <stdio.h>

struct job {
  int* result;
};

__attribute__((noinline)) void store_result(struct job* j) {
  *j->result = 42;
}

int main(void) {
  struct job j = {0};
  puts("about to crash");
  fflush(stdout);
  store_result(&j);
  return 0;
}
