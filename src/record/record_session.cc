#include "record/record_session.h"

#include <algorithm>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/files.h"
#include "common/log.h"
#include "common/version.h"
#include "record/final_core.h"
#include "record/snapshot.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/syscall_table.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

// Forks are followed only to undo, in the child, what it inherited from rewind.
constexpr long kTraceOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE |
                               PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                               PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT;
// Pending events are written at least this often, so a recorder killed mid-way loses
// little.
constexpr auto kFlushInterval = std::chrono::milliseconds(250);

std::atomic<bool> g_stop_requested{false};
// The recorded process: what it sends to its whole process group (kill(0, ...)) reaches
// a rewind that launched it too, and is the program's business, not rewind's.
std::atomic<pid_t> g_target_pid{0};

bool sent_by_target(const siginfo_t* si) {
  return si->si_code <= 0 && si->si_pid == g_target_pid.load();
}

void on_stop_signal(int, siginfo_t* si, void*) {
  if (!sent_by_target(si)) {
    g_stop_requested.store(true);
  }
}

// The program's business when the program sent it; otherwise what it always does.
void on_other_signal(int sig, siginfo_t* si, void*) {
  if (!sent_by_target(si)) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);  // delivered once this handler returns
  }
}

// SIGINT/SIGTERM/SIGHUP/SIGQUIT ask for a stop from the moment rewind starts attaching:
// taking the initial snapshot of a large process can take seconds, and a stop asked for
// then must end the recording cleanly (detached, file complete), not kill rewind. The
// other signals that would end rewind by default do so only when the program did not
// send them, so that a program signalling its process group keeps its recorder.
void install_stop_handlers(pid_t target) {
  g_target_pid.store(target);
  struct sigaction sa{};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: the signal must interrupt the wait
  sa.sa_sigaction = on_stop_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    ::sigaction(sig, &sa, nullptr);
  }
  sa.sa_sigaction = on_other_signal;
  // (SIGPIPE is left to the command: rewind record goes on when its output pipe closes.)
  for (int sig : {SIGABRT, SIGTRAP, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
                  SIGSTKFLT}) {
    ::sigaction(sig, &sa, nullptr);
  }
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) {
    ::sigaction(sig, &sa, nullptr);
  }
}

std::string iso_time_now() {
  struct timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ts.tv_nsec / 1000000);
}

std::string cpu_model() {
  auto text = read_file("/proc/cpuinfo");
  if (!text) {
    return "unknown";
  }
  auto pos = text->find("model name");
  if (pos == std::string::npos) {
    return "unknown";
  }
  auto colon = text->find(':', pos);
  auto nl = text->find('\n', pos);
  if (colon == std::string::npos || colon > nl) {
    return "unknown";
  }
  return text->substr(colon + 2, nl - colon - 2);
}

}  // namespace


RecordSession::RecordSession(RecordOptions options) : options_(std::move(options)) {
  start_ = std::chrono::steady_clock::now();
  last_flush_ = start_;
  if (options_.in_process_rdtsc) {
    // Finding the kernel's clock word takes a clock tick: on the side, while rewind
    // attaches.
    cycle_last_probe_ = std::async(std::launch::async, find_cycle_last_offset);
  }
}

RecordSession::~RecordSession() {
  // Never leave the target stopped or traced, whatever went wrong.
  if (!threads_.empty()) {
    detach_all();
  }
  if (bundler_.joinable()) {
    bundler_.join();
  }
}

void RecordSession::request_stop() {
  g_stop_requested.store(true);
}

uint64_t RecordSession::now_ns() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now() - start_)
                                   .count());
}

void RecordSession::warn_once(const std::string& key, std::string message) {
  if (warned_.insert(key).second) {
    spdlog::warn("{}", message);
    warnings_.push_back(std::move(message));
  }
}

void RecordSession::record(const Event& e) {
  if (!writer_) {
    // A signal or thread exit met while attaching, before the recording exists: it
    // belongs right after the initial snapshot.
    early_events_.push_back(e);
    return;
  }
  ++event_counts_[e.type];
  if (write_error_.empty()) {
    if (auto s = writer_->append_event(e); !s) {
      write_error_ = s.error().message;
    }
  }
}

// ---- attaching and launching ----------------------------------------------------

