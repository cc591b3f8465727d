// Runs until killed, writing a heartbeat line to stdout every 50 ms; used for attach
// tests that need a long-running, easy-to-observe target.
#include <stdio.h>
#include <unistd.h>

int main(void) {
  for (unsigned long i = 0;; ++i) {
    printf("beat %lu\n", i);
    fflush(stdout);
    usleep(50000);
  }
}
