// A TCP echo over loopback between two threads: socket, bind, listen, accept, connect,
// send, recv.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener;

static void* server(void* arg) {
  (void)arg;
  int c = accept(listener, NULL, NULL);
  char buf[64];
  ssize_t n = recv(c, buf, sizeof buf, 0);
  send(c, buf, (size_t)n, 0);
  close(c);
  return NULL;
}

int main(void) {
  listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(listener, (struct sockaddr*)&addr, sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr*)&addr, &len);
  listen(listener, 1);
  pthread_t t;
  pthread_create(&t, NULL, server, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  connect(s, (struct sockaddr*)&addr, sizeof addr);
  const char* msg = "ping over loopback";
  send(s, msg, strlen(msg), 0);
  char buf[64] = {0};
  ssize_t n = recv(s, buf, sizeof buf - 1, MSG_WAITALL);
  pthread_join(t, NULL);
  close(s);
  close(listener);
  if (n != (ssize_t)strlen(msg) || strcmp(buf, msg) != 0) {
    fprintf(stderr, "echo mismatch\n");
    return 1;
  }
  printf("echoed: %s\n", buf);
  return 0;
}
