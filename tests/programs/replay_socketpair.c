// Socket I/O over a socketpair between two threads: 1000 request/reply round trips of
// varying sizes. The reply is computed from the request, so a replay that hands a
// thread the wrong bytes changes the checksum.
//
// Usage: replay_socketpair [loop SECONDS | repeat N]
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kRounds = 1000, kMaxMessage = 2048 };

static int read_full(int fd, unsigned char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) {
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const unsigned char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = write(fd, buf + done, n - done);
    if (r <= 0) {
      return -1;
    }
    done += (size_t)r;
  }
  return 0;
}

// Replies to each message (u16 length + bytes) with the bytes reversed and incremented.
static void* server(void* arg) {
  int fd = *(int*)arg;
  unsigned char buf[kMaxMessage], reply[kMaxMessage];
  for (;;) {
    uint16_t len;
    if (read_full(fd, (unsigned char*)&len, sizeof len) != 0) {
      break;
    }
    if (len > kMaxMessage || read_full(fd, buf, len) != 0) {
      break;
    }
    for (uint16_t i = 0; i < len; ++i) {
      reply[i] = (unsigned char)(buf[len - 1 - i] + 1);
    }
    if (write_full(fd, reply, len) != 0) {
      break;
    }
  }
  close(fd);
  return NULL;
}

static uint64_t exchange(void) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    perror("socketpair");
    exit(1);
  }
  pthread_t t;
  pthread_create(&t, NULL, server, &fds[1]);
  uint64_t sum = 0;
  unsigned char msg[kMaxMessage], reply[kMaxMessage];
  for (int r = 0; r < kRounds; ++r) {
    uint16_t len = (uint16_t)(1 + (r * 97) % kMaxMessage);
    for (uint16_t i = 0; i < len; ++i) {
      msg[i] = (unsigned char)(r + i * 7);
    }
    if (write_full(fds[0], (unsigned char*)&len, sizeof len) != 0 ||
        write_full(fds[0], msg, len) != 0 || read_full(fds[0], reply, len) != 0) {
      fprintf(stderr, "socketpair exchange failed in round %d\n", r);
      exit(1);
    }
    for (uint16_t i = 0; i < len; ++i) {
      if (reply[i] != (unsigned char)(msg[len - 1 - i] + 1)) {
        fprintf(stderr, "wrong reply in round %d\n", r);
        exit(1);
      }
      sum = sum * 31 + reply[i];
    }
  }
  close(fds[0]);
  pthread_join(t, NULL);
  return sum;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  uint64_t sum = 0;
  do {
    sum = exchange();
  } while (replay_loop_again(&loop));
  printf("socketpair: %d round trips, checksum %016llx\n", kRounds, (unsigned long long)sum);
  return 0;
}
