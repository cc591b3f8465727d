// RecordSession: records one process — attached to while running, or launched — into a
// .rwd file until it exits, crashes, or the recording is stopped.
//
// Every thread is traced with PTRACE_SEIZE (never PTRACE_O_EXITKILL): if rewind dies or
// detaches, the kernel releases the target and it keeps running. The session captures
// an initial snapshot (memory map, private memory, registers of every thread), the
// mapped executable, libraries, vDSO and debug files, every syscall with the bytes the
// kernel wrote, signals and thread lifecycle, and a final ELF core at crash, exit or
// stop.
//
// Single-threaded: run() owns the calling thread until the recording ends.
// request_stop() is async-signal-safe and may be called from a signal handler.
//
//   RecordOptions opt{.pid = 4242, .output = "app.rwd"};
//   auto session = RecordSession::attach(opt);
//   if (!session) { print(session.error().message); return 1; }
//   auto result = session->run();      // until exit, crash or request_stop()
#pragma once

#include <nlohmann/json.hpp>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/error.h"
#include "format/event.h"
#include "format/recording_writer.h"
#include "record/file_collector.h"
#include "record/shared_memory_watch.h"
#include "tracee/clock_stubs.h"
#include "tracee/orphan_guard.h"
#include "tracee/proc_info.h"
#include "tracee/rdtsc_patch.h"
#include "tracee/syscall_table.h"
#include "tracee/target_memory.h"
#include "tracee/vdso_patch.h"
#include "tracee/wait_status.h"

namespace rwd {

struct RecordOptions {
  pid_t pid = 0;                     // attach to this process, or
  std::vector<std::string> command;  // launch this command
  std::filesystem::path output;
  bool redact_env = false;  // keep variable names, drop values
  // Stop recording after this long (0: no limit).
  std::chrono::milliseconds max_duration{0};
  // Run the target's threads and rewind on one CPU while recording (put back at detach).
  bool pin_cpu = false;
  // vDSO clock reads stop once, at a trapped rdtsc (tracee/vdso_patch.h), instead of as
  // a syscall. Off by default: should rewind die, that rdtsc kills a thread that blocks
  // SIGSEGV (the kernel forces the fault through with the default action).
  bool fast_clocks = false;
  // An rdtsc that has trapped once is answered inside the target from then on
  // (tracee/rdtsc_patch.h): no ptrace stop, values at the kernel's clock-update pace.
  bool in_process_rdtsc = true;
  // Once the process has read a clock through the vDSO, its clock_gettime,
  // gettimeofday and time are answered inside the target (tracee/clock_stubs.h): no
  // ptrace stop, values as fresh as the process's last stop. Off by default: a long
  // stretch without syscalls then has no event in it, and replay finds a point at its
  // end only by counting passes (too slow for a Go handler that spins 300 ms).
  bool in_process_clocks = false;
};

struct RecordResult {
  std::filesystem::path path;
  std::string stop_reason;  // "crash", "exit", "interrupted", "time-limit", "target-gone"
  std::optional<int> exit_status;
  std::optional<int> crash_signal;
  uint64_t events = 0;
  uint64_t bytes = 0;
  double attach_pause_ms = 0;    // target stopped for the initial snapshot
  uint64_t snapshot_bytes = 0;   // memory copied for the initial snapshot
};

class RecordSession {
 public:
  static Result<std::unique_ptr<RecordSession>> attach(const RecordOptions& options);
  static Result<std::unique_ptr<RecordSession>> launch(const RecordOptions& options);
  ~RecordSession();

  Result<RecordResult> run();

  // Asks run() to stop at the next opportunity and detach, leaving the target running.
  static void request_stop();

  pid_t pid() const { return pid_; }

