#include "common/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/unique_fd.h"

extern char** environ;

namespace rwd {

namespace {

std::vector<char*> to_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string find_in_path(std::string_view program) {
  if (program.find('/') != std::string_view::npos) {
    return std::string(program);
  }
  const char* path = ::getenv("PATH");
  std::string_view rest = path ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    auto dir = rest.substr(0, colon);
    auto candidate = std::filesystem::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  return {};
}

Result<ProcessResult> run_capture(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    return fail("run_capture: empty argv");
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return fail_errno(errno, "cannot create a pipe for {}", argv[0]);
  }
  UniqueFd read_end(pipefd[0]);
  UniqueFd write_end(pipefd[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  auto args = to_argv(argv);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return fail_errno(rc, "cannot run {}", argv[0]);
  }
  write_end.reset();
  ProcessResult result;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    result.out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return fail_errno(errno, "cannot wait for {}", argv[0]);
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

Error exec_program(const std::vector<std::string>& argv) {
  auto args = to_argv(argv);
  ::execvp(argv[0].c_str(), args.data());
  return fail_errno(errno, "cannot run {} (is it installed?)", argv[0]).error();
}

}  // namespace rwd
