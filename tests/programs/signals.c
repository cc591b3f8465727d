// Handles SIGUSR1 sent to itself and a SIGALRM from a timer, then exits 0.
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, alrm;

static void on_usr1(int sig) { (void)sig; usr1 = 1; }
static void on_alrm(int sig) { (void)sig; alrm = 1; }

int main(void) {
  signal(SIGUSR1, on_usr1);
  signal(SIGALRM, on_alrm);
  kill(getpid(), SIGUSR1);
  struct itimerval t = {.it_value = {.tv_usec = 20000}};
  setitimer(ITIMER_REAL, &t, NULL);
  while (!alrm) {
    pause();
  }
  printf("usr1=%d alrm=%d\n", (int)usr1, (int)alrm);
  return usr1 && alrm ? 0 : 1;
}