Result<std::unique_ptr<RecordSession>> RecordSession::attach(const RecordOptions& options) {
  // Before the target is touched: a bad -o path must not cost it an attach.
  if (auto s = RecordingWriter::check_creatable(options.output); !s) {
    return std::unexpected(s.error());
  }
  install_stop_handlers(options.pid);
  pid_t pid = options.pid;
  if (pid <= 0) {
    return fail("cannot attach to pid {}: not a valid process id", pid);
  }
  auto status = read_status(pid);
  if (!status) {
    if (status.error().sys_errno == ENOENT || status.error().sys_errno == ESRCH) {
      return fail("cannot attach to pid {}: no such process (check the pid with 'ps')", pid);
    }
    return fail("cannot attach to pid {}: {}", pid, status.error().message);
  }
  if (status->tgid != pid) {
    return fail("cannot attach to pid {}: it is a thread of process {} (pass the process id)",
                pid, status->tgid);
  }
  if (status->tracer_pid != 0) {
    auto tracer = read_status(status->tracer_pid);
    return fail("cannot attach to pid {}: it is already being traced by pid {} ({}) (detach "
                "that debugger or tracer first)",
                pid, status->tracer_pid, tracer ? tracer->name : "unknown");
  }
  if (pid == ::getpid()) {
    return fail("cannot attach to pid {}: that is rewind itself", pid);
  }
  std::unique_ptr<RecordSession> s(new RecordSession(options));
  s->pid_ = pid;
  s->mode_ = Mode::kRecording;
  if (auto st = s->seize_all_threads(); !st) {
    return std::unexpected(st.error());
  }
  auto paused = std::chrono::steady_clock::now();
  if (auto st = s->stop_all_threads(); !st) {
    return std::unexpected(st.error());
  }
  if (auto st = s->catch_threads_born_while_attaching(); !st) {
    return std::unexpected(st.error());
  }
  s->let_exiting_threads_go();
  if (options.pin_cpu) {
    s->pin_to_one_cpu();
  }
  if (auto st = s->write_start("attach"); !st) {
    return std::unexpected(st.error());
  }
  if (auto st = s->prepare_for_replay(); !st) {
    return std::unexpected(st.error());
  }
  if (auto st = s->take_initial_snapshot(); !st) {
    return std::unexpected(st.error());
  }
  s->start_ = std::chrono::steady_clock::now();
  s->result_.attach_pause_ms =
      std::chrono::duration<double, std::milli>(s->start_ - paused).count();
  for (auto& [tid, t] : s->threads_) {
    // A clone under way at attach, which the syscalls rewind ran in its thread finished:
    // it is not in the log, and its thread is in the snapshot.
    if (t->new_thread != 0 && !t->in_syscall) {
      s->release_new_thread(*t);
    }
  }
  s->enqueue_all();
  s->start_bundling();
  spdlog::info("recording pid {} ({} threads) into {}; target paused {:.1f} ms for the "
               "initial snapshot",
               pid, s->threads_.size(), options.output.string(), s->result_.attach_pause_ms);
  return s;
}

Status RecordSession::seize_all_threads() {
  // Threads may be created while we attach; repeat until the list is stable.
  for (int round = 0; round < 100; ++round) {
    auto tids = read_tasks(pid_);
    if (!tids) {
      return fail("cannot attach to pid {}: {}", pid_, tids.error().message);
    }
    bool added = false;
    for (pid_t tid : *tids) {
      if (threads_.count(tid)) {
        continue;
      }
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(kTraceOptions)) != 0) {
        int err = errno;
        if (err == ESRCH) {
          continue;  // the thread exited meanwhile
        }
        if (err == EPERM && tid != pid_) {
          // A thread that has exited but is not reaped yet (a zombie) cannot be traced
          // either: it is as gone as one that vanished.
          auto ts = read_thread_status(pid_, tid);
          if (!ts || ts->state == 'Z' || ts->state == 'X') {
            continue;
          }
        }
        auto st = read_status(tid);
        bool born_traced = err == EPERM && st && st->tracer_pid == ::getpid();
        if (!born_traced) {  // (a thread created by one already seized is traced already)
          detach_all();
          threads_.clear();
          if (err == EPERM) {
            return fail("cannot attach to pid {}: operation not permitted (rewind needs "
                        "CAP_SYS_PTRACE or the same user with kernel.yama.ptrace_scope=0; in "
                        "Kubernetes add SYS_PTRACE to the sidecar, see docs/kubernetes.md)",
                        pid_);
          }
          return fail_errno(err, "cannot attach to thread {} of pid {}", tid, pid_);
        }
      }
      auto t = std::make_unique<Thread>();
      t->tid = tid;
      threads_[tid] = std::move(t);
      seen_threads_.insert(tid);
      added = true;
    }
    if (!added) {
      return ok();
    }
  }
  return fail("cannot attach to pid {}: it keeps creating threads faster than rewind can "
              "attach", pid_);
}

// A thread whose clone was under way while rewind attached is traced automatically
// (its parent was) but may not be known yet: it must be in the initial snapshot, or
// replay would meet a thread it cannot create.
Status RecordSession::catch_threads_born_while_attaching() {
  if (auto st = seize_all_threads(); !st) {
    return st;
  }
  return stop_all_threads();
}

