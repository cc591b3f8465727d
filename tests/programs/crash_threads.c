// Crashes with SIGSEGV four calls deep (main -> stage_one -> stage_two -> finish_job)
// while two other threads wait: the stack, threads and global that `rewind info` and
// `rewind debug` must show from a recording, without this binary.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

struct job {
  const char* name;
  int* result;
};

volatile long global_marker = 0x5eedf00d;
static pthread_barrier_t started;

static void* waiter(void* arg) {
  (void)arg;
  pthread_barrier_wait(&started);
  for (;;) {
    pause();
  }
  return NULL;
}

__attribute__((noinline)) void finish_job(struct job* job) {
  *job->result = 42;  // SIGSEGV: the result pointer was never set
}

__attribute__((noinline)) void stage_two(struct job* job) {
  finish_job(job);
  global_marker++;
}

__attribute__((noinline)) void stage_one(struct job* job) {
  stage_two(job);
  global_marker++;
}

int main(void) {
  pthread_t threads[2];
  pthread_barrier_init(&started, NULL, 3);
  for (int i = 0; i < 2; ++i) {
    pthread_create(&threads[i], NULL, waiter, NULL);
  }
  pthread_barrier_wait(&started);
  struct job job = {"report", NULL};
  stage_one(&job);
  return 0;
}
