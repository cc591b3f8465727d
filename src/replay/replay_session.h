// ReplaySession: one live re-execution of a recording that can be driven step by step.
//
// The process is rebuilt from the initial snapshot (process_builder.h) and run under
// ptrace with PTRACE_SYSEMU, one thread at a time in the recorded order:
//   - every syscall is checked against the log (number and arguments) and its recorded
//     effects written back instead of being executed (syscall_policy.h says which few
//     are really performed: memory management, signal state, thread creation/exit);
//   - rdtsc (trapped) returns the recorded value;
//   - recorded preemptions and async signals are reached again with a breakpoint at the
//     recorded instruction plus a register and stack comparison;
//   - synchronous faults (the crash) happen by themselves.
// The first event that does not match stops the session with a Divergence naming both
// sides; the session is then dead (every call fails).
//
// Between two events exactly one thread runs: the thread of the next event, from where
// it last stopped to the point where that event happens (its "segment"). run() goes
// forward through events and segments until a stop condition: a breakpoint or
// watchpoint, one instruction of a thread, an event index, or the end. Positions inside
// a segment are reached exactly again by the same sequence of run() calls, which is
// what replay_timeline.h builds time travel on.
//
// Ownership: a session owns its process (killed when the session is destroyed) and
// must be used from one thread. Several sessions may live at once (checkpoints).
//
//   auto s = ReplaySession::start(reader, image, {});
//   while (!(*s)->at_end()) { if (auto st = (*s)->step_event(); !st) break; }
//   check_final_state(**s);   // final_state_check.h
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <functional>
#include <map>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/event_cursor.h"
#include "format/recording_reader.h"
#include "replay/replay_image.h"
#include "tracee/clock_stubs.h"
#include "tracee/rdtsc_patch.h"

namespace rwd {

class TargetMemory;

struct ReplayOptions {
  bool verify = false;
  std::optional<uint64_t> until;  // replay only the first N events
  // A thread that runs this long without reaching its next event is reported as a
  // divergence instead of hanging (a damaged log can ask for the impossible).
  std::chrono::seconds stall_timeout{60};
};

struct Divergence {
  uint64_t event_index = 0;  // from 1
  uint32_t tid = 0;
  std::string expected;
  std::string actual;
  std::string registers;
};

// Counters and the outcome, filled in as the session runs.
struct ReplayStats {
  uint64_t events = 0;        // events replayed
  bool reached_end = false;   // the log's end (or its final exit/crash) was reached
  std::string end;            // how it ended: "exit_group", "exit", "crash", "end of log"
  std::optional<int> end_signal;
  uint64_t end_fault_addr = 0;
  uint32_t end_tid = 0;  // the thread that ended it (the crashing one)
  std::optional<Divergence> divergence;
  uint64_t breakpoint_hits = 0;
  uint64_t fast_forwards = 0;  // loops skipped ahead to a point (see replay_session.cc)
  uint64_t syscalls_emulated = 0;
  uint64_t syscalls_performed = 0;
  std::vector<std::string> warnings;
};

enum class WatchType { kWrite, kAccess };

struct Watchpoint {
  uint64_t addr = 0;
  uint32_t len = 1;  // 1, 2, 4 or 8, aligned
  WatchType type = WatchType::kWrite;
  auto operator<=>(const Watchpoint&) const = default;
};

// What makes run() stop besides events: software breakpoints (by address) and
// hardware watchpoints (at most three).
struct StopSet {
  std::set<uint64_t> breakpoints;
  std::set<Watchpoint> watchpoints;
  bool empty() const { return breakpoints.empty() && watchpoints.empty(); }
  bool operator==(const StopSet&) const = default;
};

struct RunRequest {
  StopSet stops;
  // Stop after thread `step_tid` has executed one instruction (0: not stepping).
  uint32_t step_tid = 0;
  // Stop once this many events have been replayed (at the start of the next segment).
  std::optional<uint64_t> until_event;
  // Stop after a recorded signal has been replayed (for a debugger; not used when
  // re-executing to a position, where signals are part of the way).
  bool report_signals = false;
  // Polled between events: true stops the run there (Ctrl-C in the debugger).
  std::function<bool()> interrupted;
};

enum class RunStop {
  kBreakpoint,   // `tid` arrived at `addr`, one of the stop set's breakpoints
  kWatchpoint,   // `tid` just accessed the watched `addr`
  kStep,         // `tid` executed one instruction
  kEventLimit,   // until_event reached
  kEnd,          // the recording's end: exit, crash (end_signal) or end of log
  kSignal,       // report_signals: `tid` got recorded signal `signo` (delivered next)
  kInterrupted,  // `interrupted` said so, between two events
};

struct RunResult {
  RunStop stop = RunStop::kEnd;
  uint32_t tid = 0;
  uint64_t addr = 0;
  // kStep: the instruction was the one an event completed (a syscall, rdtsc), so the
  // session stands between two events rather than inside a segment.
  bool between_events = false;
  int signo = 0;  // kSignal
};

// What the session learned about each replayed event, shared by its clones: the
// thread it belonged to and whether that thread ran to reach it.
struct EventHistory {
  std::vector<uint32_t> tid;
  std::vector<bool> ran;
};

class ReplaySession {
 public:
  static Result<std::unique_ptr<ReplaySession>> start(const RecordingReader& reader,
                                                      const ReplayImage& image,
                                                      ReplayOptions options);
  ~ReplaySession();
  ReplaySession(const ReplaySession&) = delete;
  ReplaySession& operator=(const ReplaySession&) = delete;

