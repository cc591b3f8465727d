// TCP echo over loopback between two threads: 200 messages of up to 16 KiB each, read
// back in whatever pieces the kernel hands out (short reads differ from run to run;
// replay must hand out the recorded ones). Port 0, so runs never collide.
//
// Usage: replay_tcp_echo [loop SECONDS | repeat N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kMessages = 200, kMaxMessage = 16384 };

static int listener;

static void* echo_server(void* arg) {
  (void)arg;
  int c = accept(listener, NULL, NULL);
  if (c < 0) {
    perror("accept");
    exit(1);
  }
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // no delayed-ACK stalls
  char buf[8192];
  for (;;) {
    ssize_t n = recv(c, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = send(c, buf + done, (size_t)(n - done), 0);
      if (w <= 0) {
        perror("send");
        exit(1);
      }
      done += w;
    }
  }
  close(c);
  return NULL;
}

static long echo_round(const struct sockaddr_in* addr) {
  pthread_t t;
  pthread_create(&t, NULL, echo_server, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(s, (const struct sockaddr*)addr, sizeof *addr) != 0) {
    perror("connect");
    exit(1);
  }
  static char msg[kMaxMessage], back[kMaxMessage];
  long total = 0;
  for (int m = 0; m < kMessages; ++m) {
    size_t len = 1 + (size_t)(m * 7919) % kMaxMessage;
    for (size_t i = 0; i < len; ++i) {
      msg[i] = (char)('a' + (m + i) % 26);
    }
    if (send(s, msg, len, 0) != (ssize_t)len) {
      perror("send");
      exit(1);
    }
    size_t got = 0;
    while (got < len) {
      ssize_t n = recv(s, back + got, len - got, 0);
      if (n <= 0) {
        perror("recv");
        exit(1);
      }
      got += (size_t)n;
    }
    for (size_t i = 0; i < len; ++i) {
      if (back[i] != msg[i]) {
        fprintf(stderr, "echo mismatch in message %d\n", m);
        exit(1);
      }
    }
    total += (long)len;
  }
  shutdown(s, SHUT_WR);
  char eof;
  recv(s, &eof, 1, 0);
  close(s);
  pthread_join(t, NULL);
  return total;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0 ||
      getsockname(listener, (struct sockaddr*)&addr, &len) != 0 || listen(listener, 1) != 0) {
    perror("listen");
    return 1;
  }
  long total = 0;
  do {
    total = echo_round(&addr);
  } while (replay_loop_again(&loop));
  close(listener);
  printf("tcp echo: %d messages, %ld bytes echoed\n", kMessages, total);
  return 0;
}
