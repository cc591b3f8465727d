// Handles its own SIGSEGV the way redis does: the handler reports the fault on stderr,
// restores the default action and re-raises the signal with kill(). The recording ends
// in a sent SIGSEGV; the fault that started it must still lead `rewind info`.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_fault(int sig, siginfo_t* info, void* context) {
  (void)context;
  char msg[128];
  int n = snprintf(msg, sizeof msg, "crash_reraise: caught signal %d at address %p, re-raising\n",
                   sig, info->si_addr);
  write(2, msg, (size_t)n);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  kill(getpid(), sig);
}

__attribute__((noinline)) void store_through(int* p) {
  *p = 42;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  fputs("crash_reraise: storing through a bad pointer\n", stderr);
  store_through((int*)0x10);
  return 0;
}