  // A copy of this session at its current position, as a new process (a fork of this
  // one with its threads recreated). Needs every thread stopped between events, which
  // they are whenever run() or step_event() has returned.
  Result<std::unique_ptr<ReplaySession>> clone();

  // Events replayed so far; the next event has this index (from 0).
  uint64_t events_done() const { return events_done_; }
  // The recorded end (exit, crash) was reached, or the log has no more events.
  bool at_end() const { return done_; }
  bool diverged() const { return stats_.divergence.has_value(); }
  // Events in the log (reads only the chunks the session has not read yet).
  Result<uint64_t> total_events() { return cursor_.total(); }
  // The next event, or nullptr at the end of the log.
  Result<const Event*> next_event() { return cursor_.peek(); }
  // The thread whose segment comes next (runs until the next event), 0 at the end.
  uint32_t segment_thread();

  // Replays exactly one event (running its thread to it first).
  Status step_event();
  // Runs forward until one of the request's conditions, a divergence (an error) or
  // the end. With a stop set, loop shortcuts that could skip a stop are not taken.
  Result<RunResult> run(const RunRequest& request);

  // The recorded thread ids alive now, in creation order.
  std::vector<uint32_t> threads() const;
  bool in_syscall(uint32_t tid) const;
  Result<user_regs_struct> registers(uint32_t tid) const;
  Result<user_fpregs_struct> fp_registers(uint32_t tid) const;
  // Up to len bytes (fewer where memory ends).
  Result<std::string> read_memory(uint64_t addr, size_t len) const;

  const ReplayStats& stats() const { return stats_; }
  const EventHistory& history() const { return *history_; }
  // The snapshot the process was built from: the initial one, or after an exec the new
  // image's (its final_state is the recording's).
  const ReplayImage& image() const { return *image_; }
  // Successful execs replayed so far (the process was rebuilt from snapshot "exec-N").
  int execs_done() const { return execs_done_; }
  // The stack pointers of the threads that have exited, at their exit: their stacks
  // below are dead, as a live thread's are (the final-state check skips them).
  const std::vector<uint64_t>& exited_stack_pointers() const { return exited_stack_pointers_; }
  // The in-process rdtsc and clock stubs' pages (tracee/rdtsc_patch.h,
  // tracee/clock_stubs.h): rewind's own bookkeeping.
  std::vector<std::pair<uint64_t, uint64_t>> stub_pages() const;
  pid_t pid() const { return pid_; }
  // The replay's real thread id for a recorded one (0 if none).
  pid_t real_tid(uint32_t tid) const;

