#include "replay/replay_session.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <elf.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "common/log.h"
#include "inspect/syscall_formatter.h"
#include "tracee/signals.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"
#include "replay/in_process_breakpoint.h"
#include "replay/process_builder.h"
#include "replay/register_diff.h"
#include "replay/syscall_policy.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;

// Debug registers through the `struct user` area.
constexpr size_t debugreg_offset(int i) {
  return offsetof(struct user, u_debugreg) + static_cast<size_t>(i) * sizeof(long);
}

Status set_debugreg(pid_t tid, int i, uint64_t value) {
  if (::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(debugreg_offset(i)),
               reinterpret_cast<void*>(value)) != 0) {
    return fail_errno(errno, "cannot set debug register {} of thread {} to {:#x}", i, tid, value);
  }
  return ok();
}

uint64_t get_debugreg(pid_t tid, int i) {
  errno = 0;
  long v = ::ptrace(PTRACE_PEEKUSER, tid, reinterpret_cast<void*>(debugreg_offset(i)), nullptr);
  return errno == 0 ? static_cast<uint64_t>(v) : 0;
}

constexpr uint64_t kDr6Step = 1u << 14;

// A point still not reached after this many passes through its instruction is looked
// for by the in-process breakpoint (in_process_breakpoint.h): it changes the code the
// thread runs, so short loops (the common case) keep the plain debug-register stops.
constexpr uint64_t kPassesBeforeInProcess = 100;  // BS: the trap came from single-stepping

uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

bool is_error(int64_t result) { return result < 0 && result > -4096; }

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU || sig == SIGCONT;
}

bool is_fault(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
}

}  // namespace

namespace {

// A synchronous fault that the recorded instruction causes again by itself.
bool is_sync_fault(const Event& e) {
  return e.type == EventType::kSignal && !is_stop_signal(e.signo) && is_fault(e.signo) &&
         e.signal_code > 0;
}

bool needs_thread(const Event& e) {
  switch (e.type) {
    case EventType::kSyscall:
    case EventType::kSyscallEntry:
    case EventType::kPoint:
    case EventType::kSignal:
    case EventType::kRdtsc:
      return true;
    default:
      return false;
  }
}

// DR7 bits for watchpoint slot i (1..3): local enable, R/W and length.
uint64_t dr7_bits(int i, const Watchpoint& w) {
  uint64_t rw = w.type == WatchType::kWrite ? 1 : 3;
  uint64_t len = w.len == 1 ? 0 : w.len == 2 ? 1 : w.len == 8 ? 2 : 3;
  return (uint64_t{1} << (2 * i)) | (rw << (16 + 4 * i)) | (len << (18 + 4 * i));
}

}  // namespace

ReplaySession::ReplaySession(const RecordingReader& reader, const ReplayImage& image,
                             ReplayOptions options)
    : reader_(reader), image_(image), options_(options), cursor_(reader) {}

ReplaySession::~ReplaySession() {
  if (pid_ <= 0) {
    return;
  }
  // Traced with PTRACE_O_EXITKILL, so it dies with rewind at the latest; reap it here
  // when it goes quietly.
  ::kill(pid_, SIGKILL);
  for (auto& [tid, t] : threads_) {
    ::ptrace(PTRACE_CONT, t.real, nullptr, nullptr);
  }
  for (int i = 0; i < 50; ++i) {
    int status = 0;
    pid_t w = ::waitpid(pid_, &status, __WALL | WNOHANG);
    if (w == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) {
      break;
    }
    if (w < 0) {
      break;
    }
    if (w == 0) {
      ::usleep(1000);
    }
  }
  // Threads of the killed process that reported after the leader.
  for (auto& [tid, t] : threads_) {
    int status = 0;
    ::waitpid(t.real, &status, __WALL | WNOHANG);
  }
}

Result<std::unique_ptr<ReplaySession>> ReplaySession::start(const RecordingReader& reader,
                                                            const ReplayImage& image,
                                                            ReplayOptions options) {
  std::unique_ptr<ReplaySession> s(new ReplaySession(reader, image, options));
  auto built = build_replay_process(reader, image);
  if (!built) {
    return std::unexpected(built.error());
  }
  s->pid_ = built->pid;
  s->mem_ = std::make_unique<TargetMemory>(s->pid_);
  s->stats_.warnings = built->warnings;
  for (size_t i = 0; i < image.threads.size(); ++i) {
    Thread t;
    t.real = built->threads[i];
    t.tid = static_cast<uint32_t>(image.threads[i].tid);
    t.at_syscall_stop = true;  // each sits at the exit of a syscall run by the builder
    s->threads_[t.tid] = t;
    s->order_.push_back(t.tid);
  }
  for (const auto& r : image.regions) {
    if (r.path == "[heap]") {
      s->heap_end_ = r.end;
    }
  }
  return s;
}

Error ReplaySession::diverge(const Event& e, std::string actual, const user_regs_struct* regs) {
  Divergence d;
  d.event_index = events_done_ + 1;  // events are numbered from 1, as `rewind log` counts
  d.tid = e.tid;
  d.expected = format_event(e);
  d.actual = std::move(actual);
  if (regs != nullptr) {
    d.registers = describe_regs(*regs);
  }
  Error err{fmt::format("divergence at event {} (thread {}): recorded {}; replayed {}",
                        d.event_index, d.tid, d.expected, d.actual)};
  stats_.divergence = std::move(d);
  broken_ = true;
  return err;
}

Result<ReplaySession::Thread*> ReplaySession::thread_of(const Event& e) {
  auto it = threads_.find(e.tid);
  if (it == threads_.end() || !it->second.alive) {
    return std::unexpected(diverge(e, fmt::format("thread {} does not exist in the replay", e.tid)));
  }
  return &it->second;
}

uint32_t ReplaySession::segment_thread() {
  auto e = cursor_.peek();
  if (done_ || !e || *e == nullptr || !needs_thread(**e)) {
    return 0;
  }
  return (*e)->tid;
}

std::vector<uint32_t> ReplaySession::threads() const {
  std::vector<uint32_t> out;
  for (uint32_t tid : order_) {
    auto it = threads_.find(tid);
    if (it != threads_.end() && it->second.alive) {
      out.push_back(tid);
    }
  }
  return out;
}

bool ReplaySession::in_syscall(uint32_t tid) const {
  auto it = threads_.find(tid);
  return it != threads_.end() && it->second.pending_entry;
}

pid_t ReplaySession::real_tid(uint32_t tid) const {
  auto it = threads_.find(tid);
  return it != threads_.end() && it->second.alive ? it->second.real : 0;
}

Result<user_regs_struct> ReplaySession::registers(uint32_t tid) const {
  pid_t real = real_tid(tid);
  if (real == 0) {
    return fail("thread {} does not exist at this point of the replay", tid);
  }
  return get_regs(real);
}

Result<user_fpregs_struct> ReplaySession::fp_registers(uint32_t tid) const {
  pid_t real = real_tid(tid);
  if (real == 0) {
    return fail("thread {} does not exist at this point of the replay", tid);
  }
  user_fpregs_struct fp{};
  if (::ptrace(PTRACE_GETFPREGS, real, nullptr, &fp) != 0) {
    return fail_errno(errno, "cannot read the floating-point registers of thread {}", tid);
  }
  return fp;
}

