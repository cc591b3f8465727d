// Sleeps in poll() while a second thread wakes it a little later by writing a byte to a
// pipe, round after round. Attaching to it stops the poll in the middle (the kernel then
// continues it with restart_syscall, which writes the poll's revents): replay must put
// the revents where the interrupted poll had its array.
//
// Usage: replay_interrupted_poll [loop SECONDS | repeat N]
// Prints "interrupted poll: N rounds, every poll woken by its byte, sum S".
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "replay_loop.h"

static int pipe_fds[2];

static void* waker(void* arg) {
  unsigned char byte = (unsigned char)(long)arg;
  struct timespec delay = {0, 150 * 1000 * 1000};
  nanosleep(&delay, NULL);
  if (write(pipe_fds[1], &byte, 1) != 1) {
    return (void*)1;
  }
  return NULL;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  if (pipe(pipe_fds) != 0) {
    perror("pipe");
    return 1;
  }
  long rounds = 0;
  unsigned long sum = 0;
  do {
    pthread_t t;
    pthread_create(&t, NULL, waker, (void*)(rounds % 251));
    struct pollfd fd = {pipe_fds[0], POLLIN, 0};
    int n = poll(&fd, 1, 5000);
    unsigned char byte = 0;
    if (n != 1 || !(fd.revents & POLLIN) || read(pipe_fds[0], &byte, 1) != 1 ||
        byte != rounds % 251) {
      printf("interrupted poll: round %ld not woken by its byte (poll %d, revents %#x)\n",
             rounds, n, fd.revents);
      return 1;
    }
    pthread_join(t, NULL);
    sum += byte;
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("interrupted poll: %ld rounds, every poll woken by its byte, sum %lu\n", rounds, sum);
  return 0;
}