 private:
  struct Thread {
    pid_t tid = 0;
    bool stopped = false;      // in a ptrace-stop that we have not resumed
    bool in_syscall = false;   // between syscall-entry and syscall-exit stops
    bool group_stop = false;   // stopped by SIGSTOP & co: resume with PTRACE_LISTEN
    int pending_signal = 0;    // to inject when resuming or detaching
    Event syscall;             // the syscall in progress
    std::optional<siginfo_t> fatal_siginfo;
    // Serialized execution (see the scheduler in record_session_sched.cc).
    bool queued = false;            // waiting in run_queue_ for the CPU
    bool at_entry = false;          // its current stop is a syscall-entry stop
    bool exiting = false;           // past PTRACE_EVENT_EXIT
    bool interrupt_pending = false; // PTRACE_INTERRUPT sent to preempt it
    bool preempt_skip = false;      // its syscall is skipped so the preemption lands first
    bool fail_enosys = false;       // its syscall is skipped and fails with ENOSYS (rseq)
    // Its kill() sends SIGKILL to rewind's own process group (see kill_own_group): the
    // kernel skips the call, and rewind sends the signal to every member but itself.
    pid_t kills_group = 0;
    // A new thread waits for the CPU until the clone that made it has returned in its
    // parent: replay creates it when it performs that clone.
    bool awaits_clone_return = false;
    pid_t new_thread = 0;           // made by its clone in progress (awaits its return)
    // A child process made by its fork or process clone, held stopped until this thread
    // is resumed after the call has returned (see hold_new_child).
    pid_t new_child = 0;
    bool new_child_own_memory = false;
    int new_child_stops = 0;          // its stops since the call's event stop
    bool new_child_returned = false;  // past the call's return, at its next stop
    user_regs_struct entry_regs{};  // registers at the skipped syscall's entry
    uint64_t rseq_addr = 0;         // rseq area unregistered at attach (0: none)
    uint32_t rseq_len = 0;
    uint32_t rseq_sig = 0;
    // Its alternate signal stack when rewind attached (nullopt: it could not be read).
    std::optional<stack_t> altstack;
    // The call that its next restart_syscall continues (one that returned
    // -ERESTART_RESTARTBLOCK, or was in progress when rewind attached): restart_syscall
    // writes that call's outputs.
    std::optional<std::pair<int64_t, std::array<uint64_t, 6>>> interrupted;
    // Single-stepped by rewind and not resumed since: the kernel keeps its trap flag set
    // until the next resume, so if rewind died now it would take one more step trap.
    bool trap_flag_left = false;
    // Past a successful exec, before its syscall-exit stop: the new image's snapshot is
    // taken there.
    bool exec_pending = false;
    // Whether SIGSEGV is blocked in its signal mask, as far as rewind knows (see
    // undo_forced_segv): read after the calls that change the mask, unknown after a
    // signal handler was entered.
    enum class SegvMask : uint8_t { kUnknown, kUnblocked, kBlocked };
    SegvMask segv_mask = SegvMask::kUnknown;
    // Held at a trapped rdtsc because the recording is stopping: the recording ends
    // there, a place replay finds exactly (see emulate_rdtsc).
    bool held_at_end = false;
    // The program's own PR_SET_TSC setting for this thread, which rewind's trapping
    // hides (see on_program_tsc_entry): true when it asked for SIGSEGV at rdtsc.
    bool program_traps_tsc = false;
    // In a PR_SET_TSC that rewind changed into a no-op: the setting the program asked for.
    std::optional<uint64_t> program_tsc_request;
    // An rdtsc fault passed on to the program (with the guard told to hand it over), until
    // the thread's next stop.
    bool tsc_fault_passed = false;
    // The signal recorded at its current stop, until the next stop (see on_signal_stop).
    std::optional<siginfo_t> delivering;
    uint64_t delivering_rip = 0;  // where the thread stood then, for an SI_KERNEL one
    // In a vfork: its data mappings as they were at the call (see capture_kernel_changes).
    std::vector<MemoryBytes> before_vfork;

    // Resumed past its exit stop: it never stops again, only dies. A leader that left
    // first (pthread_exit in main) stays a zombie until the last other thread is gone,
    // so nothing may wait for it to stop.
    bool dying() const { return exiting && !stopped; }
  };
  enum class Mode { kPreExec, kRecording, kStopping };

  RecordSession(RecordOptions options);