Result<std::unique_ptr<RecordSession>> RecordSession::launch(const RecordOptions& options) {
  if (options.command.empty()) {
    return fail("nothing to launch (give a command after --)");
  }
  // Before the program runs: a bad -o path found at its end would waste the whole run.
  if (auto s = RecordingWriter::check_creatable(options.output); !s) {
    return std::unexpected(s.error());
  }
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return fail_errno(errno, "cannot create a pipe");
  }
  pid_t child = ::fork();
  if (child < 0) {
    return fail_errno(errno, "cannot fork to launch {}", options.command[0]);
  }
  if (child == 0) {
    ::close(err_pipe[0]);
    ::raise(SIGSTOP);  // wait here until the recorder has seized us
    std::vector<char*> argv;
    for (const auto& a : options.command) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    int e = errno;
    ssize_t ignored = ::write(err_pipe[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  UniqueFd err_read(err_pipe[0]);
  int status = 0;
  if (::waitpid(child, &status, WUNTRACED) != child || !WaitStatus(status).stopped()) {
    return fail("cannot launch {}: the child did not start", options.command[0]);
  }
  std::unique_ptr<RecordSession> s(new RecordSession(options));
  s->pid_ = child;
  s->mode_ = Mode::kPreExec;
  if (::ptrace(PTRACE_SEIZE, child, nullptr, reinterpret_cast<void*>(kTraceOptions)) != 0) {
    int e = errno;
    ::kill(child, SIGKILL);
    return fail_errno(e, "cannot trace the launched {}", options.command[0]);
  }
  auto t = std::make_unique<Thread>();
  t->tid = child;
  s->threads_[child] = std::move(t);
  s->seen_threads_.insert(child);
  ::kill(child, SIGCONT);
  // Run to the exec; nothing before it belongs to the recording.
  for (;;) {
    int raw = 0;
    pid_t w = ::waitpid(child, &raw, __WALL);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    WaitStatus st(raw);
    if (w < 0 || st.exited() || st.signaled()) {
      s->threads_.clear();
      int e = 0;
      if (::read(err_read.get(), &e, sizeof e) == sizeof e) {
        return fail_errno(e, "cannot run {}", options.command[0]);
      }
      return fail("cannot run {}: it exited before exec", options.command[0]);
    }
    int event = st.ptrace_event();
    if (event == PTRACE_EVENT_EXEC) {
      // On to the end of execve: the new program's first instruction.
      ::ptrace(PTRACE_SYSCALL, child, nullptr, nullptr);
      continue;
    }
    if (st.is_syscall_stop()) {
      break;  // execve's syscall-exit stop
    }
    int sig = st.stop_signal();
    bool deliver = event == 0 && sig != SIGSTOP && sig != SIGCONT && sig != SIGTRAP;
    ::ptrace(PTRACE_CONT, child, nullptr, reinterpret_cast<void*>(deliver ? sig : 0));
  }
  auto& leader = *s->threads_[child];
  leader.stopped = true;
  s->mode_ = Mode::kRecording;
  if (options.pin_cpu) {
    s->pin_to_one_cpu();
  }
  if (auto st = s->write_start("launch"); !st) {
    ::ptrace(PTRACE_DETACH, child, nullptr, nullptr);
    s->threads_.clear();
    return std::unexpected(st.error());
  }
  if (auto st = s->prepare_for_replay(); !st) {
    return std::unexpected(st.error());
  }
  if (auto st = s->take_initial_snapshot(); !st) {
    return std::unexpected(st.error());
  }
  s->start_ = std::chrono::steady_clock::now();
  s->enqueue_all();
  s->start_bundling();
  spdlog::info("recording {} (pid {}) into {}", options.command[0], child,
               options.output.string());
  return s;
}

Status RecordSession::write_start(const std::string& mode) {
  auto w = RecordingWriter::create(options_.output);
  if (!w) {
    detach_all();
    threads_.clear();
    return std::unexpected(w.error());
  }
  writer_ = std::make_unique<RecordingWriter>(std::move(*w));
  files_ = std::make_unique<FileCollector>(pid_, *writer_);
  start_time_ = iso_time_now();

  auto exe = read_link(pid_, "exe");
  exe_ = exe ? *exe : "";
  if (exe_.ends_with(" (deleted)")) {
    exe_.resize(exe_.size() - 10);
  }
  auto cwd = read_link(pid_, "cwd");
  auto cmdline = read_nul_list(pid_, "cmdline");
  auto env = read_nul_list(pid_, "environ");
  auto status = read_status(pid_);
  nlohmann::json environ = nlohmann::json::array();
  if (env) {
    for (auto& kv : *env) {
      if (options_.redact_env) {
        auto eq = kv.find('=');
        environ.push_back(kv.substr(0, eq) + "=<redacted>");
      } else {
        environ.push_back(kv);
      }
    }
  }
  struct utsname uts{};
  ::uname(&uts);
  nlohmann::json tids = nlohmann::json::array();
  for (auto& [tid, t] : threads_) {
    tids.push_back(tid);
  }
  nlohmann::json manifest = {
      {"format", "rewind-recording"},
      {"rewind_version", std::string(kVersion)},
      {"mode", mode},
      {"target",
       {{"pid", pid_},
        {"exe", exe_},
        {"cmdline", cmdline ? *cmdline : std::vector<std::string>{}},
        {"cwd", cwd ? *cwd : ""},
        {"comm", status ? status->name : ""},
        {"uid", status ? status->uid : 0},
        {"environ", environ},
        {"environ_redacted", options_.redact_env}}},
      {"host",
       {{"hostname", uts.nodename},
        {"kernel", uts.release},
        {"machine", uts.machine},
        {"cpu", cpu_model()}}},
      {"start_time", start_time_},
      {"initial_threads", tids},
  };
  return writer_->write_manifest(manifest);
}

Status RecordSession::take_initial_snapshot() {
  auto maps = read_maps(pid_);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  std::vector<SnapshotThread> threads;
  for (auto& [tid, t] : threads_) {
    // A thread leaving as rewind attached is not in replay, only its exit is; the leader
    // stays, as the process is built around it.
    if (!t->exiting || tid == pid_) {
      threads.push_back({tid, t->altstack});
    }
  }
  auto snap = write_snapshot(pid_, threads, *maps, "initial", *writer_, snapshot_extra(),
                             snapshot_also_saves());
  if (!snap) {
    return std::unexpected(snap.error());
  }
  result_.snapshot_bytes = snap->memory_bytes;
  for (auto& w : snap->warnings) {
    warn_once(w, w);
  }
  for (const auto& m : *maps) {
    if (m.shared() && m.writable()) {
      warn_once("shm-" + m.path,
                fmt::format("the target maps {} shared and writable at {:#x}: writes by other "
                            "processes to it are not recorded",
                            m.path.empty() ? "anonymous memory" : m.path, m.start));
    }
  }
  initial_maps_ = std::move(*maps);
  for (auto& e : early_events_) {
    if (e.type == EventType::kPoint) {
      // Attaching may have moved the thread back onto an interrupted syscall: the
      // signal arrives where the snapshot has it.
      if (auto regs = get_regs(static_cast<pid_t>(e.tid))) {
        e.regs = regs_bytes(*regs);
        e.stack_hash = stack_hash(pid_, regs->rsp);
      }
    }
    record(e);
  }
  early_events_.clear();
  return writer_->flush_events();
}

nlohmann::json RecordSession::snapshot_extra() const {
  nlohmann::json extra = {{"signal_actions", signal_actions_},
                          {"vdso_patched", !vdso_patches_.empty()},
                          {"vdso_stub", std::ranges::any_of(vdso_patches_, &CodePatch::trapped)
                                            ? "trapped"
                                            : "syscall"},
                          {"tsc_trapped", tsc_trapped_},
                          {"cpuid_trapped", cpuid_trapped_}};
  if (orphan_guard_) {
    const OrphanGuard::Layout& l = orphan_guard_->layout();
    extra["orphan_guard"] = {{"base", orphan_guard_->base()},
                             {"size", OrphanGuard::kSize},
                             {"layout",
                              {{"segv", l.segv},
                               {"trap", l.trap},
                               {"restorer", l.restorer},
                               {"syscall", l.syscall},
                               {"data", l.data}}}};
  }
  return extra;
}

// rewind's own bytes in a region the snapshot does not save: the guard in the vDSO.
std::vector<std::pair<uint64_t, uint64_t>> RecordSession::snapshot_also_saves() const {
  if (!orphan_guard_ || orphan_guard_->in_own_page()) {
    return {};
  }
  return {{orphan_guard_->base(), orphan_guard_->base() + OrphanGuard::kSize}};
}

// The kernel has replaced the whole image: the other threads are gone, and with the old
// address space the patched vDSO, the orphan guard (its pages and its handlers: exec
// resets handled signals), the alternate signal stack and any rseq registration. rdtsc
// stays trapped (PR_SET_TSC survives exec) but has no guard any more. So the replay
// support is set up again, as at the start of a launch, and the new image is saved as
// snapshot "exec-N": replay rebuilds the process from it when it reaches the N-th exec.
void RecordSession::take_exec_snapshot(Thread& t) {
  ++execs_;
  join_bundling();
  vdso_patches_.clear();
  cpuid_trapped_ = false;  // exec turns cpuid faulting off
  rdtsc_patches_.clear();
  rdtsc_tried_.clear();
  clock_feed_.stop();
  clock_stubs_.reset();
  clock_stubs_tried_ = false;
  orphan_guard_.reset();
  injection_site_ = {};
  rseq_in_use_ = false;
  mapped_files_.reset();
  threads_with_trap_flag_ = 0;
  mem_.reset();
  t.rseq_addr = 0;
  t.altstack.reset();
  t.interrupted.reset();
  t.trap_flag_left = false;
  owner_ = t.tid;
  owner_in_syscall_ = false;
  owner_since_ = std::chrono::steady_clock::now();
  std::erase_if(run_queue_, [&](pid_t tid) { return !threads_.count(tid); });
  auto exe = read_link(pid_, "exe");
  exe_ = exe ? *exe : "";
  if (exe_.ends_with(" (deleted)")) {
    exe_.resize(exe_.size() - 10);
  }
  std::string name = fmt::format("exec-{}", execs_);
  exec_list_.push_back({{"exe", exe_}, {"snapshot", nullptr}, {"time_ns", now_ns()}});
  auto fail_snapshot = [&](const std::string& why) {
    warn_once("exec-snapshot",
              fmt::format("the program {} started by exec could not be saved ({}): replay "
                          "stops at that exec",
                          exe_, why));
  };
  if (auto s = prepare_for_replay(); !s) {
    fail_snapshot(s.error().message);
    return;
  }
  auto maps = read_maps(pid_);
  if (!maps) {
    fail_snapshot(maps.error().message);
    return;
  }
  auto snap = write_snapshot(pid_, {{t.tid, t.altstack}}, *maps, name, *writer_,
                             snapshot_extra(), snapshot_also_saves());
  if (!snap) {
    fail_snapshot(snap.error().message);
    return;
  }
  result_.snapshot_bytes += snap->memory_bytes;
  for (auto& w : snap->warnings) {
    warn_once(w, w);
  }
  exec_list_.back()["snapshot"] = name;
  spdlog::debug("pid {} exec'd {}: snapshot {} with {} bytes of memory", pid_, exe_, name,
                snap->memory_bytes);
  initial_maps_ = std::move(*maps);
  start_bundling();
}

// Mapped files do not change while the target runs, so they are copied on a helper
// thread after it resumes; copying them with the target stopped took most of a second
// for the demo service.
void RecordSession::start_bundling() {
  bundler_ = std::thread([this] {
    auto t0 = std::chrono::steady_clock::now();
    if (auto s = files_->collect(initial_maps_, exe_); !s) {
      bundle_error_ = s.error().message;
    }
    spdlog::debug("bundled {:.1f} MiB of mapped files in {:.0f} ms",
                  static_cast<double>(files_->bytes_bundled()) / (1 << 20),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count());
  });
}

void RecordSession::join_bundling() {
  if (!bundler_.joinable()) {
    return;
  }
  bundler_.join();
  for (const auto& w : files_->warnings()) {
    warn_once(w, w);
  }
  if (!bundle_error_.empty()) {
    warn_once(bundle_error_, fmt::format("bundling mapped files failed: {}", bundle_error_));
  }
  initial_maps_.clear();
}

// ---- thread control ---------------------------------------------------------------

void RecordSession::resume(Thread& t) {
  if (!t.stopped) {
    return;
  }
  int sig = t.pending_signal;
  t.pending_signal = 0;
  if (sig != 0) {
    t.segv_mask = Thread::SegvMask::kUnknown;  // a handler's sa_mask may add SIGSEGV
  }
  if (t.new_child_returned) {
    // The parent has run on since the call returned: the child goes free before the
    // parent's next step (a ptrace(PTRACE_SEIZE) of it, say) can meet it still traced.
    release_new_child(t);
  }
  long rc;
  if (t.group_stop) {
    rc = ::ptrace(PTRACE_LISTEN, t.tid, nullptr, nullptr);
  } else {
    auto req = mode_ == Mode::kPreExec ? PTRACE_CONT : PTRACE_SYSCALL;
    rc = ::ptrace(req, t.tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
  }
  if (rc != 0 && errno != ESRCH) {
    spdlog::debug("cannot resume thread {}: {}", t.tid, errno_text(errno));
  }
  t.stopped = false;
  t.group_stop = false;
}

void RecordSession::enqueue_all() {
  for (auto& [tid, t] : threads_) {
    enqueue(*t);
  }
}

void RecordSession::detach_all() {
  __ptrace_syscall_info info{};
  for (auto& [tid, t] : threads_) {
    if (t->dying()) {
      continue;  // cannot be stopped to detach; the kernel releases it as it dies
    }
    if (!t->stopped) {
      // PTRACE_DETACH needs a stopped tracee; interrupt and wait for this one thread.
      ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      int raw = 0;
      while (true) {
        pid_t w = ::waitpid(tid, &raw, __WALL);
        if (w < 0 && errno == EINTR) {
          continue;
        }
        break;
      }
      WaitStatus st(raw);
      if (st.stopped()) {
        int sig = st.stop_signal();
        if (st.ptrace_event() == 0 && !st.is_syscall_stop()) {
          t->pending_signal = sig;  // a signal on its way: deliver it on detach
        } else if (st.ptrace_event() == PTRACE_EVENT_FORK ||
                   st.ptrace_event() == PTRACE_EVENT_VFORK) {
          on_event_stop(*t, st.ptrace_event(), sig);  // the child goes free first
        }
      } else {
        t->stopped = false;
        continue;  // gone
      }
    }
    if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof(__ptrace_syscall_info)),
                 &info) > 0) {
      t->at_entry = info.op == PTRACE_SYSCALL_INFO_ENTRY;
    }
    t->stopped = true;
    release_new_child(*t);
  }
  if (!result_.crash_signal && !process_gone_) {
    deliver_signals_ending_masked_waits();  // before undo_replay_support runs syscalls
    undo_replay_support();
  }
  if (!process_gone_) {
    restore_affinity();
  }
  // A thread let go with the fatal signal ends the whole process at once: the others,
  // woken by the kernel's SIGKILL, would stop at their exit for a tracer that no longer
  // resumes them (and the process would never finish dying). Let it go last.
  auto fatal = [&](const Thread& t) {
    return result_.crash_signal && t.pending_signal == *result_.crash_signal;
  };
  for (bool last : {false, true}) {
    for (auto& [tid, t] : threads_) {
      if (fatal(*t) != last) {
        continue;
      }
      if (t->preempt_skip) {
        // Its syscall was skipped for a preemption: put it back so it runs after detach.
        set_regs(tid, rerun_syscall(t->entry_regs));
      }
      ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(
                                                static_cast<long>(t->pending_signal)));
    }
  }
  threads_.clear();
}

