#include "sidecar/recorder_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "common/files.h"
#include "common/log.h"
#include "sidecar/target_finder.h"

namespace rwd::sidecar {

RecorderResult parse_recorder_output(std::string_view output, int exit_code) {
  RecorderResult r;
  r.exit_code = exit_code;
  // The summary line, or the last line (an error) when there is none.
  std::string_view last;
  size_t pos = 0;
  while (pos < output.size()) {
    size_t nl = output.find('\n', pos);
    std::string_view line = output.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? output.size() : nl + 1;
    if (line.empty()) {
      continue;
    }
    last = line;
    if (line.starts_with("recorded ")) {
      r.summary = std::string(line);
    }
  }
  if (r.summary.empty()) {
    r.summary = std::string(last);
  }
  auto by = r.summary.find("stopped by ");
  if (exit_code == 0 && by != std::string::npos) {
    std::string_view rest = std::string_view(r.summary).substr(by + 11);
    rest = rest.substr(0, rest.find(':'));
    auto paren = rest.find(" (");
    r.ended_by = std::string(rest.substr(0, paren));
    if (r.ended_by == "crash" && paren != std::string_view::npos) {
      auto sig = rest.substr(paren + 2);
      r.crash_signal = std::string(sig.substr(0, sig.find(')')));
    }
  } else if (exit_code != 0) {
    r.ended_by = "failed";
  }
  return r;
}

Result<std::unique_ptr<RecorderProcess>> RecorderProcess::start(RecorderSpec spec,
                                                                std::function<void()> on_exit) {
  if (spec.program.empty()) {
    std::error_code ec;
    spec.program = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
      return fail("cannot find rewind's own executable (/proc/self/exe): {}", ec.message());
    }
  }
  if (spec.log.empty()) {
    spec.log = spec.output.string() + ".log";
  }
  std::vector<std::string> args = {spec.program.string(), "record", "-p",
                                   std::to_string(spec.pid), "-o", spec.output.string()};
  args.insert(args.end(), spec.extra_args.begin(), spec.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  int log_fd = ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return fail_errno(errno, "cannot create the recorder's log {}", spec.log.string());
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  // Only async-signal-safe calls between fork and exec: the sidecar has threads.
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::close(log_fd);
    ::close(null_fd);
    return fail_errno(err, "cannot start the recorder for pid {}", spec.pid);
  }
  if (child == 0) {
    ::setpgid(0, 0);
    // Dies with the thread that forked it (the controller, which lives as long as the
    // sidecar): SIGINT makes the recorder finish its file and detach.
    ::prctl(PR_SET_PDEATHSIG, SIGINT);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
    }
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) {
    ::close(null_fd);
  }
  std::unique_ptr<RecorderProcess> rec(new RecorderProcess(std::move(spec), child));
  rec->reaper_ = std::thread([r = rec.get(), cb = std::move(on_exit)] { r->reap(cb); });
  spdlog::debug("started recorder {} for pid {} -> {}", child, rec->spec_.pid,
                rec->spec_.output.string());
  return rec;
}

void RecorderProcess::reap(std::function<void()> on_exit) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child_, &status, 0);
  } while (r < 0 && errno == EINTR);
  int code = r < 0 ? -1
             : WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                   : -1;
  auto out = read_file(spec_.log);
  {
    std::lock_guard lock(mu_);
    result_ = parse_recorder_output(out ? *out : std::string(), code);
    if (code > 128 && result_.ended_by.empty()) {
      result_.ended_by = "killed";
    }
  }
  exited_.store(true);
  if (on_exit) {
    on_exit();
  }
}

void RecorderProcess::stop() {
  if (!stop_sent_ && !exited_.load()) {
    ::kill(child_, SIGINT);
  }
  stop_sent_ = true;
}

void RecorderProcess::kill() {
  if (!exited_.load()) {
    ::kill(child_, SIGKILL);
  }
}

RecorderResult RecorderProcess::result() const {
  std::lock_guard lock(mu_);
  return result_;
}

namespace {

// The text after `field` in a /proc status file, or "".
std::string status_field(pid_t pid, std::string_view field) {
  auto text = read_file(fmt::format("/proc/{}/status", pid));
  if (!text) {
    return {};
  }
  auto pos = text->find(field);
  if (pos == std::string::npos) {
    return {};
  }
  pos += field.size();
  auto end = text->find('\n', pos);
  return text->substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace

bool RecorderProcess::attached() const {
  if (exited_.load()) {
    return false;
  }
  if (std::atoi(status_field(spec_.pid, "TracerPid:").c_str()) != child_) {
    return false;
  }
  // The recorder catches SIGINT only once it records; before that a SIGINT would kill it
  // mid-attach, so the sidecar waits for the handler (bit 2 of SigCgt) before stop().
  std::string caught = status_field(child_, "SigCgt:");
  return std::strtoull(caught.c_str(), nullptr, 16) & (1ULL << (SIGINT - 1));
}

RecorderProcess::~RecorderProcess() {
  if (!exited_.load()) {
    stop();
  }
  if (reaper_.joinable()) {
    reaper_.join();
  }
}

}  // namespace rwd::sidecar