 private:
  struct Thread {
    pid_t real = 0;
    uint32_t tid = 0;             // as recorded
    bool pending_entry = false;   // stopped at the entry of the syscall the log is on
    bool at_syscall_stop = true;  // current stop is a syscall stop (else a signal stop)
    // Stopped at a handler's entry by a single step with its signal: a signal given with
    // the resume from this stop is dropped by the kernel (see on_signal).
    bool at_handler_entry = false;
    int resume_sig = 0;
    bool alive = true;
    bool debug_regs_set = false;  // DR7 enables something: cleared after the run
    // The siginfo of the signal point just reached, for the signal event that follows.
    std::string signal_siginfo;
  };
  enum class Reached { kTrigger, kUserStop };
  struct SegmentStop {
    Reached reached = Reached::kTrigger;
    RunResult user;
  };

  ReplaySession(const RecordingReader& reader, const ReplayImage& image, ReplayOptions options);

  Error diverge(const Event& e, std::string actual, const user_regs_struct* regs = nullptr);
  Result<Thread*> thread_of(const Event& e);
  Result<int> wait_stop(Thread& t, const Event& e);
  Result<int> resume(Thread& t, int how, const Event& e);
  std::string describe_stop(Thread& t, int status);

  // Whether the event needs its thread to run before it happens.
  bool needs_run(const Thread& t, const Event& e) const;
  // Runs the event's thread until the event's trigger, stopping early for the request.
  Result<SegmentStop> run_segment(Thread& t, const Event& e, const RunRequest& request);
  Result<SegmentStop> run_to_event(Thread& t, const Event& e, const RunRequest& request);
  bool enter_syscall_in_place(Thread& t, const Event& e, const StopSet& stops);
  Result<SegmentStop> run_to_point(Thread& t, const Event& e, const RunRequest& request);
  Result<bool> run_to_point_in_process(Thread& t, const Event& e, const user_regs_struct& want);
  Result<bool> step_into_handler(Thread& t, const Event& e, const user_regs_struct& want);
  // Applies the event with its thread at the trigger.
  Status apply(const Event& e);

  // The thread's registers at the entry of the event's syscall, checked against it.
  Result<user_regs_struct> check_syscall_entry(Thread& t, const Event& e);
  Status on_syscall(Thread& t, const Event& e);
  Status emulate(Thread& t, const Event& e, const user_regs_struct& entry);
  struct Performed {
    int64_t rax = 0;
    user_regs_struct regs{};
    pid_t new_thread = 0;
    bool exited = false;
  };
  Result<Performed> perform(Thread& t, const Event& e, user_regs_struct regs);
  Status finish_performed(Thread& t, const Performed& p, const user_regs_struct& entry,
                          int64_t result);
  Status perform_mm(Thread& t, const Event& e, const user_regs_struct& entry);
  Status perform_brk(Thread& t, const Event& e, const user_regs_struct& entry);
  Status follow_stack_limit(Thread& t, const Event& e);
  Status release_robust_mutexes(const Thread& t, const std::vector<uint64_t>& words);
  Status perform_clone(Thread& t, const Event& e, const user_regs_struct& entry);
  Status perform_exit(Thread& t, const Event& e, const user_regs_struct& entry);
  // A leader exiting while other threads live: the kernel reports it only once they are
  // gone, so it is let go past its exit stop and not waited for (see perform_exit).
  bool others_alive(const Thread& t) const;
  Status let_leader_go(Thread& t, const Event& e);
  // Marks the thread dead and moves memory access to a live thread if it was the one.
  void thread_gone(Thread& t);
  Status keep_orphan_guard_in_front(Thread& t, const Event& e);
  Status perform_plain(Thread& t, const Event& e, const user_regs_struct& entry);
  Status write_outputs(const Event& e);
  Status on_signal(Thread& t, const Event& e);
  Result<bool> deliver_in_masked_wait(Thread& t, const Event& e);
  Status queue_signal(Thread& t, int sig);
  uint64_t wait_mask_address(const user_regs_struct& r);
  Status on_rdtsc(Thread& t, const Event& e);
  Status on_rdtsc_patch(Thread& t, const Event& e);
  Status on_cpuid(Thread& t, const Event& e);
  Status on_stub_values(const Event& e);
  Status on_clock_patch(Thread& t, const Event& e);
  Status map_stub_page(Thread& t, const MemoryBytes& image, std::string_view whose);
  // The recorded exec: with the thread at its execve, the process is replaced by one
  // built from the new image's snapshot.
  Status on_exec(Thread& t, const Event& e);
  // Kills and reaps the replay process (the destructor's and on_exec's work).
  void kill_process();
  bool point_matches(const Event& e, const user_regs_struct& want,
                     const user_regs_struct& r) const;
  bool stub_rings_used_up() const;
  uint64_t writable_memory_hash();
  bool fast_forward(const user_regs_struct& first, const user_regs_struct& second,
                    const user_regs_struct& want, uint64_t first_memory);
  void finish_tail();