Result<std::string> ReplaySession::read_memory(uint64_t addr, size_t len) const {
  std::string out;
  if (!mem_->read(addr, len, out)) {
    out.clear();
  }
  // Our breakpoints are in memory only while a thread runs, so there is nothing to hide.
  return out;
}

Result<int> ReplaySession::wait_stop(Thread& t, const Event& e) {
  auto deadline = std::chrono::steady_clock::now() + options_.stall_timeout;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    int status = 0;
    pid_t w = ::waitpid(t.real, &status, __WALL | WNOHANG);
    if (w == t.real) {
      if (WIFSTOPPED(status)) {
        t.at_syscall_stop = WSTOPSIG(status) == (SIGTRAP | 0x80);
      } else {
        t.alive = false;
      }
      return status;
    }
    if (w < 0 && errno != EINTR) {
      t.alive = false;
      return std::unexpected(diverge(e, fmt::format("thread {} is gone ({})", t.tid, errno_text(errno))));
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) {
      ::kill(pid_, SIGKILL);
      return std::unexpected(diverge(
          e, fmt::format("thread {} ran for {} s without reaching this event",
                         t.tid, options_.stall_timeout.count())));
    }
    // SIGCHLD is blocked by the caller (replayer.cc, the gdb server) so that it can be
    // waited for here instead of polling.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    struct timespec ts{};
    ts.tv_sec = std::min<int64_t>(ns / 1000000000, 0);
    ts.tv_nsec = ns >= 10000000 ? 10000000 : ns;
    ::sigtimedwait(&chld, nullptr, &ts);
  }
}

Result<int> ReplaySession::resume(Thread& t, int how, const Event& e) {
  if (t.resume_sig == 0 && t.at_syscall_stop) {
    // A syscall interrupted with no handler to run is restarted by the kernel only on
    // the way to a signal; here none comes, so restart it as the recorded kernel did.
    if (auto regs = get_regs(t.real); regs && restart_pending(*regs)) {
      apply_restart(*regs);
      set_regs(t.real, *regs);
    }
  }
  int sig = t.resume_sig;
  t.resume_sig = 0;
  t.pending_entry = false;
  if (::ptrace(static_cast<__ptrace_request>(how), t.real, nullptr,
               reinterpret_cast<void*>(static_cast<long>(sig))) != 0) {
    return std::unexpected(diverge(e, fmt::format("thread {} cannot be resumed: {}", t.tid,
                                                  errno_text(errno))));
  }
  return wait_stop(t, e);
}

std::string ReplaySession::describe_stop(Thread& t, int status) {
  if (WIFEXITED(status)) {
    return fmt::format("the thread exited with status {}", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("the process was killed by {}", signal_name(WTERMSIG(status)));
  }
  auto regs = get_regs(t.real);
  int sig = WSTOPSIG(status);
  if (sig == (SIGTRAP | 0x80) && regs) {
    return fmt::format("syscall {} ({:#x}, {:#x}, {:#x}, ...) at {:#x}", regs->orig_rax, regs->rdi,
                       regs->rsi, regs->rdx, regs->rip - 2);
  }
  if ((status >> 16) != 0) {
    return fmt::format("ptrace event {}", status >> 16);
  }
  siginfo_t si{};
  ::ptrace(PTRACE_GETSIGINFO, t.real, nullptr, &si);
  return fmt::format("{} (code {}, address {:#x}) at {:#x}", signal_name(sig), si.si_code,
                     reinterpret_cast<uint64_t>(si.si_addr), regs ? regs->rip : 0);
}

// --- running segments ------------------------------------------------------------

bool ReplaySession::needs_run(const Thread& t, const Event& e) const {
  switch (e.type) {
    case EventType::kSyscall:
    case EventType::kSyscallEntry:
      return !t.pending_entry;
    case EventType::kPoint:
    case EventType::kRdtsc:
      return true;
    case EventType::kSignal:
      return is_sync_fault(e);
    default:
      return false;
  }
}

Status ReplaySession::arm(Thread& t, const StopSet& stops, std::optional<uint64_t> point) {
  for (uint64_t addr : stops.breakpoints) {
    std::string old;
    if (!mem_->read(addr, 1, old) || old.size() != 1) {
      continue;  // not mapped (yet): it cannot be reached either
    }
    if (auto s = write_memory(pid_, addr, std::string_view("\xcc", 1)); !s) {
      continue;
    }
    inserted_[addr] = old[0];
  }
  last_armed_.clear();
  for (const auto& [addr, byte] : inserted_) {
    last_armed_.insert(addr);
  }
  uint64_t dr7 = 0;
  if (point) {
    if (auto s = set_debugreg(t.real, 0, *point); !s) {
      return s;
    }
    dr7 |= 1;  // L0, execute, length 1
  }
  int slot = 1;
  armed_watch_.clear();
  for (const auto& w : stops.watchpoints) {
    if (slot > 3) {
      return fail("at most three watchpoints can be set at once (the CPU has four debug "
                  "registers and replay needs one)");
    }
    if (auto s = set_debugreg(t.real, slot, w.addr); !s) {
      return s;
    }
    dr7 |= dr7_bits(slot, w);
    armed_watch_.push_back(w);
    ++slot;
  }
  set_debugreg(t.real, 6, 0);
  return set_debugreg(t.real, 7, dr7);
}

void ReplaySession::disarm(Thread& t) {
  for (const auto& [addr, byte] : inserted_) {
    // A failure means the page went away with the instruction: nothing to restore.
    (void)write_memory(pid_, addr, std::string_view(&byte, 1));
  }
  inserted_.clear();
  if (t.alive) {
    (void)set_debugreg(t.real, 7, 0);
  }
}

Result<ReplaySession::TrapKind> ReplaySession::classify_trap(Thread& t, const StopSet& stops) {
  TrapKind k;
  uint64_t dr6 = get_debugreg(t.real, 6);
  set_debugreg(t.real, 6, 0);
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  k.point = (dr6 & 1) != 0;
  for (size_t i = 0; i < armed_watch_.size(); ++i) {
    if (dr6 & (uint64_t{1} << (i + 1))) {
      k.watch = true;
      k.watch_addr = armed_watch_[i].addr;
    }
  }
  k.step = (dr6 & kDr6Step) != 0;
  if (!k.point && !k.watch && !k.step && regs->rip > 0 && stops.breakpoints.count(regs->rip - 1) &&
      last_armed_.count(regs->rip - 1)) {
    k.breakpoint = true;
    regs->rip -= 1;
    if (auto s = set_regs(t.real, *regs); !s) {
      return std::unexpected(s.error());
    }
  }
  return k;
}

Result<ReplaySession::SegmentStop> ReplaySession::run_segment(Thread& t, const Event& e,
                                                              const RunRequest& request) {
  if (e.type == EventType::kPoint) {
    return run_to_point(t, e, request);
  }
  bool stepping = request.step_tid == t.tid;
  for (;;) {
  // A run never stops where it starts: a breakpoint at the current instruction is
  // stepped over first (as gdb does), or every run from it would stop at once.
  auto here = get_regs(t.real);
  if (!here) {
    return std::unexpected(here.error());
  }
  bool over = request.stops.breakpoints.count(here->rip) != 0;
  StopSet armed = request.stops;
  armed.breakpoints.erase(here->rip);
  if (auto s = arm(t, armed, std::nullopt); !s) {
    disarm(t);
    return std::unexpected(s.error());
  }
  auto st = resume(t, stepping || over ? PTRACE_SYSEMU_SINGLESTEP : PTRACE_SYSEMU, e);
  disarm(t);
  if (!st) {
    return std::unexpected(st.error());
  }
  int status = *st;
  bool syscall_type = e.type == EventType::kSyscall || e.type == EventType::kSyscallEntry;
  auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
  if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)) {
    if (syscall_type) {
      t.pending_entry = true;
      return SegmentStop{};
    }
    return std::unexpected(diverge(e, describe_stop(t, status), regs ? &*regs : nullptr));
  }
  if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0) {
    auto k = classify_trap(t, request.stops);
    if (!k) {
      return std::unexpected(k.error());
    }
    regs = get_regs(t.real);
    if (k->watch) {
      return SegmentStop{Reached::kUserStop, {RunStop::kWatchpoint, t.tid, k->watch_addr}};
    }
    if (k->breakpoint) {
      return SegmentStop{Reached::kUserStop, {RunStop::kBreakpoint, t.tid, regs ? regs->rip : 0}};
    }
    if (k->step && stepping) {
      return SegmentStop{Reached::kUserStop, {RunStop::kStep, t.tid, regs ? regs->rip : 0}};
    }
    if (k->step && over) {
      if (regs && request.stops.breakpoints.count(regs->rip)) {
        return SegmentStop{Reached::kUserStop, {RunStop::kBreakpoint, t.tid, regs->rip}};
      }
      continue;  // stepped over the breakpoint: now run
    }
  }
  if (WIFSTOPPED(status) && (status >> 16) == 0) {
    int sig = WSTOPSIG(status);
    if (e.type == EventType::kRdtsc && sig == SIGSEGV && regs &&
        regs->rip == static_cast<uint64_t>(e.value)) {
      return SegmentStop{};
    }
    if (is_sync_fault(e) && sig == e.signo) {
      return SegmentStop{};
    }
  }
  return std::unexpected(diverge(e, (e.type == EventType::kSignal ? "" : "before it: ") +
                                        describe_stop(t, status),
                                 regs ? &*regs : nullptr));
  }
}

