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
#include <cerrno>
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
#include "replay/replay_session_internal.h"
#include "replay/syscall_policy.h"


namespace rwd {

using namespace replay_detail;

ReplaySession::ReplaySession(const RecordingReader& reader, const ReplayImage& image,
                             ReplayOptions options)
    : reader_(reader), image_(&image), options_(options), cursor_(reader) {}

ReplaySession::~ReplaySession() { kill_process(); }

void ReplaySession::kill_process() {
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
  pid_ = 0;
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
  s->mem_pid_ = s->pid_;
  s->mem_ = std::make_unique<TargetMemory>(s->mem_pid_);
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
  t.at_handler_entry = false;
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
    case EventType::kExec:
      return !t.pending_entry;
    case EventType::kPoint:
    case EventType::kRdtsc:
    case EventType::kCpuid:
      return true;
    case EventType::kSignal:
      return is_sync_fault(e);
    default:
      return false;
  }
}

Status ReplaySession::arm(Thread& t, const StopSet& stops, std::optional<uint64_t> point) {
  if (stops.empty() && !point && !t.debug_regs_set) {
    return ok();  // plain replay: no debug register traffic per event
  }
  for (uint64_t addr : stops.breakpoints) {
    std::string old;
    if (!mem_->read(addr, 1, old) || old.size() != 1) {
      continue;  // not mapped (yet): it cannot be reached either
    }
    if (auto s = write_memory(mem_pid_, addr, std::string_view("\xcc", 1)); !s) {
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
  (void)set_debugreg(t.real, 6, 0);  // classify_trap() reads it fresh after the run
  t.debug_regs_set = dr7 != 0;
  return set_debugreg(t.real, 7, dr7);
}

Result<bool> ReplaySession::arm_for_run(Thread& t, const StopSet& stops,
                                        std::optional<uint64_t> point) {
  bool over = false;
  if (!stops.breakpoints.empty()) {
    auto here = get_regs(t.real);
    if (!here) {
      return std::unexpected(here.error());
    }
    over = stops.breakpoints.count(here->rip) != 0;
    if (over) {
      StopSet armed = stops;
      armed.breakpoints.erase(here->rip);
      if (auto s = arm(t, armed, point); !s) {
        disarm(t);
        return std::unexpected(s.error());
      }
      return true;
    }
  }
  if (auto s = arm(t, stops, point); !s) {
    disarm(t);
    return std::unexpected(s.error());
  }
  return over;
}

void ReplaySession::disarm(Thread& t) {
  for (const auto& [addr, byte] : inserted_) {
    // A failure means the page went away with the instruction: nothing to restore.
    (void)write_memory(mem_pid_, addr, std::string_view(&byte, 1));
  }
  inserted_.clear();
  if (t.alive && t.debug_regs_set) {
    (void)set_debugreg(t.real, 7, 0);
    t.debug_regs_set = false;
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
  if (e.type != EventType::kRdtsc && e.type != EventType::kCpuid) {
    return run_to_event(t, e, request);
  }
  // A trapped rdtsc (or cpuid) in a thread that blocks SIGSEGV would be forced through: the kernel
  // would unblock SIGSEGV and reset its action (in the recording, rewind put both back).
  // The run to the rdtsc lets SIGSEGV through instead; the thread makes no syscall on
  // the way that could see its mask.
  constexpr uint64_t kSegvBit = signal_bit(SIGSEGV);
  uint64_t mask = 0;
  bool blocked = ::ptrace(PTRACE_GETSIGMASK, t.real, sizeof mask, &mask) == 0 &&
                 (mask & kSegvBit) != 0;
  if (blocked) {
    uint64_t running = mask & ~kSegvBit;
    ::ptrace(PTRACE_SETSIGMASK, t.real, sizeof running, &running);
  }
  auto stop = run_to_event(t, e, request);
  if (blocked && t.alive) {
    ::ptrace(PTRACE_SETSIGMASK, t.real, sizeof mask, &mask);
  }
  return stop;
}

Result<ReplaySession::SegmentStop> ReplaySession::run_to_event(Thread& t, const Event& e,
                                                               const RunRequest& request) {
  bool stepping = request.step_tid == t.tid;
  if (e.type == EventType::kSyscall && !stepping && !t.at_syscall_stop && t.resume_sig == 0 &&
      !t.at_handler_entry && enter_syscall_in_place(t, e, request.stops)) {
    return SegmentStop{};
  }
  for (;;) {
    auto over = arm_for_run(t, request.stops, std::nullopt);
    if (!over) {
      return std::unexpected(over.error());
    }
    auto st = resume(t, stepping || *over ? PTRACE_SYSEMU_SINGLESTEP : PTRACE_SYSEMU, e);
    disarm(t);
    if (!st) {
      return std::unexpected(st.error());
    }
    int status = *st;
    bool syscall_type = e.type == EventType::kSyscall || e.type == EventType::kSyscallEntry ||
                        e.type == EventType::kExec;
    if (syscall_type && WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)) {
      t.pending_entry = true;  // the common case: apply() reads the registers
      return SegmentStop{};
    }
    auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
    if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)) {
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
      if (k->step && *over) {
        if (regs && request.stops.breakpoints.count(regs->rip)) {
          return SegmentStop{Reached::kUserStop, {RunStop::kBreakpoint, t.tid, regs->rip}};
        }
        continue;  // stepped over the breakpoint: now run
      }
    }
    if (WIFSTOPPED(status) && (status >> 16) == 0) {
      int sig = WSTOPSIG(status);
      if ((e.type == EventType::kRdtsc || e.type == EventType::kCpuid) && sig == SIGSEGV && regs &&
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

// A thread past a clock stub's trapped rdtsc (tracee/vdso_patch.h) stands on
// `mov $NR, %eax; syscall`, two instructions that touch nothing but registers: it is put
// at that syscall's entry directly, as PTRACE_SYSEMU would stop it there, which saves
// one round trip through the kernel per clock read. Only right after an rdtsc with no
// signal to deliver first, and not with a breakpoint on those instructions.
bool ReplaySession::enter_syscall_in_place(Thread& t, const Event& e, const StopSet& stops) {
  constexpr size_t kLen = 7;  // b8 NR NR NR NR 0f 05, after 0f 31
  auto regs = get_regs(t.real);
  unsigned char code[2 + kLen] = {};
  if (!regs || !mem_ || mem_->read_into(regs->rip - 2, code, sizeof code) != sizeof code) {
    return false;
  }
  int32_t nr = 0;
  std::memcpy(&nr, code + 3, sizeof nr);
  if (code[0] != 0x0f || code[1] != 0x31 || code[2] != 0xb8 || nr != e.sysno ||
      code[7] != 0x0f || code[8] != 0x05) {
    return false;
  }
  auto first = stops.breakpoints.lower_bound(regs->rip);
  if (first != stops.breakpoints.end() && *first < regs->rip + kLen) {
    return false;
  }
  user_regs_struct entry = past_syscall_instruction(*regs, regs->rip + 5);
  entry.orig_rax = static_cast<uint64_t>(nr);
  entry.rax = static_cast<uint64_t>(-ENOSYS);
  if (!set_regs(t.real, entry)) {
    return false;
  }
  t.pending_entry = true;
  return true;
}

// A point at the first instruction of the handler of the signal that is about to be
// delivered: a second signal, delivered on top of the first's frame. A single step with
// the signal stops there (the kernel reports the handler's entry without a debug trap),
// so the thread's last trap stays the program's own: the kernel writes its number into
// every signal frame (sigcontext.trapno), and the point's stack hash covers the frame.
// True when the point was reached; otherwise the thread is at the handler's entry, or
// ran nothing when the signal has no handler.
Result<bool> ReplaySession::step_into_handler(Thread& t, const Event& e,
                                              const user_regs_struct& want) {
  auto st = read_status(t.real);
  if (!st || (st->sig_caught & signal_bit(t.resume_sig)) == 0) {
    return false;
  }
  auto stop = resume(t, PTRACE_SYSEMU_SINGLESTEP, e);
  if (!stop) {
    return std::unexpected(stop.error());
  }
  auto regs = t.alive ? get_regs(t.real) : Result<user_regs_struct>(user_regs_struct{});
  if (!WIFSTOPPED(*stop) || WSTOPSIG(*stop) != SIGTRAP || !regs) {
    return std::unexpected(diverge(e, "entering the signal's handler: " + describe_stop(t, *stop),
                                   regs ? &*regs : nullptr));
  }
  t.at_handler_entry = true;
  return point_matches(e, want, *regs);
}

bool ReplaySession::point_matches(const Event& e, const user_regs_struct& want,
                                  const user_regs_struct& r) const {
  bool loose = e.reason == PointReason::kPreemptAtSyscall;
  return regs_difference(want, r, loose).empty() && stack_hash(mem_pid_, r.rsp) == e.stack_hash &&
         stub_rings_used_up();
}

// At a recorded point the recorder had just logged every value the stubs had handed out
// (they are read at every stop of the thread holding the CPU), so the replay is there only
// once the stubs have handed out all they were given: a loop whose passes look alike but
// read the clock is told apart by that.
bool ReplaySession::stub_rings_used_up() const {
  for (auto [page, end] : stub_pages()) {
    uint64_t words[2] = {1, 0};  // next, limit
    if (!mem_ || mem_->read_into(page + RdtscPatch::kHeader + RdtscPatch::kNext, words,
                                 sizeof words) != sizeof words ||
        words[0] != words[1]) {
      spdlog::trace("stub page {:#x}: {} of {} values handed out", page, words[0], words[1]);
      return false;
    }
  }
  return true;
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
  bool stepping = request.step_tid == t.tid;
  if (t.resume_sig != 0 && request.stops.empty() && !stepping) {
    auto entered = step_into_handler(t, e, *want);
    if (!entered) {
      return std::unexpected(entered.error());
    }
    if (*entered) {
      return SegmentStop{};
    }
  }
  // A hardware breakpoint (DR0) at the recorded instruction: every pass through it
  // stops the thread before the instruction runs, and the resume flag (RF) lets it
  // run the instruction on resume without stopping again.
  uint64_t bp = want->rip;
  // Skipping loop passes would skip the user's breakpoints and steps in the loop.
  bool may_skip = request.stops.empty() && !stepping;
  auto started = std::chrono::steady_clock::now();
  std::optional<user_regs_struct> first_visit;
  uint64_t first_memory = 0;
  bool tried_fast_forward = false;
  uint64_t hits = 0;
  bool tried_in_process = false;
  for (;;) {
    auto over = arm_for_run(t, request.stops, bp);
    if (!over) {
      return std::unexpected(over.error());
    }
    auto st = resume(t, stepping || *over ? PTRACE_SYSEMU_SINGLESTEP : PTRACE_SYSEMU, e);
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
    if (k->step && *over) {
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
                                 e.type == EventType::kRdtsc || e.type == EventType::kCpuid ||
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

}  // namespace rwd