Status RecordSession::stop_all_threads() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    Thread& t = *it->second;
    bool interruptible = !t.stopped && !t.dying();
    if (interruptible && ::ptrace(PTRACE_INTERRUPT, t.tid, nullptr, nullptr) != 0 &&
        errno == ESRCH) {
      it = threads_.erase(it);  // gone, its exit already collected
      continue;
    }
    ++it;
  }
  auto last_check = std::chrono::steady_clock::now();
  for (;;) {
    bool all = true;
    for (auto& [tid, t] : threads_) {
      all = all && (t->stopped || t->dying());
    }
    if (all) {
      return ok();
    }
    int status = 0;
    pid_t tid = ::waitpid(-1, &status, __WALL | WNOHANG);
    if (tid < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == ECHILD) {
        threads_.clear();
        return ok();
      }
      return fail_errno(errno, "waiting for the threads of pid {} to stop", pid_);
    }
    if (tid > 0) {
      process_stop(tid, WaitStatus(status));
      continue;
    }
    // Nothing yet: forget threads that no longer exist (a thread can vanish without a
    // report to us while the process dies), then wait a little.
    auto now = std::chrono::steady_clock::now();
    if (now - last_check > std::chrono::milliseconds(100)) {
      last_check = now;
      for (auto it = threads_.begin(); it != threads_.end();) {
        bool exists = ::syscall(SYS_tgkill, pid_, it->first, 0) == 0 || errno != ESRCH;
        it = !it->second->stopped && !exists ? threads_.erase(it) : std::next(it);
      }
    }
    ::usleep(200);
  }
}

