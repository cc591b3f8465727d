// Forks a child that waits forever, SIGKILLs it and reaps it; exits with status 3 so
// that a recorder passing the program's exit status on can be told from one exiting 0.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  pid_t child = fork();
  if (child == 0) {
    for (;;) {
      pause();
    }
  }
  usleep(100000);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  printf("child killed by signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 3;
}
