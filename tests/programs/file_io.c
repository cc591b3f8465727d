// Writes a file, reads it back and checks it: openat, write, lseek, read, fstat, unlink.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/tmp/rewind-file-io-test.txt";
  const char* text = "rewind file io marker 12345\n";
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  write(fd, text, strlen(text));
  lseek(fd, 0, SEEK_SET);
  char buf[128] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  struct stat st;
  fstat(fd, &st);
  close(fd);
  unlink(path);
  if (n != (ssize_t)strlen(text) || strcmp(buf, text) != 0 || st.st_size != n) {
    fprintf(stderr, "mismatch\n");
    return 1;
  }
  printf("read back %zd bytes\n", n);
  return 0;
}
