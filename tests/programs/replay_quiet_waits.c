// Waits that a ptrace stop ends with EINTR and the kernel does not restart (signal(7)):
// epoll_wait, sigtimedwait and semtimedop, each blocking in its own thread most of the
// time, so that rewind attaching or detaching finds them there. Natively none of them
// returns EINTR here: no signal that acts reaches them. A child that exits during the
// main thread's epoll_wait sends a SIGCHLD at its default action, which the kernel drops
// for an untraced process but queues for a traced one.
//
// The signal that does act is still seen: SIGUSR1, blocked except inside an
// epoll_pwait, ends that wait with EINTR after its handler has run.
//
// Usage: replay_quiet_waits [loop SECONDS | repeat N]. Prints "quiet waits: R rounds,
// ..."; exits 1 at the first wait that ends with EINTR and no handler ran.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replay_loop.h"

enum { kRoundMs = 40 };

static volatile sig_atomic_t usr1_handled;
static volatile int stopping;
static pthread_t main_thread;

static void on_usr1(int sig) {
  (void)sig;
  usr1_handled = 1;
}

static void fail(const char* what, int err) {
  printf("quiet waits: %s ended with %s\n", what, strerror(err));
  fflush(stdout);
  exit(1);
}

// SIGUSR2 is blocked everywhere and never sent: the wait always times out.
static void* sigtimedwait_thread(void* arg) {
  long* rounds = arg;
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  struct timespec ts = {0, kRoundMs * 1000000L};
  while (!stopping) {
    if (sigtimedwait(&usr2, NULL, &ts) >= 0 || errno != EAGAIN) {
      fail("sigtimedwait", errno);
    }
    ++*rounds;
  }
  return NULL;
}

// A semaphore at 0 that nobody raises.
static void* semtimedop_thread(void* arg) {
  long* rounds = arg;
  int sem = semget(IPC_PRIVATE, 1, 0600);
  if (sem < 0) {
    fail("semget", errno);
  }
  struct sembuf down = {0, -1, 0};
  struct timespec ts = {0, kRoundMs * 1000000L};
  while (!stopping) {
    if (semtimedop(sem, &down, 1, &ts) == 0 || errno != EAGAIN) {
      int err = errno;
      semctl(sem, 0, IPC_RMID);
      fail("semtimedop", err);
    }
    ++*rounds;
  }
  semctl(sem, 0, IPC_RMID);
  return NULL;
}

static void* sender_thread(void* arg) {
  (void)arg;
  pthread_kill(main_thread, SIGUSR1);  // pending until the epoll_pwait unblocks it
  return NULL;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  main_thread = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;  // no SA_RESTART: the wait it interrupts fails with EINTR
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t blocked, during_wait;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &blocked, &during_wait);  // during_wait: the mask before
  sigaddset(&during_wait, SIGUSR2);
  int ep = epoll_create1(0);
  long sigwaits = 0, semwaits = 0;  // rounds of the two waiting threads
  pthread_t sigwaiter, semwaiter;
  pthread_create(&sigwaiter, NULL, sigtimedwait_thread, &sigwaits);
  pthread_create(&semwaiter, NULL, semtimedop_thread, &semwaits);
  long rounds = 0, interrupted = 0;
  do {
    struct epoll_event ev;
    // A child that exits while this thread waits: SIGCHLD at its default action.
    pid_t child = fork();
    if (child == 0) {
      struct timespec nap = {0, 5 * 1000000L};
      nanosleep(&nap, NULL);
      _exit(0);
    }
    for (int i = 0; i < 2; ++i) {
      if (epoll_wait(ep, &ev, 1, kRoundMs) != 0) {
        fail("epoll_wait", errno);
      }
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || status != 0) {
      fail("the child", child < 0 ? errno : ECHILD);
    }
    // A SIGUSR1 that waits, blocked, for the epoll_pwait that unblocks it.
    usr1_handled = 0;
    pthread_t sender;
    pthread_create(&sender, NULL, sender_thread, NULL);
    pthread_join(sender, NULL);
    int n = epoll_pwait(ep, &ev, 1, 10000, &during_wait);
    if (n != -1 || errno != EINTR || !usr1_handled) {
      printf("quiet waits: epoll_pwait returned %d (%s) with SIGUSR1 %s\n", n,
             n < 0 ? strerror(errno) : "no error", usr1_handled ? "handled" : "not handled");
      return 1;
    }
    ++interrupted;
    ++rounds;
  } while (replay_loop_again(&loop));
  stopping = 1;
  pthread_join(sigwaiter, NULL);
  pthread_join(semwaiter, NULL);
  printf("quiet waits: %ld rounds, epoll_wait sigtimedwait semtimedop ended by their "
         "timeouts only (%s), SIGUSR1 ended epoll_pwait %ld times\n",
         rounds, sigwaits > 0 && semwaits > 0 ? "all three waited" : "a thread never waited",
         interrupted);
  return 0;
}