void RecordSession::capture_final_core(const char* reason, Thread* crashing) {
  if (core_written_ || !writer_) {
    return;
  }
  core_written_ = true;
  if (auto s = stop_all_threads(); !s) {
    warn_once("core", fmt::format("the final state could not be saved: {}", s.error().message));
    return;
  }
  std::vector<pid_t> tids;
  if (crashing != nullptr) {
    tids.push_back(crashing->tid);
  }
  for (auto& [tid, t] : threads_) {
    // Replay's final state has neither a thread whose clone has not returned in the log
    // yet nor one whose exit is in the log already (the recording stopped during either).
    bool in_replay = !t->awaits_clone_return && !t->exiting;
    if (t->stopped && in_replay && (crashing == nullptr || tid != crashing->tid)) {
      tids.push_back(tid);
    }
  }
  if (tids.empty()) {
    warn_once("core", fmt::format("the final state could not be saved: no thread of pid {} "
                                  "is left to save",
                                  pid_));
    return;
  }
  // Files mapped since the start (in launch mode: libc and every other library the
  // loader brought in after the first instruction; dlopen in both modes), so that the
  // recording stays self-contained for the debugger. Read through a thread that is still
  // there: once the leader has exited, /proc/PID shows no mappings.
  if (files_) {
    join_bundling();
    files_->read_through(tids[0]);
    if (auto maps = read_maps(tids[0])) {
      if (auto s = files_->collect(*maps, exe_); !s) {
        warn_once("late-files", fmt::format("bundling files mapped during the recording "
                                            "failed: {}",
                                            s.error().message));
      }
    }
  }
  const siginfo_t* si =
      crashing != nullptr && crashing->fatal_siginfo ? &*crashing->fatal_siginfo : nullptr;
  if (auto s = write_final_core(pid_, tids, si, reason, *writer_); !s) {
    warn_once("core", fmt::format("the final state could not be saved: {}", s.error().message));
  }
}

