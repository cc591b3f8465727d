// Signals from child processes, in two shapes:
//  - a child that signals its parent as soon as it runs: the parent's handler looks at
//    the child's pid, which fork has returned by then in almost every native run (the
//    child is still starting up); under a recorder that let the child run while it held
//    the parent, the handler found it unset every time;
//  - a signal the parent blocks, ended by a wait that unblocks it with a mask of its own
//    (sigsuspend, ppoll, pselect6, epoll_pwait): the handler runs under the wait's mask
//    (here it blocks SIGUSR2), and the thread's own mask is back after the handler.
//
// Usage: replay_masked_wait [loop SECONDS | repeat N]. Prints "masked wait: R rounds,
// ..., child pid unset in K of 10R"; exits 1 when a wait or a mask is wrong.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay_loop.h"

static volatile pid_t child_pid;
static volatile sig_atomic_t seen;          // 0 none yet, 1 with the pid unset, 2 set
static volatile sig_atomic_t usr2_blocked;  // in the handler

static void on_usr1(int sig) {
  (void)sig;
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  usr2_blocked = sigismember(&now, SIGUSR2);
  seen = child_pid == 0 ? 1 : 2;
}

static pid_t spawn_signaller(void) {
  seen = 0;
  child_pid = 0;
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    kill(getppid(), SIGUSR1);
    _exit(0);
  }
  return pid;
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

enum { kRaces = 10 };  // children that signal at once, per round
static const char* const kWaits[] = {"sigsuspend", "ppoll", "pselect6", "epoll_pwait"};

// Waits with `wait_mask` in place until SIGUSR1 ends the wait; 0 on EINTR.
static int masked_wait(int kind, const sigset_t* wait_mask, int pipe_rd, int epfd) {
  struct pollfd pfd = {.fd = pipe_rd, .events = POLLIN};
  struct timespec forever = {.tv_sec = 30};
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pipe_rd, &rd);
  struct epoll_event ev;
  int rc;
  switch (kind) {
    case 0:
      rc = sigsuspend(wait_mask);
      break;
    case 1:
      rc = ppoll(&pfd, 1, &forever, wait_mask);
      break;
    case 2:
      rc = pselect(pipe_rd + 1, &rd, NULL, NULL, &forever, wait_mask);
      break;
    default:
      rc = epoll_pwait(epfd, &ev, 1, 30000, wait_mask);
      break;
  }
  return rc == -1 && errno == EINTR ? 0 : -1;
}

int main(int argc, char** argv) {
  struct replay_loop loop = replay_loop_parse(argc, argv);
  struct sigaction sa = {.sa_handler = on_usr1};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  int fds[2];
  int epfd = epoll_create1(0);
  if (pipe(fds) != 0 || epfd < 0) {
    perror("pipe/epoll_create1");
    return 1;
  }
  struct epoll_event watch = {.events = EPOLLIN, .data.fd = fds[0]};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fds[0], &watch);

  sigset_t usr1, own, wait_mask, after;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigemptyset(&wait_mask);
  sigaddset(&wait_mask, SIGUSR2);
  // SIGCHLD stays blocked: each child's exit would otherwise often be delivered on top
  // of the SIGUSR1 handler's frame, a case this program is not about.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigaddset(&wait_mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  long rounds = 0, unset = 0;
  do {
    // Children that signal at once, with SIGUSR1 let through.
    pid_t pid;
    for (int i = 0; i < kRaces; ++i) {
      pid = spawn_signaller();
      child_pid = pid;
      sigprocmask(SIG_BLOCK, &usr1, &own);
      while (!seen) {
        sigsuspend(&wait_mask);
      }
      sigprocmask(SIG_SETMASK, &own, NULL);
      reap(pid);
      unset += seen == 1;
    }
    // The blocked signal, ended by each kind of masked wait.
    for (int kind = 0; kind < 4; ++kind) {
      sigprocmask(SIG_BLOCK, &usr1, &own);
      pid = spawn_signaller();
      child_pid = pid;
      if (masked_wait(kind, &wait_mask, fds[0], epfd) != 0 || seen == 0) {
        fprintf(stderr, "%s was not ended by SIGUSR1 (errno %d)\n", kWaits[kind], errno);
        return 1;
      }
      sigprocmask(SIG_SETMASK, &own, &after);
      if (!usr2_blocked || !sigismember(&after, SIGUSR1) || sigismember(&after, SIGUSR2) ||
          !sigismember(&after, SIGCHLD)) {
        fprintf(stderr, "%s: handler %s SIGUSR2 blocked; after the wait SIGUSR1 %s, SIGUSR2 %s\n",
                kWaits[kind], usr2_blocked ? "had" : "did not have",
                sigismember(&after, SIGUSR1) ? "blocked" : "unblocked",
                sigismember(&after, SIGUSR2) ? "blocked" : "unblocked");
        return 1;
      }
      reap(pid);
    }
    ++rounds;
  } while (replay_loop_again(&loop));
  printf("masked wait: %ld rounds, sigsuspend ppoll pselect6 epoll_pwait each ended by a "
         "blocked signal under its own mask, the mask put back; child pid unset in %ld of "
         "%ld\n",
         rounds, unset, rounds * kRaces);
  return 0;
}