  Status seize_all_threads();
  Status catch_threads_born_while_attaching();
  Status write_start(const std::string& mode);
  Status take_initial_snapshot();
  // After an exec: forgets the old image's replay support, sets it up again in the new
  // image and saves the snapshot "exec-N" (see docs/recording-format.md).
  void take_exec_snapshot(Thread& t);
  nlohmann::json snapshot_extra() const;
  // Copies the mapped files on a helper thread while recording goes on.
  void start_bundling();
  void join_bundling();
  // Interrupts every running thread and waits until all are in a ptrace-stop.
  Status stop_all_threads();
  void resume(Thread& t);
  void enqueue_all();
  void detach_all();
  // Handles one wait status; leaves the thread stopped (the caller resumes).
  void process_stop(pid_t tid, WaitStatus status);
  void on_syscall_stop(Thread& t);
  void on_signal_stop(Thread& t, int sig);
  void on_event_stop(Thread& t, int event, int sig);
  void release_child_process(pid_t child, bool own_memory, bool program_traps_tsc);
  void on_program_tsc_entry(Thread& t, const Event& e);
  void on_program_tsc_exit(Thread& t, const Event& e);
  Status read_program_tsc_settings();
  void hold_new_child(Thread& parent, pid_t child, bool own_memory);
  void release_new_child(Thread& parent);
  void keep_deferred(Thread& t, int sig);
  pid_t kill_of_own_group(const Event& e) const;
  int64_t kill_own_group(pid_t group) const;
  bool clone_shares_memory(pid_t tid);
  bool emulate_rdtsc(Thread& t, const siginfo_t& si);
  bool answer_cpuid(Thread& t, user_regs_struct& regs);
  void trap_cpuid();
  bool answer_rdtsc(Thread& t, user_regs_struct& regs, bool rdtscp);
  std::optional<Event> answer_clock_call(Thread& t, user_regs_struct& regs,
                                         const CodePatch& stub);
  void use_trapped_clock_stubs(std::string_view image, uint64_t base);
  // In-process rdtsc and clock reads (record_session_stubs.cc).
  void patch_rdtsc(Thread& t, uint64_t site, uint64_t tsc, uint32_t aux);
  void install_clock_stubs(Thread& t, const Event& e);
  Result<bool> map_stub_page(Thread& t, uint64_t page, uint64_t span);
  void drain_stubs(Thread& t);
  void settle_in_stub(pid_t tid, user_regs_struct& regs);
  void turn_off_rdtsc_stubs(pid_t pid, bool restore_code);
  void turn_off_clock_stubs(pid_t pid, bool restore_code);
  bool in_rdtsc_stub(uint64_t rip) const;
  void undo_forced_segv(Thread& t);
  void note_signal_mask(Thread& t);
  void record_point(Thread& t, PointReason reason, const siginfo_t* si,
                    const user_regs_struct* regs = nullptr);
  void capture_mapped_file(Event& e);
  // What the kernel changed in file mappings during syscall `e` (see the .cc).
  void capture_kernel_changes(Event& e);
  void watch_shared_memory_at_entry(const Event& e);
  void collect_shared_memory(Event& e);
  void watch_robust_futexes(const Thread& t);
  bool shares_stack_until_exec(const Event& e) const;
  std::optional<uint64_t> clone_flags(int64_t sysno, uint64_t arg0) const;
  std::vector<MemoryBytes> read_data_mappings();
  std::optional<std::string> mapped_file_key(int fd) const;
  bool writes_own_memory(int fd) const;
  bool is_own_process(pid_t pid) const;
  void bpf_outputs(const Event& e, std::vector<MemRange>& ranges);
  void capture_ranges(Event& e, const std::vector<MemRange>& ranges);
  void note_mapped_file(int fd);

  // Replay support: vDSO time functions as syscalls, rdtsc trapped, rseq off, signal
  // handlers read. Undone on detach (not after a crash: the process is gone).
  Status prepare_for_replay();
  void install_orphan_guard(std::string_view vdso, uint64_t vdso_start);
  // Moves a thread inside a vDSO patch out of it (leave_patch); false if it is not in one
  // or cannot leave.
  bool leaves_patch(user_regs_struct& regs);
  // A thread that runs code again (not one that was leaving as rewind attached).
  pid_t live_thread() const;
  std::vector<std::pair<uint64_t, uint64_t>> snapshot_also_saves() const;
  void step_out_of_vdso(const MapEntry& vdso);
  void note_resumed_after_step(Thread& t);
  void pin_to_one_cpu();
  void restore_affinity();
  void let_exiting_threads_go();
  bool restore_child_affinity(pid_t child);
  void clear_stepping_if_done();
  void remove_orphan_guard();
  void keep_orphan_guard(Thread& t, const Event& e);
  void note_interrupted_calls();
  void deliver_signals_ending_masked_waits();
  bool restart_if_woken_by_tracing(Thread& t, user_regs_struct& regs);
  int64_t restarted_call(const user_regs_struct& regs);
  void reap_child();
  void undo_replay_support();
  nlohmann::json read_signal_actions(pid_t tid);
  std::optional<stack_t> read_altstack(Thread& t);
  // Runs `use` with the address of `len` bytes of scratch memory below the thread's
  // stack pointer, for syscalls injected into it to write their output to. The bytes
  // there are put back afterwards: the ABI makes them dead, but a Go goroutine's stack
  // can be so small that they lie past its end.

  // The scheduler: one thread runs user code at a time.
  void dispatch(Thread& t);
  void schedule();
  void yield_cpu(Thread& owner);
  void on_owner_syscall_entry(Thread& t);
  void enqueue(Thread& t);
  void release_new_thread(Thread& parent);
  std::chrono::microseconds wait_budget() const;
  bool signal_is_fatal(int sig) const;
  bool handled(int sig) const;
  void capture_final_core(const char* reason, Thread* crashing);
  void finish(const std::string& reason);
  void record(const Event& e);
  void warn_once(const std::string& key, std::string message);
  uint64_t now_ns() const;