  // clone() helpers: a `syscall` instruction anywhere in executable memory (the
  // threads are sent straight to it), and the recreation of the process in a fork.
  Result<uint64_t> find_syscall_site();
  struct ThreadCopy {
    uint32_t tid = 0;
    user_regs_struct regs{};
    std::string xstate;
    uint64_t sigmask = 0;
    std::string altstack;  // a stack_t as sigaltstack(NULL, &ss) returned it
    pid_t child = 0;       // the thread recreating it in the fork
  };
  Status copy_into_fork(pid_t child, uint64_t site, uint64_t scratch,
                        std::vector<ThreadCopy>& copies);

  // Breakpoints and watchpoints are in the process only while a thread runs.
  Status arm(Thread& t, const StopSet& stops, std::optional<uint64_t> point);
  // arm() for a run of t from where it stands; true when a breakpoint sits at its
  // current instruction, which is left out so that the run steps over it first (a run
  // never stops where it starts, as with gdb).
  Result<bool> arm_for_run(Thread& t, const StopSet& stops, std::optional<uint64_t> point);
  void disarm(Thread& t);
  // Classifies a SIGTRAP stop of a running segment.
  struct TrapKind {
    bool breakpoint = false;  // at one of ours (rip already moved back)
    bool watch = false;
    uint64_t watch_addr = 0;
    bool point = false;       // DR0 (the point's breakpoint)
    bool step = false;
  };
  Result<TrapKind> classify_trap(Thread& t, const StopSet& stops);

  const RecordingReader& reader_;
  const ReplayImage* image_;
  // The image of the last exec, shared with clones made after it (null before).
  std::shared_ptr<const ReplayImage> exec_image_;
  int execs_done_ = 0;
  ReplayOptions options_;
  ReplayStats stats_;
  EventCursor cursor_;
  pid_t pid_ = 0;
  // A live thread of the process, for its memory and /proc files: the leader until it
  // exits (a zombie leader has no memory map).
  pid_t mem_pid_ = 0;
  std::vector<uint64_t> exited_stack_pointers_;
  uint64_t syscall_site_ = 0;
  std::vector<RdtscPatch> rdtsc_patches_;
  uint64_t clock_stub_page_ = 0;  // the clock stubs' page (tracee/clock_stubs.h), 0: none
  std::vector<uint32_t> order_;  // recorded tids in creation order
  std::map<uint32_t, Thread> threads_;
  uint64_t events_done_ = 0;
  uint64_t heap_end_ = 0;  // page-aligned end of the brk area mapped so far
  bool done_ = false;
  bool tail_closed_ = false;
  bool broken_ = false;  // a divergence or an error: the process is no longer trusted
  std::unique_ptr<TargetMemory> mem_;
  std::shared_ptr<EventHistory> history_ = std::make_shared<EventHistory>();
  std::map<uint64_t, char> inserted_;  // our int3s and the bytes they replaced
  std::set<uint64_t> last_armed_;      // where they were during the last run
  std::vector<Watchpoint> armed_watch_;  // DR1..DR3 in order
};

}  // namespace rwd