bool ReplaySession::point_matches(const Event& e, const user_regs_struct& want,
                                  const user_regs_struct& r) const {
  bool loose = e.reason == PointReason::kPreemptAtSyscall;
  return regs_difference(want, r, loose).empty() && stack_hash(pid_, r.rsp) == e.stack_hash;
}

Result<ReplaySession::SegmentStop> ReplaySession::run_to_point(Thread& t, const Event& e,
                                                               const RunRequest& request) {
  auto want = regs_from_bytes(e.regs);
  if (!want) {
    return std::unexpected(diverge(e, "the point's saved registers are damaged"));
  }
  auto cur = get_regs(t.real);
  if (!cur) {
    return std::unexpected(cur.error());
  }
  if (point_matches(e, *want, *cur)) {
    return SegmentStop{};
  }
  // A hardware breakpoint (DR0) at the recorded instruction: every pass through it
  // stops the thread before the instruction runs, and the resume flag (RF) lets it
  // run the instruction on resume without stopping again.
  uint64_t bp = want->rip;
  bool stepping = request.step_tid == t.tid;
  // Skipping loop passes would skip the user's breakpoints and steps in the loop.
  bool may_skip = request.stops.empty() && !stepping;
  auto started = std::chrono::steady_clock::now();
  std::optional<user_regs_struct> first_visit;
  uint64_t first_memory = 0;
  bool tried_fast_forward = false;
  uint64_t hits = 0;
  bool tried_in_process = false;
  for (;;) {
    auto here = get_regs(t.real);
    if (!here) {
      return std::unexpected(here.error());
    }
    bool over = request.stops.breakpoints.count(here->rip) != 0;
    StopSet armed = request.stops;
    armed.breakpoints.erase(here->rip);
    if (auto s = arm(t, armed, bp); !s) {
      disarm(t);
      return std::unexpected(s.error());
    }
    auto st = resume(t, stepping || over ? PTRACE_SYSEMU_SINGLESTEP : PTRACE_SYSEMU, e);
    disarm(t);
    if (!st) {
      return std::unexpected(st.error());
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    bool trap = WIFSTOPPED(*st) && WSTOPSIG(*st) == SIGTRAP && (*st >> 16) == 0;
    if (!trap || !regs) {
      return std::unexpected(diverge(e, "before reaching the point: " + describe_stop(t, *st),
                                     regs ? &*regs : nullptr));
    }
    auto k = classify_trap(t, request.stops);
    if (!k) {
      return std::unexpected(k.error());
    }
    regs = get_regs(t.real);
    if (!regs) {
      return std::unexpected(regs.error());
    }
    if (regs->rip == bp && point_matches(e, *want, *regs)) {
      (void)set_debugreg(t.real, 0, 0);
      return SegmentStop{};
    }
    if (k->watch) {
      return SegmentStop{Reached::kUserStop, {RunStop::kWatchpoint, t.tid, k->watch_addr}};
    }
    if (k->breakpoint) {
      return SegmentStop{Reached::kUserStop, {RunStop::kBreakpoint, t.tid, regs->rip}};
    }
    if (k->step && stepping) {
      return SegmentStop{Reached::kUserStop, {RunStop::kStep, t.tid, regs->rip}};
    }
    if (k->step && over) {
      if (request.stops.breakpoints.count(regs->rip)) {
        return SegmentStop{Reached::kUserStop, {RunStop::kBreakpoint, t.tid, regs->rip}};
      }
      continue;
    }
    if (!k->point || regs->rip != bp) {
      return std::unexpected(diverge(e, "before reaching the point: " + describe_stop(t, *st),
                                     &*regs));
    }
    ++stats_.breakpoint_hits;
    if (may_skip && !first_visit) {
      first_visit = *regs;
      first_memory = writable_memory_hash();
    } else if (may_skip && !tried_fast_forward) {
      tried_fast_forward = true;
      if (fast_forward(*first_visit, *regs, *want, first_memory)) {
        want->orig_rax = regs->orig_rax;
        set_regs(t.real, *want);
        ++stats_.fast_forwards;
        return SegmentStop{};
      }
    } else if (may_skip && !tried_in_process && t.resume_sig == 0 &&
               hits >= kPassesBeforeInProcess) {
      // Neither the first visit nor a linear loop, and a long one: count the passes in
      // the process.
      tried_in_process = true;
      auto reached = run_to_point_in_process(t, e, *want);
      if (!reached) {
        return std::unexpected(reached.error());
      }
      if (*reached) {
        return SegmentStop{};
      }
      continue;
    }
    if (std::chrono::steady_clock::now() - started > options_.stall_timeout) {
      return std::unexpected(diverge(
          e, fmt::format("the point was not reached in {} s ({} passes through {:#x})",
                         options_.stall_timeout.count(), hits, bp),
          &*regs));
    }
    ++hits;
    regs->eflags |= kResumeFlag;  // another pass: run this instruction and go on
    set_regs(t.real, *regs);
  }
}

// --- applying events -------------------------------------------------------------

Status ReplaySession::check_syscall_entry(Thread& t, const Event& e) {
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  std::array<uint64_t, 6> args = {regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9};
  if (static_cast<int64_t>(regs->orig_rax) != e.sysno || args != e.args) {
    Event got = e;
    got.sysno = static_cast<int64_t>(regs->orig_rax);
    got.args = args;
    got.completed = false;
    return std::unexpected(diverge(e, "syscall " + format_event(got), &*regs));
  }
  return ok();
}

Status ReplaySession::write_outputs(const Event& e) {
  for (const auto& m : e.outputs) {
    if (auto s = write_memory(pid_, m.addr, m.bytes); !s) {
      return fail("writing the recorded result of {} into the replay: {}", format_event(e),
                  s.error().message);
    }
  }
  return ok();
}

Status ReplaySession::emulate(Thread& t, const Event& e, const user_regs_struct& entry) {
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.result);
  ++stats_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Result<ReplaySession::Performed> ReplaySession::perform(Thread& t, const Event& e,
                                                        user_regs_struct regs) {
  // Back onto the syscall instruction and run it for real this time.
  regs.rip -= 2;
  regs.orig_rax = static_cast<uint64_t>(-1);
  if (auto s = set_regs(t.real, regs); !s) {
    return std::unexpected(s.error());
  }
  Performed p;
  bool entered = false;
  for (int guard = 0; guard < 16; ++guard) {
    auto st = resume(t, PTRACE_SYSCALL, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st)) {
      p.exited = true;
      return p;
    }
    int event = *st >> 16;
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long msg = 0;
      ::ptrace(PTRACE_GETEVENTMSG, t.real, nullptr, &msg);
      p.new_thread = static_cast<pid_t>(msg);
      continue;
    }
    if (event == PTRACE_EVENT_EXIT) {
      continue;
    }
    if (WSTOPSIG(*st) != (SIGTRAP | 0x80)) {
      auto r = get_regs(t.real);
      return std::unexpected(diverge(e, "while performing it: " + describe_stop(t, *st),
                                     r ? &*r : nullptr));
    }
    __ptrace_syscall_info info{};
    ::ptrace(PTRACE_GET_SYSCALL_INFO, t.real, reinterpret_cast<void*>(sizeof info), &info);
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      entered = true;
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && entered) {
      auto r = get_regs(t.real);
      if (!r) {
        return std::unexpected(r.error());
      }
      p.rax = info.exit.rval;
      p.regs = *r;
      ++stats_.syscalls_performed;
      return p;
    }
  }
  return std::unexpected(diverge(e, "the syscall could not be performed in the replay"));
}

