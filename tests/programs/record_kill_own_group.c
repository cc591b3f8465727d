// Forks a child that waits forever, then sends SIGKILL to its own process group, which
// takes the child and the program (and, natively, whatever else is in the group) down.
// A rewind that launched it is in that group too and must outlive it with the recording.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
  pid_t child = fork();
  if (child == 0) {
    for (;;) {
      pause();
    }
  }
  printf("child %d; killing the process group\n", child);
  fflush(stdout);
  kill(0, SIGKILL);
  printf("survived its own SIGKILL\n");
  return 1;
}