// A thread at its exit stop as the recording ends: its exit is in the log, and replay
// performs it, after which the kernel has cleared its tid word (CLONE_CHILD_CLEARTID) and
// released its robust mutexes. It finishes exiting now, so that the final state is the one
// after its exit, as in replay. (The leader stays: its exit completes with the process.)
// The same for one leaving as rewind attaches: the initial snapshot must hold what its
// exit leaves, as replay has no such thread to run.
void RecordSession::let_exiting_threads_go() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    Thread& t = *it->second;
    if (!t.exiting || t.tid == pid_ ||
        (t.stopped && ::ptrace(PTRACE_CONT, t.tid, nullptr, nullptr) != 0)) {
      ++it;
      continue;
    }
    t.stopped = false;
    auto st = wait_thread(t.tid, std::chrono::seconds(1));
    if (st && (st->exited() || st->signaled())) {
      shared_watch_.owner_gone(t.tid);
      it = threads_.erase(it);
      continue;
    }
    if (st && st->stopped()) {
      t.stopped = true;  // stopped again (a group stop): it stays as it is
    }
    ++it;
  }
}

void RecordSession::finish(const std::string& reason) {
  if (finished_) {
    return;
  }
  finished_ = true;
  result_.stop_reason = reason;
  auto stop_all = stop_all_threads();
  (void)stop_all;
  let_exiting_threads_go();
  if (reason != "crash" && !process_gone_ && owner_ != 0 && threads_.count(owner_)) {
    // Where the running thread was stopped, so that replay ends at the same place.
    Thread& o = *threads_[owner_];
    if (o.stopped) {
      drain_stubs(o);
    }
    if (o.stopped && !o.in_syscall && !o.preempt_skip && !o.exiting) {
      record_point(o, PointReason::kPreempt, nullptr);
    }
  }
  clock_feed_.stop();
  if (!core_written_ && !process_gone_) {
    capture_final_core(reason.c_str(), nullptr);
  }
  for (auto& [tid, t] : threads_) {
    if (t->in_syscall) {
      t->syscall.completed = false;
      record(t->syscall);
      t->in_syscall = false;
    }
  }
  join_bundling();
  nlohmann::json counts = nlohmann::json::object();
  for (auto [type, n] : event_counts_) {
    counts[std::string(event_type_name(type))] = n;
  }
  nlohmann::json syscall_counts = nlohmann::json::object();
  for (auto [nr, n] : syscall_counts_) {
    syscall_counts[syscall_name(nr)] = n;
  }
  nlohmann::json threads = seen_threads_;
  nlohmann::json trailer = {
      {"stop_time", iso_time_now()},
      {"duration_ns", now_ns()},
      {"stop_reason", reason},
      {"event_counts", counts},
      {"syscall_counts", syscall_counts},
      {"threads", threads},
      {"warnings", warnings_},
      {"replay_support",
       {{"serialized", true},
        {"vdso_patched", !vdso_patches_.empty() || tsc_trapped_},
        {"tsc_trapped", tsc_trapped_},
        {"preemptions", preemptions_},
        {"rdtsc", rdtsc_count_},
        {"cpuid_trapped", cpuid_trapped_},
        {"cpuid", cpuid_count_},
        {"rdtsc_stubs", rdtsc_patches_.size()},
        {"rdtsc_in_process", rdtsc_in_process_},
        {"clock_stubs", clock_stubs_.has_value()},
        {"clocks_in_process", clocks_in_process_},
        {"clock_reads_answered", clock_reads_},
        {"waits_restarted", waits_restarted_}}},
  };
  if (!exec_list_.empty()) {
    trailer["execs"] = exec_list_;
  }
  if (result_.exit_status) {
    trailer["exit_status"] = *result_.exit_status;
  }
  if (!crash_.is_null()) {
    trailer["crash"] = crash_;
  }
  if (auto s = writer_->finish(trailer); !s && write_error_.empty()) {
    write_error_ = s.error().message;
  }
  result_.path = options_.output;
  result_.events = writer_->events_written();
  result_.bytes = writer_->bytes_written();
}