  RecordOptions options_;
  pid_t pid_ = 0;
  Mode mode_ = Mode::kRecording;
  std::unique_ptr<RecordingWriter> writer_;
  std::vector<Event> early_events_;  // met before writer_ exists (see record())
  std::unique_ptr<FileCollector> files_;
  std::map<pid_t, std::unique_ptr<Thread>> threads_;
  std::set<pid_t> seen_threads_;
  std::set<std::string> warned_;
  std::vector<std::string> warnings_;
  // Counted by number on the hot path; named only when the trailer is written.
  std::map<EventType, uint64_t> event_counts_;
  std::map<int64_t, uint64_t> syscall_counts_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_flush_;
  std::string start_time_;
  std::string exe_;
  int execs_ = 0;  // successful execs so far
  nlohmann::json exec_list_ = nlohmann::json::array();  // the trailer's "execs"
  std::vector<MapEntry> initial_maps_;
  std::thread bundler_;
  std::unique_ptr<TargetMemory> mem_;
  // Shared mappings a child process may write (taken when the target creates one).
  SharedMemoryWatch shared_watch_;
  std::string bundle_error_;
  bool finished_ = false;
  bool process_gone_ = false;
  bool core_written_ = false;
  RecordResult result_;
  nlohmann::json crash_;
  // Serialized execution.
  pid_t owner_ = 0;
  bool owner_in_syscall_ = false;
  std::chrono::steady_clock::time_point owner_since_;
  std::chrono::steady_clock::time_point owner_syscall_since_;
  std::deque<pid_t> run_queue_;
  uint64_t preemptions_ = 0;
  uint64_t waits_restarted_ = 0;  // see restart_if_woken_by_tracing
  uint64_t rdtsc_count_ = 0;
  uint64_t clock_reads_ = 0;  // vDSO clock calls answered at their stub's rdtsc
  // Replay support state.
  std::vector<CodePatch> vdso_patches_;
  // In-process rdtsc: the stubs (the first one's page holds the process's last value),
  // the rdtsc addresses tried, cycle_last's offset in the vvar page (0: no stubs; found
  // on a helper thread while rewind attaches), and how many values the stubs handed out.
  std::vector<RdtscPatch> rdtsc_patches_;
  std::set<uint64_t> rdtsc_tried_;
  std::future<uint64_t> cycle_last_probe_;
  uint64_t cycle_last_offset_ = 0;
  bool rdtsc_patching_off_ = false;  // the program traps rdtsc itself
  uint64_t rdtsc_in_process_ = 0;
  // In-process clock reads (tracee/clock_stubs.h): the stubs once installed, whether
  // they were tried in this image, and how many values they handed out.
  std::optional<ClockStubs> clock_stubs_;
  ClockTableFeed clock_feed_;
  bool clock_stubs_tried_ = false;
  uint64_t clocks_in_process_ = 0;
  InjectionSite injection_site_;
  bool tsc_trapped_ = false;
  // cpuid faults in every thread (ARCH_SET_CPUID), and rewind records its answers.
  bool cpuid_trapped_ = false;
  uint64_t cpuid_count_ = 0;
  // Keeps the target alive if rewind dies with rdtsc trapped; rdtsc is trapped only
  // once it is installed.
  std::optional<OrphanGuard> orphan_guard_;
  // Child processes of the target whose first stop came before the fork event.
  std::set<pid_t> early_children_;
  // Files mapped at some time ("dev inode"), read from /proc/PID/maps at the first write
  // to a regular file; writes to other files change no mapping.
  std::optional<std::set<std::string>> mapped_files_;
  // With pin_cpu: each thread's CPU mask before rewind pinned it (threads born later get
  // the leader's), and the CPU all of them run on (-1: not pinned).
  std::map<pid_t, cpu_set_t> original_affinity_;
  int pinned_cpu_ = -1;
  // Threads with trap_flag_left: the guard ignores step traps until this is back to 0.
  int threads_with_trap_flag_ = 0;
  bool rseq_in_use_ = false;  // the target had rseq registered when rewind attached
  // Set when a stop was asked for: the running thread gets this long to reach a syscall,
  // so that the recording (and its replay) ends at a syscall rather than mid-loop.
  std::optional<std::chrono::steady_clock::time_point> stop_deadline_;
  nlohmann::json signal_actions_ = nlohmann::json::array();
  std::string write_error_;
};

}  // namespace rwd