// The thread's registers after a performed syscall: as the kernel left them (fs_base
// may have changed), with the caller's arguments and the recorded result.
Status ReplaySession::finish_performed(Thread& t, const Performed& p,
                                       const user_regs_struct& entry, int64_t result) {
  user_regs_struct regs = p.regs;
  regs.rdi = entry.rdi;
  regs.rsi = entry.rsi;
  regs.rdx = entry.rdx;
  regs.r10 = entry.r10;
  regs.r8 = entry.r8;
  regs.r9 = entry.r9;
  regs.rip = entry.rip;
  regs.orig_rax = entry.orig_rax;
  regs.rax = static_cast<uint64_t>(result);
  return set_regs(t.real, regs);
}

namespace {
user_regs_struct call_of(const user_regs_struct& entry, const Event& e) {
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.sysno);
  return regs;
}
}  // namespace

Status ReplaySession::perform_mm(Thread& t, const Event& e, const user_regs_struct& entry) {
  user_regs_struct run = entry;
  run.rax = static_cast<uint64_t>(e.sysno);
  auto result = static_cast<uint64_t>(e.result);
  if (e.sysno == SYS_mmap) {
    // At the recorded address; a file's pages come from the recording, not the file.
    uint64_t flags = e.args[3];
    flags &= ~uint64_t{MAP_SHARED | MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE};
    flags |= MAP_PRIVATE | MAP_FIXED;
    if (!(e.args[3] & MAP_ANONYMOUS)) {
      flags |= MAP_ANONYMOUS;
      run.r8 = static_cast<uint64_t>(-1);
      run.r9 = 0;
    }
    run.rdi = result;
    run.r10 = flags;
  } else if (e.sysno == SYS_mremap && result != e.args[0]) {
    run.r10 = e.args[3] | MREMAP_MAYMOVE | MREMAP_FIXED;
    run.r8 = result;
  }
  auto p = perform(t, e, run);
  if (!p) {
    return std::unexpected(p.error());
  }
  if (p->rax != e.result) {
    return std::unexpected(diverge(e, fmt::format("performed in the replay it returned {:#x}",
                                                  static_cast<uint64_t>(p->rax))));
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status ReplaySession::perform_brk(Thread& t, const Event& e, const user_regs_struct& entry) {
  // The replay process's own brk area is elsewhere: grow and shrink the recorded one with
  // fixed anonymous mappings instead.
  uint64_t end = page_up(static_cast<uint64_t>(e.result));
  if (heap_end_ == 0) {
    heap_end_ = end;
  } else if (end != heap_end_) {
    user_regs_struct run = entry;
    if (end > heap_end_) {
      run.rax = SYS_mmap;
      run.rdi = heap_end_;
      run.rsi = end - heap_end_;
      run.rdx = PROT_READ | PROT_WRITE;
      run.r10 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      run.r8 = static_cast<uint64_t>(-1);
      run.r9 = 0;
    } else {
      run.rax = SYS_munmap;
      run.rdi = end;
      run.rsi = heap_end_ - end;
    }
    auto p = perform(t, e, run);
    if (!p) {
      return std::unexpected(p.error());
    }
    if (is_error(p->rax)) {
      return std::unexpected(diverge(e, fmt::format("moving the break failed in the replay: {}",
                                                    errno_text(static_cast<int>(-p->rax)))));
    }
    heap_end_ = end;
  }
  user_regs_struct regs = entry;
  regs.rax = static_cast<uint64_t>(e.result);
  ++stats_.syscalls_emulated;
  return set_regs(t.real, regs);
}

Status ReplaySession::perform_clone(Thread& t, const Event& e, const user_regs_struct& entry) {
  uint64_t flags = e.args[0];
  uint64_t parent_tid_at = e.args[2], child_tid_at = e.args[3];
  if (e.sysno == SYS_clone3) {
    std::string args;
    if (!mem_->read(e.args[0], 32, args) || args.size() != 32) {
      return fail("cannot read the clone3 arguments at {:#x} in the replay", e.args[0]);
    }
    std::memcpy(&flags, args.data(), 8);
    std::memcpy(&child_tid_at, args.data() + 16, 8);
    std::memcpy(&parent_tid_at, args.data() + 24, 8);
  }
  if (!(flags & CLONE_THREAD) || is_error(e.result)) {
    return emulate(t, e, entry);  // child processes are not replayed
  }
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (p->new_thread <= 0) {
    return std::unexpected(diverge(e, fmt::format("no thread was created ({})",
                                                  errno_text(static_cast<int>(-p->rax)))));
  }
  Thread child;
  child.real = p->new_thread;
  child.tid = static_cast<uint32_t>(e.result);
  child.at_syscall_stop = false;
  auto first = wait_stop(child, e);
  if (!first) {
    return std::unexpected(first.error());
  }
  child.at_syscall_stop = false;
  child.resume_sig = 0;  // its initial SIGSTOP is not part of the program
  threads_[child.tid] = child;
  order_.push_back(child.tid);
  // The kernel wrote the replay's thread id where the recorded one belongs.
  uint32_t tid32 = child.tid;
  std::string_view tid_bytes(reinterpret_cast<const char*>(&tid32), 4);
  if (flags & CLONE_PARENT_SETTID) {
    (void)write_memory(pid_, parent_tid_at, tid_bytes);  // best effort, as the kernel's
  }
  if (flags & CLONE_CHILD_SETTID) {
    (void)write_memory(pid_, child_tid_at, tid_bytes);
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status ReplaySession::perform_exit(Thread& t, const Event& e, const user_regs_struct& entry) {
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (!p->exited) {
    return std::unexpected(diverge(e, "the thread did not exit"));
  }
  t.alive = false;
  return ok();
}

Status ReplaySession::perform_plain(Thread& t, const Event& e, const user_regs_struct& entry) {
  auto p = perform(t, e, call_of(entry, e));
  if (!p) {
    return std::unexpected(p.error());
  }
  if (auto s = write_outputs(e); !s) {
    return s;
  }
  return finish_performed(t, *p, entry, e.result);
}

Status ReplaySession::on_syscall(Thread& t, const Event& e) {
  if (auto s = check_syscall_entry(t, e); !s) {
    return s;
  }
  if (!e.completed) {
    if (e.sysno == SYS_exit) {
      auto entry = get_regs(t.real);
      return entry ? perform_exit(t, e, *entry) : Status(std::unexpected(entry.error()));
    }
    if (e.sysno == SYS_exit_group) {
      stats_.end = "exit_group";
      stats_.reached_end = true;
      done_ = true;
    }
    return ok();  // still in the kernel when the recording stopped
  }
  auto entry = get_regs(t.real);
  if (!entry) {
    return std::unexpected(entry.error());
  }
  t.pending_entry = false;
  bool ok_result = !is_error(e.result);
  switch (syscall_policy(e.sysno)) {
    case SyscallPolicy::kMemoryMap:
      return ok_result ? perform_mm(t, e, *entry) : emulate(t, e, *entry);
    case SyscallPolicy::kBreak:
      return perform_brk(t, e, *entry);
    case SyscallPolicy::kClone:
      return perform_clone(t, e, *entry);
    case SyscallPolicy::kExit:
      return perform_exit(t, e, *entry);
    case SyscallPolicy::kSigreturn: {
      auto p = perform(t, e, call_of(*entry, e));
      return p ? ok() : Status(std::unexpected(p.error()));
    }
    case SyscallPolicy::kArchPrctl:
      if (!(ok_result && (e.args[0] == 0x1001 || e.args[0] == 0x1002))) {  // SET_GS, SET_FS
        return emulate(t, e, *entry);
      }
      return perform_plain(t, e, *entry);
    case SyscallPolicy::kProcessState:
      return ok_result ? perform_plain(t, e, *entry) : emulate(t, e, *entry);
    case SyscallPolicy::kExec:
      if (ok_result) {
        return fail("the target called exec during the recording; replay of exec is not "
                    "supported");
      }
      return emulate(t, e, *entry);
    case SyscallPolicy::kEmulate:
      return emulate(t, e, *entry);
  }
  return emulate(t, e, *entry);
}

Status ReplaySession::on_signal(Thread& t, const Event& e) {
  if (is_stop_signal(e.signo)) {
    return ok();  // job control: not part of the program's computation
  }
  if (is_sync_fault(e)) {
    // run_segment() left the thread at the fault, caused again by the instruction.
    auto regs = get_regs(t.real);
    siginfo_t si{};
    ::ptrace(PTRACE_GETSIGINFO, t.real, nullptr, &si);
    uint64_t addr = reinterpret_cast<uint64_t>(si.si_addr);
    if (si.si_signo != e.signo || si.si_code != e.signal_code || addr != e.fault_addr) {
      return std::unexpected(diverge(
          e, fmt::format("{} (code {}, address {:#x})", signal_name(si.si_signo), si.si_code, addr),
          regs ? &*regs : nullptr));
    }
    if (e.fatal) {
      stats_.end = "crash";
      stats_.end_signal = e.signo;
      stats_.end_fault_addr = addr;
      stats_.end_tid = t.tid;
      stats_.reached_end = true;
      done_ = true;
      return ok();
    }
    t.resume_sig = e.signo;
    return ok();
  }
  if (e.fatal) {
    // Sent and fatal (an unhandled SIGTERM, say): the recording ended here.
    stats_.end = "crash";
    stats_.end_signal = e.signo;
    stats_.end_fault_addr = e.fault_addr;
    stats_.end_tid = t.tid;
    stats_.reached_end = true;
    done_ = true;
    return ok();
  }
  if (t.at_syscall_stop) {
    // Signals can only be injected from a signal-delivery-stop with their siginfo:
    // have the kernel queue it here, then catch its delivery.
    t.resume_sig = e.signo;
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    if (!WIFSTOPPED(*st) || WSTOPSIG(*st) != e.signo || (*st >> 16) != 0) {
      auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
      return std::unexpected(diverge(e, describe_stop(t, *st), regs ? &*regs : nullptr));
    }
  }
  if (e.siginfo.size() == sizeof(siginfo_t)) {
    siginfo_t si{};
    std::memcpy(&si, e.siginfo.data(), sizeof si);
    ::ptrace(PTRACE_SETSIGINFO, t.real, nullptr, &si);
  }
  t.resume_sig = e.signo;
  return ok();
}

Status ReplaySession::on_rdtsc(Thread& t, const Event& e) {
  // run_segment() left the thread at the trapped rdtsc.
  auto regs = get_regs(t.real);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  regs->rax = e.tsc & 0xffffffffu;
  regs->rdx = e.tsc >> 32;
  if (e.rdtscp) {
    regs->rcx = e.tsc_aux;
  }
  regs->rip += e.rdtscp ? 3 : 2;
  t.resume_sig = 0;
  return set_regs(t.real, *regs);
}

Status ReplaySession::apply(const Event& e) {
  if (!needs_thread(e)) {
    switch (e.type) {
      case EventType::kProcessExit:
        stats_.end = "exit";
        stats_.reached_end = true;
        done_ = true;
        return ok();
      case EventType::kExec:
        return fail("the target called exec during the recording; replay of exec is not "
                    "supported");
      default:
        return ok();  // thread start and exit: the clone and exit syscalls do the work
    }
  }
  auto t = thread_of(e);
  if (!t) {
    return std::unexpected(t.error());
  }
  switch (e.type) {
    case EventType::kSyscall:
      return on_syscall(**t, e);
    case EventType::kSyscallEntry:
      return check_syscall_entry(**t, e);
    case EventType::kSignal:
      return on_signal(**t, e);
    case EventType::kRdtsc:
      return on_rdtsc(**t, e);
    default:
      return ok();  // a point: reaching it was the work
  }
}

// The final state was saved after the end (crash or exit), and saving it stopped the
// threads that were waiting in the kernel: their interrupted syscalls come last.
void ReplaySession::finish_tail() {
  while (!tail_closed_) {
    auto next = cursor_.peek();
    if (!next || *next == nullptr) {
      tail_closed_ = true;
      return;
    }
    const Event& e = **next;
    auto it = threads_.find(e.tid);
    if (e.type == EventType::kSyscall && e.completed && it != threads_.end() &&
        it->second.alive && it->second.pending_entry) {
      auto entry = get_regs(it->second.real);
      if (entry && static_cast<int64_t>(entry->orig_rax) == e.sysno) {
        it->second.pending_entry = false;
        if (auto s = emulate(it->second, e, *entry); !s) {
          tail_closed_ = true;
          return;
        }
        cursor_.next();
        stats_.events = ++events_done_;
        continue;
      }
    }
    if (e.type == EventType::kThreadExit || e.type == EventType::kProcessExit ||
        (e.type == EventType::kSignal && e.fatal) ||
        (e.type == EventType::kSyscall && !e.completed)) {
      cursor_.next();
      stats_.events = ++events_done_;  // the process ending as recorded: nothing to run
      continue;
    }
    tail_closed_ = true;
  }
}

// --- driving ---------------------------------------------------------------------

Result<RunResult> ReplaySession::run(const RunRequest& request) {
  if (broken_) {
    return fail("the replay diverged at event {} and cannot go on",
                stats_.divergence ? stats_.divergence->event_index : events_done_ + 1);
  }
  for (;;) {
    if (done_) {
      finish_tail();
      return RunResult{RunStop::kEnd, 0, 0};
    }
    if (request.until_event && events_done_ >= *request.until_event) {
      return RunResult{RunStop::kEventLimit, 0, 0};
    }
    if (request.interrupted && request.interrupted()) {
      return RunResult{RunStop::kInterrupted, segment_thread(), 0};
    }
    auto next = cursor_.peek();
    if (!next) {
      broken_ = true;
      return fail("the event log is damaged after event {}: {}", events_done_,
                  next.error().message);
    }
    if (*next == nullptr) {
      done_ = true;
      tail_closed_ = true;
      stats_.end = "end of log";
      stats_.reached_end = true;
      return RunResult{RunStop::kEnd, 0, 0};
    }
    const Event& e = **next;
    Thread* t = nullptr;
    bool ran = false;
    if (needs_thread(e)) {
      auto found = thread_of(e);
      if (!found) {
        return std::unexpected(found.error());
      }
      t = *found;
      if (needs_run(*t, e)) {
        auto s = run_segment(*t, e, request);
        if (!s) {
          broken_ = true;
          return std::unexpected(s.error());
        }
        if (s->reached == Reached::kUserStop) {
          return s->user;
        }
        ran = true;
      }
    }
    uint32_t tid = e.tid;
    bool completes_instruction = (e.type == EventType::kSyscall && e.completed) ||
                                 e.type == EventType::kRdtsc ||
                                 (ran && (e.type == EventType::kPoint || is_sync_fault(e)));
    if (auto s = apply(e); !s) {
      broken_ = true;
      return std::unexpected(s.error());
    }
    cursor_.next();
    if (history_->tid.size() == events_done_) {
      history_->tid.push_back(tid);
      history_->ran.push_back(ran);
    }
    stats_.events = ++events_done_;
    if (request.report_signals && e.type == EventType::kSignal && !e.fatal &&
        !is_stop_signal(e.signo) && !done_) {
      RunResult r{RunStop::kSignal, tid, 0, true, e.signo};
      return r;
    }
    if (request.step_tid != 0 && tid == request.step_tid && completes_instruction && !done_) {
      auto regs = registers(tid);
      return RunResult{RunStop::kStep, tid, regs ? regs->rip : 0, true};
    }
  }
}

Status ReplaySession::step_event() {
  auto r = run(RunRequest{.until_event = events_done_ + 1});
  if (!r) {
    return std::unexpected(r.error());
  }
  return ok();
}

// The point found by a conditional breakpoint evaluated inside the replay process
// (in_process_breakpoint.h): passes that do not match cost no ptrace stop. False when
// it cannot be installed there (the caller then takes the debug-register loop).
Result<bool> ReplaySession::run_to_point_in_process(Thread& t, const Event& e,
                                                    const user_regs_struct& want) {
  // glibc's hand-written assembly jumps into the middle of instruction runs more than
  // compiled code does, in ways a linear disassembly cannot see: leave it alone.
  for (const auto& r : image_.regions) {
    if (want.rip >= r.start && want.rip < r.end &&
        (r.path.find("/libc.so") != std::string::npos ||
         r.path.find("/ld-linux") != std::string::npos)) {
      return false;
    }
  }
  auto bp = InProcessBreakpoint::install(pid_, t.real, want.rip, want);
  if (!bp) {
    spdlog::debug("point of event {} by debug register: {}", events_done_ + 1, bp.error().message);
    return false;
  }
  // install() ran its syscalls in the thread, which now sits at a syscall-exit stop.
  t.at_syscall_stop = true;
  auto started = std::chrono::steady_clock::now();
  for (;;) {
    auto st = resume(t, PTRACE_SYSEMU, e);
    if (!st) {
      return std::unexpected(st.error());
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    bool trap = WIFSTOPPED(*st) && WSTOPSIG(*st) == SIGTRAP && (*st >> 16) == 0;
    if (!trap || !regs || !bp->is_hit(*regs)) {
      if (t.alive) {
        (void)bp->remove(t.real);  // the divergence is the news; the patch goes anyway
      }
      return std::unexpected(diverge(e, "before reaching the point: " + describe_stop(t, *st),
                                     regs ? &*regs : nullptr));
    }
    ++stats_.breakpoint_hits;
    user_regs_struct at = *regs;
    at.rip = want.rip;  // where the thread stands for the program
    if (point_matches(e, want, at)) {
      user_regs_struct hit = *regs;
      if (auto s = bp->finish_hit(t.real, hit); !s) {
        return std::unexpected(s.error());
      }
      if (auto s = bp->remove(t.real); !s) {
        return std::unexpected(s.error());
      }
      t.at_syscall_stop = true;
      return true;
    }
    // Registers equal but not the stack: resumed from the trampoline's trap, the thread
    // goes on through the displaced original code.
    if (std::chrono::steady_clock::now() - started > options_.stall_timeout) {
      (void)bp->remove(t.real);
      return std::unexpected(diverge(e, fmt::format("the point was not reached in {} s",
                                                    options_.stall_timeout.count()),
                                     &at));
    }
  }
}

uint64_t ReplaySession::writable_memory_hash() {
  auto maps = read_maps(pid_);
  if (!maps) {
    return 0;
  }
  uint64_t h = 0;
  std::string buf;
  for (const auto& m : *maps) {
    if (!m.writable()) {
      continue;
    }
    constexpr uint64_t kChunk = 1 << 20;
    for (uint64_t at = m.start; at < m.end; at += kChunk) {
      if (mem_->read(at, std::min(kChunk, m.end - at), buf)) {
        h = h * 31 + std::hash<std::string_view>{}(buf);
      }
    }
  }
  return h;
}

// A loop that revisits the point with registers that step by a constant amount and
// leaves memory untouched can be skipped ahead: when the recorded registers lie on that
// line, k more passes would arrive exactly at them. Replay sets them directly instead
// of taking each pass (without a branch counter, every pass otherwise costs a trap).
bool ReplaySession::fast_forward(const user_regs_struct& first, const user_regs_struct& second,
                            const user_regs_struct& want, uint64_t first_memory) {
  constexpr unsigned long long user_regs_struct::*kGprs[] = {
      &user_regs_struct::rax, &user_regs_struct::rbx, &user_regs_struct::rcx,
      &user_regs_struct::rdx, &user_regs_struct::rsi, &user_regs_struct::rdi,
      &user_regs_struct::rbp, &user_regs_struct::rsp, &user_regs_struct::r8,
      &user_regs_struct::r9,  &user_regs_struct::r10, &user_regs_struct::r11,
      &user_regs_struct::r12, &user_regs_struct::r13, &user_regs_struct::r14,
      &user_regs_struct::r15, &user_regs_struct::fs_base, &user_regs_struct::gs_base};
  std::optional<int64_t> passes;
  for (auto reg : kGprs) {
    auto step = static_cast<int64_t>(second.*reg - first.*reg);
    auto left = static_cast<int64_t>(want.*reg - second.*reg);
    if (step == 0) {
      if (left != 0) {
        return false;
      }
      continue;
    }
    if (left % step != 0 || left / step < 0 || (passes && *passes != left / step)) {
      return false;
    }
    passes = left / step;
  }
  if (!passes || second.rip != want.rip) {
    return false;
  }
  // Memory must not change from pass to pass, or skipping passes would skip writes.
  return first_memory != 0 && writable_memory_hash() == first_memory;
}

// --- cloning ---------------------------------------------------------------------

namespace {

// The options process_builder.cc gives the replay process (inherited by its threads and
// forks); clone() adds fork tracing only while it forks.
constexpr long kTraceOptions =
    PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT;

Result<std::string> get_xstate(pid_t tid) {
  std::string buf(64 * 1024, '\0');
  struct iovec iov{buf.data(), buf.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0) {
    return fail_errno(errno, "cannot read the FPU/vector state of thread {}", tid);
  }
  buf.resize(iov.iov_len);
  return buf;
}

Status set_xstate(pid_t tid, std::string xstate) {
  struct iovec iov{xstate.data(), xstate.size()};
  if (::ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0) {
    return fail_errno(errno, "cannot set the FPU/vector state of thread {}", tid);
  }
  return ok();
}

// An injected syscall that must succeed.
Result<int64_t> must_inject(pid_t tid, uint64_t site, const char* what, int64_t nr,
                            std::array<uint64_t, 6> args) {
  auto rc = inject_syscall(tid, site, nr, args);
  if (!rc) {
    return fail("cloning the replay: {}: {}", what, rc.error().message);
  }
  if (is_error(*rc)) {
    return fail("cloning the replay: {} failed: {}", what, errno_text(static_cast<int>(-*rc)));
  }
  return *rc;
}

void kill_and_reap(pid_t pid, const std::vector<pid_t>& threads) {
  ::kill(pid, SIGKILL);
  for (pid_t t : threads) {
    ::ptrace(PTRACE_CONT, t, nullptr, nullptr);
  }
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    pid_t w = ::waitpid(pid, &status, __WALL | WNOHANG);
    if (w < 0 || (w == pid && (WIFEXITED(status) || WIFSIGNALED(status)))) {
      break;
    }
    if (w == 0) {
      ::usleep(1000);
    }
  }
  for (pid_t t : threads) {
    int status = 0;
    ::waitpid(t, &status, __WALL | WNOHANG);
  }
}

}  // namespace

Result<uint64_t> ReplaySession::find_syscall_site() {
  // The cached one while it is still there (the program may unmap code).
  if (syscall_site_ != 0) {
    std::string bytes;
    if (mem_->read(syscall_site_, 2, bytes) && bytes == std::string("\x0f\x05", 2)) {
      auto maps = read_maps(pid_);
      if (maps) {
        for (const auto& m : *maps) {
          if (m.executable() && syscall_site_ >= m.start && syscall_site_ + 2 <= m.end) {
            return syscall_site_;
          }
        }
      }
    }
    syscall_site_ = 0;
  }
  auto maps = read_maps(pid_);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  // The vDSO first: small and always has its fallback syscalls.
  std::vector<MapEntry> exec;
  for (const auto& m : *maps) {
    if (m.executable() && m.path != "[vsyscall]" && m.start < 0x800000000000ull) {
      if (m.path == "[vdso]") {
        exec.insert(exec.begin(), m);
      } else {
        exec.push_back(m);
      }
    }
  }
  constexpr uint64_t kChunk = 64 * 1024;
  for (const auto& m : exec) {
    for (uint64_t at = m.start; at < m.end; at += kChunk) {
      std::string bytes;
      // One byte of overlap so that a pair split across chunks is found too.
      uint64_t len = std::min(kChunk + 1, m.end - at);
      if (!mem_->read(at, len, bytes)) {
        break;
      }
      if (auto pos = bytes.find(std::string("\x0f\x05", 2)); pos != std::string::npos) {
        syscall_site_ = at + pos;
        return syscall_site_;
      }
    }
  }
  return fail("cloning the replay: no syscall instruction in its executable memory");
}

Status ReplaySession::copy_into_fork(pid_t child, uint64_t site, uint64_t scratch,
                                     std::vector<ThreadCopy>& copies) {
  // copies[0] is the thread that forked: the fork's only thread stands for it.
  copies[0].child = child;
  // rdtsc trapping is inherited, but say it again rather than rely on it.
  if (auto rc = must_inject(child, site, "trapping rdtsc", SYS_prctl, {PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0, 0});
      !rc) {
    return std::unexpected(rc.error());
  }
  for (size_t i = 1; i < copies.size(); ++i) {
    constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                      CLONE_THREAD | CLONE_SYSVSEM;
    auto tid = must_inject(child, site, "creating a thread", SYS_clone, {kThreadFlags, 0, 0, 0, 0, 0});
    if (!tid) {
      return std::unexpected(tid.error());
    }
    copies[i].child = static_cast<pid_t>(*tid);
    auto first = wait_thread(copies[i].child, std::chrono::seconds(5));  // its first stop
    if (!first || !first->stopped()) {
      return fail("cloning the replay: a new thread did not start");
    }
  }
  TargetMemory memory(child);
  for (size_t i = 0; i < copies.size(); ++i) {
    auto& c = copies[i];
    if (auto s = write_memory(child, scratch, std::string_view(reinterpret_cast<const char*>(&c.sigmask), 8));
        !s) {
      return s;
    }
    if (auto rc = must_inject(c.child, site, "restoring a signal mask", SYS_rt_sigprocmask,
                              {SIG_SETMASK, scratch, 0, 8, 0, 0});
        !rc) {
      return std::unexpected(rc.error());
    }
    // New threads start without an alternate signal stack; the fork's thread has its
    // parent's already (and setting it fails while running on it).
    if (i > 0 && c.altstack.size() == sizeof(stack_t)) {
      stack_t ss{};
      std::memcpy(&ss, c.altstack.data(), sizeof ss);
      if (!(ss.ss_flags & SS_DISABLE)) {
        ss.ss_flags &= ~SS_ONSTACK;
        if (auto s = write_memory(child, scratch, std::string_view(reinterpret_cast<const char*>(&ss), sizeof ss));
            !s) {
          return s;
        }
        if (auto rc = must_inject(c.child, site, "restoring an alternate signal stack",
                                  SYS_sigaltstack, {scratch, 0, 0, 0, 0, 0});
            !rc) {
          return std::unexpected(rc.error());
        }
      }
    }
    // As process_builder.cc: glibc threads have the kernel clear their tid on exit.
    uint64_t tid_addr = c.regs.fs_base + kGlibcTidOffset;
    uint32_t word = 0;
    if (c.regs.fs_base != 0 && memory.read_into(tid_addr, &word, 4) == 4 && word == c.tid) {
      if (auto rc = must_inject(c.child, site, "restoring the tid address", SYS_set_tid_address,
                                {tid_addr, 0, 0, 0, 0, 0});
          !rc) {
        return std::unexpected(rc.error());
      }
    }
  }
  if (auto rc = must_inject(child, site, "removing the scratch page", SYS_munmap, {scratch, kPage, 0, 0, 0, 0});
      !rc) {
    return std::unexpected(rc.error());
  }
  for (auto& c : copies) {
    if (auto s = set_regs(c.child, c.regs); !s) {
      return s;
    }
    if (!c.xstate.empty()) {
      if (auto s = set_xstate(c.child, c.xstate); !s) {
        return s;
      }
    }
  }
  return ok();
}

Result<std::unique_ptr<ReplaySession>> ReplaySession::clone() {
  if (broken_ || pid_ <= 0) {
    return fail("cannot clone a replay session that failed");
  }
  // The fork's only thread becomes its leader, so it must stand for our leader: a
  // leader that exits is reported only after the other threads, which perform_exit
  // would wait for forever if the roles were swapped.
  std::vector<uint32_t> live;
  uint32_t leader = 0;
  for (uint32_t tid : order_) {
    auto it = threads_.find(tid);
    if (it == threads_.end() || !it->second.alive) {
      continue;
    }
    if (it->second.real == pid_) {
      leader = tid;
    } else {
      live.push_back(tid);
    }
  }
  if (leader == 0) {
    return fail("cannot clone a replay session whose main thread has exited");
  }
  live.insert(live.begin(), leader);
  auto site = find_syscall_site();
  if (!site) {
    return std::unexpected(site.error());
  }

  std::vector<ThreadCopy> copies;
  for (uint32_t tid : live) {
    const Thread& t = threads_.at(tid);
    ThreadCopy c;
    c.tid = tid;
    auto regs = get_regs(t.real);
    if (!regs) {
      return std::unexpected(regs.error());
    }
    c.regs = *regs;
    if (auto xs = get_xstate(t.real)) {
      c.xstate = std::move(*xs);
    }
    auto st = read_thread_status(pid_, t.real);
    if (!st) {
      return std::unexpected(st.error());
    }
    c.sigmask = st->sig_blocked;
    copies.push_back(std::move(c));
  }
  pid_t x = threads_.at(leader).real;

  // Injections leave a thread at a syscall-exit stop with its registers put back: from
  // there the session's emulate (set_regs, resume) and perform (back onto the syscall,
  // PTRACE_SYSCALL) work as from the entry stop, and a signal to deliver is still sent
  // on resume. Threads keep pending_entry; they are now at a syscall stop.
  auto put_back = [&]() {
    for (const auto& c : copies) {
      Thread& t = threads_.at(c.tid);
      set_regs(t.real, c.regs);
      t.at_syscall_stop = true;
    }
  };
  // A scratch page, made before the fork so that the fork has it at the same address.
  auto scratch_rc = must_inject(x, *site, "a scratch page", SYS_mmap,
                                {0, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                 static_cast<uint64_t>(-1), 0});
  if (!scratch_rc) {
    put_back();
    return std::unexpected(scratch_rc.error());
  }
  uint64_t scratch = static_cast<uint64_t>(*scratch_rc);
  auto drop_scratch = [&]() {
    (void)inject_syscall(x, *site, SYS_munmap, {scratch, kPage, 0, 0, 0, 0});
    put_back();
  };
  for (auto& c : copies) {
    pid_t real = threads_.at(c.tid).real;
    if (auto rc = must_inject(real, *site, "reading an alternate signal stack", SYS_sigaltstack,
                              {0, scratch, 0, 0, 0, 0});
        !rc) {
      drop_scratch();
      return std::unexpected(rc.error());
    }
    if (!mem_->read(scratch, sizeof(stack_t), c.altstack)) {
      c.altstack.clear();
    }
  }

  // Fork with CLONE_PARENT: the copy is rewind's child rather than the replay's, so its
  // end signals rewind (which reaps it) instead of reaching the replay as a SIGCHLD the
  // recording never had.
  ::ptrace(PTRACE_SETOPTIONS, x, nullptr, reinterpret_cast<void*>(kTraceOptions | PTRACE_O_TRACEFORK));
  auto forked = must_inject(x, *site, "forking", SYS_clone,
                            {static_cast<uint64_t>(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0, 0});
  ::ptrace(PTRACE_SETOPTIONS, x, nullptr, reinterpret_cast<void*>(kTraceOptions));
  if (!forked) {
    drop_scratch();
    return std::unexpected(forked.error());
  }
  pid_t child = static_cast<pid_t>(*forked);
  auto first = wait_thread(child, std::chrono::seconds(5));  // its SIGSTOP
  if (!first || !first->stopped()) {
    drop_scratch();
    kill_and_reap(child, {});
    return fail("cloning the replay: the fork did not start");
  }
  ::ptrace(PTRACE_SETOPTIONS, child, nullptr, reinterpret_cast<void*>(kTraceOptions));
  drop_scratch();

  auto copied = copy_into_fork(child, *site, scratch, copies);
  if (!copied) {
    std::vector<pid_t> made;
    for (const auto& c : copies) {
      if (c.child != 0 && c.child != child) {
        made.push_back(c.child);
      }
    }
    kill_and_reap(child, made);
    return std::unexpected(copied.error());
  }

  std::unique_ptr<ReplaySession> s(new ReplaySession(reader_, image_, options_));
  s->stats_ = stats_;
  s->cursor_ = cursor_;
  s->pid_ = child;
  s->syscall_site_ = syscall_site_;
  s->order_ = order_;
  s->threads_ = threads_;
  for (const auto& c : copies) {
    Thread& t = s->threads_.at(c.tid);
    t.real = c.child;
    t.at_syscall_stop = true;  // every copy ends at the exit of an injected syscall
  }
  s->events_done_ = events_done_;
  s->heap_end_ = heap_end_;
  s->done_ = done_;
  s->tail_closed_ = tail_closed_;
  s->mem_ = std::make_unique<TargetMemory>(child);
  s->history_ = history_;
  s->last_armed_ = last_armed_;
  return s;
}

}  // namespace rwd