// Our own child, after a crash: reap it so its exit is reported. A thread of it still
// reporting to us (one that stopped at its exit before it was detached) is let go.
void RecordSession::reap_child() {
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(-1, &status, __WALL);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (w == pid_ && !WIFSTOPPED(status)) {
      result_.exit_status = WaitStatus(status).shell_status();
      return;
    }
    if (WIFSTOPPED(status)) {
      ::ptrace(PTRACE_DETACH, w, nullptr, nullptr);
    }
  }
}

Result<RecordResult> RecordSession::run() {
  install_stop_handlers(pid_);
  // Tracee stops arrive as SIGCHLD, waited for with a timeout so the scheduler can act.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old_mask);

  schedule();
  while (!threads_.empty() && !finished_) {
    auto now = std::chrono::steady_clock::now();
    bool time_up = options_.max_duration.count() > 0 && now - start_ >= options_.max_duration;
    if (g_stop_requested.load() || time_up) {
      if (!stop_deadline_) {
        stop_deadline_ = now + std::chrono::seconds(1);
        // The stubs hand out no more: the running thread's next rdtsc or clock read
        // stops it, at a place replay finds by its event rather than by comparing
        // registers in a loop whose passes may look alike.
        turn_off_rdtsc_stubs(pid_, false);
        turn_off_clock_stubs(pid_, false);
      }
      bool owner_in_user = owner_ != 0 && !owner_in_syscall_ && threads_.count(owner_) &&
                           !threads_[owner_]->stopped;
      // A thread clone under way writes the new thread's id into the program's memory
      // (CLONE_PARENT_SETTID), which a replay of a clone without its return does not:
      // it returns first, as it does at once.
      bool owner_cloning = false;
      if (owner_ != 0 && owner_in_syscall_ && threads_.count(owner_)) {
        const Thread& o = *threads_[owner_];
        owner_cloning = o.new_thread != 0 || ((o.syscall.sysno == SYS_clone ||
                                               o.syscall.sysno == SYS_clone3) &&
                                              o.in_syscall);
      }
      if ((!owner_in_user && !owner_cloning) || now >= *stop_deadline_) {
        if (g_stop_requested.load()) {
          spdlog::info("stopping the recording of pid {} and detaching", pid_);
        }
        finish(g_stop_requested.load() ? "interrupted" : "time-limit");
        break;
      }
    }
    if (now - last_flush_ >= kFlushInterval) {
      last_flush_ = now;
      if (auto s = writer_->flush_events(); !s && write_error_.empty()) {
        write_error_ = s.error().message;
      }
    }
    if (!write_error_.empty()) {
      // Out of disk or similar: stop recording, leave the target running.
      finish("write-error");
      break;
    }
    bool gone = false;
    for (;;) {
      int status = 0;
      pid_t tid = ::waitpid(-1, &status, __WALL | WNOHANG);
      if (tid == 0) {
        break;
      }
      if (tid < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == ECHILD) {
          threads_.clear();
          gone = true;
          break;
        }
        ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        return fail_errno(errno, "waiting for pid {}", pid_);
      }
      process_stop(tid, WaitStatus(status));
      if (finished_) {
        break;
      }
      auto it = threads_.find(tid);
      if (it != threads_.end()) {
        dispatch(*it->second);
      }
    }
    if (gone || finished_) {
      break;
    }
    schedule();
    auto budget = stop_deadline_ ? std::chrono::microseconds(5000) : wait_budget();
    struct timespec ts{};
    ts.tv_sec = budget.count() / 1000000;
    ts.tv_nsec = (budget.count() % 1000000) * 1000;
    ::sigtimedwait(&chld, nullptr, &ts);  // a stop, the timeout, or SIGINT/SIGTERM
  }
  if (!finished_) {
    finish(process_gone_ ? "exit" : "target-gone");
  }
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  bool crashed = result_.crash_signal.has_value();
  detach_all();
  if (crashed && options_.pid == 0) {
    reap_child();
  }
  if (!write_error_.empty()) {
    return fail("the recording {} is incomplete: {} (the target was left running)",
                options_.output.string(), write_error_);
  }
  return result_;
}

}  // namespace rwd
